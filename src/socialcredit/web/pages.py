"""What every page shares: templates, the language, the key kept in a cookie, and CSRF.

**Keys in a cookie.** The pages use the API's keys: a login form takes one and keeps it in an
``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's page can make the
browser send it) session cookie; a subject key comes with the subject's own number, checked
against the key, because that is how the API names a subject. Nothing else is stored: each
request authenticates the key again, so a revoked key stops working on the next click.

**CSRF.** Every form that changes something is a POST, and every POST must come from this
origin (``Origin``, or ``Referer`` when a browser sends no ``Origin``); with the SameSite
cookie that is two independent locks on the same door.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from socialcredit.store import keys
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry
from socialcredit.web import i18n

KEY_COOKIE = "scs_key"
SUBJECT_COOKIE = "scs_subject"
LANG_COOKIE = "scs_lang"

#: Scripts only from here, no framing, forms only to here. Styles may be inline because the
#: server-drawn SVG charts carry a ``<style>`` element; no script is ever inline.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

ENV = Environment(
    loader=PackageLoader("socialcredit.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class LoginNeeded(Exception):
    """The page needs a key of ``role``; answered with a redirect to the login form."""

    def __init__(self, role: Role, after: str):
        super().__init__(role.value)
        self.role, self.after = role, after


class PageRefused(Exception):
    """A request the pages refuse, answered with an error page in the reader's language."""

    def __init__(self, status: int, message_key: str, **values: object):
        super().__init__(message_key)
        self.status, self.message_key, self.values = status, message_key, values


def registry(request: Request) -> Registry:
    """The served registry, its read cache brought up to date (as ``api.auth.registry``)."""
    served: Registry = request.app.state.registry
    served.refresh()
    return served


def language(request: Request) -> str:
    """The reader's choice (the language switch's cookie), else their browser's."""
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in i18n.LANGUAGES else i18n.pick(request.headers.get("accept-language"))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the reader's language; every value is escaped by the template engine."""
    lang = language(request)
    key = session_key(request)
    html = ENV.get_template(template).render(
        lang=lang,
        html_lang=i18n.HTML_LANG[lang],
        t=i18n.translator(lang),
        known=i18n.catalog(lang).__contains__,
        path=request.url.path,
        here=_here(request),
        signed_in=None if key is None else key.role.value,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def session_key(request: Request) -> ApiKey | None:
    """The key in the session cookie, if it still works (known, not revoked or expired)."""
    token = request.cookies.get(KEY_COOKIE)
    if not token:
        return None
    try:
        return keys.authenticate(registry(request), token)
    except keys.ApiKeyError:
        return None


def require_role(request: Request, role: Role) -> ApiKey:
    """The session's key if it has ``role``; otherwise off to the login form and back."""
    key = session_key(request)
    if key is None or key.role is not role:
        raise LoginNeeded(role, _here(request))
    return key


def same_origin(request: Request) -> None:
    """Refuse a POST that another site's page made the browser send (CSRF)."""
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    host = request.headers.get("host")
    if source in ("", "null") or urlsplit(source).netloc != host:
        raise PageRefused(403, "error.cross_site")


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to after a form, never another site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """A session cookie only this site's own pages send, which no script can read."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def install(app: FastAPI) -> None:
    """The answers for ``LoginNeeded`` and ``PageRefused`` (pages, not JSON)."""

    async def login_needed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginNeeded)
        return redirect(f"/login?role={exc.role.value}&next={quote(exc.after, safe='')}")

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageRefused)
        return render(
            request,
            "error.html",
            status=exc.status,
            message=i18n.translator(language(request))(exc.message_key, **exc.values),
        )

    handlers: dict[type[Exception], Callable[..., Any]] = {
        LoginNeeded: login_needed,
        PageRefused: refused,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)
