"""``GET /metrics``: the service's counters in the Prometheus text format.

Requests are counted by route *template* (``/v1/subjects/{subject_id}/report``), never by
the path a caller sent, which would hold resident numbers; the domain counters are labelled
by fixed words only (a check's result, a record's status, an audit entry's action). Nothing
here names a subject, a key or a provider, so the endpoint is public like ``/healthz``.

The metrics live in the process (prometheus-client's default registry, which adds the
process's CPU, memory and file descriptors); counters start at zero when it starts.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcredit import scoring
from socialcredit.store import audit_index, outbox

#: The route label of a request no route answered (an unknown path, a body refused unread).
UNROUTED = "unrouted"
#: Methods counted by name; any other a caller invents is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "scs_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "scs_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CHECKS = Counter("scs_checks", "Checks answered (and audited), by result", ["result"])
RECORDS = Counter("scs_records_submitted", "Records submitted over the API, by status", ["status"])
AUDIT = Counter(
    "scs_audit_entries", "Audit log entries written, by action and result", ["action", "result"]
)
NOTICES_PENDING = Gauge(
    "scs_notices_pending", "Subjects owed a look at their notices after their records landed"
)
AUDIT_UNINDEXED = Gauge(
    "scs_audit_unindexed_entries",
    "Audit entries not yet in the audit log's subject index (the access log reads them from "
    "the log itself); the server indexes them once 100,000 wait",
)
AUDIT_GENERATIONS = Gauge(
    "scs_audit_generations",
    "Generations of the audit log's subject index a subject's access log may seek, one each; "
    "the server merges runs of them",
)
RATE_LIMITED = Counter(
    "scs_rate_limited_requests", "Requests refused with 429, by the caller's role", ["role"]
)
#: Which execution of the scoring engine this process runs (``native``): an operator who sees
#: ``interpreted`` where a compiled build was expected knows why scoring is slower.
SCORING_ENGINE = Gauge(
    "scs_scoring_engine_info", "The scoring engine this process runs (always 1)", ["engine"]
)
SCORING_ENGINE.labels(scoring.ENGINE).set(1)


def audited(action: str, result: str, count: int = 1) -> None:
    """Count audit entries, and checks' answers when they are ones."""
    _child(AUDIT, action, result).inc(count)
    if action == "check":
        _child(CHECKS, result).inc(count)


#: Labelled children by metric and labels. ``labels()`` validates and locks on every call,
#: which cost more than the increment on the paths every request takes (the middleware
#: below, a check's count); a child, once made, is the same object for good.
_children: dict[tuple[object, ...], Any] = {}


def _child(metric: MetricWrapperBase, *labels: str) -> Any:
    key = (metric, *labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


def submitted(accepted: int, duplicates: int, rejected: int) -> None:
    counts = {"accepted": accepted, "duplicate": duplicates, "rejected": rejected}
    for status, count in counts.items():
        if count:
            RECORDS.labels(status).inc(count)


def exposition(request: Request) -> Response:
    """The metrics, for a Prometheus scrape. The notices owed and the audit entries not yet
    indexed are counted in the database at the scrape: notice workers in other processes
    settle the first, any server or ``scs audit index`` the second."""
    with request.app.state.registry.engine.connect() as conn:
        NOTICES_PENDING.set(outbox.owed_count(conn))
        AUDIT_UNINDEXED.set(audit_index.unindexed(conn))
        AUDIT_GENERATIONS.set(audit_index.live_generations(conn))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Measured:
    """ASGI middleware counting each request and timing it, by its route's template."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the server answers if the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router put the matched route in the scope; its path is the template.
            route = getattr(scope.get("route"), "path", UNROUTED)
            method = scope["method"] if scope["method"] in METHODS else "other"
            _child(REQUESTS, method, route, str(status)).inc()
            _child(LATENCY, method, route).observe(perf_counter() - started)
