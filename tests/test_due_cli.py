"""Due process through the command line, credit reports in three formats, notice delivery,
and erasure after the retention period with ``scs verify`` still passing.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, update

from socialcredit.identifiers import SubjectKind
from socialcredit.store.registry import Registry
from socialcredit.store.schema import ledger, notices, shredded, subjects
from tests.conftest import PERSON, PERSON_2, record
from tests.test_cli import ok, out, said, scs

DEBTOR = record(
    provider="court.rongcheng",
    ref="D-1",
    type="court.dishonest_debtor",
    occurred_on="2026-01-10",
    legal_basis="Civil Procedure Law art. 255",
)


@pytest.fixture
def db(registry: Registry, db_url: str) -> str:
    registry.append([registry.validator().from_json(r) for r in (DEBTOR, record())])
    return db_url


def rail(registry: Registry) -> bool:
    """Whether the high-speed-rail restriction applies to the person today."""
    result = registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng")
    return any(m.code == "spc.high_speed_rail" for m in result.measures)


def test_the_walk_through_the_command_line(
    db: str, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = out(ok("notices", "list", PERSON, "--db", db))
    assert {n["kind"] for n in listed} == {"adverse_record", "listed"}

    case = out(
        ok(
            "dispute",
            "open",
            PERSON,
            "--provider",
            "court.rongcheng",
            "--ref",
            "D-1",
            "--reason",
            "paid",
            "--db",
            db,
        )
    )
    assert (case["status"], case["deadline"]) == ("open", "2026-12-02")
    again = scs(
        "dispute",
        "open",
        PERSON,
        "--provider",
        "court.rongcheng",
        "--ref",
        "D-1",
        "--reason",
        "paid",
        "--db",
        db,
    )
    assert again.exit_code == 2 and "already under dispute" in said(again)

    assert rail(registry)  # disputed, but before the deadline it still counts
    monkeypatch.setenv("SCS_CLOCK", "2026-12-03")
    assert registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng").grade == "A"
    assert not rail(registry)
    shown = out(ok("dispute", "show", case["id"], "--db", db))
    assert shown["state"] == "overdue" and shown["timeline"][-1]["step"] == "deadline_passed"

    wrong = scs(
        "dispute",
        "answer",
        case["id"],
        "--outcome",
        "confirmed",
        "--reasons",
        "x",
        "--as-provider",
        "police.traffic",
        "--db",
        db,
    )
    assert wrong.exit_code == 2 and "no dispute" in said(wrong)
    ok(
        "dispute",
        "answer",
        case["id"],
        "--outcome",
        "confirmed",
        "--reasons",
        "verified",
        "--db",
        db,
    )
    assert registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng").grade == "D"
    assert rail(registry)

    repair = out(
        ok(
            "repair",
            "apply",
            PERSON,
            "--provider",
            "court.rongcheng",
            "--ref",
            "D-1",
            "--commitment",
            "I paid",
            "--db",
            db,
        )
    )
    decided = out(
        ok("repair", "decide", repair["id"], "--approve", "--reasons", "receipt seen", "--db", db)
    )
    assert decided["status"] == "approved"
    assert registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng").score == 950
    assert not rail(registry)

    report = out(ok("report", PERSON, "--db", db))
    assert report["disputes"][0]["status"] == "confirmed"
    assert report["repairs"][0]["status"] == "approved"
    assert {r["ref"] for r in report["records"]} >= {"D-1", "repair:" + repair["id"]}
    assert len(report["score_history"][0]["points"]) == 37
    assert out(ok("verify", "--db", db))["ok"]


def test_the_report_as_html_and_pdf(db: str, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    ok("report", PERSON, "--db", db, "--format", "html", "--output", html)
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert "court.dishonest_debtor" in page and "直接评定为D级" in page
    assert PERSON not in page  # the identity is masked
    pdf = tmp_path / "report.pdf"
    ok("report", PERSON, "--db", db, "--format", "pdf", "--output", pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and len(data) > 20_000
    bad = scs("report", PERSON, "--db", db, "--format", "docx")
    assert bad.exit_code == 2 and "json, html, pdf" in said(bad)


def test_notices_are_delivered_to_a_file_once(db: str, tmp_path: Path) -> None:
    assert out(ok("notices", "sweep", "--db", db))["written"] == 2
    assert out(ok("notices", "sweep", "--db", db))["written"] == 0
    target = tmp_path / "outbox.jsonl"
    sent = out(ok("notices", "deliver", "--to", f"file:{target}", "--db", db))
    assert sent["delivered"] == 2
    lines = [orjson.loads(line) for line in target.read_text().splitlines()]
    adverse = next(n for n in lines if n["kind"] == "adverse_record")
    assert adverse["legal_basis"] == "Civil Procedure Law art. 255"
    assert adverse["how_to_dispute"]["zh"] and adverse["what"]["ref"] == "D-1"
    assert out(ok("notices", "deliver", "--to", f"file:{target}", "--db", db))["delivered"] == 0
    bad = scs("notices", "deliver", "--to", "ftp://x", "--db", db)
    assert bad.exit_code == 2 and "is not a channel" in said(bad)


def test_records_past_retention_are_erased_and_the_chain_still_verifies(
    registry: Registry, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fine = record(
        provider="kba.flensburg",
        ref="F-1",
        type="offence.1pt",
        occurred_on="2020-01-10",
        evidence="speeding 25 km/h, Hauptstraße",
    )
    registry.add_provider("kba.flensburg", ["offence.*"], actor="test")
    named = fine | {"ref": "F-2", "subject": {"kind": "person", "id": PERSON_2, "name": "Li Si"}}
    registry.append([registry.validator().from_json(r) for r in (fine, record(), named)])
    registry.activate_rulebook("flensburg")
    # offence.1pt: deleted after 2.5 years (2022-07-09), history 1 year: erased from 2023-07-10
    summary = out(ok("archive", "--db", db_url, "--as-of", "2023-07-09"))
    assert summary["erased"] == 0
    summary = out(ok("archive", "--db", db_url))
    assert (summary["erased"], summary["subjects"]) == (2, 2)
    with registry.engine.connect() as conn:
        row = conn.execute(select(ledger).where(ledger.c.ref == "F-1")).one()
        assert (row.type, row.evidence, row.occurred_on) == (None, None, None)
        assert sorted(conn.execute(select(shredded.c.seq)).scalars()) == [row.seq, 3]
    report = out(ok("verify", "--db", db_url))
    assert report["ok"], report
    file = registry.subject_file(SubjectKind.PERSON, PERSON)
    assert [r.ref for r in file.records] == ["T-0001"]
    gone = registry.find_subject(SubjectKind.PERSON, PERSON_2)
    assert gone is not None
    with registry.engine.connect() as conn:  # nothing left on file: the name is erased too
        assert (
            conn.execute(select(subjects.c.name).where(subjects.c.id == gone.id)).scalar() is None
        )
    words = out(ok("report", PERSON, "--db", db_url))
    erased = next(r for r in words["records"] if r["ref"] == "F-1")
    assert erased["status_words"] == "erased after the retention period"

    # erasure cannot be used to hide tampering: blanking an entry without the logged erasure
    with registry.writer.begin() as conn:
        conn.execute(update(ledger).where(ledger.c.ref == "T-0001").values(evidence=None))
        conn.execute(shredded.insert().values(seq=2, shredded_at="x", reason="forged"))
        # (seq 2 is T-0001: appended second)
    assert not registry.verify().ok


def test_a_notice_row_is_never_written_twice(db: str, registry: Registry) -> None:
    ok("notices", "list", PERSON, "--db", db)
    ok("notices", "list", PERSON, "--db", db)
    with registry.engine.connect() as conn:
        keys = conn.execute(select(notices.c.key)).scalars().all()
    assert len(keys) == len(set(keys)) == 2


def test_migration_0004_creates_the_due_process_tables_as_the_schema_has_them(
    db_url: str,
) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from socialcredit.store import database
    from socialcredit.store.schema import metadata

    engine = database.open_engine(db_url)
    config = database.alembic_config(engine)
    command.upgrade(config, "0003")
    assert "cases" not in inspect(engine).get_table_names()
    registry = Registry.init(db_url, actor="test")  # upgrades to head, creates the cases chain
    found = inspect(registry.engine)
    for name in ("cases", "case_events", "notices", "shredded"):
        columns = {c["name"] for c in found.get_columns(name)}
        assert columns == set(metadata.tables[name].columns.keys()), name
    assert registry.verify().heads["cases"].startswith("0:")
    command.downgrade(database.alembic_config(registry.engine), "0003")
    assert "cases" not in inspect(registry.engine).get_table_names()


def test_rescore_leaves_out_a_record_whose_dispute_deadline_passed(
    db: str, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(
        "dispute",
        "open",
        PERSON,
        "--provider",
        "court.rongcheng",
        "--ref",
        "D-1",
        "--reason",
        "not me",
        "--db",
        db,
    )
    assert out(ok("rescore", "--rulebook", "rongcheng", "--db", db))["grades"] == {"D": 1}
    monkeypatch.setenv("SCS_CLOCK", "2026-12-03")
    assert out(ok("rescore", "--rulebook", "rongcheng", "--db", db))["grades"] == {"A": 1}


def test_a_webhook_channel_marks_notices_delivered_only_when_it_answers_2xx(
    db: str, registry: Registry
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[object] = []
    status = {"code": 500}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(orjson.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/notices"
    try:
        ok("notices", "sweep", "--db", db)
        failed = scs("notices", "deliver", "--to", url, "--db", db)
        assert failed.exit_code == 2 and "delivery through webhook" in said(failed)
        with registry.engine.connect() as conn:
            assert conn.execute(select(notices.c.delivered_at)).scalars().all() == [None, None]
        status["code"] = 204
        assert out(ok("notices", "deliver", "--to", url, "--db", db))["delivered"] == 2
        assert len(received) == 2 and len(received[1]) == 2  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
