"""The consumer's check page: does a measure apply to a subject, for a declared purpose?

The same function as ``GET /v1/checks`` (``api.checks.check``), so the page refuses what the
API refuses (a measure the key does not run, a purpose unrelated to the measure) and every
answer is in the audit log, visible to the subject, before it is shown. The form is a POST so
the subject's number stays out of the address bar, the browser history and any proxy's log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from socialcredit.api.checks import PURPOSES, CheckAnswer, check
from socialcredit.api.errors import ApiError
from socialcredit.store.keys import ApiKey, Role
from socialcredit.web.pages import registry, render, require_role, same_origin

router = APIRouter(include_in_schema=False)


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request) -> HTMLResponse:
    key = require_role(request, Role.CONSUMER)
    return _page(request, key)


@router.post("/check", response_class=HTMLResponse)
def check_page(
    request: Request,
    subject: Annotated[str, Form(max_length=32)],
    measure: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=64)],
) -> HTMLResponse:
    key = require_role(request, Role.CONSUMER)
    same_origin(request)
    try:
        answer = check(registry(request), key, subject.strip(), measure, purpose)
    except ApiError as exc:
        return _page(
            request, key, status=exc.status, problem=exc.message, chosen=(measure, purpose)
        )
    return _page(request, key, answer=answer, chosen=(measure, purpose))


def _page(
    request: Request,
    key: ApiKey,
    status: int = 200,
    answer: CheckAnswer | None = None,
    problem: str | None = None,
    chosen: tuple[str, str] = ("", ""),
) -> HTMLResponse:
    return render(
        request,
        "check.html",
        status=status,
        measures=key.measures,
        purposes=list(PURPOSES),
        answer=answer,
        problem=problem,
        chosen=chosen,
    )
