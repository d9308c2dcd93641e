"""Every caller against every endpoint of the API, over real HTTP.

The endpoints come from the app's own OpenAPI document, so an endpoint added without a row
in ``EXPECTED`` fails here until someone decides who may call it. Callers: the public, one
key per role, and keys that do not work (unknown, revoked, expired).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from socialcredit.api import checks as checks_router
from socialcredit.store.schema import audit_log, ledger
from tests.api_server import (
    CALLERS,
    ORG_NAME,
    PERSON_2_NAME,
    PERSON_NAME,
    ApiWorld,
    api_world,
)
from tests.conftest import ORG, PERSON, PERSON_2, record

ROLES = ("public", "admin", "provider", "consumer", "subject", "auditor")
EVERYONE = frozenset(ROLES)
#: Refusals about the caller, never about the input.
CALLER_CODES = {
    "key_required",
    "invalid_key",
    "wrong_role",
    "not_your_data",
    "measure_not_allowed",
    "purpose_unrelated",
}
RONGCHENG = (
    Path(__file__).parents[1] / "src" / "socialcredit" / "rulebooks" / "rongcheng.toml"
).read_text()
CHECK = f"/v1/checks?subject={PERSON}&measure=spc.flights&purpose=travel_booking"


@dataclass(frozen=True)
class Row:
    """Who may call an endpoint, and a concrete request to try it with (as the subject
    ``PERSON``, on PERSON's cases)."""

    allowed: frozenset[str]
    path: Callable[[ApiWorld], str]
    body: Any = None
    body_optional: bool = False  # the document says the body may be left out


def _at(path: str) -> Callable[[ApiWorld], str]:
    return lambda _world: path


def _case(kind: str, suffix: str = "") -> Callable[[ApiWorld], str]:
    return lambda world: f"/v1/{kind}s/{world.cases[kind]}{suffix}"


SUBJECT_OR_ADMIN = frozenset({"subject", "admin"})
SUBJECT = frozenset({"subject"})
ADMIN = frozenset({"admin"})
DISPUTE = {"provider": "police.traffic", "ref": "T-0001", "reason": "it was not me"}
REPAIR = {"provider": "court.rongcheng", "ref": "D-1", "commitment": "I paid in full"}

#: (method, path in the OpenAPI document) -> who may call it. A role not allowed gets 403
#: (the public: 401 ``key_required``); a key that does not work gets 401 everywhere.
EXPECTED: dict[tuple[str, str], Row] = {
    ("POST", "/v1/records"): Row(frozenset({"provider"}), _at("/v1/records"), record(ref="R-1")),
    ("GET", "/v1/checks"): Row(frozenset({"consumer"}), _at(CHECK)),
    ("POST", "/v1/checks"): Row(
        frozenset({"consumer"}),
        _at("/v1/checks"),
        {"measure": "spc.flights", "purpose": "travel_booking", "subjects": [PERSON, ORG]},
    ),
    ("GET", "/v1/changes"): Row(frozenset({"consumer"}), _at("/v1/changes?since=0")),
    # A ref the provider never filed: tries the endpoint without revoking the world's records.
    ("POST", "/v1/records/{ref}/revocation"): Row(
        frozenset({"provider"}),
        _at("/v1/records/NO-SUCH-REF/revocation"),
        {"reason": "test"},
        body_optional=True,
    ),
    ("GET", "/v1/subjects/{subject_id}/report"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/report")
    ),
    ("GET", "/v1/me/report"): Row(SUBJECT, _at("/v1/me/report")),
    ("GET", "/v1/me/access-log"): Row(SUBJECT, _at("/v1/me/access-log")),
    ("GET", "/v1/organisations/{uscc}"): Row(EVERYONE, _at(f"/v1/organisations/{ORG}")),
    ("GET", "/v1/organisations"): Row(EVERYONE, _at("/v1/organisations?q=Example")),
    ("GET", "/v1/operator/overview"): Row(ADMIN, _at("/v1/operator/overview")),
    ("POST", "/v1/operator/whatif"): Row(
        ADMIN, _at("/v1/operator/whatif"), {"rulebook": RONGCHENG}
    ),
    ("GET", "/v1/audit"): Row(frozenset({"auditor"}), _at("/v1/audit")),
    ("POST", "/v1/subjects/{subject_id}/disputes"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/disputes"), DISPUTE
    ),
    ("GET", "/v1/subjects/{subject_id}/disputes"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/disputes")
    ),
    ("GET", "/v1/disputes"): Row(frozenset({"provider", "admin"}), _at("/v1/disputes")),
    ("POST", "/v1/disputes"): Row(SUBJECT, _at("/v1/disputes"), DISPUTE),
    ("GET", "/v1/disputes/{case_id}"): Row(
        frozenset({"subject", "provider", "admin"}), _case("dispute")
    ),
    ("POST", "/v1/disputes/{case_id}/answer"): Row(
        frozenset({"provider", "admin"}),
        _case("dispute", "/answer"),
        {"outcome": "confirmed", "reasons": "checked against the ticket"},
    ),
    ("POST", "/v1/subjects/{subject_id}/reviews"): Row(
        SUBJECT_OR_ADMIN,
        _at(f"/v1/subjects/{PERSON}/reviews"),
        {"rulebook": "rongcheng", "list": "court_dishonest_debtors", "reason": "paid"},
    ),
    ("GET", "/v1/subjects/{subject_id}/reviews"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/reviews")
    ),
    ("GET", "/v1/reviews/{case_id}"): Row(SUBJECT_OR_ADMIN, _case("review")),
    ("POST", "/v1/reviews/{case_id}/decision"): Row(
        ADMIN, _case("review", "/decision"), {"outcome": "upheld", "reasons": "court list"}
    ),
    ("POST", "/v1/subjects/{subject_id}/repairs"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/repairs"), REPAIR
    ),
    ("GET", "/v1/subjects/{subject_id}/repairs"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/repairs")
    ),
    ("POST", "/v1/repairs"): Row(SUBJECT, _at("/v1/repairs"), REPAIR),
    ("GET", "/v1/repairs/{case_id}"): Row(SUBJECT_OR_ADMIN, _case("repair")),
    ("POST", "/v1/repairs/{case_id}/decision"): Row(
        ADMIN, _case("repair", "/decision"), {"approve": False, "reasons": "no receipt"}
    ),
    ("POST", "/v1/subjects/{subject_id}/deletions"): Row(
        SUBJECT_OR_ADMIN,
        _at(f"/v1/subjects/{PERSON}/deletions"),
        {"provider": "police.traffic", "ref": "T-0001"},
    ),
    ("GET", "/v1/subjects/{subject_id}/notices"): Row(
        SUBJECT_OR_ADMIN, _at(f"/v1/subjects/{PERSON}/notices")
    ),
    ("GET", "/v1/me/notices"): Row(SUBJECT, _at("/v1/me/notices")),
    ("GET", "/healthz"): Row(EVERYONE, _at("/healthz")),
}

#: How a person can appear in an answer: number, masked number, name.
PERSON_TRACES = {
    PERSON: (PERSON, "110105********002X", PERSON_NAME),
    PERSON_2: (PERSON_2, "371082********1239", PERSON_2_NAME),
}
#: What a stack trace or a raw exception would leave in an answer.
EXCEPTION_TEXT = re.compile(
    r"Traceback|File \"|line \d+, in|sqlalchemy|psycopg|sqlite3|Exception\b|[A-Z][a-z]+Error\b"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    with api_world(tmp_path_factory.mktemp("api")) as built:
        yield built


def outcome(response: httpx.Response) -> str:
    """``allowed`` (2xx, or a 4xx about the input), ``401`` or ``403``, or what went wrong."""
    if response.status_code < 300:
        return "allowed"
    body = response.json()
    if response.status_code in (401, 403) or body.get("code") in CALLER_CODES:
        return f"{response.status_code} {body['code']}"
    if response.status_code < 500:
        return "allowed"
    return f"{response.status_code} {body.get('code')}"


def expected(row: Row, caller: str) -> set[str]:
    if caller in ("invalid", "revoked", "expired"):
        return {"401 invalid_key"}
    if caller in row.allowed:
        return {"allowed"}
    if caller == "public":
        return {"401 key_required"}
    return {"403 wrong_role"}


def assert_clean(response: httpx.Response) -> None:
    """JSON (or the report's own formats), and no stack trace or exception text."""
    media = response.headers["content-type"]
    if response.status_code >= 400:
        assert media.startswith("application/json"), media
        body = response.json()
        assert set(body) <= {"code", "message", "errors"} and body["code"] and body["message"]
        assert not EXCEPTION_TEXT.search(response.text), response.text


def test_every_endpoint_of_the_app_has_a_row_in_the_expectations(world: ApiWorld) -> None:
    document = world.client.get("/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    missing = sorted(served - set(EXPECTED))
    assert not missing, (
        f"endpoints without a row in EXPECTED (tests/test_api_roles.py): {missing}; "
        "add one saying which roles may call each"
    )
    stale = sorted(set(EXPECTED) - served)
    assert not stale, f"rows in EXPECTED for endpoints the app no longer serves: {stale}"


@pytest.mark.parametrize("endpoint", list(EXPECTED), ids=" ".join)
def test_each_caller_gets_what_its_role_allows(world: ApiWorld, endpoint: tuple[str, str]) -> None:
    method, _ = endpoint
    row = EXPECTED[endpoint]
    path = row.path(world)
    wrong = []
    for caller in CALLERS:
        response = world.call(method, path, caller, row.body)
        got = outcome(response)
        if got not in expected(row, caller):
            wrong.append(f"{caller}: expected {expected(row, caller)}, got {got}: {response.text}")
        if response.status_code == 401:
            assert response.headers.get("www-authenticate") == "Bearer", caller
        assert_clean(response)
        if response.status_code in (401, 403):  # a refusal says nothing about anyone
            for traces in PERSON_TRACES.values():
                assert not any(t in response.text for t in traces), response.text
    assert not wrong, "\n".join(wrong)


# -- persons are never listed or searched --------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        PERSON_NAME,
        "Wang",
        "Li Lei",
        PERSON,
        PERSON_2,
        PERSON[:10],
        "110105********002X",
        "%%",
        "__",
        "' OR 1=1 --",
    ],
)
def test_the_organisation_search_never_finds_a_person(world: ApiWorld, query: str) -> None:
    for caller in ROLES:
        response = world.client.get(
            "/v1/organisations", params={"q": query}, headers=world.headers(caller)
        )
        assert response.status_code == 200, response.text
        found = response.json()["organisations"]
        assert all(o["kind"] != "person" for o in found), found
        shown = json.dumps(found, ensure_ascii=False)  # the query itself is echoed back
        for traces in PERSON_TRACES.values():
            assert not any(t in shown for t in traces), found


def test_the_organisation_search_finds_organisations_and_institutions(world: ApiWorld) -> None:
    by_name = world.client.get("/v1/organisations", params={"q": "example"}).json()
    assert [(o["uscc"], o["name"]) for o in by_name["organisations"]] == [(ORG, ORG_NAME)]
    hospital = world.client.get("/v1/organisations", params={"q": "Hospital"}).json()
    assert [o["kind"] for o in hospital["organisations"]] == ["institution"]
    by_code = world.client.get("/v1/organisations", params={"q": ORG}).json()
    assert [o["uscc"] for o in by_code["organisations"]] == [ORG]


def test_no_answer_names_more_than_one_person(world: ApiWorld) -> None:
    """No route lists persons: whatever any key reads, at most one person shows in it, and
    the public's answers show none."""
    for (method, _), row in EXPECTED.items():
        if method != "GET":
            continue
        for caller in ROLES:
            text = world.call(method, row.path(world), caller).text
            shown = [p for p, traces in PERSON_TRACES.items() if any(t in text for t in traces)]
            assert len(shown) <= 1, (row.path(world), caller, shown)
            if caller == "public":
                assert shown == [], (row.path(world), shown)


# -- a subject's key reaches its own subject only --------------------------------------------------
SUBJECT_PATHS = [
    ("GET", "report", None),
    ("GET", "disputes", None),
    ("POST", "disputes", DISPUTE | {"ref": "T-2"}),
    ("GET", "reviews", None),
    ("POST", "reviews", {"rulebook": "rongcheng", "list": "blacklist", "reason": "wrong"}),
    ("GET", "repairs", None),
    ("POST", "repairs", REPAIR),
    ("POST", "deletions", {"provider": "police.traffic", "ref": "T-2"}),
    ("GET", "notices", None),
]


@pytest.mark.parametrize(("method", "area", "body"), SUBJECT_PATHS)
def test_a_subject_key_cannot_reach_another_subjects_data(
    world: ApiWorld, method: str, area: str, body: Any
) -> None:
    before = _audit_count(world)
    response = world.call(method, f"/v1/subjects/{PERSON}/{area}", "other_subject", body)
    assert (response.status_code, response.json()["code"]) == (403, "not_your_data")
    for trace in (*PERSON_TRACES[PERSON], "D-1", "T-0001", "court_dishonest_debtors"):
        assert trace not in response.text
    with world.registry.engine.connect() as conn:
        last = conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()
    assert _audit_count(world) == before + 1 and last.result == "refused"  # PERSON sees it


@pytest.mark.parametrize("kind", ["dispute", "review", "repair"])
def test_another_subjects_case_is_as_unknown_as_a_missing_one(world: ApiWorld, kind: str) -> None:
    theirs = world.call("GET", f"/v1/{kind}s/{world.cases[kind]}", "other_subject")
    missing = world.call("GET", f"/v1/{kind}s/nosuchcase", "other_subject")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["code"] == missing.json()["code"] == "no_case"
    assert (
        theirs.json()["message"].replace(world.cases[kind], "nosuchcase")
        == (missing.json()["message"])
    )


# -- bad input: precise errors about the input ---------------------------------------------------
def test_a_provider_cannot_submit_another_providers_types_and_nothing_lands(
    world: ApiWorld,
) -> None:
    before = _ledger_count(world)
    theirs = record(ref="R-court", type="court.dishonest_debtor")
    response = world.call("POST", "/v1/records", "provider", theirs)
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["status"] == "rejected"
    assert [e["field"] for e in result["errors"]] == ["type"]
    assert "court.dishonest_debtor" in result["errors"][0]["reason"]
    assert _ledger_count(world) == before


def test_a_consumer_is_refused_a_measure_it_does_not_run_even_one_nobody_defines(
    world: ApiWorld,
) -> None:
    before = _audit_count(world)
    for measure in ("spc.vehicles", "spc.no_such_measure"):
        response = world.call(
            "GET", f"/v1/checks?subject={PERSON}&measure={measure}&purpose=purchase", "consumer"
        )
        assert (response.status_code, response.json()["code"]) == (403, "measure_not_allowed")
    assert _audit_count(world) == before  # refused before anyone's data was reached


def test_a_body_that_is_neither_a_record_nor_a_batch_is_a_422(world: ApiWorld) -> None:
    before = _ledger_count(world)
    for body in (b'"T-0001"', b"42", b"null", b"true"):
        response = world.client.post(
            "/v1/records",
            content=body,
            headers={**world.headers("provider"), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (body, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert _ledger_count(world) == before


def test_a_batch_of_10000_is_taken_and_10001_refused_unread(world: ApiWorld) -> None:
    before = _ledger_count(world)
    over = world.call("POST", "/v1/records", "provider", [record()] * 10_001)
    assert (over.status_code, over.json()["code"]) == (413, "batch_too_large")
    assert _ledger_count(world) == before
    full = world.call("POST", "/v1/records", "provider", [{}] * 10_000)
    assert full.status_code == 200 and full.json()["rejected"] == 10_000


def test_a_page_after_a_seq_no_database_holds_is_a_422_not_a_fault(world: ApiWorld) -> None:
    response = world.call("GET", f"/v1/audit?after={2**64}", "auditor")
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["after"]
    last = world.call("GET", f"/v1/audit?after={2**63 - 1}", "auditor")
    assert last.json() == {"entries": [], "next": None}


BAD_PERSON = PERSON[:-1] + "1"  # the check character is X
BAD_ORG = ORG[:-1] + "M"


@pytest.mark.parametrize(
    ("method", "path", "who", "field"),
    [
        (
            "GET",
            f"/v1/checks?subject={BAD_PERSON}&measure=spc.flights&purpose=travel_booking",
            "consumer",
            "subject",
        ),
        (
            "GET",
            f"/v1/checks?subject={BAD_ORG}&measure=spc.flights&purpose=travel_booking",
            "consumer",
            "subject",
        ),
        ("GET", f"/v1/subjects/{BAD_PERSON}/report", "admin", "subject_id"),
        ("GET", f"/v1/subjects/{BAD_ORG}/report", "admin", "subject_id"),
        ("GET", f"/v1/subjects/{BAD_PERSON}/disputes", "admin", "subject_id"),
        ("POST", f"/v1/subjects/{BAD_PERSON}/disputes", "admin", "subject_id"),
        ("GET", f"/v1/subjects/{BAD_PERSON}/notices", "subject", "subject_id"),
        ("GET", f"/v1/organisations/{BAD_ORG}", "public", "uscc"),
    ],
)
def test_an_identifier_with_a_wrong_check_character_is_a_422_naming_the_field(
    world: ApiWorld, method: str, path: str, who: str, field: str
) -> None:
    body = DISPUTE if method == "POST" else None
    response = world.call(method, path, who, body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["code"] == "invalid_request"
    assert [e["field"] for e in answer["errors"]] == [field]
    assert "check" in answer["errors"][0]["reason"]
    assert BAD_PERSON not in response.text  # a number is masked even when it is wrong


POSTS = [(m, p) for (m, p) in EXPECTED if m == "POST"]


@pytest.mark.parametrize("endpoint", POSTS, ids=" ".join)
def test_a_body_that_is_not_json_is_a_400_on_every_post(
    world: ApiWorld, endpoint: tuple[str, str]
) -> None:
    row = EXPECTED[endpoint]
    who = sorted(row.allowed)[0]
    for junk in (b'{"provider": ', b"\xff\xfe", b"[1, 2,]", b"{'a': 1}"):
        response = world.client.post(
            row.path(world),
            content=junk,
            headers={**world.headers(who), "Content-Type": "application/json"},
        )
        assert (response.status_code, response.json()["code"]) == (400, "malformed_json"), (
            junk,
            response.text,
        )
        assert_clean(response)
    empty = world.client.post(row.path(world), headers=world.headers(who))
    if row.body_optional:  # no body is a request like any other: here, for an unknown ref
        assert (empty.status_code, empty.json()["code"]) == (404, "no_record"), empty.text
    elif empty.status_code == 422:  # a body the endpoint's schema requires is missing
        assert [e["field"] for e in empty.json()["errors"]] == ["body"], empty.text
    else:
        assert (empty.status_code, empty.json()["code"]) == (400, "malformed_json"), empty.text


def test_a_fault_of_the_registry_is_a_500_without_its_text(
    world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> Any:
        raise RuntimeError(f"sqlalchemy.exc.OperationalError near subjects.key for {PERSON}")

    monkeypatch.setattr(checks_router, "defined_measures", broken)
    response = world.call("GET", CHECK, "consumer")
    assert response.status_code == 500
    assert response.json() == {
        "code": "internal_error",
        "message": "the registry could not answer; the error is logged",
        "errors": [],
    }
    assert PERSON not in response.text and not EXCEPTION_TEXT.search(response.text)


def _audit_count(world: ApiWorld) -> int:
    with world.registry.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def _ledger_count(world: ApiWorld) -> int:
    with world.registry.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger)).scalar_one())
