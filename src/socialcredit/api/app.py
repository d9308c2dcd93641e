"""The app factory: one FastAPI app over one registry, with every router and error handler.

A factory rather than a module-level app, so tests and ``scs serve`` each bind the app to
the registry they opened and nothing is read from the environment at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import text

from socialcredit import __version__, web
from socialcredit.api import (
    audit,
    bodies,
    changes,
    checks,
    disputes,
    errors,
    metrics,
    notices,
    operator,
    organisations,
    records,
    repairs,
    subjects,
)
from socialcredit.api.audit_indexing import Indexer
from socialcredit.api.audit_writer import GroupCommit
from socialcredit.api.auth import KEY_OPTIONAL, CallerDep, Freshness, RegistryDep
from socialcredit.api.errors import ErrorBody
from socialcredit.api.limits import RateLimit, buckets_for
from socialcredit.api.notice_queue import NoticeWriter
from socialcredit.api.operator import MAX_RULEBOOK
from socialcredit.store.registry import Registry

#: FastAPI's native OpenTelemetry off. Its spans would carry each request's URL, query
#: included, and its logs exception messages: resident numbers (a check's query, a report's
#: path) belong in the audit log only, as with uvicorn's access log (``serve``). The
#: registry's own metrics are Prometheus counters by route template (``metrics``). Off, it
#: also stops asking the OpenTelemetry providers on every request (~4 % of a cached check).
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

#: The what-if endpoints take a rulebook of up to ``MAX_RULEBOOK`` characters, as JSON, a
#: form field or an uploaded file; Chinese text takes up to three bytes a character.
WHATIF_BODY = 4 * MAX_RULEBOOK


def create_app(
    registry: Registry, rate_limit: RateLimit | None = None, *, write_notices: bool = True
) -> FastAPI:
    """The app over ``registry``, its callers limited to ``rate_limit`` (default: 1,000
    requests a second, bursts of 2,000, per key). ``write_notices``: the server writes the
    notices that submissions leave owed itself (off when notice worker processes do)."""
    app = FastAPI(
        lifespan=_lifespan,
        title="socialcredit registry API",
        version=__version__,
        description="Records in, checks out, every read of a person's data audited. "
        "See docs/api.md.",
        telemetry=NO_TELEMETRY,
    )
    app.state.registry = registry.serving()
    app.state.freshness = Freshness(app.state.registry)
    app.state.audit_writer = GroupCommit(app.state.registry)
    app.state.notice_writer = NoticeWriter(app.state.registry, enabled=write_notices)
    app.state.audit_indexer = Indexer(app.state.registry.engine)
    app.state.rate_limit = rate_limit or RateLimit()
    app.state.rate_limiter = buckets_for(app.state.rate_limit)
    errors.install(app)
    # Checks first: a request walks the routing table in order, and the checks are the hot
    # path (each router passed on the way cost a check a few microseconds).
    areas = (
        checks,
        records,
        changes,
        subjects,
        organisations,
        operator,
        audit,
        disputes,
        repairs,
        notices,
    )
    for area in areas:
        app.include_router(area.router)
    checks.mount_single_check(app)  # the hottest route of all, straight on the app
    web.mount(app)
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        tags=["service"],
        openapi_extra=KEY_OPTIONAL,
        responses={401: {"model": ErrorBody, "description": "a key was sent and does not work"}},
    )
    # Not in the OpenAPI document: it answers text, not JSON (see docs/api.md#metrics).
    app.add_api_route("/metrics", metrics.exposition, methods=["GET"], include_in_schema=False)
    body_limits = {
        "/v1/records": records.MAX_BODY,
        "/v1/checks": checks.MAX_BODY,
        "/v1/operator/whatif": WHATIF_BODY,
        "/dashboard/whatif": WHATIF_BODY,
    }
    app.add_middleware(bodies.BodyLimit, default=bodies.DEFAULT_LIMIT, limits=body_limits)
    app.add_middleware(metrics.Measured)  # outermost: it sees every answer, 413s included
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving, the notice writer works off what is owed: on start what a previous
    run left (it may have stopped between a submission and its notices) or an import
    marked, then what submissions and other writers mark. And the audit indexer builds
    the audit log's subject index behind the checks (``api.audit_indexing``)."""
    app.state.notice_writer.start()
    app.state.audit_indexer.start()
    yield
    await asyncio.to_thread(app.state.audit_indexer.stop)
    await app.state.notice_writer.stop()


def healthz(served: RegistryDep, _caller: CallerDep) -> dict[str, str]:
    """Up, and the database answers. A key that does not work is refused here too, as on
    every endpoint (``auth``)."""
    with served.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}
