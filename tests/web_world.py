"""A small demo city with known subjects, keys and a server, for the web tests and screenshots.

Built once per test session (the demo city, then a few records whose subjects the tests
know by number and name: a listed debtor, a company with published penalties, and a company
with a hostile name), served by uvicorn on a free loopback port. ``docs/screenshots.py``
uses the same world, so the screenshots show what the tests check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from socialcredit.demo_registry import build_demo
from socialcredit.identifiers import SubjectKind
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.store.registry import Registry
from tests.api_server import serving
from tests.conftest import ORG, PERSON, TODAY, record
from tests.test_api import UNKNOWN_ORG

PERSON_NAME = "Wang Xiaoming"
ORG_NAME = "Example Trading Co., Ltd."
HOSTILE_NAME = "<script>alert('x')</script> Evil Co."
WORLD_RECORDS = [
    record(
        provider="court.rongcheng",
        ref="D-1",
        type="court.dishonest_debtor",
        subject={"kind": "person", "id": PERSON, "name": PERSON_NAME},
        occurred_on="2026-01-10",
        legal_basis="Civil Procedure Law art. 255",
    ),
    record(subject={"kind": "person", "id": PERSON, "name": PERSON_NAME}),
    record(
        provider="market.weihai",
        ref="M-1",
        type="penalty.fine_low",
        subject={"kind": "organisation", "id": ORG, "name": ORG_NAME},
        occurred_on="2026-02-01",
        legal_basis="Product Quality Law art. 49",
    ),
    record(
        provider="market.weihai",
        ref="M-2",
        type="permit.inspection_failed",
        subject={"kind": "organisation", "id": ORG, "name": ORG_NAME},
        occurred_on="2026-03-01",
        legal_basis="Administrative Licensing Law art. 61",
        amount=None,
    ),
    record(
        provider="market.weihai",
        ref="M-3",
        type="penalty.fine_low",
        subject={"kind": "organisation", "id": UNKNOWN_ORG, "name": HOSTILE_NAME},
        occurred_on="2026-04-01",
        legal_basis="Product Quality Law art. 49",
    ),
]


@dataclass(frozen=True)
class World:
    url: str
    registry: Registry
    tokens: dict[str, str]  # role -> token


def build(directory: Path) -> Registry:
    """The demo city plus the known subjects, in ``directory``, as of the tests' day."""
    previous = os.environ.get("SCS_CLOCK")
    os.environ["SCS_CLOCK"] = TODAY.isoformat()
    try:
        url = f"sqlite:///{directory / 'web.db'}"
        secret = directory / "secret.key"
        build_demo(url, secret, people=400, organisations=80, institutions=5)
        registry = Registry.open(url, secret)
        validator = registry.validator()
        registry.append([validator.from_json(r) for r in WORLD_RECORDS])
        registry.rescore("rongcheng")
        return registry
    finally:
        if previous is None:
            os.environ.pop("SCS_CLOCK", None)
        else:
            os.environ["SCS_CLOCK"] = previous


def make_keys(registry: Registry) -> dict[str, str]:
    made = {
        "admin": keys.create(registry, Role.ADMIN),
        "subject": keys.create(registry, Role.SUBJECT, subject=(SubjectKind.PERSON, PERSON)),
        "consumer": keys.create(
            registry, Role.CONSUMER, measures=["spc.flights", "spc.high_speed_rail"]
        ),
        "provider": keys.create(registry, Role.PROVIDER, provider="police.traffic"),
    }
    return {role: token for role, (_, token) in made.items()}


@contextmanager
def world(directory: Path) -> Iterator[World]:
    registry = build(directory)
    tokens = make_keys(registry)
    with serving(registry) as url:
        yield World(url, registry, tokens)
