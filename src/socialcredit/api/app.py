"""The app factory: one FastAPI app over one registry, with every router and error handler.

A factory rather than a module-level app, so tests and ``scs serve`` each bind the app to
the registry they opened and nothing is read from the environment at import time.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from socialcredit import __version__, web
from socialcredit.api import (
    audit,
    checks,
    disputes,
    errors,
    notices,
    operator,
    organisations,
    records,
    repairs,
    subjects,
)
from socialcredit.api.auth import KEY_OPTIONAL, CallerDep, RegistryDep
from socialcredit.api.errors import ErrorBody
from socialcredit.store.registry import Registry


def create_app(registry: Registry) -> FastAPI:
    app = FastAPI(
        title="socialcredit registry API",
        version=__version__,
        description="Records in, checks out, every read of a person's data audited. "
        "See docs/api.md.",
    )
    app.state.registry = registry
    errors.install(app)
    areas = (records, checks, subjects, organisations, operator, audit, disputes, repairs, notices)
    for area in areas:
        app.include_router(area.router)
    web.mount(app)
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        tags=["service"],
        openapi_extra=KEY_OPTIONAL,
        responses={401: {"model": ErrorBody, "description": "a key was sent and does not work"}},
    )
    return app


def healthz(served: RegistryDep, _caller: CallerDep) -> dict[str, str]:
    """Up, and the database answers. A key that does not work is refused here too, as on
    every endpoint (``auth``)."""
    with served.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}
