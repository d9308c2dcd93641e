"""``scs score``, ``scs explain``, ``scs rescore`` and ``scs rulebook activate`` / ``list``."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from socialcredit.cli import app
from socialcredit.engines import BulkUnavailable, load_bulk
from socialcredit.records import FLAT_COLUMNS
from socialcredit.rulebook import shipped_text
from socialcredit.store.registry import Registry
from tests.conftest import ORG, PERSON, PERSON_2, PERSON_15, record

RUNNER = CliRunner()
MASKED = "110105********002X"
DEBTOR = {
    "provider": "court.rongcheng",
    "ref": "D-1",
    "type": "court.dishonest_debtor",
    "occurred_on": "2026-01-10",
    "legal_basis": "Civil Procedure Law art. 255",
}
COMPANY_FINE = {
    "provider": "market.weihai",
    "ref": "M-1",
    "type": "permit.unlicensed",
    "subject": {"kind": "organisation", "id": ORG},
    "occurred_on": "2026-02-01",
}


# -- helpers --------------------------------------------------------------------------------------
def scs(*args: Any) -> Result:
    return RUNNER.invoke(app, [str(a) for a in args])


def ok(*args: Any, status: int = 0) -> Result:
    result = scs(*args)
    assert result.exit_code == status, (args, result.stderr, result.exception)
    return result


def refused(*args: Any) -> str:
    """A user error: exit 2 and one line on stderr starting ``error:``; returns the line."""
    result = scs(*args)
    assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def jsonl(result: Result) -> list[Any]:
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def write_jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def flat(r: dict[str, Any]) -> dict[str, Any]:
    subject = r["subject"]
    row = {k: v for k, v in r.items() if k != "subject"}
    return {**row, "subject_kind": subject["kind"], "subject_id": subject["id"]}


def sample(tmp_path: Path) -> Path:
    """A person with a traffic fine and a court listing (the second under the old number),
    and a company with an unlicensed-business record."""
    return write_jsonl(
        tmp_path / "records.jsonl",
        record(occurred_on="2026-06-01"),
        {**DEBTOR, "subject": {"kind": "person", "id": PERSON_15}},
        COMPANY_FINE,
    )


def submit(registry: Registry, *records: dict[str, Any]) -> None:
    validator = registry.validator()
    result = registry.append([validator.from_json(r) for r in records])
    assert len(result.accepted) == len(records), result.rejected


def ledger_state(registry: Registry) -> tuple[Any, ...]:
    with registry.engine.connect() as conn:
        return tuple(conn.execute(text("SELECT count(*), max(seq) FROM ledger")).one())


# -- scs score ----------------------------------------------------------------------------------
def test_score_one_subject_prints_one_explained_result(tmp_path: Path) -> None:
    out = orjson.loads(
        ok(
            "score", "--rulebook", "rongcheng", "--records", sample(tmp_path), "--subject", PERSON
        ).stdout
    )
    assert out["subject"] == {"kind": "person", "id": PERSON}
    assert (out["score"], out["grade"], out["as_of"]) == (599, "D", "2026-11-23")
    assert out["lists"] == ["blacklist", "court_dishonest_debtors"]
    assert {c["ref"] for c in out["contributions"]} == {"T-0001", "D-1"}
    assert out["reasons"][0]["code"] == "direct_grade:court.dishonest_debtor"


def test_score_all_names_each_subject_as_the_input_first_does(tmp_path: Path) -> None:
    lines = jsonl(ok("score", "--rulebook", "rongcheng", "--records", sample(tmp_path), "--all"))
    assert [(line["subject"], line["score"]) for line in lines] == [
        ({"kind": "person", "id": PERSON}, 599),
        ({"kind": "organisation", "id": ORG}, 950),
    ]


def test_score_as_of_an_earlier_day_ignores_what_had_not_happened(tmp_path: Path) -> None:
    args = ["score", "--rulebook", "rongcheng", "--records", sample(tmp_path), "--subject"]
    out = orjson.loads(ok(*args, PERSON, "--as-of", "2026-03-01").stdout)
    assert (out["score"], out["as_of"]) == (599, "2026-03-01")
    assert [c["ref"] for c in out["contributions"]] == ["D-1"]


def test_score_writes_parquet_and_jsonl_files(tmp_path: Path) -> None:
    args = ["score", "--rulebook", "rongcheng", "--records", sample(tmp_path), "--all"]
    ok(*args, "--output", tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["subject_id"], r["score"], r["grade"]) for r in table] == [
        (PERSON, 599, "D"),
        (ORG, 950, "B"),
    ]
    assert table[0]["lists"] == ["blacklist", "court_dishonest_debtors"]
    assert "spc.flights" in table[0]["measures"]
    assert orjson.loads(table[0]["result"])["reasons"][0]["text_zh"].startswith("直接评定为D级")
    ok(*args, "--output", tmp_path / "out.jsonl")
    written = [orjson.loads(x) for x in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [w["score"] for w in written] == [599, 950]


def test_score_reads_csv_with_the_flat_columns(tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
        writer.writerow(flat(record(occurred_on="2026-06-01")))
        writer.writerow(flat({**record(ref="T-0002", occurred_on="2026-07-01"), "amount": ""}))
    lines = jsonl(ok("score", "--rulebook", "rongcheng", "--records", path, "--all"))
    (only,) = lines
    # the second fine of the class within a year counts double: 1000 - 10 - 20
    assert (only["subject"]["id"], only["score"]) == (PERSON, 970)


def test_bad_rows_are_named_on_stderr_left_out_and_exit_1(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "records.jsonl",
        record(occurred_on="2026-06-01"),
        record(ref="T-0002", amount=-5, type="traffic.nope"),
        record(ref="T-0003", subject={"kind": "person", "id": PERSON_2}, occurred_on="2027-01-01"),
    )
    (path.parent / "more.jsonl").write_bytes(path.read_bytes() + b"{not json\n")
    result = ok(
        "score",
        "--rulebook",
        "rongcheng",
        "--records",
        path.parent / "more.jsonl",
        "--all",
        status=1,
    )
    assert [line["subject"]["id"] for line in jsonl(result)] == [PERSON]
    said = result.stderr
    assert "line 2: amount: -5 is negative; type: unknown record type 'traffic.nope'" in said
    assert "line 3: occurred_on: 2027-01-01 is in the future (today is 2026-11-23)" in said
    assert "line 4: line: not valid JSON" in said
    assert "3 of 4 rows rejected" in said


def test_a_what_if_for_a_future_day_may_hold_records_up_to_that_day(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", record(occurred_on="2027-01-01"))
    args = ["score", "--rulebook", "rongcheng", "--records", path, "--subject", PERSON]
    assert orjson.loads(ok(*args, "--as-of", "2027-02-01").stdout)["score"] == 990


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--subject", PERSON], "give either --subject ID or --all"),
        ([], "give either --subject ID or --all"),
        (["--all", "--as-of", "1.3.2025"], "--as-of '1.3.2025' is not a date (YYYY-MM-DD)"),
        (["--subject", PERSON_2], "holds no valid record of subject 371082********1239"),
        (["--subject", "12345"], "unified social credit code"),
        (["--all", "--output", "out.txt"], "name it .parquet for Parquet or .jsonl"),
        (["--all", "--text"], "--text explains one subject on stdout"),
    ],
)
def test_score_refuses_what_it_cannot_do_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    line = refused("score", "--rulebook", "rongcheng", "--records", sample(tmp_path), *args)
    assert message in line


def test_score_refuses_files_it_cannot_read(tmp_path: Path) -> None:
    parquetish = tmp_path / "records.jsonl"
    parquetish.write_bytes(b"PAR1 and then nothing")
    assert "this is a Parquet file, not jsonl" in refused(
        "score", "--rulebook", "rongcheng", "--records", parquetish, "--all"
    )
    headers = tmp_path / "records.csv"
    headers.write_text("provider,ref,colour\n")
    assert "unknown column(s) 'colour'" in refused(
        "score", "--rulebook", "rongcheng", "--records", headers, "--all"
    )
    assert (
        "no such file"
        in refused(
            "score", "--rulebook", "rongcheng", "--records", tmp_path / "none.jsonl", "--all"
        ).lower()
    )


def test_score_refuses_a_rulebook_that_crosses_a_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        shipped_text("flensburg").replace(
            'title = "Voluntary driving-aptitude seminar completed"', 'title = "Attended church"'
        )
    )
    line = refused("score", "--rulebook", bad, "--records", sample(tmp_path), "--all")
    assert 'types."seminar.completed": crosses the line "religion or belief"' in line


def test_score_with_the_text_option_explains_in_words(tmp_path: Path) -> None:
    args = ["score", "--rulebook", "rongcheng", "--records", sample(tmp_path), "--subject"]
    words = ok(*args, PERSON, "--text").stdout
    assert words.startswith(f"Person {MASKED}, as of 2026-11-23")
    assert PERSON not in words and "Score 599, grade D (Poor)" in words


def test_the_bulk_engine_missing_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "socialcredit.bulk", None)  # import fails as if absent
    line = refused(
        "score",
        "--rulebook",
        "rongcheng",
        "--records",
        sample(tmp_path),
        "--all",
        "--engine",
        "bulk",
    )
    assert "bulk engine not available" in line


def test_both_engines_give_the_same_standing_for_the_same_file(tmp_path: Path) -> None:
    try:
        load_bulk()
    except BulkUnavailable as exc:
        pytest.skip(str(exc))
    args = ["score", "--rulebook", "rongcheng", "--records", sample(tmp_path), "--all"]
    keys = ("subject", "score", "grade", "lists")
    one = {line["subject"]["id"]: line for line in jsonl(ok(*args))}
    bulk = {line["subject"]["id"]: line for line in jsonl(ok(*args, "--engine", "bulk"))}
    assert one.keys() == bulk.keys()
    for sid, line in one.items():
        assert {k: line[k] for k in keys} == {k: bulk[sid][k] for k in keys}
        assert [m["code"] for m in line["measures"]] == bulk[sid]["measures"]
        assert [r["code"] for r in line["reasons"]] == bulk[sid]["reasons"]


# -- scs explain --------------------------------------------------------------------------------
def test_explain_says_why_in_words_and_masks_the_resident_number(
    registry: Registry, db_url: str
) -> None:
    submit(
        registry,
        {**DEBTOR, "subject": {"kind": "person", "id": PERSON, "name": "Li Lei"}},
        record(occurred_on="2026-06-01"),
    )
    words = ok("explain", PERSON, "--db", db_url).stdout
    assert PERSON not in words and PERSON[6:14] not in words
    assert words.startswith(f"Person {MASKED} (Li Lei), as of 2026-11-23")
    assert "rongcheng 1.0.0" in words and "Score 599, grade D (Poor)" in words
    assert "court_dishonest_debtors: Court list of dishonest judgment debtors" in words
    assert "restriction spc.flights: No air travel" in words
    assert "1. Grade D set directly: Put on the court list of dishonest judgment debtors" in words
    assert "直接评定为D级：被列入失信被执行人名单" in words
    assert "2. -10 points: Traffic fine of 500 yuan or less (1 record)." in words
    assert (
        "T-0001 (police.traffic, 2026-06-01): Traffic fine of 500 yuan or less: -10 points; "
        "counts; valid from 2026-06-01 until 2027-05-31"
    ) in words
    assert "legal basis of every rule without its own: Weihai Wendeng District Measures" in words
    assert "legal basis: Supreme People's Court Provisions on Restricting High Consumption" in words


def test_explain_shows_withdrawn_records_as_history(registry: Registry, db_url: str) -> None:
    submit(registry, record(occurred_on="2026-06-01"), record(ref="T-0002"))
    registry.revoke("police.traffic", "T-0001", "wrong plate number", own_ref="R-1")
    words = ok("explain", PERSON, "--db", db_url).stdout
    assert "Withdrawn or replaced records" in words
    assert "T-0001 (police.traffic, traffic.fine_le_500, 2026-06-01): revoked by R-1" in words
    assert "Score 1000" in words  # T-0002 of 2025-06-01 expired on 2026-05-31


def test_explain_json_has_the_results_and_the_history(registry: Registry, db_url: str) -> None:
    submit(registry, record(occurred_on="2026-06-01"))
    out = orjson.loads(ok("explain", PERSON, "--db", db_url, "--json").stdout)
    assert out["subject"] == {"kind": "person", "id": MASKED, "name": None}
    assert [(r["rulebook"], r["score"]) for r in out["results"]] == [("rongcheng", 990)]
    assert [h["status"] for h in out["history"]] == ["current"]
    assert PERSON not in orjson.dumps(out).decode()


def test_explain_finds_an_institution_by_its_code(registry: Registry, db_url: str) -> None:
    submit(registry, {**COMPANY_FINE, "subject": {"kind": "institution", "id": ORG}})
    out = orjson.loads(ok("explain", ORG, "--db", db_url, "--json").stdout)
    assert out["subject"]["kind"] == "institution" and out["results"][0]["score"] == 950


def test_explain_uses_every_active_rulebook_or_the_one_named(
    registry: Registry, db_url: str
) -> None:
    submit(registry, record(occurred_on="2026-06-01"))
    registry.activate_rulebook("flensburg")
    registry.activate_rulebook("rongcheng")
    out = orjson.loads(ok("explain", PERSON, "--db", db_url, "--json").stdout)
    assert [r["rulebook"] for r in out["results"]] == ["flensburg", "rongcheng"]
    named = ok("explain", PERSON, "--db", db_url, "--json", "--rulebook", "rongcheng")
    assert [r["rulebook"] for r in orjson.loads(named.stdout)["results"]] == ["rongcheng"]


def test_explain_refuses_an_unknown_subject_or_rulebook(registry: Registry, db_url: str) -> None:
    assert f"no record names person {MASKED}" in refused("explain", PERSON, "--db", db_url)
    submit(registry, record())
    assert "no rulebook 'atlantis' is active" in refused(
        "explain", PERSON, "--db", db_url, "--rulebook", "atlantis"
    )


def test_a_new_record_changes_the_explanation_at_once(registry: Registry, db_url: str) -> None:
    submit(registry, record(occurred_on="2026-06-01"))
    assert "Score 990" in ok("explain", PERSON, "--db", db_url).stdout
    submit(registry, {**DEBTOR, "subject": {"kind": "person", "id": PERSON}})
    assert "Score 599, grade D" in ok("explain", PERSON, "--db", db_url).stdout


def test_a_record_expiring_changes_the_result_without_touching_the_database(
    registry: Registry, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(registry, record(occurred_on="2026-06-01"))  # -10, valid until 2027-05-31
    before = ledger_state(registry)
    assert "Score 990" in ok("explain", PERSON, "--db", db_url).stdout
    monkeypatch.setenv("SCS_CLOCK", "2027-05-31")
    assert "Score 990" in ok("explain", PERSON, "--db", db_url).stdout
    monkeypatch.setenv("SCS_CLOCK", "2027-06-01")
    words = ok("explain", PERSON, "--db", db_url).stdout
    assert "Score 1000" in words and "no longer counts: expired" in words
    assert ledger_state(registry) == before


# -- scs rulebook activate / list ---------------------------------------------------------------
def test_activate_and_list_active_rulebooks(registry: Registry, db_url: str) -> None:
    assert orjson.loads(ok("rulebook", "list", "--db", db_url).stdout) == []
    first = orjson.loads(ok("rulebook", "activate", "rongcheng", "--db", db_url).stdout)
    assert (first["name"], first["version"], first["changed"]) == ("rongcheng", "1.0.0", True)
    again = orjson.loads(ok("rulebook", "activate", "rongcheng", "--db", db_url).stdout)
    assert again["changed"] is False and again["activated_at"] == first["activated_at"]
    listed = orjson.loads(ok("rulebook", "list", "--db", db_url).stdout)
    assert [(r["name"], r["sha256"]) for r in listed] == [("rongcheng", first["sha256"])]
    with registry.engine.connect() as conn:
        actions = conn.execute(text("SELECT action, detail FROM operator_log")).all()
    logged = [orjson.loads(detail) for action, detail in actions if action == "rulebook.activate"]
    assert logged == [{"name": "rongcheng", "version": "1.0.0", "sha256": first["sha256"]}]
    assert registry.verify().ok


def test_an_activated_file_is_what_the_registry_scores_with(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    submit(registry, record(occurred_on="2026-06-01"))
    harsher = tmp_path / "rongcheng-1.1.toml"
    head, fine = shipped_text("rongcheng").split('[types."traffic.fine_le_500"]')
    harsher.write_text(
        head.replace('version = "1.0.0"', 'version = "1.1.0"', 1)
        + '[types."traffic.fine_le_500"]'
        + fine.replace("points = -10\n", "points = -15\n", 1)
    )
    ok("rulebook", "activate", harsher, "--db", db_url)
    out = orjson.loads(ok("explain", PERSON, "--db", db_url, "--json").stdout)
    assert [(r["version"], r["score"]) for r in out["results"]] == [("1.1.0", 985)]
    ok("rulebook", "activate", "rongcheng", "--db", db_url)  # back to the shipped 1.0.0
    out = orjson.loads(ok("explain", PERSON, "--db", db_url, "--json").stdout)
    assert [(r["version"], r["score"]) for r in out["results"]] == [("1.0.0", 990)]


def test_activating_a_rulebook_that_crosses_a_line_is_refused_naming_it(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        shipped_text("flensburg").replace(
            'title = "Voluntary driving-aptitude seminar completed"', 'title = "Attended church"'
        )
    )
    line = refused("rulebook", "activate", bad, "--db", db_url)
    assert line.startswith("error: refused to activate: rulebook")
    assert 'types."seminar.completed": crosses the line "religion or belief"' in line
    assert registry.active_rulebooks() == []


def test_a_published_version_cannot_be_changed_under_the_same_number(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    ok("rulebook", "activate", "rongcheng", "--db", db_url)
    edited = tmp_path / "edited.toml"
    edited.write_text(shipped_text("rongcheng").replace("points = -10\n", "points = -15\n", 1))
    line = refused("rulebook", "activate", edited, "--db", db_url)
    assert "rongcheng 1.0.0 was activated before with another text" in line
    assert "give the new text a new version" in line


# -- scs rescore ----------------------------------------------------------------------------------
def snapshot(registry: Registry) -> list[tuple[Any, ...]]:
    with registry.engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT s.display, r.rulebook, r.version, r.as_of, r.score, r.grade, r.lists "
                    "FROM results r JOIN subjects s ON s.id = r.subject_id ORDER BY s.display"
                )
            )
        ]


def test_rescore_writes_the_snapshot_and_running_it_again_changes_nothing(
    registry: Registry, db_url: str
) -> None:
    submit(
        registry,
        {**DEBTOR, "subject": {"kind": "person", "id": PERSON}},
        record(ref="T-0002", subject={"kind": "person", "id": PERSON_2}, occurred_on="2026-06-01"),
        COMPANY_FINE,
        record(ref="T-0003", subject={"kind": "person", "id": PERSON_2}),
    )
    registry.revoke("police.traffic", "T-0003", "duplicate")
    summary = orjson.loads(ok("rescore", "--db", db_url, "--rulebook", "rongcheng").stdout)
    assert (summary["subjects"], summary["grades"]) == (3, {"A": 1, "B": 1, "D": 1})
    assert summary["lists"] == {"blacklist": 1, "court_dishonest_debtors": 1}
    rows = snapshot(registry)
    assert [(r[0], r[4], r[5], orjson.loads(r[6])) for r in rows] == [
        (MASKED, 599, "D", ["blacklist", "court_dishonest_debtors"]),
        ("371082********1239", 990, "A", []),
        (ORG, 950, "B", []),
    ]
    assert {(r[1], r[2], str(r[3])) for r in rows} == {("rongcheng", "1.0.0", "2026-11-23")}
    ok("rescore", "--db", db_url, "--rulebook", "rongcheng")
    assert snapshot(registry) == rows


def test_the_snapshot_agrees_with_evaluation_at_read_time(registry: Registry, db_url: str) -> None:
    submit(
        registry,
        {**DEBTOR, "subject": {"kind": "person", "id": PERSON}},
        record(ref="T-0002", occurred_on="2026-02-01"),
        record(ref="T-0003", subject={"kind": "person", "id": PERSON_2}, occurred_on="2026-06-01"),
        COMPANY_FINE,
    )
    ok("rescore", "--db", db_url, "--rulebook", "flensburg", "--as-of", "2026-09-30")
    for raw, kind in ((PERSON, "person"), (PERSON_2, "person"), (ORG, "organisation")):
        out = orjson.loads(
            ok(
                "explain",
                raw,
                "--db",
                db_url,
                "--json",
                "--rulebook",
                "flensburg",
                "--as-of",
                "2026-09-30",
            ).stdout
        )
        (result,) = out["results"]
        stored = [r for r in snapshot(registry) if r[0] == out["subject"]["id"]]
        assert [(r[4], r[5], orjson.loads(r[6])) for r in stored] == [
            (result["score"], result["grade"], result["lists"])
        ], kind


def test_a_new_moment_is_a_new_snapshot_and_the_old_one_stays(
    registry: Registry, db_url: str
) -> None:
    submit(registry, record(occurred_on="2026-06-01"))
    ok("rescore", "--db", db_url, "--rulebook", "rongcheng")
    ok("rescore", "--db", db_url, "--rulebook", "rongcheng", "--as-of", "2027-06-01")
    assert [(str(r[3]), r[4]) for r in snapshot(registry)] == [
        ("2026-11-23", 990),
        ("2027-06-01", 1000),
    ]


def test_subject_by_subject_and_bulk_rescoring_write_the_same_snapshot(
    registry: Registry, db_url: str
) -> None:
    submit(
        registry,
        {**DEBTOR, "subject": {"kind": "person", "id": PERSON}},
        record(ref="T-0002", subject={"kind": "person", "id": PERSON_2}, occurred_on="2026-06-01"),
        COMPANY_FINE,
    )
    seen: list[int] = []
    summary = registry.rescore("rongcheng", bulk=None, progress=seen.append)
    assert (summary.engine, summary.subjects, seen[-1]) == ("incremental", 3, 3)
    one_by_one = snapshot(registry)
    ok("rescore", "--db", db_url, "--rulebook", "rongcheng")  # bulk when installed
    assert snapshot(registry) == one_by_one
