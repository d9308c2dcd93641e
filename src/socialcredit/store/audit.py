"""The audit log: who read which subject's data through the API, for what purpose, and when.

Entries are written in a writer transaction that commits before the answer they record is
returned (a batch check's all in one), so an answer that left the registry is always in the
log (a crash may log a read that was never answered, never the reverse). Entries are chained
like the ledger and the operator log (``chain.entry_hash``, head row ``audit_log`` in
``chain_heads``), so deleting or editing a read shows up in ``scs verify``. Subjects appear
by row id, never by number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.engine.interfaces import DBAPICursor

from socialcredit import clock
from socialcredit.chain import GENESIS, entry_hash
from socialcredit.records import canonical_bytes
from socialcredit.store import ledger
from socialcredit.store.schema import audit_log

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
class Reading:
    """One read to log: who (key and role) read which subject, doing what, with what result."""

    key_id: str
    role: str
    subject_id: int | None
    action: str
    result: str
    purpose: str | None = None


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
    append_many(conn, [Reading(key_id, role, subject_id, action, result, purpose)])


def append_many(conn: Connection, readings: Sequence[Reading]) -> None:
    """Append one entry per reading, in order, in the caller's writer transaction: a batch
    check of 10,000 subjects, or the checks of many callers that a group commit gathers
    (``api.audit_writer``), lock the head once and insert once, and land together or not
    at all."""
    if not readings:
        return
    seq, head = ledger.lock_head(conn, AUDIT)
    rows, seq, head = _chained(seq, head, readings)
    # At the driver, as ``ledger.insert_entries`` does: SQLAlchemy's per-row parameter
    # processing cost more than the insert itself for a batch check's 10,000 entries.
    qmark = conn.dialect.paramstyle == "qmark"
    conn.exec_driver_sql(_INSERT_QMARK if qmark else _INSERT_FORMAT, rows)
    ledger.set_head(conn, seq, head, AUDIT)


def append_many_sqlite(cursor: DBAPICursor, readings: Sequence[Reading]) -> None:
    """``append_many`` on a ``sqlite3`` cursor, inside a ``BEGIN IMMEDIATE`` transaction
    its caller opened and commits: the same chain, the same rows.

    The API's group commit writes through this on the event loop: for the few statements of
    a group of cached checks, SQLAlchemy's transaction and statement machinery cost several
    times what SQLite spends on them, on the thread every request waits for."""
    if not readings:
        return
    cursor.execute(ledger.LOCK_HEAD_SQLITE, (AUDIT,))
    found = cursor.fetchone()
    if found is None:
        raise ledger.ChainError(f"the head of the {AUDIT} chain is missing: run `scs verify`")
    rows, seq, head = _chained(int(found[0]), bytes(found[1]), readings)
    cursor.executemany(_INSERT_QMARK, rows)
    cursor.execute(ledger.SET_HEAD_SQLITE, (seq, head, AUDIT))


def _chained(
    seq: int, head: bytes, readings: Sequence[Reading]
) -> tuple[list[tuple[Any, ...]], int, bytes]:
    """The rows of the entries after (``seq``, ``head``), each with its chain hash, and the
    new head. A reading carries every field an entry's digest covers, so it is hashed as it
    is: an ``AuditEntry`` per row would be built for nobody, on the checks' hot path."""
    stamp = clock.timestamp()
    rows: list[tuple[Any, ...]] = []
    for r in readings:
        seq += 1
        head = entry_hash(head, seq, stamp, _digest(r))
        rows.append(
            (seq, r.key_id, r.role, r.subject_id, r.purpose, r.action, r.result, stamp, head)
        )
    return rows, seq, head


_INSERT = f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) VALUES ({{}})"
_INSERT_QMARK = _INSERT.format(", ".join(["?"] * len(_COLUMNS)))
_INSERT_FORMAT = _INSERT.format(", ".join(["%s"] * len(_COLUMNS)))


def for_subject(conn: Connection, subject_id: int, since: date) -> list[AuditEntry]:
    """The entries about one subject from ``since`` on, newest first."""
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.subject_id == subject_id, audit_log.c.recorded_at >= since.isoformat())
        .order_by(audit_log.c.seq.desc())
    )
    return [_entry(row._mapping) for row in rows]


def page(conn: Connection, after: int, limit: int) -> list[AuditEntry]:
    """Up to ``limit`` entries after sequence number ``after``, oldest first: auditors read
    the trail in order and resume where they stopped."""
    rows = conn.execute(
        select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    )
    return [_entry(row._mapping) for row in rows]


def verify(conn: Connection) -> tuple[int, ledger.ChainProblem | None]:
    """Recompute the audit chain; return the entries checked and the first problem found."""
    head, checked = GENESIS, 0
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
        data = row._mapping
        if data["seq"] != checked + 1:
            return checked, ledger.ChainProblem(AUDIT, checked + 1, "missing")
        entry = _entry(data)
        head = entry_hash(head, entry.seq, entry.recorded_at, _digest(entry))
        if head != bytes(data["entry_hash"]):
            return checked, ledger.ChainProblem(AUDIT, entry.seq, "entry altered")
        checked += 1
    return checked, ledger.check_head(conn, AUDIT, checked, head)


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


def _digest(entry: AuditEntry | Reading) -> bytes:
    return hashlib.sha256(
        canonical_bytes(
            {
                "key_id": entry.key_id,
                "role": entry.role,
                "subject_id": entry.subject_id,
                "purpose": entry.purpose,
                "action": entry.action,
                "result": entry.result,
            }
        )
    ).digest()
