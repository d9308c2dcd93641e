"""A real API server over a small real registry, with one key per role, for the API's audits.

``serving`` runs uvicorn on a free loopback port in a thread. ``api_world`` builds a registry
on SQLite with two persons (one a listed debtor), an organisation with a published penalty, a
dispute, a review and a repair case, and keys: one per role, a second subject's, an expired
and a revoked one; then serves it. The role and schema tests share one world per module.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from socialcredit.api.app import create_app
from socialcredit.demo import DEMO_PROVIDERS
from socialcredit.identifiers import SubjectKind
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.store.registry import Registry
from tests.conftest import ORG, PERSON, PERSON_2, TODAY, record

PERSON_NAME = "Wang Xiaoming"
PERSON_2_NAME = "Li Lei"
ORG_NAME = "Example Co."
INSTITUTION = "12100000400000624D"  # a public institution's USCC (category 1)
DEBTOR = record(
    provider="court.rongcheng",
    ref="D-1",
    type="court.dishonest_debtor",
    subject={"kind": "person", "id": PERSON, "name": PERSON_NAME},
    occurred_on="2026-01-10",
    legal_basis="Civil Procedure Law art. 255",
)
RECORDS = [
    DEBTOR,
    record(subject={"kind": "person", "id": PERSON, "name": PERSON_NAME}),
    record(ref="T-2", subject={"kind": "person", "id": PERSON_2, "name": PERSON_2_NAME}),
    record(
        provider="market.weihai",
        ref="M-1",
        type="penalty.fine_low",
        subject={"kind": "organisation", "id": ORG, "name": ORG_NAME},
        occurred_on="2026-02-01",
        legal_basis="Product Quality Law art. 49",
    ),
]
#: Every caller the audits try: the public, one key per role, and keys that do not work.
CALLERS = (
    "public",
    "admin",
    "provider",
    "consumer",
    "subject",
    "auditor",
    "invalid",
    "revoked",
    "expired",
)


@contextmanager
def serving(registry: Registry) -> Iterator[str]:
    """Serve ``registry`` on a free loopback port in a thread; yield the base URL.

    The socket is bound before the server starts, so there is no race for the port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(registry), log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class ApiWorld:
    url: str
    registry: Registry
    client: httpx.Client
    tokens: dict[str, str]  # caller -> token ("other_subject" too)
    cases: dict[str, str]  # "dispute", "review", "repair" -> a case id of PERSON's

    def headers(self, who: str) -> dict[str, str]:
        return {} if who == "public" else {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, method: str, path: str, who: str, body: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=body, headers=self.headers(who))


@contextmanager
def _clock(day: date) -> Iterator[None]:
    previous = os.environ.get("SCS_CLOCK")
    os.environ["SCS_CLOCK"] = day.isoformat()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SCS_CLOCK", None)
        else:
            os.environ["SCS_CLOCK"] = previous


def _keys(registry: Registry) -> dict[str, str]:
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
        "revoked": keys.create(registry, Role.ADMIN),
    }
    with _clock(date(2026, 1, 1)):  # made while it was valid; today it has expired
        made["expired"] = keys.create(registry, Role.ADMIN, expires=date(2026, 6, 30))
    keys.revoke(registry, made["revoked"][0].id)
    tokens = {who: token for who, (_, token) in made.items()}
    tokens["invalid"] = "scs_not-a-key"
    return tokens


def _cases(world: ApiWorld) -> dict[str, str]:
    """A dispute (of the traffic fine), a review (of the debtor list) and a repair (of the
    debtor record), opened by the subject, so the case endpoints have real cases."""
    opened = {
        "dispute": ("disputes", {"provider": "police.traffic", "ref": "T-0001", "reason": "no"}),
        "review": (
            "reviews",
            {"rulebook": "rongcheng", "list": "court_dishonest_debtors", "reason": "paid"},
        ),
        "repair": (
            "repairs",
            {"provider": "court.rongcheng", "ref": "D-1", "commitment": "I paid in full"},
        ),
    }
    ids = {}
    for kind, (path, body) in opened.items():
        response = world.call("POST", f"/v1/subjects/{PERSON}/{path}", "subject", body)
        assert response.status_code == 201, response.text
        ids[kind] = response.json()["id"]
    return ids


@contextmanager
def api_world(directory: Path) -> Iterator[ApiWorld]:
    """The small world above, served; everything happens on the tests' day."""
    with _clock(TODAY):
        registry = Registry.init(f"sqlite:///{directory / 'api.db'}", directory / "secret.key")
        for name, patterns in DEMO_PROVIDERS:
            registry.add_provider(name, patterns, actor="test")
        validator = registry.validator()
        registry.append([validator.from_json(r) for r in RECORDS])
        registry.append(
            [
                validator.from_json(
                    record(
                        provider="market.weihai",
                        ref="M-2",
                        type="penalty.fine_low",
                        subject={"kind": "institution", "id": INSTITUTION, "name": "City Hospital"},
                        occurred_on="2026-02-01",
                    )
                )
            ]
        )
        tokens = _keys(registry)
        with serving(registry) as url, httpx.Client(base_url=url, timeout=30) as client:
            world = ApiWorld(url, registry, client, tokens, {})
            world.cases.update(_cases(world))
            yield world
