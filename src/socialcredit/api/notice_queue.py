"""Notices after records land: the server's background notice writer.

A provider's batch is answered as soon as it is in the ledger, and the same transaction marks
the subjects of its adverse records as owed their notices (``outbox.owe``; ``scs import``
marks them too). This writer works those off, woken by each submission and looking every few
seconds besides, in rounds of a thousand subjects (``outbox.drain``): each round writes its
notices and settles its subjects in one transaction, so a crash at any point leaves every
subject either told or still owed. One task serves the whole app, so a burst of submissions
does not start a thread per request that would starve the checks, and a subject named by
several batches is looked at once per round.

An operator with cores to spare runs the writer in processes of its own instead
(``scs serve --notice-workers N``, or ``scs notices work`` anywhere that reaches the
database); the server's own writer is then off. Nothing here is needed for correctness
toward consumers: a check that answers "applies" writes any missing notice first, in the
transaction that logs it. How many subjects are owed is the ``scs_notices_pending`` metric,
read from the database.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from starlette.concurrency import run_in_threadpool

from socialcredit.store import outbox
from socialcredit.store.registry import Registry

log = logging.getLogger("socialcredit.notices")


#: Seconds between looks at what is owed while no submission wakes the writer: records that
#: landed another way (``scs import``, another server) are written within this.
IDLE = 5.0


class NoticeWriter:
    def __init__(self, registry: Registry, enabled: bool = True) -> None:
        self.registry = registry
        self.enabled = enabled
        self.idle = IDLE
        self._again = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """The server started: work off what is owed now and every ``idle`` seconds after,
        until ``stop``; call on the event loop (the app's lifespan)."""
        if self.enabled:
            self._again.set()
            self._task = asyncio.get_running_loop().create_task(self._drain(forever=True))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        """Records landed: drain what is owed now; call on the event loop. Without a running
        ``start`` (a server without its lifespan, as in tests), one drain runs and ends."""
        if not self.enabled:
            return
        self._again.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(forever=False))

    async def _drain(self, forever: bool) -> None:
        while True:
            if forever:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._again.wait(), self.idle)
            elif not self._again.is_set():
                return
            self._again.clear()
            try:
                while (await run_in_threadpool(outbox.drain, self.registry)).subjects:
                    pass
            except Exception:  # still owed: the next wake, a worker or a check writes them
                log.exception("writing the notices owed failed")
