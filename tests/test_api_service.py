"""The service around the API: metrics without identifiers, rate limits, bounded bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import BaseRoute

from socialcredit import scoring
from socialcredit.api import bodies, checks
from socialcredit.api.app import WHATIF_BODY, create_app
from socialcredit.api.limits import RateLimit
from socialcredit.api.records import MAX_BODY as RECORDS_BODY
from socialcredit.demo import DEMO_PROVIDERS
from socialcredit.identifiers import SubjectKind, mask_resident_id
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.store.registry import Registry
from tests.conftest import ORG, PERSON
from tests.test_api import CHECK, DEBTOR, FINE, assert_error


@dataclass
class Service:
    registry: Registry
    tokens: dict[str, str]

    def client(self, rate_limit: RateLimit | None = None) -> TestClient:
        return TestClient(create_app(self.registry, rate_limit), raise_server_exceptions=False)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def service(sqlite_url: str) -> Service:
    registry = Registry.init(sqlite_url, actor="test")
    for name, patterns in DEMO_PROVIDERS:
        registry.add_provider(name, patterns, actor="test")
    validator = registry.validator()
    registry.append([validator.from_json(r) for r in (DEBTOR, FINE)])
    made = {
        "admin": keys.create(registry, Role.ADMIN),
        "consumer": keys.create(registry, Role.CONSUMER, measures=["spc.flights"]),
        "subject": keys.create(registry, Role.SUBJECT, subject=(SubjectKind.PERSON, PERSON)),
    }
    return Service(registry, {role: token for role, (_, token) in made.items()})


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with service.client() as client:
        yield client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


# -- metrics ------------------------------------------------------------------------------------
def test_metrics_count_requests_by_route_template_and_never_name_a_subject(
    service: Service, client: TestClient
) -> None:
    before = client.get("/metrics").text
    assert client.get(CHECK, headers=service.auth("consumer")).json()["applies"] is True
    report = client.get(f"/v1/subjects/{PERSON}/report", headers=service.auth("subject"))
    assert report.status_code == 200
    assert client.get(f"/nowhere/{PERSON}").status_code == 404
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    for number in (PERSON, mask_resident_id(PERSON), PERSON[:6] + "********"):
        assert number not in after
    for token in service.tokens.values():
        assert token not in after
    requests = "scs_http_requests_total"
    checks = {"method": "GET", "route": "/v1/checks", "status": "200"}
    assert value(after, requests, **checks) == value(before, requests, **checks) + 1
    report_route = {"method": "GET", "route": "/v1/subjects/{subject_id}/report", "status": "200"}
    assert value(after, requests, **report_route) == value(before, requests, **report_route) + 1
    unrouted = {"method": "GET", "route": "unrouted", "status": "404"}
    assert value(after, requests, **unrouted) == value(before, requests, **unrouted) + 1
    assert value(after, "scs_scoring_engine_info", engine=scoring.ENGINE) == 1
    latency = "scs_http_request_duration_seconds_count"
    assert value(after, latency, method="GET", route="/v1/checks") >= 1
    assert value(after, "scs_checks_total", result="applies") == (
        value(before, "scs_checks_total", result="applies") + 1
    )
    for action in ("check", "report"):
        audited = {"action": action, "result": "applies" if action == "check" else "ok"}
        assert value(after, "scs_audit_entries_total", **audited) == (
            value(before, "scs_audit_entries_total", **audited) + 1
        )


def test_metrics_count_submitted_records_by_status(service: Service, client: TestClient) -> None:
    _, token = keys.create(service.registry, Role.PROVIDER, provider="police.traffic")
    before = client.get("/metrics").text
    batch = [DEBTOR | {"provider": "police.traffic"}, {"provider": "police.traffic"}]
    fresh = dict(DEBTOR, provider="police.traffic", ref="T-9", type="traffic.fine_le_500")
    answer = client.post(
        "/v1/records", json=[fresh, *batch], headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    after = client.get("/metrics").text

    name = "scs_records_submitted_total"
    for status in ("accepted", "rejected"):
        assert value(after, name, status=status) > value(before, name, status=status)


def test_metrics_are_outside_the_openapi_document_which_declares_429(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/metrics" not in schema["paths"]
    assert "429" in schema["paths"]["/v1/checks"]["get"]["responses"]
    assert "429" in schema["paths"]["/v1/organisations/{uscc}"]["get"]["responses"]


# -- rate limits ----------------------------------------------------------------------------------
def test_an_empty_bucket_answers_429_with_retry_after_and_refills(service: Service) -> None:
    with service.client(RateLimit(rate=2, burst=2)) as client:
        public = [client.get(f"/v1/organisations/{ORG}") for _ in range(3)]
        assert [r.status_code for r in public[:2]] == [200, 200]
        refused = assert_error(public[2], 429, "rate_limited")
        assert "retry in 1 s" in refused["message"]
        retry_after = int(public[2].headers["retry-after"])
        assert retry_after == 1

        # A key has its own bucket: the public's empty one does not hold it back.
        keyed = [client.get(CHECK, headers=service.auth("consumer")) for _ in range(3)]
        assert [r.status_code for r in keyed] == [200, 200, 429]
        metrics = client.get("/metrics").text
        assert value(metrics, "scs_rate_limited_requests_total", role="consumer") >= 1

        time.sleep(retry_after)
        assert client.get(f"/v1/organisations/{ORG}").status_code == 200
        assert client.get(CHECK, headers=service.auth("consumer")).status_code == 200


def test_a_key_that_does_not_work_is_counted_against_the_address(service: Service) -> None:
    with service.client(RateLimit(rate=1, burst=1)) as client:
        bad = {"Authorization": "Bearer scs_not-a-key"}
        assert_error(client.get(f"/v1/organisations/{ORG}", headers=bad), 401, "invalid_key")
        assert_error(client.get(f"/v1/organisations/{ORG}", headers=bad), 429, "rate_limited")
        assert_error(client.get(f"/v1/organisations/{ORG}"), 429, "rate_limited")


def test_a_rate_of_zero_turns_the_limit_off(service: Service) -> None:
    app = create_app(service.registry, RateLimit(rate=0, burst=1))
    assert app.state.rate_limiter is None
    with TestClient(app) as client:
        assert all(client.get(f"/v1/organisations/{ORG}").status_code == 200 for _ in range(20))


# -- bounded bodies -------------------------------------------------------------------------------
def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every route of the app, the included routers' too (FastAPI keeps them nested)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def body_routes(app: FastAPI) -> list[tuple[str, int]]:
    """Every route that takes a body (a POST), API and web pages, with a path and its limit."""
    limits = {"/v1/records": RECORDS_BODY, "/v1/operator/whatif": WHATIF_BODY}
    limits["/dashboard/whatif"] = WHATIF_BODY
    limits["/v1/checks"] = checks.MAX_BODY
    return [
        (
            route.path.replace("{subject_id}", PERSON).replace("{case_id}", "c_1"),
            limits.get(route.path, bodies.DEFAULT_LIMIT),
        )
        for route in api_routes(app.routes)
        if "POST" in route.methods
    ]


def test_every_endpoint_taking_a_body_refuses_an_oversized_one_unread(
    service: Service, client: TestClient
) -> None:
    routes = body_routes(create_app(service.registry))
    assert len(routes) >= 15 and ("/v1/records", RECORDS_BODY) in routes
    for path, limit in routes:
        oversized = b"x" * (limit + 1)
        answer = client.post(path, content=oversized, headers=service.auth("admin"))
        problem = assert_error(answer, 413, "body_too_large")
        assert f"{limit:,} bytes" in problem["message"], path


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit(
    service: Service, client: TestClient
) -> None:
    def chunks(total: int) -> Iterator[bytes]:
        for _ in range(total // 65_536 + 1):
            yield b" " * 65_536

    cases = [
        ("/v1/operator/whatif", WHATIF_BODY, "application/json"),  # parsed by FastAPI
        (f"/v1/subjects/{PERSON}/disputes", bodies.DEFAULT_LIMIT, "application/json"),  # read
        ("/login", bodies.DEFAULT_LIMIT, "application/x-www-form-urlencoded"),  # a form
    ]
    for path, limit, kind in cases:
        headers = service.auth("admin") | {"Content-Type": kind}
        answer = client.post(path, content=chunks(limit), headers=headers)
        assert_error(answer, 413, "body_too_large")


def test_a_body_within_the_limit_still_lands(service: Service, client: TestClient) -> None:
    answer = client.post(
        f"/v1/subjects/{PERSON}/disputes",
        json={"provider": "court.rongcheng", "ref": "D-1", "reason": "paid in full"},
        headers=service.auth("subject"),
    )
    assert answer.status_code == 201, answer.text
