"""The credit report: everything the registry holds on one subject, in JSON, HTML or PDF.

What a subject is owed (GDPR Art. 15, FCRA §609/§615, SCHUFA's free copy): their identity as
the registry shows it (masked), score and grade under each rulebook with the score over the
last years, lists and measures with their legal basis and end dates, every record with its
status and what it contributes and why, disputes, reviews, repairs, notices, and who looked.

``gather`` reads the registry (the I/O edge); ``to_html`` and ``to_pdf`` render the gathered
dictionary and read nothing else, so the three formats always say the same. The HTML
templates live in ``templates/report/`` for the web pages to reuse: ``report.html.j2`` is the
whole page, ``_body.html.j2`` its content, which expects ``r`` (the gathered dictionary) and
``chart`` (the SVG from ``chart(r, "svg")``, marked safe).
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from socialcredit import charts, clock
from socialcredit.disputes import Case, CaseKind, counting
from socialcredit.rulebook.model import Rulebook
from socialcredit.scoring import evaluate
from socialcredit.store import audit, cases, outbox, queries

if TYPE_CHECKING:
    import jinja2

    from socialcredit.store.registry import Registry

FORMATS = ("json", "html", "pdf")
#: Years of score history drawn, one point per month.
HISTORY_YEARS = 3


def gather(
    registry: Registry, file: queries.SubjectFile, as_of: date | None = None
) -> dict[str, Any]:
    """The report's content as JSON-ready data; notices are brought up to date first."""
    today = as_of or clock.today()
    outbox.notify(registry, file, today)
    with registry.engine.connect() as conn:
        subject_cases = cases.for_subject(conn, file.subject.id)
        sent = outbox.for_subject(conn, file.subject.id)
        looked = audit.for_subject(conn, file.subject.id, _year_before(today))
    names = [a.name for a in registry.active_rulebooks()] or ["rongcheng"]
    books = [registry.rulebook(n) for n in names]
    scored = counting(file.records, subject_cases, today)
    results = [evaluate(scored, book, today, file.subject.kind) for book in books]
    who = file.subject
    by_kind = {
        kind: [c.to_json(today) for c in subject_cases if c.kind is kind] for kind in CaseKind
    }
    return {
        "subject": {"kind": who.kind.value, "id": who.display, "name": who.name},
        "as_of": today.isoformat(),
        "generated_at": clock.timestamp(),
        "results": [r.to_json() for r in results],
        "score_history": [_history(file, subject_cases, book, today) for book in books],
        "records": _records(file, results, subject_cases, today),
        "history": [entry.to_json() for entry in file.history],
        "disputes": by_kind[CaseKind.DISPUTE],
        "reviews": by_kind[CaseKind.REVIEW],
        "repairs": by_kind[CaseKind.REPAIR],
        "deletions": by_kind[CaseKind.DELETION],
        "notices": sent,
        "access_log": [
            {
                "time": e.recorded_at,
                "key": e.key_id,
                "role": e.role,
                "purpose": e.purpose,
                "action": e.action,
                "result": e.result,
            }
            for e in looked
        ],
    }


def _history(
    file: queries.SubjectFile, subject_cases: list[Case], book: Rulebook, today: date
) -> dict[str, Any]:
    """The score on the first of each month over the last years, and today."""
    points = []
    for months in range(HISTORY_YEARS * 12, 0, -1):
        total = today.year * 12 + today.month - 1 - months
        day = date(total // 12, total % 12 + 1, 1)
        result = evaluate(counting(file.records, subject_cases, day), book, day, file.subject.kind)
        points.append({"date": day.isoformat(), "score": result.score, "grade": result.grade})
    result = evaluate(counting(file.records, subject_cases, today), book, today, file.subject.kind)
    points.append({"date": today.isoformat(), "score": result.score, "grade": result.grade})
    return {"rulebook": book.name, "points": points}


def _records(
    file: queries.SubjectFile, results: list[Any], subject_cases: list[Case], today: date
) -> list[dict[str, Any]]:
    """Every ledger entry, with its ledger status, any open dispute, and its part per rulebook."""
    parts: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        for c in result.contributions:
            parts.setdefault((c.provider, c.ref), []).append(
                {
                    "rulebook": result.rulebook,
                    "status": c.status.value,
                    "points": c.applied_points,
                    "direct_grade": c.direct_grade,
                    "valid_until": c.valid_until.isoformat() if c.valid_until else None,
                    "why": list(c.why),
                    "legal_basis": c.legal_basis,
                }
            )
    disputes = {
        (c.provider, c.ref): c.state_on(today)
        for c in subject_cases
        if c.kind is CaseKind.DISPUTE and c.is_open_on(today)
    }
    return [
        {
            **entry.to_json(),
            "status_words": "erased after the retention period"
            if entry.type is None and entry.kind != "revocation"
            else entry.describe(),
            "dispute": disputes.get((entry.provider, entry.ref)),
            "scoring": parts.get((entry.provider, entry.ref), []),
        }
        for entry in file.history
    ]


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)


# -- rendering ----------------------------------------------------------------------------------
def chart(data: dict[str, Any], fmt: charts.Format) -> str | bytes:
    """The score over the last years, one line per rulebook, as SVG (HTML) or PNG (PDF)."""
    series = {
        h["rulebook"]: [(date.fromisoformat(p["date"]), p["score"]) for p in h["points"]]
        for h in data["score_history"]
    }
    return charts.line_chart(
        series, title="Score over the last years", y_label="score", step=True, fmt=fmt
    )


@cache
def _templates() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("socialcredit", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def to_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts)."""
    svg = str(chart(data, "svg"))
    from markupsafe import Markup

    return _templates().get_template("report/report.html.j2").render(r=data, chart=Markup(svg))


def to_pdf(data: dict[str, Any]) -> bytes:
    """An A4 document a person would keep: headed, paged, tables, the chart, Chinese reasons."""
    from socialcredit import report_pdf

    png = chart(data, "png")
    assert isinstance(png, bytes)
    return report_pdf.render(data, png)


def render(data: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        import orjson

        return orjson.dumps(data, option=orjson.OPT_INDENT_2)
    if fmt == "html":
        return to_html(data).encode()
    if fmt == "pdf":
        return to_pdf(data)
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
