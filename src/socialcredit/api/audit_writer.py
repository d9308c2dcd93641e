"""Group commit for the audit trail: many concurrent checks, one transaction.

Every check must be in the audit log before its answer leaves, and a commit (an fsync on
SQLite, a round trip and a WAL flush on PostgreSQL) costs far more than the check itself.
Requests that arrive while a commit is under way wait together and are written by the next
one, in a single transaction with one lock of the chain head (``audit.append_many``): at 32
concurrent connections a commit carries dozens of entries instead of one. No request is
answered before the commit that holds its entries has succeeded; if it fails, every request
in it fails with it (a 500, and nothing about the subject is sent).

On SQLite the commit runs on the event loop, so nothing it does may stall: a group without
notices (every check of a subject the cache holds) is written through a connection of its
own at the driver (``audit.append_many_sqlite``), and that connection never checkpoints the
WAL itself — copying the WAL back into the database file (tens of megabytes and an fsync,
when SQLite's automatic checkpoint fell to a commit) paused every request in flight. Instead
a passive checkpoint runs on a worker thread at most every ``CHECKPOINT_EVERY`` seconds
while checks are being written, which keeps the WAL short enough that no other connection
reaches its automatic checkpoint either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from sqlalchemy import PoolProxiedConnection
from starlette.concurrency import run_in_threadpool

from socialcredit.api import access
from socialcredit.notices import Draft
from socialcredit.store import audit as trail
from socialcredit.store.database import checkpoint
from socialcredit.store.registry import Registry

log = logging.getLogger(__name__)

Notices = Sequence[tuple[int, list[Draft]]]


#: Seconds between the WAL checkpoints the group commit starts on a worker thread. Each is
#: followed by a catch-up on the loop that copies what was committed while it ran, which
#: grew with the audit log while it had an index by subject (every group commit dirtied a
#: page per entry once the index outgrew a few pages): at 1 s the catch-ups took 14-33 ms
#: (the checks' p99 20-30 ms); at 0.25 s, 8-10 ms (docs/benchmarks.md, session 6). Since
#: revision 0006 the log has no such index (``store.audit_index``) and a commit dirties
#: only the pages at its end.
CHECKPOINT_EVERY = 0.25


class GroupCommit:
    """The one writer of audit entries for the async endpoints of one app."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        #: On SQLite the commit runs on the event loop itself: it does not wait on a network
        #: or a disk (WAL, ``synchronous=NORMAL``), and a worker thread would cost a hop there
        #: and back and a fight for the GIL with every request the loop serves meanwhile. A
        #: PostgreSQL commit waits on the server, so it runs on a worker thread.
        self.inline = registry.engine.dialect.name == "sqlite"
        self._waiting: list[tuple[trail.Readings, Notices, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._conn: PoolProxiedConnection | None = None
        self._checkpointed = time.monotonic()
        self._checkpoint: asyncio.Future[None] | None = None

    async def write(self, readings: trail.Readings, notices: Notices = ()) -> None:
        """Return once ``readings`` are in the audit log and ``notices`` in the outbox,
        committed (or raise why not). The metrics count them once committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((readings, notices, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            readings = [batch for batch, _, _ in group]
            notices = [notice for _, told, _ in group for notice in told]
            try:
                if not self.inline:
                    await run_in_threadpool(self._commit, readings, notices)
                elif notices:
                    self._commit(readings, notices)
                else:
                    self._commit_sqlite(readings)
            except Exception as exc:  # every waiter learns its entries are not logged
                for _, _, done in group:
                    if not done.done():
                        done.set_exception(exc)
            else:
                access.counted(readings)  # once per group commit, after it
                for _, _, done in group:
                    if not done.done():
                        done.set_result(None)
        if self.inline:
            self._maybe_checkpoint()

    def _commit(self, readings: list[trail.Readings], notices: Notices) -> None:
        with self.registry.writer.begin() as conn:
            access.write_reads(conn, readings, notices)

    def _commit_sqlite(self, readings: list[trail.Readings]) -> None:
        """``_commit`` without notices, at the driver on the group commit's own connection.
        Any failure throws the connection away (closing it rolls back what it began)."""
        if self._conn is None:
            self._conn = self.registry.engine.raw_connection()
            self._conn.cursor().execute("PRAGMA wal_autocheckpoint=0")
        cursor = self._conn.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            trail.append_many_sqlite(cursor, readings)
            cursor.execute("COMMIT")
        except BaseException:
            self._conn.invalidate()
            self._conn = None
            raise
        finally:
            cursor.close()

    def _maybe_checkpoint(self) -> None:
        """Start a passive WAL checkpoint on a worker thread if none ran for a while and
        none is running. Passive: it copies what no reader still needs and waits for nobody,
        and writers go on committing meanwhile."""
        now = time.monotonic()
        running = self._checkpoint is not None and not self._checkpoint.done()
        if running or now - self._checkpointed < CHECKPOINT_EVERY:
            return
        self._checkpointed = now
        loop = asyncio.get_running_loop()
        self._checkpoint = loop.run_in_executor(None, checkpoint, self.registry.engine)
        self._checkpoint.add_done_callback(self._catch_up)

    def _catch_up(self, _done: asyncio.Future[None]) -> None:
        """On the loop, once the worker's checkpoint is done: checkpoint the few frames
        committed while it ran, so that the WAL is wholly copied when the next group begins
        and SQLite starts writing it from the beginning again. Without this the WAL was
        never wholly copied under load (commits land while the worker copies) and grew
        without end (150 MB in 20 s of checks). Passive too: it never waits for a lock."""
        if self._conn is None:
            return
        try:
            cursor = self._conn.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
            cursor.close()
        except Exception:
            log.warning("WAL checkpoint failed", exc_info=True)
