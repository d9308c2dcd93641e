"""``scs demo`` in a real browser: the URL it prints shows all four areas on the demo city.

The first command of the README starts the demo and prints a URL and a key per role. This
opens that URL in Debian's chromium and does what a visitor would with what was printed:
the public look-up finds the printed organisation, the printed person signs in with the
subject key and reads their record, the operator signs in and sees the dashboard, and the
consumer signs in and runs a check. No fixture data of the tests is involved: only the demo
city and the line the command printed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests import browser
from tests.test_demo_serve import Demo, demo  # noqa: F401  (the running `scs demo` fixture)

_MISSING = browser.missing()
if _MISSING and os.environ.get("CI"):
    raise RuntimeError(f"CI=true but the browser tests cannot run: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


@pytest.fixture
def page(demo: Demo) -> Iterator[Any]:  # noqa: F811
    with browser.chromium() as launched, browser.tab(launched, demo.printed["url"]) as opened:
        yield opened


def sign_in(page: Any, demo: Demo, role: str, path: str) -> None:  # noqa: F811
    page.context.clear_cookies()
    page.goto(path)
    assert "/login" in page.url
    page.get_by_label("Key", exact=True).fill(demo.printed["keys"][role])
    if role == "subject":
        page.get_by_label("Your resident identity number or USCC").fill(demo.printed["subject"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")


def test_the_printed_url_shows_all_four_areas_on_the_demo_city(
    page: Any,
    demo: Demo,  # noqa: F811
) -> None:
    printed = demo.printed
    page.goto("/")
    assert page.locator("h1").count() == 1

    # 1. the public look-up, by the printed USCC
    page.get_by_role("link", name="Organisation look-up").first.click()
    page.get_by_label("USCC or name of an organisation").fill(printed["organisation"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/organisations?q=*")
    page.locator(f"a[href='/organisations/{printed['organisation']}']").first.click()
    page.wait_for_url(f"**/organisations/{printed['organisation']}")
    assert page.locator("h1").count() == 1

    # 2. my record, as the printed person with the subject key
    sign_in(page, demo, "subject", "/me")
    text = page.locator("main").inner_text()
    assert "Rongcheng" in text or "rongcheng" in text
    assert "Who looked at my data" in text or "access" in text.lower()

    # 3. the operator's dashboard
    sign_in(page, demo, "admin", "/dashboard")
    assert page.locator("svg, img").count() >= 1  # the charts

    # 4. the consumer's check of the printed person
    sign_in(page, demo, "consumer", "/check")
    assert "spc.flights" in printed["measures"]
    page.get_by_label("Resident identity number or USCC of the subject").fill(printed["subject"])
    page.get_by_label("Measure").select_option("spc.flights")
    page.get_by_label("Purpose").select_option("travel_booking")
    page.get_by_role("button", name="Check").click()
    page.locator("#verdict").wait_for()
    assert "spc.flights" in page.locator("#verdict").inner_text()
    assert page.problems == [], page.problems
