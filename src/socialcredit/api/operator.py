"""The operator's view, for admin keys: what arrives, how the population stands, what-if.

``GET /v1/operator/overview`` is the JSON twin of the dashboard page and
``POST /v1/operator/whatif`` of the what-if page. Both count subjects and never name one:
an operator steering a rulebook needs distributions, not people (line 3).

A what-if runs the rulebook through the same loading and checking as ``scs rulebook check``
and ``scs rulebook activate`` (``parse_rulebook``): a rulebook that crosses a line is refused
before it scores anyone, even hypothetically.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from socialcredit import clock
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, FieldProblem
from socialcredit.engines import BulkUnavailable, load_bulk
from socialcredit.rulebook import RulebookError, parse_rulebook, shipped_names
from socialcredit.store import stats
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry, RegistryError
from socialcredit.whatif import WhatIf, compare

router = APIRouter(tags=["operator"])
#: "Arriving" means recorded in the last this many days.
RECENT_DAYS = 30
#: A rulebook text larger than this is no rulebook (the shipped ones are about 30 KiB).
MAX_RULEBOOK = 1024 * 1024


def overview(served: Registry) -> dict[str, Any]:
    """Records per provider, each rulebook's latest snapshot, open cases with their
    deadlines, and every rulebook version."""
    today = clock.today()
    since = today - timedelta(days=RECENT_DAYS)
    names = scored_names(served)
    with served.engine.connect() as conn:
        arrivals = stats.arrivals(conn, since)
        snapshots = {
            name: stats.latest_snapshot(conn, name, served.rulebook(name).version) for name in names
        }
        versions = stats.versions(conn)
        waiting = stats.waiting(conn)
    return {
        "as_of": today.isoformat(),
        "recent_since": since.isoformat(),
        "counts": served.counts(),
        "arrivals": [a.to_json() for a in arrivals],
        "snapshots": [
            {"rulebook": name, "version": served.rulebook(name).version, "snapshot": None}
            if snap is None
            else snap.to_json()
            for name, snap in snapshots.items()
        ],
        "waiting": [w.to_json() for w in waiting],
        "versions": [v.to_json() for v in versions],
        "shipped": list(shipped_names()),
    }


def scored_names(served: Registry) -> list[str]:
    """The rulebooks subjects are scored under: the active ones, else the shipped Rongcheng."""
    return [a.name for a in served.active_rulebooks()] or ["rongcheng"]


@router.get("/v1/operator/overview", responses=COMMON_RESPONSES)
def operator_overview(
    served: RegistryDep, _key: Annotated[ApiKey, Depends(require(Role.ADMIN))]
) -> dict[str, Any]:
    """What the dashboard shows: arrivals per provider, grade and list counts, versions."""
    return overview(served)


class WhatIfRequest(BaseModel):
    rulebook: str = Field(max_length=MAX_RULEBOOK, description="the candidate rulebook's TOML")
    as_of: date | None = Field(None, description="the day to compare on; today if left out")


def what_if(served: Registry, text: str, as_of: date | None = None) -> WhatIf:
    """Check ``text`` as activation would, then compare it with the active rulebook of its
    name over the whole population; ``ApiError`` 422 listing every problem otherwise."""
    try:
        candidate = parse_rulebook(text, "the candidate rulebook")
    except RulebookError as exc:
        raise ApiError(
            422,
            "rulebook_refused",
            f"the rulebook cannot be used: {len(exc.problems)} problem(s)",
            [FieldProblem(field=p.path, reason=p.reason) for p in exc.problems],
        ) from None
    try:
        current = served.rulebook(candidate.name)
    except RegistryError as exc:
        raise ApiError(422, "rulebook_unknown", str(exc)) from None
    try:
        bulk = load_bulk()
    except BulkUnavailable:
        bulk = None
    return compare(served.engine, current, candidate, as_of or clock.today(), bulk)


@router.post(
    "/v1/operator/whatif",
    responses={
        **COMMON_RESPONSES,
        400: {"model": ErrorBody, "description": "the body is not JSON"},
        413: {"model": ErrorBody, "description": "the body is too large"},
        422: {"model": ErrorBody, "description": "the rulebook fails its checks; errors list"},
    },
)
async def operator_whatif(
    served: RegistryDep,
    _key: Annotated[ApiKey, Depends(require(Role.ADMIN))],
    body: WhatIfRequest,
) -> dict[str, Any]:
    """How grades and lists of the current population would change under a rulebook."""
    answer = await run_in_threadpool(what_if, served, body.rulebook, body.as_of)
    return answer.to_json()
