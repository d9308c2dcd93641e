"""The server's audit indexer: builds the audit log's subject index behind the checks.

Checks append audit entries without indexing them (``store.audit_index`` says why); this
thread builds a generation whenever the tail has reached ``AT_LEAST`` entries, so that a
subject's access log never scans more than about that many, merges runs of generations when
nothing else waits, and purges the pairs of the generations merges retired. A thread, not a
task on the event loop: a generation's sorting and appending run inside SQLite (or
PostgreSQL), which releases the GIL, so it works on the machine's other core while the loop
serves requests.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from socialcredit.store import audit_index

log = logging.getLogger(__name__)

#: Seconds between looks at the tail's length.
EVERY = 1.0


class Indexer:
    def __init__(
        self, engine: Engine, at_least: int = audit_index.AT_LEAST, every: float = EVERY
    ) -> None:
        self.engine = engine
        self.at_least = at_least
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the slice under way, or the sort that starts a generation (a merge of
        ten million entries sorts for some seconds); a generation left planned is resumed by
        the next builder."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                while not self._stop.is_set() and audit_index.build(
                    self.engine, at_least=self.at_least, stop=self._stop
                ):
                    pass
                audit_index.purge(self.engine, stop=self._stop)
            except Exception:  # the tail grows until the next try; the access log reads it
                log.exception("building the audit log's subject index failed")
