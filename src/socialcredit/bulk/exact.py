"""The exact path: the subjects the SQL leaves to ``scoring.evaluate`` itself.

A subject comes here when it has a record of a type whose rule the SQL does not translate (a
score condition, ``only_if``: whether it counts depends on the whole evaluation as of its day)
or a chain of repeats still open after ``pipeline.MAX_ROUNDS`` rounds. Rather than a second
sequential implementation of the rules, these subjects are handed to the one-subject engine:
their records are streamed from DuckDB in subject order, a few thousand subjects at a time,
turned into ``Record`` objects, evaluated, and written back to DuckDB as result and
contribution rows. Only one chunk of Python objects exists at any time, however many subjects
take this path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:  # DuckDB is imported where a connection is made: the kernel needs none
    import duckdb
from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook.model import Rulebook
from socialcredit.scoring import Result, evaluate

#: Subjects evaluated between two writes to DuckDB.
CHUNK_SUBJECTS = 2_000
_READ_ROWS = 50_000
_FIELDS = ("provider", "ref", "type", "occurred_on", "act", "amount", "quantity", "relates_to")


def score_routed(
    con: duckdb.DuckDBPyConnection,
    rulebook: Rulebook,
    as_of: date,
    result_schema: pa.Schema,
    contribution_schema: pa.Schema | None,
) -> int:
    """Evaluate every subject in ``routed``; fill ``exact_results`` (and ``exact_contribs``).

    Returns how many subjects were evaluated.
    """
    _empty(con, "exact_results", result_schema)
    if contribution_schema is not None:
        _empty(con, "exact_contribs", contribution_schema)
    ((routed,),) = con.execute("SELECT count(*) FROM routed").fetchall()
    if not routed:  # the usual case: no need to read the records once more
        return 0
    con.execute(
        "CREATE TABLE exact_records AS SELECT s.subject_kind, s.subject_id, "
        f"{', '.join('s.' + f for f in _FIELDS)} FROM src s "
        "JOIN (SELECT u.kind, u.sid FROM subjects u JOIN routed r ON r.subj = u.subj) u "
        "ON u.kind = s.subject_kind AND u.sid = s.subject_id "
        "ORDER BY s.subject_kind, s.subject_id"
    )
    reader = con.cursor()
    results: list[dict[str, Any]] = []
    contribs: list[dict[str, Any]] = []
    count = 0
    for (kind, sid), records in _subjects(reader):
        result = evaluate(records, rulebook, as_of, SubjectKind(kind))
        results.append(result_row(kind, sid, result))
        if contribution_schema is not None:
            contribs.extend(_contribution_rows(kind, sid, result))
        count += 1
        if len(results) >= CHUNK_SUBJECTS:
            _flush(con, results, contribs, result_schema, contribution_schema)
    _flush(con, results, contribs, result_schema, contribution_schema)
    reader.close()
    return count


def _subjects(reader: duckdb.DuckDBPyConnection) -> Iterator[tuple[tuple[str, str], list[Record]]]:
    """Each routed subject with its records, in subject order, read in bounded batches."""
    batches = reader.sql("SELECT * FROM exact_records").to_arrow_reader(_READ_ROWS)
    key: tuple[str, str] | None = None
    records: list[Record] = []
    subject: SubjectRef | None = None
    for batch in batches:
        for row in batch.to_pylist():
            row_key = (row["subject_kind"], row["subject_id"])
            if row_key != key:
                if key is not None:
                    yield key, records
                key, records = row_key, []
                subject = SubjectRef(SubjectKind(row_key[0]), row_key[1])
            assert subject is not None
            records.append(flat_record(row, subject))
    if key is not None:
        yield key, records


def flat_record(row: Mapping[str, Any], subject: SubjectRef) -> Record:
    """A row of the flat columns as the one-subject engine's ``Record`` (the kernel's exact
    path too)."""
    return Record(
        row["provider"],
        row["ref"],
        subject,
        row["type"],
        row["occurred_on"],
        act=row["act"],
        amount=row["amount"],
        quantity=row["quantity"],
        relates_to=row["relates_to"],
    )


def result_row(kind: str, sid: str, result: Result) -> dict[str, Any]:
    """A one-subject result as a row of ``RESULT_SCHEMA`` (the kernel's exact path too)."""
    return {
        "subject_kind": kind,
        "subject_id": sid,
        "score": result.score,
        "grade": result.grade,
        "lists": list(result.lists),
        "measures": [m.code for m in result.measures],
        "reasons": [r.code for r in result.reasons],
    }


def _contribution_rows(kind: str, sid: str, result: Result) -> Iterator[dict[str, Any]]:
    for c in result.contributions:
        yield {
            "subject_kind": kind,
            "subject_id": sid,
            "ref": c.ref,
            "provider": c.provider,
            "type": c.type,
            "occurred_on": c.occurred_on,
            "base_points": c.base_points,
            "points": c.points,
            "applied_points": c.applied_points,
            "status": c.status.value,
            "valid_from": c.valid_from,
            "valid_until": c.valid_until,
        }


def _empty(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> None:
    con.register("exact_empty", schema.empty_table())
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM exact_empty")
    con.unregister("exact_empty")


def _flush(
    con: duckdb.DuckDBPyConnection,
    results: list[dict[str, Any]],
    contribs: list[dict[str, Any]],
    result_schema: pa.Schema,
    contribution_schema: pa.Schema | None,
) -> None:
    for name, rows, schema in (
        ("exact_results", results, result_schema),
        ("exact_contribs", contribs, contribution_schema),
    ):
        if rows and schema is not None:
            con.register("exact_chunk", pa.Table.from_pylist(rows, schema=schema))
            con.execute(f"INSERT INTO {name} SELECT * FROM exact_chunk")
            con.unregister("exact_chunk")
        rows.clear()
