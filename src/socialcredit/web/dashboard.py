"""The operator's dashboard and the what-if page, for admin keys.

The dashboard is ``GET /v1/operator/overview`` drawn as charts and tables; the what-if page is
``POST /v1/operator/whatif``: an edited or uploaded rulebook is checked exactly as activation
checks it, then the whole population is scored under it and under the active version, and
the page shows counts moving between grades (a transition table and charts). Activation stays
a separate, deliberate step (``scs rulebook activate``), named on the page with the rulebook's
version, so nobody switches a rulebook on by pressing "compare".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from socialcredit import charts
from socialcredit.api.errors import ApiError
from socialcredit.api.operator import MAX_RULEBOOK, overview, scored_names, what_if
from socialcredit.engines import BulkUnavailable, load_bulk
from socialcredit.rulebook import shipped_text
from socialcredit.rulebook.model import GradeBand
from socialcredit.store import rulebooks as activations
from socialcredit.store.keys import Role
from socialcredit.web.pages import redirect, registry, render, require_role, same_origin
from socialcredit.whatif import WhatIf

router = APIRouter(include_in_schema=False)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    require_role(request, Role.ADMIN)
    view = overview(registry(request))
    arrivals = view["arrivals"]
    provider_chart = (
        _svg(
            charts.bar_chart(
                [a["provider"] for a in arrivals],
                {
                    "total": [a["total"] for a in arrivals],
                    "recent": [a["recent"] for a in arrivals],
                },
                title="records per provider",
                size=(7.0, 4.2),
                label_rotation=35,
            )
        )
        if arrivals
        else None
    )
    served = registry(request)
    snapshots = []
    for snap in view["snapshots"]:
        if snap.get("grades"):  # rescored at least once: charts, grades in the rulebook's order
            order = _grades(served.rulebook(snap["rulebook"]).grades, snap["grades"])
            snap = {**snap, "order": order}
            snap["charts"] = _snapshot_charts(snap)
        snapshots.append(snap)
    return render(
        request, "dashboard.html", view=view, provider_chart=provider_chart, snapshots=snapshots
    )


def _grades(bands: Sequence[GradeBand], counted: dict[str, int]) -> list[str]:
    """The rulebook's grades best first, then any counted grade it no longer has."""
    order = [band.grade for band in bands]
    return order + sorted(set(counted) - set(order))


def _snapshot_charts(snap: dict[str, Any]) -> list[Markup]:
    rulebook = snap["rulebook"]
    grades = snap["order"]
    out = [
        _svg(
            charts.bar_chart(
                grades,
                {"subjects": [snap["grades"].get(g, 0) for g in grades]},
                title=f"{rulebook}: grades",
                size=(5.0, 2.8),
            )
        )
    ]
    if snap["lists"]:
        names = list(snap["lists"])
        out.append(
            _svg(
                charts.bar_chart(
                    names,
                    {"subjects": [snap["lists"][n] for n in names]},
                    title=f"{rulebook}: list sizes",
                    size=(5.0, 2.8),
                )
            )
        )
    return out


@router.post("/dashboard/rescore")
def rescore(request: Request) -> Response:
    """Write a fresh snapshot for every rulebook in use (``scs rescore``, from the page)."""
    require_role(request, Role.ADMIN)
    same_origin(request)
    served = registry(request)
    try:
        bulk = load_bulk()
    except BulkUnavailable:
        bulk = None
    for name in scored_names(served):
        served.rescore(name, bulk=bulk)
    return redirect("/dashboard")


@router.get("/dashboard/whatif", response_class=HTMLResponse)
def whatif_form(
    request: Request, rulebook: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    """The editor, holding the active text of a rulebook in use."""
    require_role(request, Role.ADMIN)
    served = registry(request)
    names = scored_names(served)
    name = rulebook if rulebook in names else names[0]
    return render(
        request,
        "whatif.html",
        names=names,
        name=name,
        text=_active_text(request, name),
        answer=None,
        problems=[],
        charts_=[],
    )


def _active_text(request: Request, name: str) -> str:
    with registry(request).engine.connect() as conn:
        stored = activations.active_text(conn, name)
    return stored[0] if stored is not None else shipped_text(name)


@router.post("/dashboard/whatif", response_class=HTMLResponse)
async def whatif(
    request: Request,
    text: Annotated[str, Form(max_length=MAX_RULEBOOK)] = "",
    upload: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Compare the edited (or uploaded, which wins) rulebook with the active one."""
    require_role(request, Role.ADMIN)
    same_origin(request)
    served = registry(request)
    if upload is not None and upload.filename:
        raw = await upload.read(MAX_RULEBOOK + 1)
        text = raw[:MAX_RULEBOOK].decode("utf-8", errors="replace")
    names = scored_names(served)
    try:
        answer = await run_in_threadpool(what_if, served, text)
    except ApiError as exc:
        problems = [f"{e.field}: {e.reason}" for e in exc.errors] or [exc.message]
        return render(
            request,
            "whatif.html",
            status=422,
            names=names,
            name=names[0],
            text=text,
            answer=None,
            problems=problems,
            charts_=[],
        )
    return render(
        request,
        "whatif.html",
        names=names,
        name=answer.candidate.name,
        text=text,
        answer=answer,
        problems=[],
        charts_=_whatif_charts(answer),
    )


def _whatif_charts(answer: WhatIf) -> list[Markup]:
    before = f"{answer.current.version} (active)"
    after = f"{answer.candidate.version} (candidate)"
    out = [
        _svg(
            charts.bar_chart(
                answer.grades,
                {
                    before: [answer.before[g] for g in answer.grades],
                    after: [answer.after[g] for g in answer.grades],
                },
                title="subjects per grade",
                size=(6.0, 3.0),
            )
        )
    ]
    out.append(
        _svg(
            charts.heatmap(
                [[float(answer.moves[old, new]) for new in answer.grades] for old in answer.grades],
                answer.grades,
                title="moves between grades",
                row_title=f"grade under {answer.current.version}",
                column_title=f"grade under {answer.candidate.version}",
                value_format="{:.0f}",
                size=(4.6, 4.0),
            )
        )
    )
    if answer.lists:
        out.append(
            _svg(
                charts.bar_chart(
                    answer.lists,
                    {
                        before: [answer.lists_before[c] for c in answer.lists],
                        after: [answer.lists_after[c] for c in answer.lists],
                    },
                    title="subjects per list",
                    size=(6.0, 3.0),
                )
            )
        )
    return out


def _svg(drawn: str | bytes) -> Markup:
    assert isinstance(drawn, str)
    return Markup(drawn)  # matplotlib escapes the text it writes into the SVG
