"""The web pages over real HTTP (httpx): what each page shows, refuses, escapes and logs.

The browser tests (``test_web_browser.py``) check what a person sees and does; these pin the
HTTP contract underneath: status codes, cookies, the CSRF lock, escaping, the audit trail,
and that every page agrees with its JSON twin.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from socialcredit.rulebook import shipped_text
from socialcredit.store.schema import audit_log
from tests.conftest import ORG, PERSON
from tests.web_world import HOSTILE_NAME, ORG_NAME, PERSON_NAME, World


@pytest.fixture
def web(web_world: World) -> Iterator[httpx.Client]:
    """A browser-like client: it sends this site's Origin, as browsers do on form posts."""
    with httpx.Client(
        base_url=web_world.url, timeout=60, headers={"Origin": web_world.url}
    ) as client:
        yield client


def sign_in(client: httpx.Client, token: str, subject: str = "") -> httpx.Response:
    return client.post("/login", data={"key": token, "subject": subject})


def as_role(web_world: World, web: httpx.Client, role: str) -> httpx.Client:
    response = sign_in(web, web_world.tokens[role], PERSON if role == "subject" else "")
    assert response.status_code == 303, response.text
    return web


# -- every page ---------------------------------------------------------------------------------
PUBLIC_PAGES = [
    "/",
    "/organisations",
    f"/organisations?q={ORG_NAME[:7]}",
    f"/organisations/{ORG}",
    "/login",
]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_load_with_language_and_security_headers(web: httpx.Client, path: str) -> None:
    response = web.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/me", "subject"),
        ("/dashboard", "admin"),
        ("/dashboard/whatif", "admin"),
        ("/check", "consumer"),
    ],
)
def test_keyed_pages_send_to_login_then_load(
    web_world: World, web: httpx.Client, path: str, role: str
) -> None:
    refused = web.get(path)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith(f"/login?role={role}&next=")
    assert as_role(web_world, web, role).get(path).status_code == 200


def test_a_key_of_another_role_does_not_open_a_page(web_world: World, web: httpx.Client) -> None:
    as_role(web_world, web, "consumer")
    assert web.get("/dashboard").status_code == 303
    assert web.get("/me").status_code == 303


# -- the public look-up -------------------------------------------------------------------------
def test_the_lookup_finds_an_organisation_by_name_and_by_code(web: httpx.Client) -> None:
    by_name = web.get("/organisations", params={"q": "example trading"})
    assert f'href="/organisations/{ORG}"' in by_name.text
    by_code = web.get("/organisations", params={"q": ORG.lower()})
    assert f'href="/organisations/{ORG}"' in by_code.text


def test_the_organisation_page_shows_grade_and_records_with_publication_periods(
    web: httpx.Client,
) -> None:
    page = web.get(f"/organisations/{ORG}").text
    twin = web.get(f"/v1/organisations/{ORG}").json()
    assert ORG_NAME.replace(",", ",") in page
    for standing in twin["standings"]:
        assert f'<td class="grade">{standing["grade"]}</td>' in page
    assert {p["category"] for p in twin["penalties"]} == {"admin_penalty", "permit"}
    for penalty in twin["penalties"]:
        assert penalty["published_until"] and penalty["published_until"] in page
    assert "Administrative penalties" in page and "Licensing decisions" in page


def test_a_persons_number_is_not_looked_up(web: httpx.Client) -> None:
    page = web.get("/organisations", params={"q": PERSON}).text
    assert 'id="person-refused"' in page and "Persons cannot be looked up here" in page
    assert web.get("/v1/organisations", params={"q": PERSON}).json() == {
        "query": PERSON,
        "organisations": [],
        "refused": "person_number",
    }
    assert web.get(f"/organisations/{PERSON}").status_code == 404


def test_a_persons_name_finds_nothing_and_the_page_says_why(
    web_world: World, web: httpx.Client
) -> None:
    with web_world.registry.engine.connect() as conn:  # the person's name is on file…
        from socialcredit.store.schema import subjects

        names = set(
            conn.execute(select(subjects.c.name).where(subjects.c.kind == "person")).scalars()
        )
    assert PERSON_NAME in names
    page = web.get("/organisations", params={"q": PERSON_NAME}).text  # …and never found
    assert 'id="nothing-found"' in page and "Persons are never searched" in page
    assert web.get("/v1/organisations", params={"q": "Wang"}).json()["organisations"] == [] or all(
        o["kind"] != "person"
        for o in web.get("/v1/organisations", params={"q": "Wang"}).json()["organisations"]
    )


def test_a_hostile_organisation_name_is_escaped_everywhere(web: httpx.Client) -> None:
    found = web.get("/organisations", params={"q": "Evil Co"}).text
    assert HOSTILE_NAME not in found
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Evil Co." in found
    code = re.search(r'href="/organisations/([0-9A-Z]{18})"', found)
    assert code is not None
    page = web.get(f"/organisations/{code.group(1)}").text
    assert "<script>" not in page and "&lt;script&gt;" in page
    echoed = web.get("/organisations", params={"q": "<script>x</script>"}).text
    assert "<script>x" not in echoed


# -- signing in ---------------------------------------------------------------------------------
def test_signing_in_keeps_the_key_in_a_strict_httponly_cookie(
    web_world: World, web: httpx.Client
) -> None:
    response = sign_in(web, web_world.tokens["subject"], PERSON)
    cookies = response.headers.get_list("set-cookie")
    assert all(
        "HttpOnly" in c and "SameSite=strict" in c.replace("Strict", "strict") for c in cookies
    )
    assert response.headers["location"] == "/me"


def test_a_bad_key_or_someone_elses_number_is_refused(web_world: World, web: httpx.Client) -> None:
    assert sign_in(web, "scs_nonsense").status_code == 401
    wrong = sign_in(web, web_world.tokens["subject"], "371082199001011239")
    assert wrong.status_code == 401 and 'id="login-problem"' in wrong.text
    assert "scs_key" not in wrong.headers.get("set-cookie", "")


def test_a_form_posted_from_another_site_is_refused(web_world: World) -> None:
    with httpx.Client(base_url=web_world.url, timeout=30) as bare:
        token = web_world.tokens["admin"]
        assert bare.post("/login", data={"key": token}).status_code == 403
        evil = {"Origin": "http://evil.example"}
        assert bare.post("/login", data={"key": token}, headers=evil).status_code == 403
        # even with the session cookie, a cross-site post to an action is refused
        bare.cookies.set("scs_key", token)
        assert bare.post("/dashboard/rescore", headers=evil).status_code == 403


def test_after_signing_in_the_page_never_redirects_off_site(
    web_world: World, web: httpx.Client
) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        response = web.post("/login", data={"key": web_world.tokens["admin"], "next": target})
        assert response.headers["location"] == "/dashboard"


# -- my record ----------------------------------------------------------------------------------
def test_my_record_explains_and_is_audited_like_the_report(
    web_world: World, web: httpx.Client
) -> None:
    as_role(web_world, web, "subject")
    before = _audit_count(web_world)
    page = web.get("/me").text
    assert "110105********002X" in page and PERSON not in page
    assert "Put on the court list of dishonest judgment debtors" in page  # a reason
    assert "Restricting High Consumption" in page  # a measure's legal basis
    assert "<svg" in page and 'role="img"' in page  # the score over time
    assert "Dispute this record" in page
    actions = [row.action for row in _audit_rows(web_world)[before:]]
    assert "report" in actions
    twin = httpx.get(
        f"{web_world.url}/v1/subjects/{PERSON}/report",
        headers={"Authorization": f"Bearer {web_world.tokens['subject']}"},
    ).json()
    last = twin["score_history"][0]["points"][-1]
    assert f'<strong class="score-value">{last["score"]}</strong>' in page


def test_a_subject_opens_a_dispute_through_the_form(web_world: World, web: httpx.Client) -> None:
    as_role(web_world, web, "subject")
    form = web.get("/me/disputes/new", params={"provider": "police.traffic", "ref": "T-0001"})
    assert form.status_code == 200 and 'name="reason"' in form.text
    empty = web.post("/me/disputes", data={"provider": "police.traffic", "ref": "T-0001"})
    assert empty.status_code == 422
    opened = web.post(
        "/me/disputes",
        data={"provider": "police.traffic", "ref": "T-0001", "reason": "I was not driving."},
    )
    assert opened.status_code == 303 and opened.headers["location"].startswith("/me?opened=")
    twin = httpx.get(
        f"{web_world.url}/v1/subjects/{PERSON}/disputes",
        headers={"Authorization": f"Bearer {web_world.tokens['subject']}"},
    ).json()
    assert any(c["ref"] == "T-0001" and c["status"] == "open" for c in twin)
    page = web.get(opened.headers["location"]).text
    assert 'id="case-opened"' in page and "T-0001" in page


# -- the consumer check -------------------------------------------------------------------------
def test_the_check_page_answers_with_legal_basis_and_is_audited(
    web_world: World, web: httpx.Client
) -> None:
    as_role(web_world, web, "consumer")
    before = _audit_count(web_world)
    page = web.post(
        "/check",
        data={"subject": PERSON, "measure": "spc.flights", "purpose": "travel_booking"},
    )
    assert page.status_code == 200
    assert "spc.flights applies." in page.text and "Restricting High Consumption" in page.text
    assert [r.action for r in _audit_rows(web_world)[before:]] == ["check"]
    refused = web.post(
        "/check",
        data={"subject": PERSON, "measure": "spc.flights", "purpose": "employment_screening"},
    )
    assert refused.status_code == 422 and "not a declared purpose" in refused.text


# -- the dashboard and what-if ------------------------------------------------------------------
def test_the_dashboard_agrees_with_its_json_twin(web_world: World, web: httpx.Client) -> None:
    as_role(web_world, web, "admin")
    page = web.get("/dashboard").text
    twin = httpx.get(
        f"{web_world.url}/v1/operator/overview",
        headers={"Authorization": f"Bearer {web_world.tokens['admin']}"},
    ).json()
    for arrival in twin["arrivals"]:
        assert f"<td>{arrival['provider']}</td>" in page
    snapshot = twin["snapshots"][0]
    assert snapshot["subjects"] > 0 and f"{snapshot['subjects']:,} subjects" in page
    assert page.count("<svg") >= 2


def test_the_operator_overview_is_for_admins_only(web_world: World) -> None:
    url = f"{web_world.url}/v1/operator/overview"
    assert httpx.get(url).status_code == 401
    subject = {"Authorization": f"Bearer {web_world.tokens['subject']}"}
    assert httpx.get(url, headers=subject).status_code == 403


def candidate(base: int = 950) -> str:
    return (
        shipped_text("rongcheng")
        .replace('version = "1.0.0"', 'version = "9.9.9"', 1)
        .replace("base = 1000", f"base = {base}", 1)
    )


def test_what_if_shows_how_grades_would_move(web_world: World, web: httpx.Client) -> None:
    assert "base = 1000" in shipped_text("rongcheng")
    as_role(web_world, web, "admin")
    page = web.post("/dashboard/whatif", data={"text": candidate()})
    assert page.status_code == 200
    changed = re.search(r'id="changed">([\d,]+) of ([\d,]+) subjects', page.text)
    assert changed is not None and int(changed.group(1).replace(",", "")) > 0
    assert 'id="transitions"' in page.text and page.text.count("<svg") >= 1
    twin = httpx.post(
        f"{web_world.url}/v1/operator/whatif",
        json={"rulebook": candidate()},
        headers={"Authorization": f"Bearer {web_world.tokens['admin']}"},
        timeout=60,
    )
    assert twin.status_code == 200
    assert f"{twin.json()['changed']:,} of" in page.text
    assert sum(m["subjects"] for m in twin.json()["moves"]) == twin.json()["subjects"]


def test_what_if_takes_an_uploaded_file(web_world: World, web: httpx.Client) -> None:
    as_role(web_world, web, "admin")
    page = web.post(
        "/dashboard/whatif",
        data={"text": "ignored"},
        files={"upload": ("mine.toml", candidate(900).encode(), "text/plain")},
    )
    assert page.status_code == 200 and "9.9.9 (candidate)" in page.text


def test_what_if_refuses_a_rulebook_that_crosses_a_line(
    web_world: World, web: httpx.Client
) -> None:
    as_role(web_world, web, "admin")
    crossing = candidate() + (
        '\n[types."petition.filed"]\ntitle = "Filed a petition"\ncategory = "petition"\n'
        'polarity = "negative"\nkinds = "any"\npoints = -5\n'
    )
    page = web.post("/dashboard/whatif", data={"text": crossing})
    assert page.status_code == 422 and 'id="problems"' in page.text
    assert "crosses the line &#34;political opinion or activity&#34;" in page.text
    twin = httpx.post(
        f"{web_world.url}/v1/operator/whatif",
        json={"rulebook": crossing},
        headers={"Authorization": f"Bearer {web_world.tokens['admin']}"},
    )
    assert twin.status_code == 422 and twin.json()["code"] == "rulebook_refused"


# -- languages ----------------------------------------------------------------------------------
def test_the_language_switch_remembers_chinese(web: httpx.Client) -> None:
    switched = web.get("/language/zh", params={"next": "/organisations"})
    assert switched.status_code == 303 and switched.headers["location"] == "/organisations"
    page = web.get("/organisations").text
    assert '<html lang="zh-Hans">' in page and "机构信用查询" in page


def test_a_chinese_browser_gets_chinese_pages(web_world: World) -> None:
    page = httpx.get(web_world.url + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert '<html lang="zh-Hans">' in page


def test_both_catalogs_have_the_same_messages_and_placeholders() -> None:
    def load(lang: str) -> dict[str, str]:
        folder = resources.files("socialcredit.web").joinpath("messages")
        loaded: dict[str, str] = json.loads(folder.joinpath(f"{lang}.json").read_text("utf-8"))
        return loaded

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    en, zh = load("en"), load("zh")
    assert set(en) == set(zh)
    assert {k: fields(v) for k, v in en.items()} == {k: fields(v) for k, v in zh.items()}


# -- helpers ------------------------------------------------------------------------------------
def _audit_rows(web_world: World) -> list[Any]:
    with web_world.registry.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.seq)))


def _audit_count(web_world: World) -> int:
    return len(_audit_rows(web_world))


def test_a_subject_applies_for_repair_through_the_form(web_world: World, web: httpx.Client) -> None:
    as_role(web_world, web, "subject")
    page = web.get("/me").text
    assert 'href="/me/repairs/new?provider=court.rongcheng&amp;ref=D-1"' in page
    form = web.get("/me/repairs/new", params={"provider": "court.rongcheng", "ref": "D-1"})
    assert form.status_code == 200 and 'name="commitment"' in form.text
    applied = web.post(
        "/me/repairs",
        data={
            "provider": "court.rongcheng",
            "ref": "D-1",
            "commitment": "The judgment was paid in full on 2026-06-01.",
        },
    )
    assert applied.status_code == 303, applied.text
    twin = httpx.get(
        f"{web_world.url}/v1/subjects/{PERSON}/repairs",
        headers={"Authorization": f"Bearer {web_world.tokens['subject']}"},
    ).json()
    assert [(c["ref"], c["status"]) for c in twin] == [("D-1", "open")]
    again = web.post(
        "/me/repairs",
        data={"provider": "court.rongcheng", "ref": "D-1", "commitment": "Again."},
    )
    assert again.status_code == 422 and 'id="case-problem"' in again.text


def test_a_subject_downloads_the_credit_report_to_keep(web_world: World, web: httpx.Client) -> None:
    as_role(web_world, web, "subject")
    assert 'href="/me/report.pdf"' in web.get("/me").text
    pdf = web.get("/me/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    html = web.get("/me/report.html")
    assert html.status_code == 200 and "110105********002X" in html.text
    assert web.get("/me/report.exe").status_code == 404


@pytest.mark.parametrize(
    ("role", "paths"),
    [
        ("subject", ["/me", "/me/disputes/new?provider=police.traffic&ref=T-0001"]),
        ("admin", ["/dashboard", "/dashboard/whatif"]),
        ("consumer", ["/check"]),
    ],
)
def test_every_keyed_page_renders_in_chinese(
    web_world: World, web: httpx.Client, role: str, paths: list[str]
) -> None:
    web.get("/language/zh")
    as_role(web_world, web, role)
    for path in paths:
        page = web.get(path)
        assert page.status_code == 200 and '<html lang="zh-Hans">' in page.text, path
