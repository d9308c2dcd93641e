"""The HTTP API over real HTTP: every role against every endpoint, bad keys, bad input, audit.

Each test starts uvicorn on loopback over a registry on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from socialcredit.api import records as records_router
from socialcredit.identifiers import SubjectKind
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.store.registry import Registry
from socialcredit.store.schema import audit_log
from tests.api_server import serving
from tests.conftest import ORG, PERSON, PERSON_2, record

UNKNOWN_ORG = "91350100M000100Y43"  # a valid USCC nobody filed a record about
DEBTOR = record(
    provider="court.rongcheng",
    ref="D-1",
    type="court.dishonest_debtor",
    occurred_on="2026-01-10",
    legal_basis="Civil Procedure Law art. 255",
)
OTHER = record(ref="T-2", subject={"kind": "person", "id": PERSON_2})
FINE = record(
    provider="market.weihai",
    ref="M-1",
    type="penalty.fine_low",
    subject={"kind": "organisation", "id": ORG, "name": "Example Co."},
    occurred_on="2026-02-01",
    legal_basis="Product Quality Law art. 49",
)
WARNING = FINE | {"ref": "M-2", "type": "penalty.warning"}
CHECK = f"/v1/checks?subject={PERSON}&measure=spc.flights&purpose=travel_booking"


@dataclass
class World:
    registry: Registry
    client: httpx.Client
    tokens: dict[str, str]  # role (and "other_subject") -> token
    ids: dict[str, str]

    def get(self, path: str, who: str | None = None) -> httpx.Response:
        return self.client.get(path, headers=self.auth(who))

    def post(self, path: str, body: Any, who: str | None = "provider") -> httpx.Response:
        return self.client.post(path, json=body, headers=self.auth(who))

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def world(registry: Registry) -> Iterator[World]:
    validator = registry.validator()
    registry.append([validator.from_json(r) for r in (DEBTOR, record(), OTHER, FINE, WARNING)])
    made = {
        "admin": keys.create(registry, Role.ADMIN),
        "provider": keys.create(registry, Role.PROVIDER, provider="police.traffic"),
        "consumer": keys.create(
            registry, Role.CONSUMER, measures=["spc.flights", "spc.luxury_venues"]
        ),
        "subject": keys.create(registry, Role.SUBJECT, subject=(SubjectKind.PERSON, PERSON)),
        "other_subject": keys.create(
            registry, Role.SUBJECT, subject=(SubjectKind.PERSON, PERSON_2)
        ),
        "auditor": keys.create(registry, Role.AUDITOR),
    }
    with serving(registry) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield World(
            registry,
            client,
            {role: token for role, (_, token) in made.items()},
            {role: key.id for role, (key, _) in made.items()},
        )


def audit_rows(registry: Registry) -> list[Any]:
    with registry.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.seq)))


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["message"]
    assert "Traceback" not in response.text
    return body


# -- roles ------------------------------------------------------------------------------------
ROLES = ("public", "admin", "provider", "consumer", "subject", "auditor")
#: endpoint -> the roles it serves; every other keyed role gets 403, the public 401.
ENDPOINTS: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/records"): {"provider"},
    ("GET", CHECK): {"consumer"},
    ("GET", f"/v1/subjects/{PERSON}/report"): {"subject", "admin"},
    ("GET", f"/v1/organisations/{ORG}"): set(ROLES),
    ("GET", "/v1/me/access-log"): {"subject"},
    ("GET", "/v1/audit"): {"auditor"},
    ("GET", "/healthz"): set(ROLES),
}


def test_each_role_can_do_exactly_what_it_is_for(world: World) -> None:
    wrong = []
    for (method, path), allowed in ENDPOINTS.items():
        for role in ROLES:
            who = None if role == "public" else role
            if method == "POST":
                response = world.post(path, record(ref=f"R-{role}"), who)
            else:
                response = world.get(path, who)
            expected = 200 if role in allowed else 401 if role == "public" else 403
            if response.status_code != expected:
                wrong.append((method, path, role, expected, response.status_code))
            if response.status_code in (401, 403):
                assert response.json()["code"] in {"key_required", "wrong_role"}
    assert not wrong, wrong


# -- keys -------------------------------------------------------------------------------------
def test_missing_malformed_unknown_revoked_and_expired_keys_get_401(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_error(world.get("/v1/me/access-log"), 401, "key_required")
    for header in ("Basic abc", "Bearer", "Bearer scs_not-a-key"):
        response = world.client.get("/v1/me/access-log", headers={"Authorization": header})
        assert_error(response, 401, "invalid_key")
        assert response.headers["www-authenticate"] == "Bearer"
    # a key that does not work is refused even where the public would be let in
    public = world.client.get(f"/v1/organisations/{ORG}", headers={"Authorization": "Bearer x"})
    assert_error(public, 401, "invalid_key")

    keys.revoke(world.registry, world.ids["subject"])
    assert (
        "revoked"
        in assert_error(world.get("/v1/me/access-log", "subject"), 401, "invalid_key")["message"]
    )

    _, token = keys.create(
        world.registry,
        Role.SUBJECT,
        subject=(SubjectKind.PERSON, PERSON_2),
        expires=date(2026, 11, 30),
    )
    world.tokens["short"] = token
    assert world.get("/v1/me/access-log", "short").status_code == 200
    monkeypatch.setenv("SCS_CLOCK", "2026-12-01")
    assert (
        "expired"
        in assert_error(world.get("/v1/me/access-log", "short"), 401, "invalid_key")["message"]
    )


# -- records ----------------------------------------------------------------------------------
def test_a_provider_batch_gets_a_result_per_record_and_the_good_ones_land(world: World) -> None:
    batch = [
        record(ref="T-10"),
        DEBTOR | {"ref": "D-9"},  # another provider's record
        record(ref="T-11", provider="police.traffic", type="court.dishonest_debtor"),
        record(ref="T-12", subject={"kind": "person", "id": "110105194912310021"}),
        record(),  # stored by the fixture already
        "not an object",
    ]
    response = world.post("/v1/records", batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
        "rejected",
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 4)
    fields = [{e["field"] for e in r["errors"]} for r in body["results"]]
    assert fields[1] == {"provider"} and fields[2] == {"type"} and fields[3] == {"subject.id"}
    assert world.registry.counts()["records"] == 6

    again = world.post("/v1/records", record(ref="T-10")).json()
    assert again["results"] == [{"index": 0, "status": "duplicate", "errors": []}]


def test_a_provider_allowed_more_types_while_the_server_runs_submits_them_at_once(
    world: World,
) -> None:
    """The server keeps what validation has learnt between batches; a change of the
    providers (an operator action) must still be obeyed by the very next batch."""
    other_type = record(ref="T-20", type="court.dishonest_debtor")
    first = world.post("/v1/records", other_type).json()
    assert first["results"][0]["status"] == "rejected"
    world.registry.add_provider("police.traffic", ["traffic.*", "court.*"], actor="test")
    again = world.post("/v1/records", other_type).json()
    assert again["results"] == [{"index": 0, "status": "accepted", "errors": []}]


def test_an_oversized_batch_or_body_is_refused_with_413(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = assert_error(world.post("/v1/records", [{}] * 10_001), 413, "batch_too_large")
    assert "10,000" in body["message"]
    monkeypatch.setattr(records_router, "MAX_BODY", 1_000)
    assert_error(world.post("/v1/records", [record()] * 20), 413, "body_too_large")
    assert world.registry.counts()["records"] == 5


def test_malformed_json_is_a_400_json_error(world: World) -> None:
    response = world.client.post(
        "/v1/records",
        content=b'{"provider": ',
        headers={**world.auth("provider"), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")
    assert_error(world.get("/v1/no-such-thing"), 404, "not_found")


# -- checks -----------------------------------------------------------------------------------
def test_the_access_log_shows_every_check_once_indexed_or_not(world: World) -> None:
    """Over HTTP, across the audit log's subject index (``store.audit_index``): a batch check
    and a single check before a generation is built, one after; the subject sees each once,
    newest first, and the other subject sees only its own."""
    from socialcredit.store import audit_index

    def mine(who: str) -> list[str]:
        entries = world.get("/v1/me/access-log", who).json()["entries"]
        return [entry["action"] + ":" + entry["result"] for entry in entries]

    body = {"measure": "spc.flights", "purpose": "travel_booking", "subjects": [PERSON, ORG]}
    assert world.post("/v1/checks", body, "consumer").status_code == 200
    assert world.get(CHECK, "consumer").status_code == 200
    assert mine("subject") == ["check:applies", "check:applies"]  # from the tail
    assert audit_index.build_all(world.registry.engine) == 3
    assert mine("subject") == ["check:applies", "check:applies"]  # from a generation
    assert world.get(CHECK, "consumer").status_code == 200
    assert mine("subject") == ["check:applies"] * 3  # both at once
    assert mine("other_subject") == []
    assert world.registry.verify().ok


def test_a_check_answers_with_legal_basis_and_reasons_after_it_is_audited(world: World) -> None:
    response = world.get(CHECK, "consumer")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["applies"] is True
    assert answer["measure"] == "spc.flights" and answer["rulebook"] == "rongcheng"
    assert answer["lists"] == ["court_dishonest_debtors"]
    assert "Art. 3(1)" in answer["legal_basis"]
    assert answer["since"] == "2026-01-10" and answer["reasons"]
    assert answer["reasons"][0]["code"] == "direct_grade:court.dishonest_debtor"

    (row,) = audit_rows(world.registry)
    assert (row.key_id, row.role, row.action, row.purpose, row.result) == (
        world.ids["consumer"],
        "consumer",
        "check",
        "travel_booking",
        "applies",
    )
    assert PERSON not in str(tuple(row))  # a subject appears by row id, never by number
    seen = world.get("/v1/me/access-log", "subject").json()
    assert seen["since"] == "2025-11-23"
    assert [(e["key"], e["role"], e["action"], e["purpose"]) for e in seen["entries"]] == [
        (world.ids["consumer"], "consumer", "check", "travel_booking")
    ]
    assert world.get("/v1/me/access-log", "other_subject").json()["entries"] == []

    clean = world.get(
        f"/v1/checks?subject={PERSON_2}&measure=spc.flights&purpose=travel_booking", "consumer"
    ).json()
    assert (clean["applies"], clean["lists"], clean["reasons"]) == (False, [], [])
    assert world.registry.verify().ok and world.registry.verify().audit_entries == 2


def test_a_consumer_checks_only_its_measures_for_a_related_declared_purpose(world: World) -> None:
    base = f"/v1/checks?subject={PERSON}"
    assert_error(
        world.get(f"{base}&measure=spc.vehicles&purpose=purchase", "consumer"),
        403,
        "measure_not_allowed",
    )
    unrelated = world.get(f"{base}&measure=spc.luxury_venues&purpose=travel_booking", "consumer")
    assert_error(unrelated, 403, "purpose_unrelated")
    hiring = world.get(f"{base}&measure=spc.flights&purpose=employment_screening", "consumer")
    assert assert_error(hiring, 422, "invalid_request")["errors"][0]["field"] == "purpose"
    bad = world.get(
        "/v1/checks?subject=12345&measure=spc.flights&purpose=travel_booking", "consumer"
    )
    assert assert_error(bad, 422, "invalid_request")["errors"][0]["field"] == "subject"
    missing = world.get("/v1/checks?measure=spc.flights&purpose=travel_booking", "consumer")
    assert assert_error(missing, 422, "invalid_request")["errors"][0]["field"] == "subject"
    assert audit_rows(world.registry) == []  # refused before any subject's data was read


# -- subjects ---------------------------------------------------------------------------------
def test_a_subject_reads_its_own_report_and_a_refused_attempt_is_audited(world: World) -> None:
    own = world.get(f"/v1/subjects/{PERSON}/report", "subject")
    assert own.status_code == 200, own.text
    report = own.json()
    assert report["subject"]["id"] == "110105********002X"  # masked, even for the subject
    assert report["results"][0]["lists"] == ["blacklist", "court_dishonest_debtors"]
    assert {h["ref"] for h in report["history"]} == {"D-1", "T-0001"}

    other = world.get(f"/v1/subjects/{PERSON_2}/report", "subject")
    assert_error(other, 403, "not_your_data")
    refused = world.get("/v1/me/access-log", "other_subject").json()["entries"]
    assert [(e["key"], e["action"], e["result"]) for e in refused] == [
        (world.ids["subject"], "report", "refused")
    ]
    assert world.get(f"/v1/subjects/{PERSON_2}/report", "admin").status_code == 200
    invalid = world.get("/v1/subjects/not-an-id/report", "admin")
    assert assert_error(invalid, 422, "invalid_request")["errors"][0]["field"] == "subject_id"


# -- organisations ----------------------------------------------------------------------------
def test_the_public_sees_an_organisations_grade_lists_and_published_penalties(
    world: World,
) -> None:
    response = world.get(f"/v1/organisations/{ORG}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["uscc"], body["kind"], body["name"]) == (ORG, "organisation", "Example Co.")
    assert body["standings"][0]["rulebook"] == "rongcheng" and body["standings"][0]["grade"]
    assert [p["type"] for p in body["penalties"]] == ["penalty.fine_low"]  # not the warning
    assert audit_rows(world.registry) == []  # organisations are public: no read to log


def test_a_persons_number_gets_the_same_404_whether_or_not_the_person_exists(
    world: World,
) -> None:
    unknown_org = world.get(f"/v1/organisations/{UNKNOWN_ORG}").json()
    on_file = world.get(f"/v1/organisations/{PERSON}")
    not_on_file = world.get("/v1/organisations/110105194912310037")
    assert_error(on_file, 404, "not_found")
    assert on_file.json() == not_on_file.json() == unknown_org
    invalid = world.get("/v1/organisations/ABC")
    assert assert_error(invalid, 422, "invalid_request")["errors"][0]["field"] == "uscc"


# -- the service ------------------------------------------------------------------------------
def test_the_openapi_document_has_the_endpoints_and_the_bearer_scheme(world: World) -> None:
    document = world.get("/openapi.json").json()
    assert {
        "/v1/records",
        "/v1/checks",
        "/v1/subjects/{subject_id}/report",
        "/v1/organisations/{uscc}",
        "/v1/me/access-log",
        "/v1/audit",
        "/healthz",
    } <= set(document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any("person" in path and "search" in path for path in document["paths"])


def test_an_auditor_reads_the_audit_chain_in_order_and_an_edited_entry_is_found(
    world: World,
) -> None:
    world.get(CHECK, "consumer")
    world.get(f"/v1/subjects/{PERSON}/report", "subject")
    report = world.registry.verify()
    assert report.ok and report.audit_entries == 2
    assert report.heads["audit_log"].startswith("2:")
    trail = world.get("/v1/audit?limit=1", "auditor").json()
    assert [(e["seq"], e["action"], e["role"]) for e in trail["entries"]] == [
        (1, "check", "consumer")
    ]
    rest = world.get(f"/v1/audit?after={trail['next']}", "auditor").json()
    assert [(e["seq"], e["action"]) for e in rest["entries"]] == [(2, "report")]
    assert rest["next"] is None and rest["entries"][0]["subject"] == trail["entries"][0]["subject"]
    with world.registry.writer.begin() as conn:
        conn.execute(text("UPDATE audit_log SET purpose = 'rental' WHERE seq = 1"))
    problem = world.registry.verify().problem
    assert problem is not None and (problem.chain, problem.seq) == ("audit_log", 1)
