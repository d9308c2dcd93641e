"""Records from a file, for scoring without a registry: what-if runs and tests.

The file is read with the importer's readers (JSON Lines, CSV, Parquet with the flat columns)
and every row is checked by the same validator as an import, in a context fit for a file:

- any provider may submit any type: no registry says who is registered;
- the known record types are the rulebook's and the shipped catalogs', so a record the
  registry would accept but the rulebook does not score shows as ``not_scored``, exactly as it
  would in the registry, while a misspelt type is still refused;
- "in the future" means after today or after the moment asked about, whichever is later, so a
  what-if run for a future date may hold records up to that date.

Rows that fail are collected with their line and every reason, and left out; the caller
reports them. The good rows are grouped by subject (one USCC is one subject, as in the
registry), each named as the input first names it. The whole file is held in memory: this is
for what-if runs and tests; millions of records belong to the bulk engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from socialcredit.catalog import RecordType, all_shipped_types, index
from socialcredit.identifiers import SubjectKind, normalise
from socialcredit.importer import (
    BATCH_SIZE,
    Format,
    InputUnreadable,
    csv_payloads,
    detect_format,
    jsonl_payloads,
    parquet_payloads,
)
from socialcredit.intake import (
    Payload,
    rows_of,  # the importer's own row parsing
)
from socialcredit.providers import Provider
from socialcredit.records import FieldError, Record, RecordRejected, RecordValidator
from socialcredit.rulebook import Rulebook


@dataclass(slots=True)
class FileSubject:
    """A subject of the file: its kind, its id as the input wrote it, its valid records."""

    kind: SubjectKind
    id: str
    records: list[Record] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int  # line of a JSON Lines or CSV file (counting the header), row of a Parquet file
    errors: list[FieldError]

    def __str__(self) -> str:
        return f"line {self.line}: " + "; ".join(str(e) for e in self.errors)


@dataclass(slots=True)
class RecordFile:
    path: Path
    subjects: dict[tuple[str, str], FileSubject] = field(default_factory=dict)
    rejected: list[BadRow] = field(default_factory=list)
    rows: int = 0

    def find(self, raw_id: str, kind: SubjectKind) -> FileSubject | None:
        """The subject an identifier names (normalised first: a 15-digit number finds its
        18-digit form)."""
        return self.subjects.get(_identity(kind, normalise(kind, raw_id)))


class _AnyProvider(Mapping[str, Provider]):
    """Every provider name is known and may submit every type: a file has no registry."""

    def __getitem__(self, name: str) -> Provider:
        return Provider(name, ("*",))

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def file_types(rulebook: Rulebook) -> dict[str, RecordType]:
    """The shipped catalogs' types, overridden by the rulebook's own definitions."""
    types = index(all_shipped_types())
    for code, rule in rulebook.types.items():
        types[code] = RecordType(
            code, rule.title, rule.category, rule.polarity, rule.kinds, rulebook.name
        )
    return types


def read_records(path: Path, rulebook: Rulebook, today: date) -> RecordFile:
    """Read, check and group the records of ``path`` (see the module docstring)."""
    validator = RecordValidator(_AnyProvider(), file_types(rulebook), today)
    out = RecordFile(path)
    unreadable = 0
    for payload in _payloads(path):
        for line, data, flat, error in rows_of(payload):
            out.rows += 1
            if error is not None:
                unreadable += 1
                out.rejected.append(BadRow(line, [error]))
                continue
            try:
                record = validator.from_flat(data) if flat else validator.from_json(data)
            except RecordRejected as exc:
                out.rejected.append(BadRow(line, exc.errors))
                continue
            conflict = _add(out, record, data["subject_id"] if flat else data["subject"]["id"])
            if conflict is not None:
                out.rejected.append(BadRow(line, [conflict]))
    if out.rows and unreadable == out.rows:
        raise InputUnreadable(
            f"{path.name}: not one row could be read ({out.rejected[0]}); "
            "is it really the format its name says?"
        )
    return out


def _payloads(path: Path) -> Iterator[Payload]:
    fmt = detect_format(path)
    if fmt is Format.PARQUET:
        yield from parquet_payloads(path, BATCH_SIZE)
        return
    with path.open("rb") as handle:
        if fmt is Format.JSONL:
            yield from jsonl_payloads(handle, BATCH_SIZE)
        else:
            yield from csv_payloads(handle, BATCH_SIZE)


def _add(out: RecordFile, record: Record, raw_id: Any) -> FieldError | None:
    kind = record.subject.kind
    key = _identity(kind, record.subject.id)
    subject = out.subjects.get(key)
    if subject is None:
        subject = out.subjects[key] = FileSubject(kind, str(raw_id))
    elif subject.kind is not kind:
        return FieldError(
            "subject.kind",
            f"this subject appears as {subject.kind.value} earlier, not {kind.value}",
        )
    subject.records.append(record)
    return None


def _identity(kind: SubjectKind, number: str) -> tuple[str, str]:
    """One identifier scheme, one subject: an organisation's code is an institution's too."""
    return ("ric" if kind is SubjectKind.PERSON else "uscc", number)
