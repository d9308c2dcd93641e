"""Notice workers: processes that write the notices submissions leave owed.

The server answers a provider's batch as soon as it is in the ledger and marks the subjects of
its adverse records as owed their notices (``outbox.owe``). Somebody then has to read each of
those subjects' files, evaluate them and write the notices: by default a background task of
the server itself (``api.notice_queue``), which shares the server's one core with the
requests. A notice worker does the same in a process of its own, so on a machine with cores
to spare submissions and notices run side by side. ``scs serve --notice-workers N`` starts N
of them beside the server (and stops them with it); ``scs notices work`` runs one anywhere
that reaches the database. Several writers at once are safe: a subject's notice is written
once (its key is unique per subject), and a subject is settled only if no later record
marked it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from socialcredit.store import database, outbox
from socialcredit.store.registry import Registry

log = logging.getLogger("socialcredit.notices")

#: Seconds a worker waits before looking again when nothing was owed.
POLL = 0.2


def work(
    registry: Registry,
    *,
    once: bool = False,
    poll: float = POLL,
    alive: Callable[[], bool] = lambda: True,
    share: tuple[int, int] = (0, 1),
) -> int:
    """Write the notices owed, round after round; with ``once``, stop when none are owed,
    else look again every ``poll`` seconds while ``alive()``. ``share``: this worker's part
    of the subjects (``outbox.drain``). Returns the notices written."""
    written = 0
    while alive():
        try:
            done = outbox.drain(registry, share=share)
        except Exception:  # still owed: the next round tries again
            log.exception("writing the notices owed failed")
            done = outbox.Round(0, 0)
        written += done.written
        if not done.subjects:
            if once:
                break
            time.sleep(poll)
    return written


def start(registry: Registry, count: int) -> list[BaseProcess]:
    """``count`` worker processes over the registry's database, each writing its share of
    the subjects owed and ending when its parent (this process) does. Spawned rather than
    forked: the parent has threads and open connections a fork would copy. The secret
    travels over the spawn pipe, never in a command line another user could read."""
    url = registry.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = [
        context.Process(
            target=_run,
            args=(url, registry.secret, os.getpid(), (n, count)),
            name=f"scs-notice-worker-{n + 1}",
            daemon=True,
        )
        for n in range(count)
    ]
    for worker in workers:
        worker.start()
    return workers


def stop(workers: list[BaseProcess]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(timeout=10)


def _run(url: str, secret: bytes, parent: int, share: tuple[int, int]) -> None:
    registry = Registry(database.open_engine(url), secret)
    work(registry, alive=lambda: os.getppid() == parent, share=share)
