"""Bulk import on both stores: good rows land, each bad row is reported precisely, nothing twice."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from socialcredit import demo
from socialcredit.identifiers import SubjectKind
from socialcredit.importer import ImportSummary, InputUnreadable, import_file
from socialcredit.records import FLAT_COLUMNS, Record
from socialcredit.store.registry import Registry
from tests.conftest import LEGACY_ORG, ORG, PERSON, PERSON_2, PERSON_15, TODAY, record

TEN_MB = 10 * 1024 * 1024


# -- helpers --------------------------------------------------------------------------------------
def good(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid record with its own ref ``G-n``."""
    return record(ref=f"G-{n}", **overrides)


def org_record(**overrides: Any) -> dict[str, Any]:
    """A valid record about an organisation (tax types apply to any subject kind)."""
    base = {
        "provider": "tax.weihai",
        "type": "tax.arrears",
        "subject": {"kind": "organisation", "id": ORG},
    }
    return record(**(base | overrides))


def flat(rec: dict[str, Any]) -> dict[str, Any]:
    """A record of the JSON submission format as a flat CSV/Parquet row."""
    row = {k: v for k, v in rec.items() if k != "subject"}
    subject = rec["subject"]
    row.update(
        subject_kind=subject["kind"], subject_id=subject["id"], subject_name=subject.get("name")
    )
    return row


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str | bytes]) -> Path:
    """One line per row: dicts as JSON, text and bytes as they are (for malformed lines)."""
    lines = []
    for row in rows:
        if isinstance(row, dict):
            lines.append(orjson.dumps(row))
        else:
            lines.append(row.encode() if isinstance(row, str) else row)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def write_csv(
    path: Path, rows: Iterable[dict[str, Any] | list[str]], header: Sequence[str] = FLAT_COLUMNS
) -> Path:
    """A CSV file: dict rows under ``header``, list rows written as the raw cells given."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row if isinstance(row, list) else [row.get(c) for c in header])
    return path


def write_flat(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Flat rows as CSV or, by suffix, as Parquet with text columns (so bad values fit)."""
    if path.suffix == ".csv":
        return write_csv(path, rows)
    columns = {c: [None if r.get(c) is None else str(r[c]) for r in rows] for c in FLAT_COLUMNS}
    pq.write_table(pa.table(columns, schema=pa.schema([(c, pa.string()) for c in columns])), path)
    return path


def write_records_csv(records: Iterable[Record], path: Path) -> Path:
    return write_csv(path, [flat(r.to_json()) for r in records])


def run(registry: Registry, path: Path, **options: Any) -> tuple[ImportSummary, list[Any]]:
    """Import ``path``; return the summary and the rejects file's entries, in line order.

    Every import in this file must leave both hash chains intact, so this checks it too.
    """
    summary = import_file(registry, path, **options)
    assert registry.verify().ok, registry.verify().problem
    rejects = []
    if summary.rejects_file is not None:
        lines = Path(summary.rejects_file).read_bytes().splitlines()
        rejects = sorted((orjson.loads(line) for line in lines), key=lambda r: r["line"])
    return summary, rejects


def stored_refs(registry: Registry) -> list[str]:
    with registry.engine.connect() as conn:
        return list(conn.execute(text("SELECT ref FROM ledger ORDER BY seq")).scalars())


def fields(reject: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in reject["errors"]}


def only_error(reject: dict[str, Any]) -> tuple[str, str]:
    [error] = reject["errors"]
    return error["field"], error["reason"]


# -- good and bad rows in one file ----------------------------------------------------------------
def test_a_mixed_file_lands_the_good_rows_and_reports_each_bad_one_by_line_and_field(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            good(1),
            good(2, occurred_on="2031-01-01"),
            good(3),
            "",  # blank lines are skipped but still counted
            good(4, amount=-1),
            good(5),
        ],
    )
    summary, rejects = run(registry, path)

    assert summary.to_json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": 2,
        "rejects_file": str(tmp_path / "mixed.jsonl.rejects.jsonl"),
    }
    assert summary.exit_code == 1
    assert stored_refs(registry) == ["G-1", "G-3", "G-5"]
    assert [r["line"] for r in rejects] == [2, 5]
    assert [only_error(r)[0] for r in rejects] == ["occurred_on", "amount"]
    assert orjson.loads(rejects[0]["input"]) == good(2, occurred_on="2031-01-01")


def test_running_the_same_import_again_stores_nothing_twice(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "mixed.jsonl", [good(1), good(2, amount="x"), good(3)])
    first, _ = run(registry, path)
    again, rejects = run(registry, path)

    assert (first.accepted, first.rejected) == (2, 1)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 1)
    assert [r["line"] for r in rejects] == [2]
    assert stored_refs(registry) == ["G-1", "G-3"]


def test_a_file_of_good_rows_writes_no_rejects_file_and_removes_a_stale_one(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "good.jsonl", [good(1), good(2)])
    stale = tmp_path / "good.jsonl.rejects.jsonl"
    stale.write_text('{"line": 1}\n')
    summary, _ = run(registry, path)
    assert summary.to_json()["rejects_file"] is None and summary.exit_code == 0
    assert not stale.exists()


# -- each bad input, with good rows around it ----------------------------------------------------
def uscc_with(letter: str) -> str:
    return ORG[:9] + letter + ORG[10:]


BAD_ROWS = [
    pytest.param(
        good(0, subject={"kind": "person", "id": PERSON[:-1] + "0"}),
        "subject.id",
        "check character is wrong",
        id="a_resident_number_with_a_wrong_check_digit",
    ),
    pytest.param(
        org_record(ref="G-0", subject={"kind": "organisation", "id": ORG[:-1] + "M"}),
        "subject.id",
        "check character is wrong",
        id="a_uscc_with_a_wrong_check_character",
    ),
    *(
        pytest.param(
            org_record(ref="G-0", subject={"kind": "organisation", "id": uscc_with(letter)}),
            "subject.id",
            f"contains {letter}",
            id=f"a_uscc_containing_{letter}",
        )
        for letter in "IOZSV"
    ),
    pytest.param(
        good(0, type="traffic.parking_on_the_moon"),
        "type",
        "unknown record type",
        id="an_unknown_record_type",
    ),
    pytest.param(
        good(0, type="tax.arrears"),
        "type",
        "'police.traffic' may not submit 'tax.arrears'",
        id="a_type_the_provider_may_not_submit",
    ),
    pytest.param(
        good(0, subject={"kind": "organisation", "id": ORG}),
        "subject.kind",
        "applies to person, not organisation",
        id="a_person_only_type_on_an_organisation",
    ),
    pytest.param(
        good(0, occurred_on="2026-11-24"),
        "occurred_on",
        "is in the future",
        id="a_date_in_the_future",
    ),
    pytest.param(
        good(0, reported_on="2027-01-01"),
        "reported_on",
        "is in the future",
        id="a_report_date_in_the_future",
    ),
    pytest.param(
        good(0, occurred_on="2025-02-30"),
        "occurred_on",
        "not a valid date",
        id="february_30th",
    ),
    pytest.param(
        good(0, occurred_on="yesterday"), "occurred_on", "not a date", id="a_word_as_date"
    ),
    pytest.param(good(0, occurred_on=20250101), "occurred_on", "not a date", id="a_number_as_date"),
    pytest.param(good(0, amount=-200), "amount", "negative", id="a_negative_amount"),
    pytest.param(good(0, amount="200 yuan"), "amount", "not a number", id="a_text_amount"),
    pytest.param(good(0, amount="NaN"), "amount", "finite", id="a_nan_amount"),
    pytest.param(good(0, amount=True), "amount", "not true/false", id="a_boolean_amount"),
    pytest.param(good(0, colour="red"), "colour", "unknown field", id="an_unknown_field"),
    pytest.param(
        good(0, subject={"kind": "person", "id": PERSON, "nickname": "Lei"}),
        "subject.nickname",
        "unknown field",
        id="an_unknown_subject_field",
    ),
    pytest.param(
        good(0, subject={"kind": "citizen", "id": PERSON}),
        "subject.kind",
        "not person, organisation or institution",
        id="an_unknown_subject_kind",
    ),
    pytest.param(["not", "an", "object"], "record", "JSON object", id="a_json_array"),
]


@pytest.mark.parametrize(("bad", "field", "reason"), BAD_ROWS)
def test_a_bad_row_is_rejected_with_its_field_and_reason_and_the_rest_land(
    registry: Registry, tmp_path: Path, bad: Any, field: str, reason: str
) -> None:
    line = orjson.dumps(bad)  # written as given, so non-objects stay what they are
    path = write_jsonl(tmp_path / "in.jsonl", [good(1), line, good(2)])
    summary, rejects = run(registry, path)

    assert (summary.accepted, summary.rejected) == (2, 1)
    assert stored_refs(registry) == ["G-1", "G-2"]
    [reject] = rejects
    assert reject["line"] == 2
    assert field in fields(reject), reject
    assert reason in fields(reject)[field]
    assert orjson.loads(reject["input"]) == bad


def test_a_malformed_json_line_is_rejected_and_the_rest_land(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl", [good(1), '{"provider": "police.traffic", "ref": ', good(2)]
    )
    summary, rejects = run(registry, path)

    assert (summary.accepted, summary.rejected, summary.exit_code) == (2, 1, 1)
    assert stored_refs(registry) == ["G-1", "G-2"]
    [reject] = rejects
    assert reject["line"] == 2
    assert only_error(reject)[0] == "line" and "not valid JSON" in only_error(reject)[1]
    assert reject["input"] == '{"provider": "police.traffic", "ref": '


def test_a_10_mb_field_is_refused_by_length_and_its_reject_entry_stays_small(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [good(1), good(2, evidence="x" * TEN_MB), good(3)])
    summary, rejects = run(registry, path)

    assert stored_refs(registry) == ["G-1", "G-3"]
    [reject] = rejects
    assert reject["line"] == 2
    assert only_error(reject) == ("evidence", f"{TEN_MB} characters, the limit is 2000")
    assert len(reject["input"]) <= 10_000
    assert Path(str(summary.rejects_file)).stat().st_size < 20_000


def test_a_10_mb_csv_cell_is_refused_by_length_and_the_rest_land(
    registry: Registry, tmp_path: Path
) -> None:
    rows = [flat(good(1)), flat(good(2, legal_basis="x" * TEN_MB)), flat(good(3))]
    _, rejects = run(registry, write_csv(tmp_path / "in.csv", rows))

    assert stored_refs(registry) == ["G-1", "G-3"]
    [reject] = rejects
    assert reject["line"] == 3  # the header is line 1
    assert only_error(reject) == ("legal_basis", f"{TEN_MB} characters, the limit is 500")
    assert len(reject["input"]) <= 10_000


def test_a_csv_row_that_is_not_utf8_is_rejected_and_the_rest_land(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "in.csv", [flat(good(n)) for n in range(200)])
    path.write_bytes(path.read_bytes().replace(b"G-150,", b"G-\xff150,"))
    summary, rejects = run(registry, path, batch_size=10)

    assert (summary.accepted, summary.rejected) == (199, 1)
    assert [r["line"] for r in rejects] == [152]


def test_a_csv_row_spanning_two_lines_is_reported_at_the_line_it_starts(
    registry: Registry, tmp_path: Path
) -> None:
    rows = [
        flat(good(1, evidence="seen by\ntwo officers")),  # lines 2-3
        flat(good(2, amount=-1, evidence="seen by\ntwo officers")),  # lines 4-5
        flat(good(3, amount=-2)),  # line 6
    ]
    _, rejects = run(registry, write_csv(tmp_path / "in.csv", rows))
    assert [r["line"] for r in rejects] == [4, 6]


# -- CSV shape ------------------------------------------------------------------------------------
def test_a_csv_without_a_required_column_is_refused_whole(
    registry: Registry, tmp_path: Path
) -> None:
    header = [c for c in FLAT_COLUMNS if c != "type"]
    path = write_csv(tmp_path / "in.csv", [flat(good(1))], header)
    with pytest.raises(InputUnreadable, match=r"missing column.*type"):
        import_file(registry, path)
    assert stored_refs(registry) == []


def test_a_csv_with_an_unknown_column_is_refused_naming_it(
    registry: Registry, tmp_path: Path
) -> None:
    header = [*FLAT_COLUMNS, "colour"]
    path = write_csv(tmp_path / "in.csv", [flat(good(1, colour="red"))], header)
    with pytest.raises(InputUnreadable, match=r"unknown column.*'colour'"):
        import_file(registry, path)
    assert stored_refs(registry) == []


def test_csv_rows_with_too_many_or_too_few_fields_are_rejected_and_the_rest_land(
    registry: Registry, tmp_path: Path
) -> None:
    width = len(FLAT_COLUMNS)
    cells = [str(flat(good(9)).get(c) or "") for c in FLAT_COLUMNS]
    rows = [flat(good(1)), [*cells, "surplus"], flat(good(2)), cells[:3], flat(good(3))]
    summary, rejects = run(registry, write_csv(tmp_path / "in.csv", rows))

    assert stored_refs(registry) == ["G-1", "G-2", "G-3"]
    assert [r["line"] for r in rejects] == [3, 5]
    assert [only_error(r) for r in rejects] == [
        ("line", f"has {width + 1} fields, the header has {width}"),
        ("line", f"has 3 fields, the header has {width}"),
    ]
    assert summary.exit_code == 1


def test_every_bad_row_of_a_csv_file_is_rejected_on_its_own_line(
    registry: Registry, tmp_path: Path
) -> None:
    def fits_a_csv_cell(bad: Any) -> bool:
        # unknown fields would be unknown columns, which refuse the whole file (tested above),
        # and a CSV cell is never a boolean or an array
        return (
            isinstance(bad, dict)
            and "colour" not in bad
            and "nickname" not in bad["subject"]
            and not isinstance(bad.get("amount"), bool)
        )

    flat_cases = [
        (flat(bad), field, reason)
        for bad, field, reason in (p.values for p in BAD_ROWS)
        if fits_a_csv_cell(bad)
    ]
    rows: list[dict[str, Any]] = []
    for n, (bad, _, _) in enumerate(flat_cases):
        rows += [flat(good(n)), {**bad, "ref": f"B-{n}"}]
    summary, rejects = run(registry, write_csv(tmp_path / "in.csv", rows))

    assert summary.accepted == len(flat_cases)
    assert [r["line"] for r in rejects] == [3 + 2 * n for n in range(len(flat_cases))]
    for reject, (_, field, reason) in zip(rejects, flat_cases, strict=True):
        assert reason in fields(reject)[field]


# -- duplicates -----------------------------------------------------------------------------------
def test_an_identical_resubmission_in_one_file_is_a_duplicate_not_a_reject(
    registry: Registry, tmp_path: Path
) -> None:
    summary, rejects = run(registry, write_jsonl(tmp_path / "in.jsonl", [good(1), good(1)]))
    assert (summary.accepted, summary.duplicates, summary.rejected) == (1, 1, 0)
    assert rejects == [] and summary.exit_code == 0


def test_a_ref_reused_with_different_content_in_one_file_is_rejected_on_ref(
    registry: Registry, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [good(1), good(2), good(1, amount=300), good(3)])
    _, rejects = run(registry, path)

    assert stored_refs(registry) == ["G-1", "G-2", "G-3"]
    [reject] = rejects
    assert reject["line"] == 3
    field, reason = only_error(reject)
    assert field == "ref" and "'G-1'" in reason and "different content" in reason
    with registry.engine.connect() as conn:
        assert conn.execute(text("SELECT amount FROM ledger WHERE ref = 'G-1'")).scalar() == 200


def test_a_ref_reused_with_different_content_in_a_later_import_is_rejected_on_ref(
    registry: Registry, tmp_path: Path
) -> None:
    run(registry, write_jsonl(tmp_path / "first.jsonl", [good(1)]))
    path = write_jsonl(tmp_path / "second.jsonl", [good(2), good(1, amount=300), good(3)])
    summary, rejects = run(registry, path)

    assert (summary.accepted, summary.rejected) == (2, 1)
    [reject] = rejects
    assert reject["line"] == 2
    field, reason = only_error(reject)
    assert field == "ref" and "already in the ledger with different content" in reason
    assert orjson.loads(reject["input"])["amount"] == 300  # quoted as read, like any reject


def test_a_changed_record_is_rejected_every_time_it_appears(
    registry: Registry, tmp_path: Path
) -> None:
    run(registry, write_jsonl(tmp_path / "first.jsonl", [good(1)]))
    changed = good(1, amount=300)
    summary, rejects = run(registry, write_jsonl(tmp_path / "second.jsonl", [changed, changed]))

    assert (summary.accepted, summary.duplicates, summary.rejected) == (0, 0, 2)
    assert [only_error(r)[0] for r in rejects] == ["ref", "ref"]


# -- files that cannot be read ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["empty.jsonl", "empty.csv", "empty.parquet"])
def test_an_empty_file_is_unreadable(registry: Registry, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(InputUnreadable, match="empty"):
        import_file(registry, path)


def test_a_parquet_file_named_jsonl_is_refused(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    demo.write_parquet([registry.validator().from_json(good(1))], path)
    with pytest.raises(InputUnreadable, match="this is a Parquet file"):
        import_file(registry, path)
    assert stored_refs(registry) == []


def test_a_jsonl_file_named_parquet_is_refused(registry: Registry, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "records.parquet", [good(1)])
    with pytest.raises(InputUnreadable, match="not a Parquet file"):
        import_file(registry, path)
    assert stored_refs(registry) == []


def test_a_csv_file_holding_json_lines_is_refused(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "records.csv"
    write_jsonl(path, [good(1), good(2)])
    with pytest.raises(InputUnreadable, match="looks like JSON Lines"):
        import_file(registry, path)
    assert stored_refs(registry) == []


def test_a_jsonl_file_holding_csv_is_unreadable_line_by_line(
    registry: Registry, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    write_csv(path, [flat(good(1)), flat(good(2))])
    summary, rejects = run(registry, path)

    assert summary.exit_code == 2
    assert (summary.accepted, summary.rejected) == (0, 3)
    assert [r["line"] for r in rejects] == [1, 2, 3]
    assert all(only_error(r)[0] == "line" for r in rejects)
    assert stored_refs(registry) == []


# -- identifiers ----------------------------------------------------------------------------------
def test_a_15_digit_resident_number_is_the_same_subject_as_its_18_digit_form(
    registry: Registry, tmp_path: Path
) -> None:
    old_form = {"kind": "person", "id": PERSON_15}
    someone_else = {"kind": "person", "id": PERSON_2}
    rows = [
        good(1),
        good(2, subject=old_form),
        good(1, subject=old_form),
        good(3, subject=someone_else),
    ]
    summary, _ = run(registry, write_jsonl(tmp_path / "in.jsonl", rows))

    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, 0)
    assert registry.counts()["persons"] == 2
    new_form = registry.find_subject(SubjectKind.PERSON, PERSON)
    assert new_form is not None
    assert registry.find_subject(SubjectKind.PERSON, PERSON_15) == new_form


def test_a_legacy_code_is_rejected_until_the_operator_allows_it(
    registry: Registry, tmp_path: Path
) -> None:
    legacy = {"kind": "organisation", "id": LEGACY_ORG}
    path = write_jsonl(tmp_path / "in.jsonl", [org_record(ref="L-1", subject=legacy)])
    before, rejects = run(registry, path)
    assert (before.accepted, before.rejected) == (0, 1)
    assert only_error(rejects[0])[0] == "subject.id"

    registry.allow_legacy_code(LEGACY_ORG, "issued in the 2015 Xiamen pilot", actor="test")
    after, _ = run(registry, path)
    assert (after.accepted, after.rejected) == (1, 0)
    assert registry.counts()["organisations"] == 1


# -- formats, workers and batches -----------------------------------------------------------------
@pytest.fixture
def demo_records() -> list[Record]:
    """A realistic mix: persons and organisations, names, evidence, amounts, relates_to."""
    return list(demo.generate_records(5, 300, end=TODAY))


def test_jsonl_csv_and_parquet_files_of_the_same_records_store_identical_content(
    registry: Registry, tmp_path: Path, demo_records: list[Record]
) -> None:
    demo.write_jsonl(demo_records, tmp_path / "records.jsonl")
    demo.write_parquet(demo_records, tmp_path / "records.parquet")
    write_records_csv(demo_records, tmp_path / "records.csv")

    first, _ = run(registry, tmp_path / "records.jsonl")
    assert first.to_json()["accepted"] == len(demo_records)
    refs = stored_refs(registry)
    # a duplicate is a same-ref record with the same content hash; any difference in what a
    # format reads back would be rejected as a changed record instead
    for name in ("records.csv", "records.parquet"):
        again, rejects = run(registry, tmp_path / name)
        assert (again.accepted, again.duplicates, rejects) == (0, len(demo_records), []), name
    assert stored_refs(registry) == refs


def mixed_rows(prefix: str) -> list[dict[str, Any]]:
    """Twenty rows, every fourth bad in a different way, and one ref reused with a change."""
    rows = [record(ref=f"{prefix}-{n}") for n in range(20)]
    rows[0]["occurred_on"] = "2030-01-01"
    rows[4]["amount"] = -1
    rows[8]["type"] = "no.such_type"
    rows[12]["subject"] = {"kind": "person", "id": PERSON[:-1] + "0"}
    rows[16] = record(ref=f"{prefix}-1", amount=999)
    rows[19] = rows[3]  # an identical duplicate
    return rows


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_worker_processes_give_the_same_summary_and_rejects_as_in_process(
    registry: Registry, tmp_path: Path, suffix: str
) -> None:
    def import_with(workers: int, prefix: str) -> tuple[dict[str, Any], str]:
        path = tmp_path / f"{prefix}.{suffix}"
        if suffix == "csv":
            write_csv(path, [flat(r) for r in mixed_rows(prefix)])
        else:
            write_jsonl(path, mixed_rows(prefix))
        summary, rejects = run(registry, path, batch_size=3, workers=workers)
        shown = summary.to_json() | {"rejects_file": None}
        return shown, orjson.dumps(rejects).decode().replace(f"{prefix}-", "R-")

    assert import_with(1, "W") == import_with(0, "P")
    assert len(stored_refs(registry)) == 2 * 14


BAD_INDICES = (0, 4, 8, 12, 16)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_bad_rows_spread_over_small_batches_never_cost_a_good_row(
    registry: Registry, tmp_path: Path, suffix: str
) -> None:
    rows = mixed_rows("B")
    path = write_flat(tmp_path / f"in.{suffix}", [flat(r) for r in rows])
    summary, rejects = run(registry, path, batch_size=3)

    assert stored_refs(registry) == [
        r["ref"] for n, r in enumerate(rows[:-1]) if n not in BAD_INDICES
    ]
    assert (summary.accepted, summary.duplicates, summary.rejected) == (14, 1, 5)
    first_row_line = 2 if suffix == "csv" else 1  # CSV has a header line, Parquet rows count from 1
    assert [r["line"] for r in rejects] == [first_row_line + n for n in BAD_INDICES]
    assert "already in the ledger" in fields(rejects[-1])["ref"]


# -- every combination of optional fields ---------------------------------------------------------
OPTIONAL_VALUES: dict[str, Any] = {
    "reported_on": "2025-06-09",
    "act": "ACT-7",
    "amount": 200.5,
    "quantity": 3.0,
    "relates_to": "T-0000",
    "evidence": "camera 12, frame 3",
    "legal_basis": "Road Traffic Safety Law art. 90",
    "name": "Wang Fang",
}


def test_every_combination_of_optional_fields_lands_with_each_value_in_its_column(
    registry: Registry, tmp_path: Path
) -> None:
    """The writer inserts rows grouped by which columns have values (the prepared row's
    ``present`` mask), naming only those: a wrong mask would drop a value silently."""
    from itertools import combinations

    from socialcredit.intake import present_mask

    names = list(OPTIONAL_VALUES)
    rows, expected = [], {}
    for size in range(len(names) + 1):
        for chosen in combinations(names, size):
            ref = f"OPT-{len(rows)}"
            row = record(ref=ref)
            row.pop("amount"), row.pop("legal_basis")
            for name in chosen:
                if name == "name":
                    row["subject"] = {**row["subject"], "name": OPTIONAL_VALUES[name]}
                else:
                    row[name] = OPTIONAL_VALUES[name]
            rows.append(row)
            expected[ref] = {name: OPTIONAL_VALUES.get(name) if name in chosen else None
                             for name in names}  # fmt: skip
    preparer = registry.preparer()
    for row in rows:
        *_, content, _digest, present = preparer.prepare_json(row)
        assert present == present_mask(content), row
    write_jsonl(tmp_path / "optional.jsonl", rows)
    summary, rejects = run(registry, tmp_path / "optional.jsonl")
    assert (summary.accepted, rejects) == (2 ** len(names), [])
    with registry.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT ref, reported_on, act, amount, quantity, relates_to, evidence, "
                "legal_basis, subject_name AS name FROM ledger WHERE ref LIKE 'OPT-%'"
            )
        ).mappings()
        found = {
            r["ref"]: {n: (str(r[n]) if n == "reported_on" and r[n] else r[n]) for n in names}
            for r in stored
        }
    assert found == expected
    assert registry.verify().problem is None
