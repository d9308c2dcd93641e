"""Signing in with a key, signing out, and the language switch.

The login form takes an API key (``scs key create``); a subject key also takes the subject's
resident number or USCC, which must be the one the key is bound to. Both go into HttpOnly,
SameSite=Strict session cookies (see ``pages``) and are checked again on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from socialcredit.identifiers import InvalidIdentifier, infer_kind, normalise, subject_key
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.web import i18n
from socialcredit.web.pages import (
    KEY_COOKIE,
    LANG_COOKIE,
    SUBJECT_COOKIE,
    redirect,
    registry,
    render,
    safe_next,
    same_origin,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
#: Where each role's pages start, after signing in without a ``next``.
HOME = {Role.SUBJECT: "/me", Role.ADMIN: "/dashboard", Role.CONSUMER: "/check"}


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    role: Annotated[str, Query(max_length=16)] = "",
    next: Annotated[str, Query(max_length=500)] = "",
) -> HTMLResponse:
    return render(request, "login.html", role=role, next=safe_next(next, ""), problem=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    key: Annotated[str, Form(max_length=200)],
    subject: Annotated[str, Form(max_length=32)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Check the key (and for a subject key, the number it is bound to); keep them."""
    same_origin(request)
    served = registry(request)

    def again(problem: str) -> HTMLResponse:
        return render(
            request,
            "login.html",
            status=401,
            role=role,
            next=safe_next(next, ""),
            problem=problem,
        )

    try:
        found = keys.authenticate(served, key.strip())
    except keys.ApiKeyError:
        return again("login.bad_key")
    number = ""
    if found.role is Role.SUBJECT:
        kind = infer_kind(subject)
        try:
            number = normalise(kind, subject, served.legacy_codes())
        except InvalidIdentifier:
            return again("login.bad_subject")
        if subject_key(served.secret, kind, number) != found.subject_key:
            return again("login.bad_subject")
    response = redirect(safe_next(next, HOME.get(found.role, "/")))
    set_cookie(response, request, KEY_COOKIE, key.strip())
    if number:
        set_cookie(response, request, SUBJECT_COOKIE, number)
    else:
        response.delete_cookie(SUBJECT_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    same_origin(request)
    response = redirect("/")
    for name in (KEY_COOKIE, SUBJECT_COOKIE):
        response.delete_cookie(name, path="/")
    return response


@router.get("/language/{lang}")
def switch_language(
    request: Request, lang: str, next: Annotated[str, Query(max_length=500)] = "/"
) -> Response:
    """Remember the reader's language and go back to the page they were on."""
    response = redirect(safe_next(next))
    if lang in i18n.LANGUAGES:
        set_cookie(response, request, LANG_COOKIE, lang)
    return response
