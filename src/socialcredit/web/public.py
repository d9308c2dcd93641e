"""The public look-up, for everyone and without a key: organisations only, never persons.

Backed by the API's own functions (``api.organisations``), so the page shows exactly what
``GET /v1/organisations?q=`` and ``GET /v1/organisations/{uscc}`` answer, and refuses what
they refuse: a resident number is not looked up at all, and a name is matched against
organisations and institutions only. The page says so, so nobody mistakes "nothing found"
for "this person has a clean record".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from socialcredit.api.auth import Caller
from socialcredit.api.errors import ApiError
from socialcredit.api.organisations import Search, find_organisations, organisation
from socialcredit.web.pages import registry, render

router = APIRouter(include_in_schema=False)

#: How the page groups published records, by record type category.
SECTIONS = (("admin_penalty", "org.penalties"), ("permit", "org.licensing"))


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html")


@router.get("/organisations", response_class=HTMLResponse)
def search_page(request: Request, q: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    """The search form and, for a query, what it finds."""
    query = q.strip()
    found: Search | None = None
    too_short = False
    if len(query) >= 2:
        found = find_organisations(registry(request), query)
    elif query:
        too_short = True
    return render(request, "search.html", q=query, found=found, too_short=too_short)


@router.get("/organisations/{uscc}", response_class=HTMLResponse)
def organisation_page(request: Request, uscc: str) -> HTMLResponse:
    """One organisation: grades, lists and published records, as the API answers."""
    try:
        org = organisation(registry(request), Caller(None), uscc[:32])
    except ApiError as exc:
        return render(
            request,
            "search.html",
            status=exc.status,
            q=uscc,
            found=None,
            too_short=False,
            not_found=True,
        )
    known = {code for code, _ in SECTIONS}
    sections = [
        (title, [p for p in org.penalties if p.category == code]) for code, title in SECTIONS
    ] + [("org.other_records", [p for p in org.penalties if p.category not in known])]
    return render(request, "organisation.html", org=org, sections=sections)
