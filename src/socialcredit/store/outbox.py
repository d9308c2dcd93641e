"""The notice outbox: notices written in the registry's database, delivered by a channel.

Written inside a writer transaction that commits before the caller answers anyone, so a
consumer never learns of a restriction the subject has not been notified of. Delivery marks
each notice with the channel and the time; an undelivered notice is retried on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, func, select, update

from socialcredit import clock
from socialcredit.notices import Channel, Draft, drafts
from socialcredit.records import Record
from socialcredit.rulebook.model import Rulebook
from socialcredit.scoring import Result, evaluate
from socialcredit.store import queries
from socialcredit.store.database import placeholder, select_in
from socialcredit.store.schema import notices, notices_owed, subjects

if TYPE_CHECKING:
    from socialcredit.store.registry import Registry

log = logging.getLogger("socialcredit.notices")


def ensure(conn: Connection, subject_id: int, wanted: Sequence[Draft]) -> int:
    """Insert the drafts the subject has no notice for yet; return how many were new."""
    return ensure_many(conn, {subject_id: wanted})


def ensure_many(conn: Connection, wanted: Mapping[int, Sequence[Draft]]) -> int:
    """``ensure`` for many subjects: one look-up per ``database.IN_CHUNK`` of them and one insert
    for all. The look-up spares building the bodies of notices already written."""
    wanted = {subject_id: drafts for subject_id, drafts in wanted.items() if drafts}
    if not wanted:
        return 0
    have = _notice_keys(conn, list(wanted))
    return _insert(
        conn,
        {
            subject_id: [d for d in drafts if d.key not in have.get(subject_id, ())]
            for subject_id, drafts in wanted.items()
        },
    )


def _insert(conn: Connection, wanted: Mapping[int, Sequence[Draft]]) -> int:
    """Insert the drafts; return how many were new. Two writers may both find a notice
    missing (two checks, a check and a notice worker): the second insert then does nothing
    rather than fail, and is not counted. At the driver: SQLAlchemy's compiling and
    parameter processing cost a notice writer more than SQLite's insert."""
    stamp = clock.timestamp()
    rows = [
        (subject_id, d.key, stamp, orjson.dumps(d.body).decode())
        for subject_id, drafts in wanted.items()
        for d in dict((d.key, d) for d in drafts).values()
    ]
    if not rows:
        return 0
    return int(conn.exec_driver_sql(_INSERT.format(m=placeholder(conn)), rows).rowcount)


_INSERT = (
    "INSERT INTO notices (subject_id, key, created_at, body) VALUES ({m}, {m}, {m}, {m}) "
    "ON CONFLICT (subject_id, key) DO NOTHING"
)


def notify(registry: Registry, file: queries.SubjectFile, as_of: date | None = None) -> int:
    """Write the notices the subject's current results call for, under every active rulebook."""
    moment = as_of or clock.today()
    names = [a.name for a in registry.active_rulebooks()] or ["rongcheng"]
    records = registry.scored_records(file, moment)
    basis = {(r.provider, r.ref): r.legal_basis for r in records}
    wanted: list[Draft] = []
    for name in names:
        book = registry.rulebook(name)
        wanted += drafts(evaluate(records, book, moment, file.subject.kind), book, basis)
    return _write(registry, file.subject.id, wanted)


def result_drafts(result: Result, book: Rulebook, records: Sequence[Record]) -> list[Draft]:
    """The notices one result already at hand calls for (a check's), without a second
    evaluation; the caller ``ensure``s them in the transaction that logs the check."""
    basis = {(r.provider, r.ref): r.legal_basis for r in records}
    return drafts(result, book, basis)


def _write(registry: Registry, subject_id: int, wanted: Sequence[Draft]) -> int:
    if not wanted:
        return 0
    with registry.engine.connect() as conn:
        have = set(
            conn.execute(select(notices.c.key).where(notices.c.subject_id == subject_id)).scalars()
        )
    if all(d.key in have for d in wanted):
        return 0
    with registry.writer.begin() as conn:  # ``ensure`` looks again under the writer's lock
        return ensure(conn, subject_id, wanted)


def notify_subjects(
    registry: Registry, subject_ids: Sequence[int], as_of: date | None = None
) -> int:
    """``notify`` for many subjects at once, with a few queries per 500 of them instead of
    several each, and the new notices written in one transaction."""
    wanted = _wanted(registry, subject_ids, as_of or clock.today())
    if not wanted:
        return 0
    with registry.writer.begin() as conn:
        return _insert(conn, wanted)


# -- notices owed -------------------------------------------------------------------------------
#: Subjects a notice writer takes at a time: its reads and its one write transaction stay short.
ROUND = 1_000
_OWE = (
    "INSERT INTO notices_owed (subject_id, seq) VALUES ({m}, {m}) "
    "ON CONFLICT (subject_id) DO UPDATE SET seq = excluded.seq"
)
_OWED = (
    "SELECT subject_id, seq FROM notices_owed WHERE subject_id {mod} {m} = {m} "
    "ORDER BY subject_id LIMIT {m}"
)
_SETTLE = "DELETE FROM notices_owed WHERE subject_id = {m} AND seq = {m}"


def owe(conn: Connection, subject_ids: Iterable[int], seq: int) -> int:
    """Mark subjects as owed a look at their notices, in the writer transaction that lands
    the adverse records calling for it (``seq``: the ledger's sequence number after them).
    Only adverse records call for one: a positive record may end a restriction, never start
    one. Returns how many subjects were marked."""
    rows = [(subject_id, seq) for subject_id in dict.fromkeys(subject_ids)]
    if rows:
        conn.exec_driver_sql(_OWE.format(m=placeholder(conn)), rows)
    return len(rows)


@dataclass(frozen=True, slots=True)
class Round:
    """What one ``drain`` did: subjects looked at, notices written."""

    subjects: int
    written: int


def drain(
    registry: Registry,
    limit: int = ROUND,
    as_of: date | None = None,
    share: tuple[int, int] = (0, 1),
) -> Round:
    """Write the notices of up to ``limit`` subjects owed them, and settle those subjects in
    the same transaction. ``share`` (i, n): only the subjects whose id is i modulo n, so that
    n workers split what is owed rather than all take the same rounds. A subject marked again
    meanwhile (a later record, a higher ``seq``) stays owed, and the next round looks at it
    again; two writers at once may both look at a subject, and write its notices once
    (``_insert``)."""
    with registry.engine.connect() as conn:
        owed = [
            (int(subject_id), int(seq))
            for subject_id, seq in conn.exec_driver_sql(_owed_sql(conn), (*share[::-1], limit))
        ]
    if not owed:
        return Round(0, 0)
    wanted = _wanted(registry, [subject_id for subject_id, _ in owed], as_of or clock.today())
    with registry.writer.begin() as conn:
        written = _insert(conn, wanted)
        conn.exec_driver_sql(_SETTLE.format(m=placeholder(conn)), owed)
    return Round(len(owed), written)


def _owed_sql(conn: Connection) -> str:
    mark = placeholder(conn)
    return _OWED.format(m=mark, mod="%%" if mark == "%s" else "%")  # psycopg escapes a %


def owed_count(conn: Connection) -> int:
    """How many subjects are owed a look at their notices (the ``scs_notices_pending`` gauge)."""
    return int(conn.execute(select(func.count()).select_from(notices_owed)).scalar_one())


def _wanted(registry: Registry, subject_ids: Sequence[int], moment: date) -> dict[int, list[Draft]]:
    """The notices the subjects' current results call for that they do not have yet, by
    subject: a few queries per 500 subjects, every active rulebook."""
    from socialcredit.disputes import counting
    from socialcredit.store import cases

    names = [a.name for a in registry.active_rulebooks()] or ["rongcheng"]
    books = [registry.rulebook(name) for name in names]
    with registry.engine.connect() as conn:
        files = queries.read_records(conn, subject_ids)
        disputes = cases.disputes_of(conn, list(files))
        have = _notice_keys(conn, list(files))
    wanted: dict[int, list[Draft]] = {}
    for subject_id, (subject, records) in files.items():
        counted = counting(records, disputes.get(subject_id, []), moment)
        basis = {(r.provider, r.ref): r.legal_basis for r in counted}
        known = have.get(subject_id, set())
        new = [
            draft
            for book in books
            for draft in drafts(evaluate(counted, book, moment, subject.kind), book, basis, known)
        ]
        if new:
            wanted[subject_id] = new
    return wanted


def _notice_keys(conn: Connection, subject_ids: Sequence[int]) -> dict[int, set[str]]:
    """The keys of the notices the subjects have, by subject (at the driver: a subject may
    have dozens, and a round reads a thousand subjects')."""
    found: dict[int, set[str]] = {}
    sql = "SELECT subject_id, key FROM notices WHERE subject_id IN ({marks})"
    for subject_id, key in select_in(conn, sql, subject_ids):
        found.setdefault(int(subject_id), set()).add(str(key))
    return found


def sweep(registry: Registry) -> int:
    """Notices for every subject, a round of ``ROUND`` at a time (for a registry filled
    before notices were owed); how many were written."""
    with registry.engine.connect() as conn:
        ids = list(conn.execute(select(subjects.c.id).order_by(subjects.c.id)).scalars())
    return sum(notify_subjects(registry, ids[at : at + ROUND]) for at in range(0, len(ids), ROUND))


def for_subject(conn: Connection, subject_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(notices).where(notices.c.subject_id == subject_id).order_by(notices.c.id)
    )
    return [_notice(row) for row in rows]


def deliver(registry: Registry, channel: Channel, limit: int = 1000) -> int:
    """Send undelivered notices through ``channel``; mark them delivered only if it worked."""
    with registry.engine.connect() as conn:
        rows = list(
            conn.execute(
                select(notices)
                .where(notices.c.delivered_at.is_(None))
                .order_by(notices.c.id)
                .limit(limit)
            )
        )
    if not rows:
        return 0
    channel.send([_notice(row) | {"subject_id": row.subject_id} for row in rows])
    with registry.writer.begin() as conn:
        conn.execute(
            update(notices)
            .where(notices.c.id.in_([row.id for row in rows]))
            .values(delivered_at=clock.timestamp(), channel=channel.name)
        )
    return len(rows)


def _notice(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "created_at": row.created_at,
        "delivered_at": row.delivered_at,
        "channel": row.channel,
        **orjson.loads(row.body),
    }
