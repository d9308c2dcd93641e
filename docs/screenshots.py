"""Take the screenshots of the web pages in docs/screenshots/ (run from the repository root).

    python docs/screenshots.py

Builds the web tests' demo world (``tests/web_world.py``: the demo city plus a listed debtor
and a company with published penalties) in a temporary directory, serves it, and drives
Debian's chromium through every page with Playwright, so the pictures show exactly what the
browser tests check. Deterministic data and a fixed clock: rerunning changes a picture only
when a page changed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402
from tests.conftest import ORG, PERSON, TODAY  # noqa: E402
from tests.web_world import World, world  # noqa: E402

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def sign_in(page: Any, built: World, role: str, path: str) -> None:
    page.goto(path)
    page.get_by_label("Key", exact=True).fill(built.tokens[role])
    if role == "subject":
        page.get_by_label("Your resident identity number or USCC").fill(PERSON)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")


def shoot(page: Any, name: str, full: bool = True) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full)
    print(f"docs/screenshots/{name}.png")


def main() -> None:
    reason = browser.missing()
    if reason:
        raise SystemExit(f"cannot take screenshots: {reason}")
    os.environ["SCS_CLOCK"] = TODAY.isoformat()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, world(Path(tmp)) as built, browser.chromium() as b:
        context = b.new_context(base_url=built.url, viewport=DESKTOP, locale="en-GB")
        page = context.new_page()
        page.goto("/")
        shoot(page, "home")
        page.goto("/organisations?q=Trading")
        shoot(page, "lookup-search")
        page.goto(f"/organisations/{ORG}")
        shoot(page, "lookup-organisation")
        page.goto(f"/organisations?q={PERSON}")
        shoot(page, "lookup-person-refused")
        sign_in(page, built, "subject", "/me")
        shoot(page, "my-record")
        page.goto("/me/disputes/new?provider=court.rongcheng&ref=D-1")
        page.get_by_label("Why is this record wrong?").fill("The judgment was paid in full.")
        page.get_by_label("Evidence (optional)").fill("Bank receipt 2026-0117")
        shoot(page, "my-record-dispute")
        page.get_by_role("button", name="Open the dispute").click()
        page.wait_for_url("**/me?opened=*")
        context.clear_cookies()
        sign_in(page, built, "consumer", "/check")
        page.get_by_label("Resident identity number or USCC of the subject").fill(PERSON)
        page.get_by_role("button", name="Check").click()
        shoot(page, "check")
        context.clear_cookies()
        sign_in(page, built, "admin", "/dashboard")
        shoot(page, "dashboard")
        page.goto("/dashboard/whatif")
        text = page.get_by_label("Rulebook (TOML)")
        text.fill(
            text.input_value()
            .replace('version = "1.0.0"', 'version = "1.1.0"', 1)
            .replace("base = 1000", "base = 950", 1)
        )
        page.get_by_role("button", name="Compare with the active rulebook").click()
        page.locator("#outcome").scroll_into_view_if_needed()
        shoot(page, "whatif")
        page.goto("/language/zh?next=/organisations/" + ORG)
        shoot(page, "lookup-organisation-zh")
        context.close()
        phone = b.new_context(base_url=built.url, viewport=PHONE, is_mobile=True)
        tab = phone.new_page()
        tab.goto(f"/organisations/{ORG}")
        shoot(tab, "phone-organisation")
        phone.close()


if __name__ == "__main__":
    main()
