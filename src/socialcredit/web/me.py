"""My record: a subject's own page, for the subject's key.

Everything here is what ``GET /v1/subjects/{id}/report``, ``/scores``, ``/disputes``,
``/repairs``, ``/notices`` and ``/v1/me/access-log`` answer, read through the same functions
(``api.subjects``, ``api.disputes``, ``api.repairs``, ``api.notices``): opening the page is
a read of the subject's report and is audited like one, so it shows up in the access log on
the same page. Opening a dispute or applying for repair calls the API's own functions too.
Charts are drawn on the server (``charts``), so the page works without
JavaScript and a screen reader gets the chart's title and the table beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from socialcredit import charts
from socialcredit.api.disputes import DisputeIn, _list, _open_dispute
from socialcredit.api.errors import ApiError
from socialcredit.api.notices import subject_notices
from socialcredit.api.repairs import RepairIn, apply_for
from socialcredit.api.subjects import AccessLog, Report, access_log, history_of, read_report
from socialcredit.disputes import CaseKind
from socialcredit.rulebook import Rulebook
from socialcredit.scoring import Result
from socialcredit.store.cases import MAX_COMMITMENT, MAX_EVIDENCE, MAX_REASON
from socialcredit.store.keys import ApiKey, Role
from socialcredit.timeline import Point
from socialcredit.web import i18n
from socialcredit.web.pages import (
    SUBJECT_COOKIE,
    LoginNeeded,
    PageRefused,
    language,
    redirect,
    registry,
    render,
    require_role,
    same_origin,
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Standing:
    """One rulebook's part of the page: the result, its history and its chart."""

    rulebook: Rulebook
    result: Result
    history: list[Point]
    chart: Markup


def subject_session(request: Request) -> tuple[ApiKey, str]:
    """The subject key and the number it is bound to, from the session."""
    key = require_role(request, Role.SUBJECT)
    number = request.cookies.get(SUBJECT_COOKIE, "")
    if not number:
        raise LoginNeeded(Role.SUBJECT, request.url.path)
    return key, number


def read(request: Request) -> tuple[ApiKey, str, Report]:
    """The session's subject and its report (audited), or an error page."""
    key, number = subject_session(request)
    try:
        return key, number, read_report(registry(request), key, number)
    except ApiError as exc:
        raise PageRefused(
            exc.status, "error.no_file" if exc.status == 404 else "error.refused"
        ) from None


@router.get("/me", response_class=HTMLResponse)
def my_record(request: Request) -> HTMLResponse:
    key, number, report = read(request)
    served = registry(request)
    standings = [
        Standing(rb, result, points, _chart(rb, points))
        for rb, result in report.results
        for points in [history_of(report, rb)]
    ]
    disputes = _list(served, key, number, CaseKind.DISPUTE)
    repairs = _list(served, key, number, CaseKind.REPAIR)
    notices = subject_notices(served, key, number)
    log: AccessLog = access_log(served, key)  # last: it shows this page's own reads
    return render(
        request,
        "me.html",
        report=report,
        standings=standings,
        types=served.record_types(),
        disputes=disputes,
        repairs=repairs,
        notices=notices,
        access=log,
        opened=request.query_params.get("opened", "")[:32],
    )


@router.get("/me/disputes/new", response_class=HTMLResponse)
def dispute_form(
    request: Request,
    provider: Annotated[str, Query(max_length=64)],
    ref: Annotated[str, Query(max_length=128)],
) -> HTMLResponse:
    subject_session(request)
    return render(
        request,
        "case_form.html",
        kind="dispute",
        provider=provider,
        ref=ref,
        values={},
        problem=None,
    )


@router.post("/me/disputes", response_class=HTMLResponse)
def open_dispute(
    request: Request,
    provider: Annotated[str, Form(max_length=64)],
    ref: Annotated[str, Form(max_length=128)],
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
    evidence: Annotated[str, Form(max_length=MAX_EVIDENCE)] = "",
) -> Response:
    """Open a dispute through the API's own function (``POST /v1/subjects/{id}/disputes``)."""
    key, number = subject_session(request)
    same_origin(request)
    values = {"reason": reason, "evidence": evidence}

    def act() -> dict[str, Any]:
        body = DisputeIn(
            provider=provider, ref=ref, reason=reason.strip(), evidence=evidence.strip() or None
        )
        return _open_dispute(registry(request), key, number, body)

    return _act(request, "dispute", provider, ref, values, act)


@router.get("/me/repairs/new", response_class=HTMLResponse)
def repair_form(
    request: Request,
    provider: Annotated[str, Query(max_length=64)],
    ref: Annotated[str, Query(max_length=128)],
) -> HTMLResponse:
    subject_session(request)
    return render(
        request,
        "case_form.html",
        kind="repair",
        provider=provider,
        ref=ref,
        values={},
        problem=None,
    )


@router.post("/me/repairs", response_class=HTMLResponse)
def apply_repair(
    request: Request,
    provider: Annotated[str, Form(max_length=64)],
    ref: Annotated[str, Form(max_length=128)],
    commitment: Annotated[str, Form(max_length=MAX_COMMITMENT)] = "",
) -> Response:
    """Apply for repair through the API's own function (``POST /v1/subjects/{id}/repairs``)."""
    key, number = subject_session(request)
    same_origin(request)

    def act() -> dict[str, Any]:
        body = RepairIn(provider=provider, ref=ref, commitment=commitment.strip())
        return apply_for(registry(request), key, number, body)

    return _act(request, "repair", provider, ref, {"commitment": commitment}, act)


def _act(
    request: Request,
    kind: str,
    provider: str,
    ref: str,
    values: dict[str, str],
    act: Callable[[], dict[str, Any]],
) -> Response:
    """Run the API's action; back to my record on success, the form with the reason if not."""
    try:
        case = act()
    except ValidationError:
        problem = i18n.translator(language(request))("case.fill_in")
    except ApiError as exc:
        problem = exc.message
    else:
        return redirect(f"/me?opened={quote(str(case['id']))}#due")
    return render(
        request,
        "case_form.html",
        status=422,
        kind=kind,
        provider=provider,
        ref=ref,
        values=values,
        problem=problem,
    )


def _chart(rulebook: Rulebook, points: list[Point]) -> Markup:
    """The score over time, the rulebook's grade bands shaded behind it."""
    scores = [p.score for p in points]
    low, high = min(scores) - 50, max(scores) + 50
    bands = []
    for band in rulebook.grades:  # the bands the line passes through or near, clipped
        bottom = max(low if band.minimum is None else band.minimum, low)
        top = min(high if band.maximum is None else band.maximum, high)
        if bottom < top:
            bands.append((bottom, top, band.grade))
    svg = charts.line_chart(
        {rulebook.name: [(p.day, p.score) for p in points]},
        title=f"{rulebook.name} {rulebook.version}",
        bands=bands,
        step=True,
        size=(7.0, 2.8),
    )
    assert isinstance(svg, str)
    return Markup(svg)  # drawn by matplotlib from numbers and rulebook codes: escaped there
