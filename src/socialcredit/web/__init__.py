"""The web pages: public look-up, my record, the operator's dashboard, the consumer check.

Server-rendered HTML (Jinja2, every value escaped) mounted into the API's own FastAPI app, so
``scs serve`` serves both and every page is backed by the same function as its JSON twin:
the page and the API cannot drift apart in what they show, refuse or log. No JavaScript
framework and no CDN: the machine may be offline and the pages must work without scripts.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from socialcredit.web import check, dashboard, me, pages, public, session


def mount(app: FastAPI) -> None:
    """Add the pages, their static files and the login redirect to ``app``."""
    static = resources.files("socialcredit.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    pages.install(app)
    for area in (public, session, me, dashboard, check):
        app.include_router(area.router)
