"""The audit log: who read which subject's data through the API, for what purpose, and when.

Entries are written in a writer transaction that commits before the answer they record is
returned (a batch check's all in one), so an answer that left the registry is always in the
log (a crash may log a read that was never answered, never the reverse). Entries are chained
like the ledger and the operator log (``chain.entry_hash``, head row ``audit_log`` in
``chain_heads``), so deleting or editing a read shows up in ``scs verify``. Subjects appear
by row id, never by number.

The entries one transaction appends are **sealed together**: the last of them carries the
chain hash, over the previous hash, its own sequence number, the time and the SHA-256 of the
canonical JSON of every entry of the transaction in order (JSON objects laid end to end
split back into entries one way only); the others carry an empty hash.
Changing, deleting, inserting or reordering any entry changes that digest (or the sequence
numbers, or the shared time, all checked), so ``verify`` finds it as before; a transaction of
one entry is hashed exactly as every entry was before sealing (the digest of its own JSON),
so older logs verify unchanged. Why: a batch check appends 10,000 entries, and two SHA-256
and a 32-byte hash per entry were a third of what checking a subject cost the server.

The log has no index by subject: ``store.audit_index`` builds one in sorted generations
behind it, and a subject's entries (``for_subject``) are read from the complete generations
and from the tail of the log after them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, desc, func, select, union_all
from sqlalchemy.engine.interfaces import DBAPICursor

from socialcredit import clock
from socialcredit.chain import GENESIS, entry_hash
from socialcredit.records import canonical_bytes
from socialcredit.store import audit_index, ledger
from socialcredit.store.database import insert_sql, placeholder
from socialcredit.store.schema import audit_generations, audit_log, audit_subjects

AUDIT = "audit_log"
_COLUMNS = (
    "seq",
    "key_id",
    "role",
    "subject_id",
    "purpose",
    "action",
    "result",
    "recorded_at",
    "entry_hash",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    key_id: str
    role: str
    subject_id: int | None
    purpose: str | None
    action: str
    result: str
    recorded_at: str


@dataclass(frozen=True, slots=True)
class Readings:
    """Reads to log that one caller (key and role) made doing one thing for one purpose: each
    subject read, with its result. A batch check's 10,000 reads are one of these, not 10,000
    objects that repeat who read them and why."""

    key_id: str
    role: str
    action: str
    purpose: str | None
    reads: Sequence[tuple[int | None, str]]  # (subject id, result)


def append(
    conn: Connection,
    key_id: str,
    role: str,
    subject_id: int | None,
    action: str,
    result: str,
    purpose: str | None = None,
) -> None:
    """Append one entry in the caller's writer transaction (``database.WRITER``)."""
    append_many(conn, [Readings(key_id, role, action, purpose, [(subject_id, result)])])


def append_many(conn: Connection, readings: Sequence[Readings]) -> None:
    """Append one entry per read, in order, in the caller's writer transaction: a batch
    check of 10,000 subjects, or the checks of many callers that a group commit gathers
    (``api.audit_writer``), lock the head once and insert once, and land together or not
    at all."""
    if not any(group.reads for group in readings):
        return
    seq, head = ledger.lock_head(conn, AUDIT)
    runs, stamp, seq, head = _chained(seq, head, readings)
    # At the driver, as ``ledger.insert_entries`` does: SQLAlchemy's per-row parameter
    # processing cost more than the insert itself for a batch check's 10,000 entries.
    if conn.dialect.name == "sqlite":
        _insert_sqlite(conn.exec_driver_sql, conn.exec_driver_sql, runs, stamp, seq, head)
    else:
        rows = _rows(runs, stamp, head)
        conn.exec_driver_sql(insert_sql("audit_log", _COLUMNS, placeholder(conn)), rows)
    ledger.set_head(conn, seq, head, AUDIT)


def append_many_sqlite(cursor: DBAPICursor, readings: Sequence[Readings]) -> None:
    """``append_many`` on a ``sqlite3`` cursor, inside a ``BEGIN IMMEDIATE`` transaction
    its caller opened and commits: the same chain, the same rows.

    The API's group commit writes through this on the event loop: for the few statements of
    a group of cached checks, SQLAlchemy's transaction and statement machinery cost several
    times what SQLite spends on them, on the thread every request waits for."""
    if not any(group.reads for group in readings):
        return
    cursor.execute(ledger.LOCK_HEAD_SQLITE, (AUDIT,))
    found = cursor.fetchone()
    if found is None:
        raise ledger.ChainError(f"the head of the {AUDIT} chain is missing: run `scs verify`")
    runs, stamp, seq, head = _chained(int(found[0]), bytes(found[1]), readings)
    _insert_sqlite(cursor.execute, cursor.executemany, runs, stamp, seq, head)
    cursor.execute(ledger.SET_HEAD_SQLITE, (seq, head, AUDIT))


@dataclass(frozen=True, slots=True)
class _Run:
    """One group of readings as the insert takes it: entries ``first`` on, one a subject,
    each with the index (``codes``) of its result among the group's ``results``."""

    group: Readings
    first: int
    subjects: list[int | None]
    codes: list[int]
    results: list[str]


def _chained(
    seq: int, head: bytes, readings: Sequence[Readings]
) -> tuple[list[_Run], str, int, bytes]:
    """The entries after (``seq``, ``head``) as runs, their shared time, the last entry's
    number and the hash that seals them all (see the module doc).

    This is the checks' hot path, a batch check's 10,000 entries at a time, so an entry's
    canonical JSON (``_content``) is not built from a dict per entry: within one group of
    readings only the subject and the result vary, and the subject id comes last in the
    canonical (sorted) form, so the bytes are a prefix made once per result, the id and the
    closing brace — the same bytes, which ``verify`` recomputes the slow way."""
    stamp = clock.timestamp()
    runs: list[_Run] = []
    contents: list[bytes] = []
    for group in readings:
        if not group.reads:
            continue
        key_id, role, action, purpose = group.key_id, group.role, group.action, group.purpose
        prefixes: dict[str, tuple[bytes, int]] = {}
        results: list[str] = []
        subjects: list[int | None] = []
        codes: list[int] = []
        for subject, result in group.reads:
            found = prefixes.get(result)
            if found is None:
                prefix = _content_prefix(key_id, role, action, purpose, result)
                found = prefixes[result] = (prefix, len(results))
                results.append(result)
            contents.append(
                found[0] + (b"null" if subject is None else str(subject).encode()) + b"}"
            )
            subjects.append(subject)
            codes.append(found[1])
        runs.append(_Run(group, seq + 1, subjects, codes, results))
        seq += len(subjects)
    head = entry_hash(head, seq, stamp, hashlib.sha256(b"".join(contents)).digest())
    return runs, stamp, seq, head


def _rows(runs: Sequence[_Run], stamp: str, head: bytes) -> list[tuple[Any, ...]]:
    """The runs as rows of ``audit_log``, the last carrying the seal."""
    rows: list[tuple[Any, ...]] = []
    for run in runs:
        g, results = run.group, run.results
        numbers = range(run.first, run.first + len(run.subjects))
        rows.extend(
            (seq, g.key_id, g.role, subject, g.purpose, g.action, results[code], stamp, _UNSEALED)
            for seq, subject, code in zip(numbers, run.subjects, run.codes, strict=True)
        )
    rows[-1] = (*rows[-1][:-1], bytearray(head))
    return rows


def _insert_sqlite(
    execute: Callable[..., Any],
    executemany: Callable[..., Any],
    runs: Sequence[_Run],
    stamp: str,
    last: int,
    head: bytes,
) -> None:
    """Insert the runs on SQLite, one statement a run: SQLite walks the run's subjects as a
    JSON array (``json_each``), numbers each entry from the run's first and picks its result
    by the entry's byte in ``codes``, so that no Python tuple is built nor bound per entry
    (0.6-0.8 µs an entry where ``executemany`` took 2.4-3.2, in memory). Runs of fewer than
    ``_JSON_FROM`` entries (the single checks a group commit gathers) cost less as rows, all
    in one ``executemany``; so do runs of more than 255 distinct results (one byte a result).
    Then the last entry gets the seal."""
    by_rows = [run for run in runs if _as_rows(run)]
    if by_rows:
        executemany(insert_sql("audit_log", _COLUMNS, "?"), _rows(by_rows, stamp, b""))
    for run in runs:
        if _as_rows(run):
            continue
        group, results = run.group, run.results
        result_params: tuple[str | bytes, ...]
        if len(results) == 1:
            result_sql, result_params = "?", tuple(results)
        else:
            cases = " ".join(f"WHEN x'{code:02x}' THEN ?" for code in range(len(results)))
            result_sql = f"CASE substr(?, key + 1, 1) {cases} END"
            result_params = (bytes(run.codes), *results)
        execute(
            _INSERT_RUN_SQL.format(result=result_sql),
            (
                run.first,
                group.key_id,
                group.role,
                group.purpose,
                group.action,
                *result_params,
                stamp,
                orjson.dumps(run.subjects),
            ),
        )
    execute(_SEAL_SQL, (bytearray(head), last))


def _as_rows(run: _Run) -> bool:
    """Whether ``_insert_sqlite`` inserts this run row by row."""
    return len(run.subjects) < _JSON_FROM or len(run.results) > _MOST_RESULTS


_MOST_RESULTS = 255
#: Below this many entries a run costs less as rows (a group commit's 32 single checks:
#: 25-37 µs an entry as rows, 35-42 by ``json_each``; from 4 entries on ``json_each`` wins).
_JSON_FROM = 4
_INSERT_RUN_SQL = (
    "INSERT INTO audit_log (seq, key_id, role, subject_id, purpose, action, result, "
    "recorded_at, entry_hash) SELECT ? + key, ?, ?, value, ?, ?, {result}, ?, x'' "
    "FROM json_each(?)"
)
_SEAL_SQL = "UPDATE audit_log SET entry_hash = ? WHERE seq = ?"


#: The chain hash of an entry sealed by a later one of its transaction. A ``bytearray``
#: (stored and read back as the same empty blob) because ``sqlite3`` binds one directly,
#: where a ``bytes`` costs it an adapter look-up: ~1.4 µs an entry of a batch check's
#: 10,000 (``database.insert_rows`` says more).
_UNSEALED = bytearray()


def _content_prefix(key_id: str, role: str, action: str, purpose: str | None, result: str) -> bytes:
    """The canonical JSON of an entry up to its subject id, which sorts last."""
    whole = _content(key_id, role, 0, purpose, action, result)
    if not whole.endswith(_LAST):  # a field added after ``subject_id`` would break this
        raise AssertionError("the subject id is no longer last in an audit entry's content")
    return whole[: -len(b"0}")]


_LAST = b',"subject_id":0}'


def for_subject(conn: Connection, subject_id: int, since: date) -> list[AuditEntry]:
    """The entries about one subject from ``since`` on, newest first: those of the complete
    generations of the subject index that reach ``since`` (one seek each), and those of the
    tail after them, in one statement, so that a generation completed meanwhile neither
    hides nor repeats any."""
    after = since.isoformat()
    generations = audit_generations.c
    upto = func.coalesce(
        select(func.max(generations.last_seq)).where(generations.complete).scalar_subquery(), 0
    )
    # ``gen IN (…)`` rather than a join, so that SQLite seeks ``(gen, subject_id)`` in each
    # generation instead of scanning the index for the subject. Retired generations are
    # spanned by the merged one that retired them, in the same transaction.
    reaching = select(generations.gen).where(
        generations.complete, generations.retired.is_(False), generations.last_at >= after
    )
    indexed = (
        select(audit_log)
        .join(audit_subjects, audit_log.c.seq == audit_subjects.c.seq)
        .where(
            audit_subjects.c.gen.in_(reaching),
            audit_subjects.c.subject_id == subject_id,
            audit_log.c.recorded_at >= after,
        )
    )
    tail = select(audit_log).where(
        audit_log.c.seq > upto,
        audit_log.c.subject_id == subject_id,
        audit_log.c.recorded_at >= after,
    )
    rows = conn.execute(union_all(indexed, tail).order_by(desc("seq")))
    return [_entry(row._mapping) for row in rows]


def page(conn: Connection, after: int, limit: int) -> list[AuditEntry]:
    """Up to ``limit`` entries after sequence number ``after``, oldest first: auditors read
    the trail in order and resume where they stopped."""
    rows = conn.execute(
        select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    )
    return [_entry(row._mapping) for row in rows]


def verify(conn: Connection) -> tuple[int, ledger.ChainProblem | None]:
    """Recompute the audit chain; return the entries checked and the first problem found.

    Entries are read in order and their canonical JSON gathered until one carries a hash,
    which must seal them all (see the module doc)."""
    head, checked = GENESIS, 0
    contents: list[bytes] = []  # of the entries read since the last sealed one
    opened = ""  # the time of the first of them: every entry of a transaction shares it
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
        data = row._mapping
        entry = _entry(data)
        if entry.seq != checked + len(contents) + 1:
            return checked, ledger.ChainProblem(AUDIT, checked + len(contents) + 1, "missing")
        if not contents:
            opened = entry.recorded_at
        elif entry.recorded_at != opened:
            return checked, _altered(checked + 1, entry.seq)
        contents.append(
            _content(
                entry.key_id,
                entry.role,
                entry.subject_id,
                entry.purpose,
                entry.action,
                entry.result,
            )
        )
        sealed = bytes(data["entry_hash"])
        if sealed == _UNSEALED:
            continue
        head = entry_hash(
            head, entry.seq, entry.recorded_at, hashlib.sha256(b"".join(contents)).digest()
        )
        if head != sealed:
            return checked, _altered(checked + 1, entry.seq)
        checked, contents = entry.seq, []
    if contents:
        first, last = checked + 1, checked + len(contents)
        return checked, ledger.ChainProblem(
            AUDIT,
            first,
            f"entries {first}-{last} are not sealed: the entry that sealed them was altered "
            "or cut off",
        )
    problem = ledger.check_head(conn, AUDIT, checked, head)
    return checked, problem if problem is not None else audit_index.check(conn, checked)


def _altered(first: int, last: int) -> ledger.ChainProblem:
    if first == last:
        return ledger.ChainProblem(AUDIT, first, "entry altered")
    return ledger.ChainProblem(
        AUDIT, first, f"entry altered: one of entries {first}-{last}, sealed together"
    )


def _entry(data: Any) -> AuditEntry:
    return AuditEntry(
        int(data["seq"]),
        data["key_id"],
        data["role"],
        data["subject_id"],
        data["purpose"],
        data["action"],
        data["result"],
        data["recorded_at"],
    )


def _content(
    key_id: str, role: str, subject_id: int | None, purpose: str | None, action: str, result: str
) -> bytes:
    return canonical_bytes(
        {
            "key_id": key_id,
            "role": role,
            "subject_id": subject_id,
            "purpose": purpose,
            "action": action,
            "result": result,
        }
    )
