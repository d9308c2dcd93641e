"""Reading subjects back from the ledger: the records that count now, and the whole history.

The ledger only ever grows, so "what counts" is derived on reading: a record or correction
counts unless a later entry amends it (a revocation withdraws it, a correction replaces it).
Both views come from one indexed query per subject (``ix_ledger_subject`` for the subject's
entries, ``ix_ledger_amends`` and the primary key for what amends them and what they amend),
and the whole registry streams through the same query ordered by subject, so re-scoring
never holds more than one subject's entries in memory.

The query runs at the driver (``_fetch``): SQLAlchemy's row processing (its ``Date`` type
parses SQLite's ISO text with a regular expression) cost about three times the query on the
hot paths (checks, the change feed, notices after a batch). Its text is still compiled from the
one SQLAlchemy ``select`` (``_entries``), and its rows become ``Entry`` tuples, typed the same
on SQLite and PostgreSQL.

Records are rebuilt with the subject's display form (the raw resident number is not stored,
and the engine never needs it): ``SubjectRef(kind, display, name)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cache
from itertools import chain
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Dialect, Select, and_, literal_column, select

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.store.database import IN_CHUNK, placeholder, select_in
from socialcredit.store.schema import ledger, subjects

#: Rows fetched at a time when streaming the whole ledger.
STREAM_BATCH = 10_000
#: Subjects looked up per query when reading many files at once (``read_records``).
LOOKUP_CHUNK = IN_CHUNK
_SCORED_KINDS = ("record", "correction")
#: Stands for the IN list's markers in the compiled query text (``_sql``).
_IDS = "__subject_ids__"
#: The compiled query texts, by dialect name and whether they take an IN list (``_sql``).
_TEXTS: dict[tuple[str, bool], str] = {}


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject as stored: its id, kind, display form (masked for persons) and name."""

    id: int
    kind: SubjectKind
    display: str
    name: str | None


class Entry(NamedTuple):
    """One ledger entry as ``_entries`` selects it (same columns, same order), with the
    dates as ``date`` and the amounts as ``float`` on every dialect."""

    seq: int
    subject_id: int
    kind: str
    provider: str
    ref: str
    type: str | None
    occurred_on: date | None
    reported_on: date | None
    act: str | None
    amount: float | None
    quantity: float | None
    relates_to: str | None
    evidence: str | None
    legal_basis: str | None
    subject_name: str | None
    reason: str | None
    recorded_at: str
    amends_ref: str | None
    amended_kind: str | None
    amended_ref: str | None
    amended_at: str | None
    amended_reason: str | None
    subject_kind: str
    subject_display: str
    subject_stored_name: str | None


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
    entries = list(_fetch(conn, [subject_id]))
    if not entries:
        raise LookupError(f"subject {subject_id} has no ledger entries")
    return _file(entries)


def _file(entries: Sequence[Entry]) -> SubjectFile:
    """A subject's file from its entries in ledger order."""
    subject = _named(entries)
    return SubjectFile(subject, effective_records(subject, entries), history(entries))


def _named(entries: Sequence[Entry]) -> Subject:
    subject = _subject_of(entries[0])
    if subject.name is None:  # named by a later record than the one that created it
        named = [e.subject_name for e in entries if e.subject_name]
        subject = replace(subject, name=named[-1] if named else None)
    return subject


def read_records(
    conn: Connection, subject_ids: Sequence[int]
) -> dict[int, tuple[Subject, list[Record]]]:
    """Several subjects and the records that count, by id, from one indexed query per
    ``LOOKUP_CHUNK`` subjects: a batch check of 10,000 subjects costs 20 queries, not 10,000,
    and builds no history it does not show. Ids without entries are left out.

    Within a chunk the subjects come in the order of their first entries, as they did when
    the query was ordered by seq alone, so callers that write per subject (notices) keep
    their order."""
    found: dict[int, tuple[Subject, list[Record]]] = {}
    unique = list(dict.fromkeys(subject_ids))
    for start in range(0, len(unique), LOOKUP_CHUNK):
        groups = list(_by_subject(_fetch(conn, unique[start : start + LOOKUP_CHUNK])))
        groups.sort(key=_first_seq)
        for entries in groups:
            subject = _named(entries)
            found[subject.id] = (subject, effective_records(subject, entries))
    return found


def _first_seq(entries: list[Entry]) -> int:
    return entries[0].seq


def subject_ids(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """The row ids of the subjects with these keyed hashes (``identifiers.subject_key``);
    keys nobody filed a record about are left out."""
    sql = "SELECT key, id FROM subjects WHERE key IN ({marks})"
    return {
        str(key): int(subject_id)
        for key, subject_id in select_in(conn, sql, list(dict.fromkeys(keys)))
    }


def stream_subjects(
    conn: Connection, batch: int = STREAM_BATCH
) -> Iterator[tuple[Subject, list[Entry]]]:
    """Every subject with its entries, one subject at a time, from one ordered query."""
    result = conn.execution_options(yield_per=batch).exec_driver_sql(_sql(conn, None))
    rows = chain.from_iterable(result.partitions(batch))  # ``batch`` rows a fetch, not one
    for entries in _by_subject(_typed(conn, rows)):
        yield _subject_of(entries[0]), entries


def _by_subject(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    """Consecutive entries grouped by subject (the query orders by subject, then seq)."""
    group: list[Entry] = []
    for entry in entries:
        if group and entry.subject_id != group[0].subject_id:
            yield group
            group = []
        group.append(entry)
    if group:
        yield group


def _subject_of(entry: Entry) -> Subject:
    return Subject(
        entry.subject_id,
        SubjectKind(entry.subject_kind),
        entry.subject_display,
        entry.subject_stored_name,
    )


# -- the query at the driver --------------------------------------------------------------------
def _fetch(conn: Connection, subject_ids: Sequence[int]) -> Iterator[Entry]:
    """The entries of these subjects (at most ``LOOKUP_CHUNK``), by subject, in seq order."""
    rows = conn.exec_driver_sql(_sql(conn, len(subject_ids)), tuple(subject_ids)).fetchall()
    return _typed(conn, rows)


def _sql(conn: Connection, count: int | None) -> str:
    """``_entries`` as text for this connection's dialect, for ``count`` subject ids as
    bound parameters in its paramstyle, or for every subject (``None``)."""
    key = (conn.dialect.name, count is not None)
    text = _TEXTS.get(key)
    if text is None:  # once per dialect: compiling costs more than a subject's query
        text = _TEXTS[key] = _compile(conn.dialect, filtered=count is not None)
    if count is None:
        return text
    return text.replace(_IDS, ", ".join([placeholder(conn)] * count))


def _compile(dialect: Dialect, filtered: bool) -> str:
    """The text of ``_entries``, with ``_IDS`` standing for an IN list if ``filtered``."""
    query = _entries()
    if filtered:
        query = query.where(ledger.c.subject_id.in_([literal_column(_IDS)]))
    if tuple(query.selected_columns.keys()) != Entry._fields:
        raise AssertionError("queries.Entry no longer matches the columns of _entries()")
    return str(query.compile(dialect=dialect))


def _typed(conn: Connection, rows: Iterable[Sequence[Any]]) -> Iterator[Entry]:
    """``Entry`` tuples from driver rows: SQLite returns dates as ISO text, psycopg as
    ``date``; both return ``REAL``/``double precision`` columns as ``float``."""
    make = Entry._make
    if conn.dialect.name != "sqlite":
        return (make(row) for row in rows)
    return (make(_with_dates(row)) for row in rows)


def _with_dates(row: Sequence[Any]) -> list[Any]:
    """The row with its two dates parsed (inline: a call per date cost a tenth of the row)."""
    values = list(row)
    day = values[_OCCURRED_ON]
    if day is not None:
        values[_OCCURRED_ON] = _from_iso(day)
    day = values[_REPORTED_ON]
    if day is not None:
        values[_REPORTED_ON] = _from_iso(day)
    return values


_from_iso = date.fromisoformat
_OCCURRED_ON = Entry._fields.index("occurred_on")
_REPORTED_ON = Entry._fields.index("reported_on")


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
        # By subject first: SQLite then walks ix_ledger_subject (whose entries carry the
        # seq) in order, with no temporary B-tree to sort, and streaming groups by subject.
        .order_by(ledger.c.subject_id, ledger.c.seq)
    )


# -- the two views ------------------------------------------------------------------------------
def effective_records(subject: Subject, entries: Sequence[Entry]) -> list[Record]:
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
        (e.provider, e.ref): e.amended_ref
        for e in entries
        if e.amended_kind == "correction" and e.amended_ref is not None
    }
    named: dict[str | None, SubjectRef] = {}  # one SubjectRef per name, not per record
    records: list[Record] = []
    for e in current:
        name = e.subject_name or subject.name
        ref = named.get(name)
        if ref is None:
            ref = named[name] = SubjectRef(subject.kind, subject.display, name)
        relates_to = e.relates_to
        if relates_to is not None and relates_to not in refs:
            relates_to = _current_ref(relates_to, e.provider, refs, replaced)
        records.append(
            Record(
                e.provider,
                e.ref,
                ref,
                cast(str, e.type),  # ``current`` holds typed entries only
                cast(date, e.occurred_on),  # erasure blanks it along with the type
                e.reported_on,
                e.act,
                e.amount,
                e.quantity,
                relates_to,
                e.evidence,
                e.legal_basis,
            )
        )
    return records


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


def history(entries: Sequence[Entry]) -> list[HistoryEntry]:
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
