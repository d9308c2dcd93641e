"""Group commit for the audit trail: many concurrent checks, one transaction.

Every check must be in the audit log before its answer leaves, and a commit (an fsync on
SQLite, a round trip and a WAL flush on PostgreSQL) costs far more than the check itself.
Requests that arrive while a commit is under way wait together and are written by the next
one, in a single transaction with one lock of the chain head (``audit.append_many``): at 32
concurrent connections a commit carries dozens of entries instead of one. No request is
answered before the commit that holds its entries has succeeded; if it fails, every request
in it fails with it (a 500, and nothing about the subject is sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from socialcredit.api import access
from socialcredit.notices import Draft
from socialcredit.store import audit as trail
from socialcredit.store.registry import Registry

Notices = Sequence[tuple[int, list[Draft]]]


class GroupCommit:
    """The one writer of audit entries for the async endpoints of one app."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        #: On SQLite the commit runs on the event loop itself: it does not wait on a network
        #: or a disk (WAL, ``synchronous=NORMAL``), and a worker thread would cost a hop there
        #: and back and a fight for the GIL with every request the loop serves meanwhile. A
        #: PostgreSQL commit waits on the server, so it runs on a worker thread.
        self.inline = registry.engine.dialect.name == "sqlite"
        self._waiting: list[tuple[Sequence[trail.Reading], Notices, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, readings: Sequence[trail.Reading], notices: Notices = ()) -> None:
        """Return once ``readings`` are in the audit log and ``notices`` in the outbox,
        committed (or raise why not)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((readings, notices, done))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            readings = [reading for batch, _, _ in group for reading in batch]
            notices = [notice for _, told, _ in group for notice in told]
            try:
                if self.inline:
                    self._commit(readings, notices)
                else:
                    await run_in_threadpool(self._commit, readings, notices)
            except Exception as exc:  # every waiter learns its entries are not logged
                for _, _, done in group:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, _, done in group:
                    if not done.done():
                        done.set_result(None)

    def _commit(self, readings: list[trail.Reading], notices: Notices) -> None:
        with self.registry.writer.begin() as conn:
            access.write_reads(conn, readings, notices)
