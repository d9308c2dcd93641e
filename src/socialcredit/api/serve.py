"""``scs serve``: run the API and the web pages on uvicorn over one registry.

``scs demo`` serves through ``run`` too, so both commands serve exactly the same app. The
socket is bound here, before uvicorn starts, so ``--port 0`` can name the port it got and a
caller can connect as soon as the address is printed.

FastAPI and uvicorn are imported only here, when the server starts, so every other ``scs``
command starts as fast as before.
"""

from __future__ import annotations

import gc
import signal
import socket
from collections.abc import Callable
from typing import Annotated

import typer

from socialcredit.console import CommandError, Db, SecretFile, err, user_errors
from socialcredit.store.registry import Registry

Host = Annotated[str, typer.Option("--host", help="Address to listen on")]
Port = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="Port to listen on; 0 picks a free one")
]
Rate = Annotated[
    float,
    typer.Option(
        "--rate",
        envvar="SCS_API_RATE",
        min=0,
        help="Requests a second each key (or address, without one) may make; 0 turns it off",
    ),
]
Burst = Annotated[
    int,
    typer.Option(
        "--burst",
        envvar="SCS_API_BURST",
        min=0,
        help="Requests a key may make at once before --rate applies; 0 turns limits off",
    ),
]

NoticeWorkers = Annotated[
    int,
    typer.Option(
        "--notice-workers",
        envvar="SCS_NOTICE_WORKERS",
        min=0,
        help="Processes writing the notices submissions leave owed; 0: the server does it",
    ),
]


@user_errors
def serve(
    db: Db = None,
    secret_file: SecretFile = None,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    rate: Rate = 1000.0,
    burst: Burst = 2000,
    notice_workers: NoticeWorkers = 0,
) -> None:
    """Serve the registry's HTTP API and web pages (docs at /docs, schema at /openapi.json)."""
    registry = Registry.open(db, secret_file)

    def announce(url: str) -> None:
        err.print(f"serving {registry.url} on {url}", markup=False, highlight=False)

    run(registry, host, port, rate, burst, announce, notice_workers)


def run(
    registry: Registry,
    host: str,
    port: int,
    rate: float,
    burst: int,
    ready: Callable[[str], None],
    notice_workers: int = 0,
) -> None:
    """Listen on ``host``:``port``, call ``ready`` with the URL, and serve until stopped;
    with ``notice_workers`` processes writing the notices owed (``notice_worker``), or the
    server itself when there are none."""
    import uvicorn

    from socialcredit import notice_worker
    from socialcredit.api.app import create_app
    from socialcredit.api.limits import RateLimit

    app = create_app(registry, RateLimit(rate, burst), write_notices=notice_workers == 0)
    sock = listen(host, port)
    workers = notice_worker.start(registry, notice_workers)
    ready(url_of(sock))
    # No access log: request lines carry resident numbers (a check's query, a report's path),
    # and who asked about whom belongs in the audit log only. The lifespan starts the
    # server's own notice writer on what an earlier run left owed.
    config = uvicorn.Config(app, log_level="info", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    settle()
    # uvicorn shuts down gracefully on SIGINT or SIGTERM and then raises the signal again;
    # these handlers receive it, so a stopped server exits 0 instead of dying by the signal.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        notice_worker.stop(workers)


#: The collector's thresholds while serving (CPython's default: 700, 10, 10). With the
#: default, objects of the requests in flight (32 connections' scopes, futures, answers) are
#: caught alive by a young collection every few requests and promoted, and the promoted
#: count soon calls a full collection: at ~2,500 checks/s one every 0.25-1 s, each walking
#: the read cache (17-180 ms, the checks' p99). Young collections after 50,000 new objects
#: promote little, and a full one waits for 100 middle ones; what the server allocates is
#: freed by reference counting, and reference cycles wait a little longer.
SERVING_GC_THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Before serving: move everything loaded so far (modules, the app, the rulebooks) out of
    the garbage collector's sight, and collect less often (``SERVING_GC_THRESHOLDS``). A
    long-running server otherwise walks those objects in every full collection, a pause
    every request in flight waits through (it showed as the checks' p99 latency)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (IPv4 or IPv6, as ``host`` is)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (0 picks a free one)"
        ) from None


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _stopped(_signal: int, _frame: object) -> None:
    """The signal uvicorn re-raises after its graceful shutdown: nothing is left to do."""
