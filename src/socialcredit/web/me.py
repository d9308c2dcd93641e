"""My record: a subject's own page, for the subject's key.

Everything here is what ``GET /v1/subjects/{id}/report``, ``/v1/subjects/{id}/scores`` and
``/v1/me/access-log`` answer, read through the same functions (``api.subjects``): opening the
page is a read of the subject's report and is audited like one, so it shows up in the access
log on the same page. Charts are drawn on the server (``charts``), so the page works without
JavaScript and a screen reader gets the chart's title and the table beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from socialcredit import charts
from socialcredit.api.errors import ApiError
from socialcredit.api.subjects import AccessLog, Report, access_log, history_of, read_report
from socialcredit.rulebook import Rulebook
from socialcredit.scoring import Result
from socialcredit.store.keys import ApiKey, Role
from socialcredit.timeline import Point
from socialcredit.web.pages import (
    SUBJECT_COOKIE,
    LoginNeeded,
    PageRefused,
    registry,
    render,
    require_role,
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
        return key, number, read_report(registry(request), key, number, "subject")
    except ApiError as exc:
        raise PageRefused(exc.status, "error.no_file" if exc.status == 404 else "error.refused")\
            from None


@router.get("/me", response_class=HTMLResponse)
def my_record(request: Request) -> HTMLResponse:
    key, _number, report = read(request)
    served = registry(request)
    standings = [
        Standing(rb, result, points, _chart(rb, points))
        for rb, result in report.results
        for points in [history_of(report, rb)]
    ]
    log: AccessLog = access_log(served, key)
    return render(
        request,
        "me.html",
        report=report,
        standings=standings,
        types=served.record_types(),
        access=log,
    )


def _chart(rulebook: Rulebook, points: list[Point]) -> Markup:
    """The score over time, the rulebook's grade bands shaded behind it."""
    scores = [p.score for p in points]
    low, high = min(scores) - 50, max(scores) + 50
    bands = [
        (max(band.minimum if band.minimum is not None else low, low),
         min(band.maximum if band.maximum is not None else high, high), band.grade)
        for band in rulebook.grades
        if (band.minimum is None or band.minimum <= high)
        and (band.maximum is None or band.maximum >= low)
    ]
    svg = charts.line_chart(
        {rulebook.name: [(p.day, p.score) for p in points]},
        title=f"{rulebook.name} {rulebook.version}",
        bands=bands,
        step=True,
        size=(7.0, 2.8),
    )
    assert isinstance(svg, str)
    return Markup(svg)  # drawn by matplotlib from numbers and rulebook codes: escaped there
