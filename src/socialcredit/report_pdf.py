"""The credit report as an A4 PDF (reportlab): a document a person files and keeps.

Headed and paged (the subject, date and page number on every page), the chart as an image,
tables that break across pages with their header repeated. Chinese reason texts use
reportlab's built-in CID font STSong-Light, which every PDF reader can show without
embedding a font file.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

ZH_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(ZH_FONT))
_STYLES = getSampleStyleSheet()
BODY = ParagraphStyle("body", parent=_STYLES["BodyText"], fontSize=9, leading=11.5)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=7.5, leading=9.5, textColor=colors.grey)
ZH = ParagraphStyle("zh", parent=BODY, fontName=ZH_FONT)
H1 = ParagraphStyle("h1", parent=_STYLES["Title"], fontSize=18, alignment=0, spaceAfter=2)
H2 = ParagraphStyle("h2", parent=_STYLES["Heading2"], fontSize=12, spaceBefore=10, keepWithNext=1)
_TABLE = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
)
WIDTH = A4[0] - 36 * mm


def _p(text: Any, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(header: list[str], rows: list[list[Any]], widths: list[float]) -> Table:
    cells = [[_p(h, BODY) for h in header]]
    cells += [[c if isinstance(c, Flowable) else _p(c) for c in row] for row in rows]
    table = Table(cells, colWidths=[w * WIDTH for w in widths], repeatRows=1)
    table.setStyle(_TABLE)
    return table


def render(data: dict[str, Any], chart_png: bytes) -> bytes:
    subject = data["subject"]
    who = f"{subject['kind'].capitalize()} {subject['id']}" + (
        f" ({subject['name']})" if subject.get("name") else ""
    )
    story: list[Flowable] = [
        _p("Credit report", H1),
        _p(f"{who} · as of {data['as_of']} · generated {data['generated_at'][:19]} UTC", SMALL),
        Spacer(1, 4 * mm),
        _p("Score and grade", H2),
    ]
    for res in data["results"]:
        story.append(
            _p(
                f"Grade {res['grade']}, score {res['score']} under {res['rulebook']} "
                f"{res['version']} (starts at {res['base']})."
            )
        )
        for reason in res["reasons"]:
            story += [_p(f"• {reason['code']}: {reason['text_en']}"), _p(reason["text_zh"], ZH)]
        if res["lists"]:
            story.append(_p("Lists: " + ", ".join(res["lists"])))
        if res["measures"]:
            story.append(
                _table(
                    ["measure", "list", "legal basis", "since", "until"],
                    [
                        [
                            m["title"],
                            m["list"],
                            m["legal_basis"] or "—",
                            m["since"] or "—",
                            m["until"] or "—",
                        ]
                        for m in res["measures"]
                    ],
                    [0.3, 0.15, 0.35, 0.1, 0.1],
                )
            )
    story += [Spacer(1, 3 * mm), Image(io.BytesIO(chart_png), width=WIDTH, height=WIDTH * 3.2 / 7)]

    story.append(_p("Records", H2))
    rows = []
    for rec in data["records"]:
        parts = "; ".join(
            f"{p['rulebook']}: {p['status']}"
            + (f", {p['points']:+d} points" if p["points"] else "")
            + (f", grade {p['direct_grade']}" if p["direct_grade"] else "")
            + (f" until {p['valid_until']}" if p["valid_until"] else "")
            + (f" — {' '.join(p['why'])}" if p["why"] else "")
            for p in rec["scoring"]
        )
        status = rec["status_words"] + (f"; disputed ({rec['dispute']})" if rec["dispute"] else "")
        rows.append(
            [
                f"{rec['type'] or rec['kind']}\n{rec['provider']} · {rec['ref']}",
                rec["occurred_on"] or rec["recorded_at"][:10],
                status,
                parts or "—",
            ]
        )
    story.append(
        _table(["record", "date", "status", "what it does"], rows, [0.27, 0.13, 0.19, 0.41])
    )

    for title, key in (
        ("Disputes", "disputes"),
        ("Human reviews", "reviews"),
        ("Credit repair", "repairs"),
        ("Deletions on request", "deletions"),
    ):
        heading = _p(title, H2)
        if not data[key]:
            story.append(KeepTogether([heading, _p("None.", SMALL)]))
        for n, case in enumerate(data[key]):
            head = _p(
                f"{case['id']} — {case['state']}. "
                + (f"Record {case['provider']} · {case['ref']}. " if case.get("ref") else "")
                + f"Opened {case['opened_at'][:10]}, answer due by {case['deadline']}."
            )
            steps = [
                [
                    s["at"][:10],
                    s["step"],
                    "; ".join(
                        f"{k}: {v}"
                        for k, v in s.items()
                        if k not in ("at", "step", "seq") and v not in (None, "")
                    ),
                ]
                for s in case["timeline"]
            ]
            block = [head, _table(["when", "step", "details"], steps, [0.14, 0.17, 0.69])]
            story.append(KeepTogether([heading, *block] if n == 0 else block))

    notices = (
        _table(
            ["created", "kind", "about", "delivery"],
            [
                [
                    n["created_at"][:10],
                    n["kind"],
                    n["what"].get("title", ""),
                    f"delivered {n['delivered_at'][:10]}" if n["delivered_at"] else "not yet",
                ]
                for n in data["notices"]
            ],
            [0.14, 0.16, 0.5, 0.2],
        )
        if data["notices"]
        else _p("None.", SMALL)
    )
    story.append(KeepTogether([_p("Notices", H2), notices]))
    looked = (
        _table(
            ["time", "role", "key", "action", "purpose", "result"],
            [
                [
                    a["time"][:19].replace("T", " "),
                    a["role"],
                    a["key"],
                    a["action"],
                    a["purpose"] or "",
                    a["result"],
                ]
                for a in data["access_log"]
            ],
            [0.22, 0.12, 0.2, 0.14, 0.18, 0.14],
        )
        if data["access_log"]
        else _p("Nobody.", SMALL)
    )
    story.append(KeepTogether([_p("Who looked at this file (last 12 months)", H2), looked]))
    story += [
        Spacer(1, 6 * mm),
        _p(
            "Every record can be disputed; every negative record expires. You may ask for human "
            "review of a list decision, apply for credit repair, and have your own positive "
            "records deleted.",
            SMALL,
        ),
        _p("每条记录均可提出异议；每条负面记录均会到期。", ZH),
    ]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=f"Credit report {data['as_of']}",
        author="socialcredit registry",
        subject=who,
        invariant=1,
    )

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(18 * mm, 9 * mm, f"Credit report · {who} · as of {data['as_of']}")
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
