"""Notices after records land: the server's background notice writer.

A provider's batch is answered as soon as it is in the ledger, and the same transaction marks
the subjects of its adverse records as owed their notices (``outbox.owe``). This writer then
works those off in rounds of a thousand subjects (``outbox.drain``), each round's notices
and its settling in one transaction, so a crash at any point leaves every subject either told
or still owed. One drain task serves the whole app, so a burst of submissions does not start
a thread per request that would starve the checks, and a subject named by several batches is
looked at once per round.

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

from starlette.concurrency import run_in_threadpool

from socialcredit.store import outbox
from socialcredit.store.registry import Registry

log = logging.getLogger("socialcredit.notices")


class NoticeWriter:
    def __init__(self, registry: Registry, enabled: bool = True) -> None:
        self.registry = registry
        self.enabled = enabled
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Records landed (or the server started): drain what is owed; call on the event loop."""
        if not self.enabled:
            return
        self._again = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._again:
            self._again = False
            try:
                while (await run_in_threadpool(outbox.drain, self.registry)).subjects:
                    pass
            except Exception:  # still owed: the next wake, a worker or a check writes them
                log.exception("writing the notices owed after submissions failed")
