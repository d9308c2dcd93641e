"""Notices after records land: one background writer per app, many subjects at a time.

A provider's batch is answered as soon as it is in the ledger; the subjects its adverse
records name are then told, by this queue, in bulk (``outbox.notify_subjects``). One drain
task serves the whole app, so a burst of submissions does not start a thread per request
that would starve the checks, and a subject named by several batches waiting in the queue is
evaluated once. Nothing here is needed for correctness toward consumers: a check that
answers "applies" writes any missing notice first, in the transaction that logs it. The
queue is about telling the subject promptly; ``scs notices sweep`` catches up after a crash.
How many subjects wait is the ``scs_notices_pending`` metric.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from starlette.concurrency import run_in_threadpool

from socialcredit.api import metrics
from socialcredit.store import outbox, queries
from socialcredit.store.registry import Registry

log = logging.getLogger("socialcredit.notices")

#: Subjects evaluated per round: a round's reads and its one write transaction stay short.
ROUND = 1_000


class NoticeQueue:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._waiting: dict[str, None] = {}  # keyed hashes, in arrival order, each once
        self._in_round = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._waiting) + self._in_round

    def add(self, keyed: Iterable[str]) -> None:
        """Queue the subjects (by keyed hash) for notices; call on the event loop."""
        self._waiting.update(dict.fromkeys(keyed))
        metrics.NOTICES_PENDING.set(self.pending)
        if self._waiting and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._waiting:
            batch = list(self._waiting)[:ROUND]
            for keyed in batch:
                del self._waiting[keyed]
            self._in_round = len(batch)
            try:
                await run_in_threadpool(self._notify, batch)
            except Exception:  # the next check, report or sweep writes what is missing
                log.exception("writing notices after submissions failed")
            finally:
                self._in_round = 0
                metrics.NOTICES_PENDING.set(self.pending)

    def _notify(self, keyed: list[str]) -> int:
        with self.registry.engine.connect() as conn:
            ids = queries.subject_ids(conn, keyed)
        return outbox.notify_subjects(self.registry, list(ids.values()))
