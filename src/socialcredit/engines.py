"""Scoring many subjects: the one-subject engine in a loop, or the bulk engine.

Both executions implement one semantics (property tests prove them equal), so callers choose
by size, not by meaning. The bulk engine (``socialcredit.bulk``) is imported only when asked
for; it reads a file or an Arrow table of flat records with DuckDB and yields, per subject,
score, grade, lists, measures and reason codes (``bulk.RESULT_SCHEMA``) rather than the
explained ``Result``, which is what a snapshot or an analysis needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from types import ModuleType
from typing import Any, NamedTuple

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record
from socialcredit.rulebook import Rulebook
from socialcredit.scoring import evaluate

BULK_MODULE = "socialcredit.bulk"
BULK_ENTRY = "score_all"
#: Records handed to the bulk engine at a time (whole subjects only): bounded memory.
BULK_CHUNK_RECORDS = 500_000

#: A subject to score: its identifier in the caller's terms, its kind, its effective records.
Group = tuple[str, SubjectKind, Sequence[Record]]


class BulkUnavailable(RuntimeError):
    """The bulk engine is not installed, or does not offer the entry point called here."""


class Outcome(NamedTuple):
    """What both engines give for a subject: its standing, without the explanation."""

    subject_id: str
    score: int
    grade: str
    lists: list[str]


def load_bulk() -> ModuleType:
    """The bulk engine module, or ``BulkUnavailable`` saying why not."""
    try:
        module = importlib.import_module(BULK_MODULE)
    except ImportError as exc:
        raise BulkUnavailable(f"bulk engine not available ({exc})") from None
    if not callable(getattr(module, BULK_ENTRY, None)):
        raise BulkUnavailable(
            f"bulk engine not available ({BULK_MODULE} has no {BULK_ENTRY}(source, rulebook, "
            "as_of))"
        )
    return module


def outcomes(
    groups: Iterable[Group],
    rulebook: Rulebook,
    as_of: date,
    bulk: ModuleType | None = None,
    chunk_records: int = BULK_CHUNK_RECORDS,
) -> Iterator[Outcome]:
    """Every group's outcome: subject by subject, or in bulk chunks of whole subjects.

    A subject depends only on its own records (line 2), so chunks can be scored apart.
    """
    chunk: list[Group] = []
    size = 0
    for key, kind, records in groups:
        if bulk is None or not records:  # nothing to hand over: every record withdrawn
            result = evaluate(records, rulebook, as_of, kind)
            yield Outcome(key, result.score, result.grade, list(result.lists))
            continue
        chunk.append((key, kind, records))
        size += len(records)
        if size >= chunk_records:
            yield from _bulk_outcomes(bulk, chunk, rulebook, as_of)
            chunk, size = [], 0
    if chunk and bulk is not None:
        yield from _bulk_outcomes(bulk, chunk, rulebook, as_of)


def _bulk_outcomes(
    bulk: ModuleType, chunk: Sequence[Group], rulebook: Rulebook, as_of: date
) -> Iterator[Outcome]:
    for batch in bulk.score_all(records_table(chunk), rulebook, as_of):
        for row in batch.to_pylist():
            yield Outcome(row["subject_id"], row["score"], row["grade"], list(row["lists"]))


def records_table(groups: Sequence[Group]) -> Any:
    """A ``pyarrow.Table`` of the groups' flat records, each under its group's id and kind."""
    from socialcredit.flat import flat_table

    return flat_table((kind.value, key, r) for key, kind, records in groups for r in records)
