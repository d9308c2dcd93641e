"""Reading subjects back from the ledger: the records that count now, and the whole history.

The ledger only ever grows, so "what counts" is derived on reading: a record or correction
counts unless a later entry amends it (a revocation withdraws it, a correction replaces it).
Both views come from one indexed query per subject (``ix_ledger_subject`` for the subject's
entries, ``ix_ledger_amends`` and the primary key for what amends them and what they amend),
and the whole registry streams through the same query ordered by subject, so re-scoring
never holds more than one subject's entries in memory.

Records are rebuilt with the subject's display form (the raw resident number is not stored,
and the engine never needs it): ``SubjectRef(kind, display, name)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, and_, select

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.store.schema import ledger, subjects

#: Rows fetched at a time when streaming the whole ledger.
STREAM_BATCH = 10_000
#: Subjects looked up per query when reading many files at once (``read_records``).
LOOKUP_CHUNK = 500
_SCORED_KINDS = ("record", "correction")


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject as stored: its id, kind, display form (masked for persons) and name."""

    id: int
    kind: SubjectKind
    display: str
    name: str | None


class EntryStatus(StrEnum):
    CURRENT = "current"  # in force: counts (a record or correction) or applies (a revocation)
    REVOKED = "revoked"
    CORRECTED = "corrected"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ledger entry of a subject, with what became of it, for explanations."""

    seq: int
    kind: str  # record | correction | revocation
    provider: str
    ref: str
    type: str | None
    occurred_on: date | None
    recorded_at: str
    amends: str | None  # the ref a correction or revocation amends
    reason: str | None  # why a correction or revocation was made
    status: EntryStatus
    amended_by: str | None  # the ref of the revocation or correction that amended it
    amended_at: str | None
    amended_reason: str | None

    def describe(self) -> str:
        """The status in words: ``current``, ``revoked by R (reason)``, ``corrected by C``."""
        if self.status is EntryStatus.CURRENT:
            return "current"
        why = f": {self.amended_reason}" if self.amended_reason else ""
        return f"{self.status.value} by {self.amended_by} on {(self.amended_at or '')[:10]}{why}"

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "provider": self.provider,
            "ref": self.ref,
            "type": self.type,
            "occurred_on": self.occurred_on.isoformat() if self.occurred_on else None,
            "recorded_at": self.recorded_at,
            "amends": self.amends,
            "reason": self.reason,
            "status": self.status.value,
            "amended_by": self.amended_by,
            "amended_at": self.amended_at,
            "amended_reason": self.amended_reason,
        }


@dataclass(frozen=True, slots=True)
class SubjectFile:
    """What the registry holds on one subject: the records that count, and every entry."""

    subject: Subject
    records: list[Record]
    history: list[HistoryEntry]


def read_file(conn: Connection, subject_id: int) -> SubjectFile:
    """One subject's file, from one indexed query."""
    rows = list(conn.execute(_entries().where(ledger.c.subject_id == subject_id)))
    if not rows:
        raise LookupError(f"subject {subject_id} has no ledger entries")
    return _file(rows)


def _file(rows: Sequence[Any]) -> SubjectFile:
    """A subject's file from its entries in ledger order."""
    subject = _named(rows)
    return SubjectFile(subject, effective_records(subject, rows), history(rows))


def _named(rows: Sequence[Any]) -> Subject:
    subject = _subject_of(rows[0])
    if subject.name is None:  # named by a later record than the one that created it
        named = [row.subject_name for row in rows if row.subject_name]
        subject = replace(subject, name=named[-1] if named else None)
    return subject


def read_records(
    conn: Connection, subject_ids: Sequence[int]
) -> dict[int, tuple[Subject, list[Record]]]:
    """Several subjects and the records that count, by id, from one indexed query per
    ``LOOKUP_CHUNK`` subjects: a batch check of 10,000 subjects costs 20 queries, not 10,000,
    and builds no history it does not show. Ids without entries are left out."""
    found: dict[int, tuple[Subject, list[Record]]] = {}
    unique = list(dict.fromkeys(subject_ids))
    for start in range(0, len(unique), LOOKUP_CHUNK):
        chunk = unique[start : start + LOOKUP_CHUNK]
        by_subject: dict[int, list[Any]] = {}
        for row in conn.execute(_entries().where(ledger.c.subject_id.in_(chunk))):
            by_subject.setdefault(row.subject_id, []).append(row)
        for subject_id, rows in by_subject.items():
            subject = _named(rows)
            found[subject_id] = (subject, effective_records(subject, rows))
    return found


def subject_ids(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """The row ids of the subjects with these keyed hashes (``identifiers.subject_key``);
    keys nobody filed a record about are left out."""
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), LOOKUP_CHUNK):
        chunk = unique[start : start + LOOKUP_CHUNK]
        for key, subject_id in conn.execute(
            select(subjects.c.key, subjects.c.id).where(subjects.c.key.in_(chunk))
        ):
            found[key] = int(subject_id)
    return found


def stream_subjects(
    conn: Connection, batch: int = STREAM_BATCH
) -> Iterator[tuple[Subject, list[Any]]]:
    """Every subject with its entries, one subject at a time, from one ordered query."""
    query = _entries().order_by(None).order_by(ledger.c.subject_id, ledger.c.seq)
    current: Subject | None = None
    rows: list[Any] = []
    for row in conn.execution_options(yield_per=batch).execute(query):
        if current is None or row.subject_id != current.id:
            if current is not None:
                yield current, rows
            current = _subject_of(row)
            rows = []
        rows.append(row)
    if current is not None:
        yield current, rows


def _subject_of(row: Any) -> Subject:
    return Subject(
        row.subject_id, SubjectKind(row.subject_kind), row.subject_display, row.subject_stored_name
    )


@cache  # built once: compiling the aliases anew cost more than the query itself
def _entries() -> Select[Any]:
    amender = ledger.alias("amender")
    target = ledger.alias("target")
    return (
        select(
            ledger.c.seq,
            ledger.c.subject_id,
            ledger.c.kind,
            ledger.c.provider,
            ledger.c.ref,
            ledger.c.type,
            ledger.c.occurred_on,
            ledger.c.reported_on,
            ledger.c.act,
            ledger.c.amount,
            ledger.c.quantity,
            ledger.c.relates_to,
            ledger.c.evidence,
            ledger.c.legal_basis,
            ledger.c.subject_name,
            ledger.c.reason,
            ledger.c.recorded_at,
            target.c.ref.label("amends_ref"),
            amender.c.kind.label("amended_kind"),
            amender.c.ref.label("amended_ref"),
            amender.c.recorded_at.label("amended_at"),
            amender.c.reason.label("amended_reason"),
            subjects.c.kind.label("subject_kind"),
            subjects.c.display.label("subject_display"),
            subjects.c.name.label("subject_stored_name"),
        )
        .join(subjects, subjects.c.id == ledger.c.subject_id)
        # ``amends IS NOT NULL`` lets SQLite use the partial index ix_ledger_amends.
        .outerjoin(amender, and_(amender.c.amends.isnot(None), amender.c.amends == ledger.c.seq))
        .outerjoin(target, target.c.seq == ledger.c.amends)
        .order_by(ledger.c.seq)
    )


# -- the two views ------------------------------------------------------------------------------
def effective_records(subject: Subject, entries: Sequence[Any]) -> list[Record]:
    """The records that count: records and corrections no later entry amends.

    A correction counts in place of the original, so a record that relates to the original
    (a court's "judgment performed" relating to its "dishonest debtor" record) is made to
    relate to the correction that replaced it; otherwise correcting a typo in a listing would
    make its repair miss, and keep the subject listed.
    """
    current = [
        e
        for e in entries
        if e.kind in _SCORED_KINDS and e.amended_kind is None and e.type is not None
    ]  # an entry without a type was erased after its retention period (``store.archive``)
    refs = {e.ref for e in current}
    replaced = {
        (e.provider, e.ref): e.amended_ref for e in entries if e.amended_kind == "correction"
    }
    return [
        Record(
            e.provider,
            e.ref,
            SubjectRef(subject.kind, subject.display, e.subject_name or subject.name),
            e.type,
            e.occurred_on,
            e.reported_on,
            e.act,
            e.amount,
            e.quantity,
            _current_ref(e.relates_to, e.provider, refs, replaced),
            e.evidence,
            e.legal_basis,
        )
        for e in current
    ]


def _current_ref(
    ref: str | None, provider: str, refs: set[str], replaced: dict[tuple[str, str], str]
) -> str | None:
    """``ref``, or the ref of the correction that now stands in for it (same provider first)."""
    if ref is None or ref in refs:
        return ref
    owners = [p for p, r in replaced if r == ref]
    if not owners:
        return ref
    key = (provider if provider in owners else owners[0], ref)
    seen = {key}
    while key in replaced:  # follow corrections of corrections to the one in force
        key = (key[0], replaced[key])
        if key in seen:
            break
        seen.add(key)
    return key[1] if key[1] in refs else ref


def history(entries: Sequence[Any]) -> list[HistoryEntry]:
    """Every entry, revoked and corrected ones included, with its status."""
    return [
        HistoryEntry(
            seq=e.seq,
            kind=e.kind,
            provider=e.provider,
            ref=e.ref,
            type=e.type,
            occurred_on=e.occurred_on,
            recorded_at=e.recorded_at,
            amends=e.amends_ref,
            reason=e.reason,
            status=_status(e.amended_kind),
            amended_by=e.amended_ref,
            amended_at=e.amended_at,
            amended_reason=e.amended_reason,
        )
        for e in entries
    ]


def _status(amended_kind: str | None) -> EntryStatus:
    if amended_kind == "revocation":
        return EntryStatus.REVOKED
    if amended_kind == "correction":
        return EntryStatus.CORRECTED
    return EntryStatus.CURRENT
