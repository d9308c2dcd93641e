"""My record: a subject's own page, for the subject's key.

The page is the credit report (``GET /v1/subjects/{id}/report``, ``api.subjects.report``)
drawn for a person to read: the same function gathers it, refuses it and logs it, so the page
shows exactly what the JSON twin holds — score and grade per rulebook with the score over the
last years, reasons, lists, measures, every record and what it does, disputes, repairs,
notices and the access log (where this very read appears). Opening a dispute or applying for
repair calls the API's own functions too. Charts are drawn on the server (``charts``), so the
page works without JavaScript, and a screen reader gets the chart's title and a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from socialcredit import charts
from socialcredit.api.disputes import DisputeIn, _open_dispute
from socialcredit.api.errors import ApiError
from socialcredit.api.repairs import RepairIn, apply_for
from socialcredit.api.subjects import report
from socialcredit.rulebook import Rulebook
from socialcredit.store.cases import MAX_COMMITMENT, MAX_EVIDENCE, MAX_REASON
from socialcredit.store.keys import ApiKey, Role
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
    """One rulebook's part of the page: its result and score history (report JSON), its chart."""

    rulebook: Rulebook
    result: dict[str, Any]
    history: list[dict[str, Any]]
    chart: Markup


def subject_session(request: Request) -> tuple[ApiKey, str]:
    """The subject key and the number it is bound to, from the session."""
    key = require_role(request, Role.SUBJECT)
    number = request.cookies.get(SUBJECT_COOKIE, "")
    if not number:
        raise LoginNeeded(Role.SUBJECT, request.url.path)
    return key, number


@router.get("/me", response_class=HTMLResponse)
def my_record(request: Request) -> HTMLResponse:
    key, number = subject_session(request)
    served = registry(request)
    try:
        data: dict[str, Any] = report(served, key, number, "json")
    except ApiError as exc:
        message = "error.no_file" if exc.status == 404 else "error.refused"
        raise PageRefused(exc.status, message) from None
    histories = {h["rulebook"]: h["points"] for h in data["score_history"]}
    standings = []
    for result in data["results"]:
        book = served.rulebook(result["rulebook"])
        points = histories.get(result["rulebook"], [])
        standings.append(Standing(book, result, points, _chart(book, points)))
    disputed = {(r["provider"], r["ref"]): r["dispute"] for r in data["records"] if r["dispute"]}
    return render(
        request,
        "me.html",
        data=data,
        standings=standings,
        types=served.record_types(),
        disputed=disputed,
        opened=request.query_params.get("opened", "")[:32],
    )


@router.get("/me/report.{fmt}")
def my_report_file(request: Request, fmt: str) -> Response:
    """The credit report as a PDF to keep or a printable HTML page (the report's own formats),
    read and logged like the page."""
    key, number = subject_session(request)
    formats: dict[str, Literal["pdf", "html"]] = {"pdf": "pdf", "html": "html"}
    if fmt not in formats:
        raise PageRefused(404, "error.no_such_format")
    try:
        answer: Response = report(registry(request), key, number, formats[fmt])
    except ApiError as exc:
        message = "error.no_file" if exc.status == 404 else "error.refused"
        raise PageRefused(exc.status, message) from None
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _blank_form(request: Request, kind: str, provider: str, ref: str) -> HTMLResponse:
    """The empty dispute or repair form for one record (signed-in subjects only)."""
    subject_session(request)
    return render(
        request, "case_form.html", kind=kind, provider=provider, ref=ref, values={}, problem=None
    )


@router.get("/me/disputes/new", response_class=HTMLResponse)
def dispute_form(
    request: Request,
    provider: Annotated[str, Query(max_length=64)],
    ref: Annotated[str, Query(max_length=128)],
) -> HTMLResponse:
    return _blank_form(request, "dispute", provider, ref)


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
    return _blank_form(request, "repair", provider, ref)


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


def _chart(rulebook: Rulebook, points: list[dict[str, Any]]) -> Markup:
    """The score over time, the rulebook's grade bands shaded behind it."""
    scores = [int(p["score"]) for p in points] or [rulebook.score.base]
    low, high = min(scores) - 50, max(scores) + 50
    bands = []
    for band in rulebook.grades:  # the bands the line passes through or near, clipped
        bottom = max(low if band.minimum is None else band.minimum, low)
        top = min(high if band.maximum is None else band.maximum, high)
        if bottom < top:
            bands.append((bottom, top, band.grade))
    svg = charts.line_chart(
        {rulebook.name: [(date.fromisoformat(p["date"]), p["score"]) for p in points]},
        title=f"{rulebook.name} {rulebook.version}",
        bands=bands,
        step=True,
        size=(7.0, 2.8),
    )
    assert isinstance(svg, str)
    return Markup(svg)  # drawn by matplotlib from numbers and rulebook codes: escaped there
