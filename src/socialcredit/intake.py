"""Intake: turning raw input rows into ledger-ready entries, with no database in sight.

Parsing, validating, keyed hashing and content hashing are most of an import's CPU work and
need nothing from the database, so they run here — in worker processes for big files — while
the importer's main process only does what must be serial: subject ids, duplicate checks,
the hash chain and the insert. Everything crossing the process boundary is a plain tuple.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import orjson

from socialcredit.catalog import RecordType
from socialcredit.identifiers import SubjectKind, display_form, subject_key
from socialcredit.providers import Provider
from socialcredit.records import FieldError, QuickRecord, Record, RecordRejected, RecordValidator

#: The ledger columns an entry's content hash covers, in a fixed order.
CONTENT_COLUMNS = (
    "kind",
    "provider",
    "ref",
    "type",
    "occurred_on",
    "reported_on",
    "act",
    "amount",
    "quantity",
    "relates_to",
    "evidence",
    "legal_basis",
    "subject_name",
    "amends",
    "reason",
)


class Prepared(NamedTuple):
    """A validated record ready for the ledger: subject identity plus content columns.

    Crosses process boundaries as a plain ``PreparedRow`` tuple (``tuple(prepared)``):
    unpickling a named tuple costs several times more, and the importer's main process,
    which does the unpickling, is the one that must not fall behind.
    """

    subject_kind: str
    subject_key: str
    subject_display: str
    content: tuple[Any, ...]  # values of CONTENT_COLUMNS, dates as ISO text
    content_hash: bytes
    present: int  # ``present_mask(content)``: which columns have a value


PreparedRow = tuple[str, str, str, tuple[Any, ...], bytes, int]


def present_mask(content: Sequence[Any]) -> int:
    """Bit ``i`` set where content column ``i`` has a value (is not None).

    The ledger's writer inserts each batch grouped by this mask, naming only the columns
    with values (``ledger.append_prepared`` says why). Working it out is left to whoever
    prepares the row — in an import, the worker processes — because the writer is the
    serial part: there it cost about 1 µs a record, a sixteenth of the writer's time.
    """
    mask = 0
    for bit, value in enumerate(content):
        if value is not None:
            mask |= 1 << bit
    return mask


#: The columns every record has (kind, provider, ref, type, occurred_on).
_ALWAYS = 0b11111


def content_digest(subject_kind: str, subject_key: str, content: Sequence[Any]) -> bytes:
    """SHA-256 of an entry's canonical content: subject kind and key, then content columns.

    The raw identifier is never part of it: an unkeyed hash of a resident number could be
    reversed by trying every birth date and area code.
    """
    return hashlib.sha256(orjson.dumps([subject_kind, subject_key, *content])).digest()


def content_of(row: Mapping[str, Any] | Any) -> tuple[Any, ...]:
    """The content tuple of a stored ledger row (dates back to ISO text)."""
    return tuple(v.isoformat() if isinstance(v, date) else v for v in map(row.get, CONTENT_COLUMNS))


def record_content(
    record: Record, kind: str = "record", amends: int | None = None, reason: str | None = None
) -> tuple[Any, ...]:
    return (
        kind,
        record.provider,
        record.ref,
        record.type,
        record.occurred_on.isoformat(),
        record.reported_on.isoformat() if record.reported_on else None,
        record.act,
        record.amount,
        record.quantity,
        record.relates_to,
        record.evidence,
        record.legal_basis,
        record.subject.name,
        amends,
        reason,
    )


@dataclass(frozen=True)
class IntakeContext:
    """Everything a worker needs: the validation context and the identifier secret."""

    providers: Mapping[str, Provider]
    types: Mapping[str, RecordType]
    today: date
    legacy_codes: frozenset[str]
    secret: bytes

    def validator(self) -> RecordValidator:
        return RecordValidator(self.providers, self.types, self.today, self.legacy_codes)


class Payload(NamedTuple):
    """A unit of raw input for a preparer: a block of JSON lines, flat rows, or an Arrow batch.

    ``kind`` is ``jsonl`` (``data``: a list of raw lines, the first being ``first_line``),
    ``rows`` (``data``: a list of (line, mapping or None, read error or None)), or ``arrow``
    (``data``: a ``pyarrow.RecordBatch`` whose first row is row ``first_line``).
    """

    kind: str
    first_line: int
    data: Any


class Rejection(NamedTuple):
    line: int
    errors: list[FieldError]
    input: str
    unreadable: bool  # the row could not even be read as the file's format


class ChunkResult(NamedTuple):
    rows: int
    lines: list[int]
    prepared: list[PreparedRow]
    rejected: list[Rejection]


#: Subjects whose keyed hash a preparer remembers before it starts over.
MAX_REMEMBERED = 1_000_000

#: How much of a rejected row is copied into the rejects file.
REJECT_INPUT_LIMIT = 10_000


class Preparer:
    """Validates and hashes payloads under one context (one preparer per process)."""

    def __init__(self, context: IntakeContext):
        self.context = context
        self.validator = context.validator()
        self._keys: dict[tuple[str, str], tuple[str, str]] = {}

    def prepare(self, payload: Payload) -> ChunkResult:
        if payload.kind == "jsonl":
            return self._prepare_lines(payload)
        lines: list[int] = []
        prepared: list[PreparedRow] = []
        rejected: list[Rejection] = []
        rows = 0
        # As in ``_prepare_lines``: one object per repeated value within the chunk.
        shared: dict[Any, Any] = {}
        share = shared.setdefault
        prepare = self.prepare_flat
        for line, data, flat, error in rows_of(payload):
            rows += 1
            if error is not None:
                rejected.append(Rejection(line, [error], input_text(data), True))
                continue
            try:
                row = prepare(data, share) if flat else self.prepare_json(data, share)
            except RecordRejected as exc:
                rejected.append(Rejection(line, exc.errors, input_text(data), False))
                continue
            lines.append(line)
            prepared.append(row)
        return ChunkResult(rows, lines, prepared, rejected)

    def _prepare_lines(self, payload: Payload) -> ChunkResult:
        """JSON lines, the bulk format: each line through ``prepare_json``."""
        lines: list[int] = []
        prepared: list[PreparedRow] = []
        rejected: list[Rejection] = []
        rows = 0
        prepare, loads = self.prepare_json, orjson.loads
        # One object per repeated value within a chunk: pickle then sends a repeat as a
        # back-reference, and the main process, which unpickles every row, builds each value
        # only once. Per chunk, because each chunk is pickled on its own.
        shared: dict[Any, Any] = {}
        share = shared.setdefault
        for line, raw in enumerate(payload.data, payload.first_line):
            try:
                obj = loads(raw)
            except orjson.JSONDecodeError as exc:
                if not raw.strip():
                    continue
                rows += 1
                error = FieldError("line", f"not valid JSON: {exc}")
                rejected.append(Rejection(line, [error], input_text(raw), True))
                continue
            rows += 1
            try:
                row = prepare(obj, share)
            except RecordRejected as exc:
                rejected.append(Rejection(line, exc.errors, input_text(obj), False))
                continue
            lines.append(line)
            prepared.append(row)
        return ChunkResult(rows, lines, prepared, rejected)

    def prepare_json(self, obj: Any, share: Callable[[Any, Any], Any] | None = None) -> PreparedRow:
        """One parsed JSON record, ledger-ready; ``RecordRejected`` names every error.

        The plain case goes through ``quick_json`` (a fraction of the full validator's cost,
        with its verdicts remembered by this preparer); anything else through ``from_json``.
        ``share`` (``dict.setdefault`` of a per-chunk dict) makes repeated values one object.
        """
        plain = self.validator.quick_json(obj)
        if plain is None:
            return tuple(self.prepare_record(self.validator.from_json(obj)))  # type: ignore[return-value]
        return self._prepare_plain(plain, share)

    def prepare_flat(self, row: Any, share: Callable[[Any, Any], Any] | None = None) -> PreparedRow:
        """``prepare_json`` for a flat row (CSV or Parquet), through ``quick_flat``."""
        plain = self.validator.quick_flat(row)
        if plain is None:
            return tuple(self.prepare_record(self.validator.from_flat(row)))  # type: ignore[return-value]
        return self._prepare_plain(plain, share)

    def _prepare_plain(
        self, plain: QuickRecord, share: Callable[[Any, Any], Any] | None
    ) -> PreparedRow:
        (provider, ref, kind, number, name, rtype, occurred, reported, act, amount,
         quantity, relates_to, evidence, legal_basis) = plain  # fmt: skip
        known = self._keys.get((kind, number)) or self._subject_keys(kind, number)
        if share is not None:
            provider, rtype = share(provider, provider), share(rtype, rtype)
            occurred = share(occurred, occurred)
            if reported is not None:
                reported = share(reported, reported)
            if legal_basis is not None:
                legal_basis = share(legal_basis, legal_basis)
        content = (
            "record", provider, ref, rtype, occurred, reported, act, amount, quantity,
            relates_to, evidence, legal_basis, name, None, None,
        )  # fmt: skip
        # ``present_mask(content)`` written out for the eight columns that may be empty here
        # (a test holds the two equal for every combination).
        present = (
            _ALWAYS | (reported is not None) << 5 | (act is not None) << 6
            | (amount is not None) << 7 | (quantity is not None) << 8
            | (relates_to is not None) << 9 | (evidence is not None) << 10
            | (legal_basis is not None) << 11 | (name is not None) << 12
        )  # fmt: skip
        return (kind, known[0], known[1], content, content_digest(kind, known[0], content), present)

    def prepare_record(self, record: Record) -> Prepared:
        subject = record.subject
        kind = subject.kind.value
        known = self._keys.get((kind, subject.id)) or self._subject_keys(kind, subject.id)
        content = record_content(record)
        return Prepared(
            kind,
            known[0],
            known[1],
            content,
            content_digest(kind, known[0], content),
            present_mask(content),
        )

    def _subject_keys(self, kind: str, number: str) -> tuple[str, str]:
        """A subject's keyed hash and display form, computed once per import and process."""
        subject_kind = SubjectKind(kind)
        if len(self._keys) >= MAX_REMEMBERED:  # a server's preparer lives for days
            self._keys.clear()
        known = self._keys[(kind, number)] = (
            subject_key(self.context.secret, subject_kind, number),
            display_form(subject_kind, number),
        )
        return known


def rows_of(payload: Payload) -> Iterator[tuple[int, Any, bool, FieldError | None]]:
    """(line, data, flat, read error) for every row of a payload; JSON is parsed here."""
    if payload.kind == "jsonl":
        for offset, raw in enumerate(payload.data):
            if not raw.strip():
                continue
            try:
                yield payload.first_line + offset, orjson.loads(raw), False, None
            except orjson.JSONDecodeError as exc:
                yield (
                    payload.first_line + offset,
                    raw,
                    False,
                    FieldError("line", f"not valid JSON: {exc}"),
                )
    elif payload.kind == "rows":
        for line, data, error in payload.data:
            yield line, data, True, error
    else:
        for offset, data in enumerate(payload.data.to_pylist()):
            yield payload.first_line + offset, data, True, None


def payload_input(payload: Payload, line: int) -> str:
    """The row at ``line`` of a payload, as the rejects file quotes it."""
    if payload.kind == "rows":
        return next(input_text(data) for at, data, _ in payload.data if at == line)
    offset = line - payload.first_line
    if payload.kind == "jsonl":
        return input_text(payload.data[offset])
    return input_text(payload.data.slice(offset, 1).to_pylist()[0])


def input_text(data: Any) -> str:
    """A rejected row as text for the rejects file, cut at ``REJECT_INPUT_LIMIT``."""
    if isinstance(data, bytes):
        text = data.decode("utf-8", "replace").rstrip("\r\n")
    else:
        try:
            text = orjson.dumps(data, default=str).decode()
        except TypeError:
            text = repr(data)
    return text[:REJECT_INPUT_LIMIT]


# -- worker-process plumbing (module level so that it pickles by name) -------------------------
_worker: Preparer | None = None


def init_worker(context: IntakeContext) -> None:
    global _worker
    # A worker lives for one import and makes no reference cycles: the cycle collector would
    # only walk its caches of subjects, dates and verdicts again and again.
    gc.disable()
    # Interpreter shutdown still runs one full collection, whatever ``gc.disable`` says: over
    # the caches of a million-record import that took 1.5 s, every second of it waited for by
    # the importer (its pool joins the workers) after the last record had landed. Frozen
    # objects are left out of that collection; the exit is otherwise the normal one.
    atexit.register(gc.freeze)
    _worker = Preparer(context)


def prepare_in_worker(payload: Payload) -> ChunkResult:
    assert _worker is not None, "init_worker was not run in this process"
    return _worker.prepare(payload)
