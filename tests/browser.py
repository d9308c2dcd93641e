"""Debian's chromium driven by Playwright, for the browser tests and the screenshots.

Playwright's own browser downloads are never used (the machines are offline): the system
``chromium`` is launched by path. Without it the browser tests are skipped with the reason —
except under CI, where a missing browser means the CI script failed to install it, and that
must fail loudly rather than pass with the browser tests silently left out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = os.environ.get("SCS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Debian chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    path = CHROMIUM if os.path.exists(CHROMIUM) else str(shutil.which("chromium"))
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=path, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def tab(launched: Any, base_url: str) -> Iterator[Any]:
    """A page on ``base_url`` (English), collecting script and console errors in
    ``page.problems`` so a test can assert there were none."""
    context = launched.new_context(base_url=base_url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems
    try:
        yield page
    finally:
        context.close()
