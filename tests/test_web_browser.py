"""The web pages in a real browser (Debian's chromium under Playwright), on the demo city.

What a person sees and does: every page loads without a script or style error, the public
look-up finds a company and never a person, a subject signs in, reads why their score is
what it is and opens a dispute, an operator compares a rulebook and sees grades move, the
language switch works, pages fit a phone, and every form field has a label.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests import browser
from tests.conftest import ORG, PERSON
from tests.web_world import ORG_NAME, PERSON_NAME, World

_MISSING = browser.missing()
if _MISSING and os.environ.get("CI"):
    raise RuntimeError(f"CI=true but the browser tests cannot run: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser.chromium() as launched:
        yield launched


@pytest.fixture
def page(chromium: Any, web_world: World) -> Iterator[Any]:
    with browser.tab(chromium, web_world.url) as opened:
        yield opened


def sign_in(page: Any, web_world: World, role: str, path: str) -> None:
    """Open a keyed page, get sent to the login form, sign in there, and come back."""
    page.goto(path)
    assert "/login" in page.url
    page.get_by_label("Key", exact=True).fill(web_world.tokens[role])
    if role == "subject":
        page.get_by_label("Your resident identity number or USCC").fill(PERSON)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{path}")


def unlabelled(page: Any) -> list[str]:
    """Every visible form field without a label (or aria-label)."""
    result: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(e => e.type !== 'hidden')
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.outerHTML)"""
    )
    return result


def check_page(page: Any) -> None:
    """What every page must have: a language, one h1, labelled fields, no errors."""
    assert page.get_attribute("html", "lang") in ("en", "zh-Hans")
    assert page.locator("h1").count() == 1
    assert unlabelled(page) == []
    assert page.problems == [], page.problems


PUBLIC = ["/", "/organisations", f"/organisations/{ORG}", "/login"]
KEYED = {
    "subject": ["/me", "/me/disputes/new?provider=police.traffic&ref=T-0001"],
    "admin": ["/dashboard", "/dashboard/whatif"],
    "consumer": ["/check"],
}


def test_every_page_loads_with_labels_and_without_errors(page: Any, web_world: World) -> None:
    for path in PUBLIC:
        page.goto(path)
        check_page(page)
    for role, paths in KEYED.items():
        page.context.clear_cookies()
        sign_in(page, web_world, role, paths[0])
        for path in paths:
            page.goto(path)
            check_page(page)


def test_the_public_lookup_finds_an_organisation(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name="Organisation look-up").first.click()
    page.get_by_label("USCC or name of an organisation").fill("Example Trading")
    page.keyboard.press("Enter")
    page.get_by_role("link", name=ORG_NAME).click()
    assert page.locator("h1").inner_text() == ORG_NAME
    assert page.get_by_role("heading", name="Administrative penalties").is_visible()
    assert page.get_by_role("columnheader", name="Published until").first.is_visible()


def test_a_person_cannot_be_found_through_the_public_page(page: Any) -> None:
    page.goto("/organisations")
    search = page.get_by_label("USCC or name of an organisation")
    search.fill(PERSON_NAME)
    search.press("Enter")
    assert "Persons are never searched" in page.locator("#nothing-found").inner_text()
    assert page.locator(".found a").count() == 0
    search = page.get_by_label("USCC or name of an organisation")
    search.fill(PERSON)
    search.press("Enter")
    assert "Persons cannot be looked up here" in page.locator("#person-refused").inner_text()


def test_a_subject_sees_the_explanation_and_opens_a_dispute(page: Any, web_world: World) -> None:
    sign_in(page, web_world, "subject", "/me")
    standing = page.locator("#standing-rongcheng")
    assert standing.locator(".grade").first.inner_text() == "D"
    assert "court list of dishonest judgment debtors" in standing.locator(".reasons").inner_text()
    assert standing.locator("svg[role=img]").count() == 1
    page.get_by_role("link", name="Dispute this record D-1").click()
    page.get_by_label("Why is this record wrong?").fill("The judgment was paid before listing.")
    page.get_by_label("Evidence (optional)").fill("Receipt 2025-118")
    page.get_by_role("button", name="Open the dispute").click()
    page.wait_for_url("**/me?opened=*")
    assert page.locator("#case-opened").is_visible()
    assert "D-1" in page.locator("#disputes + .scroll table").inner_text()
    assert (
        "check" in page.locator("#access").inner_text()
        or "report" in page.locator("#access").inner_text()
    )


def test_what_if_shows_a_changed_distribution(page: Any, web_world: World) -> None:
    sign_in(page, web_world, "admin", "/dashboard/whatif")
    text = page.get_by_label("Rulebook (TOML)")
    edited = (
        text.input_value()
        .replace('version = "1.0.0"', 'version = "2.0.0"', 1)
        .replace("base = 1000", "base = 900", 1)
    )
    text.fill(edited)
    page.get_by_role("button", name="Compare with the active rulebook").click()
    changed = page.locator("#changed").inner_text()
    assert int(changed.split(" of ")[0].replace(",", "")) > 0
    assert page.locator("#transitions").is_visible()
    assert page.locator("#outcome svg[role=img]").count() >= 1


def test_the_language_switch(page: Any) -> None:
    page.goto("/organisations")
    page.locator("#lang-switch").click()
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert page.locator("h1").inner_text() == "机构信用查询"
    page.locator("#lang-switch").click()
    assert page.get_attribute("html", "lang") == "en"


def test_pages_fit_a_phone(chromium: Any, web_world: World) -> None:
    context = chromium.new_context(base_url=web_world.url, viewport=PHONE, is_mobile=True)
    tab = context.new_page()
    pages = {
        None: ["/", "/organisations?q=Trading", f"/organisations/{ORG}", "/login"],
        "subject": ["/me", "/me/disputes/new?provider=police.traffic&ref=T-0001"],
        "admin": ["/dashboard", "/dashboard/whatif"],
        "consumer": ["/check"],
    }
    try:
        for role, paths in pages.items():
            context.clear_cookies()
            if role is not None:
                sign_in(tab, web_world, role, paths[0])
            for path in paths:
                tab.goto(path)
                width = tab.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
    finally:
        context.close()


def test_the_keyboard_reaches_the_skip_link_first(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
