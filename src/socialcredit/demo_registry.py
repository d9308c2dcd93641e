"""Building the demo registry: the synthetic city of ``demo`` loaded into a real database.

The records go through the same validation and ledger as any provider's, so the demo shows
the registry as it really behaves. Building is idempotent: a database that already holds the
city is left as it is. The city's parameters (never a subject) go into the operator log, so
a later ``scs demo`` regenerates the very city the database holds, whatever day it is, and
can hand out a resident number that is on file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from socialcredit.catalog import Polarity
from socialcredit.demo import City, generate_city
from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, RecordRejected
from socialcredit.store import keys
from socialcredit.store.keys import Role, defined_measures
from socialcredit.store.registry import Registry
from socialcredit.store.schema import operator_log

BATCH = 5_000
#: The operator-log action that records how the demo city was generated.
BUILT = "demo.build"
#: The provider whose demo key submits records: traffic fines are the easiest to try.
DEMO_PROVIDER = "police.traffic"


def build_demo(
    url: str,
    secret_file: Path | None = None,
    people: int = 10_000,
    organisations: int = 1_000,
    institutions: int = 20,
    years: int = 3,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Create (or reuse) the demo registry at ``url``; return what it holds."""
    registry = Registry.init(url, secret_file)
    already = registry.counts()["records"] > 0
    city = demo_city(registry, people, organisations, institutions, years, seed)
    rejected = 0
    if not already:
        for provider in city.providers:
            registry.add_provider(provider.name, provider.type_patterns, actor="demo")
        validator = registry.validator()
        batch: list[Record] = []
        done = 0
        for record in city.records():
            try:
                batch.append(validator.from_json(record.to_json()))
            except RecordRejected:
                rejected += 1
                continue
            if len(batch) >= BATCH:
                registry.append(batch)
                done += len(batch)
                batch = []
                if progress:
                    progress(done)
        if batch:
            registry.append(batch)
        with registry.writer.begin() as conn:
            registry.log_action(conn, BUILT, _parameters(city), actor="demo")
    return {
        "database": registry.url,
        "already_built": already,
        # The city has more people than the registry: a person with no record has no file.
        "city": _parameters(city),
        "registry": registry.counts(),
        "rejected": rejected,
        "sample_organisations": [{"uscc": s.id, "name": s.name} for s in city.organisations[:3]],
    }


def demo_city(
    registry: Registry, people: int, organisations: int, institutions: int, years: int, seed: int
) -> City:
    """The city the registry was built from, if it says; else the one these options make."""
    with registry.engine.connect() as conn:
        logged = conn.execute(
            select(operator_log.c.detail)
            .where(operator_log.c.action == BUILT)
            .order_by(operator_log.c.seq.desc())
            .limit(1)
        ).scalar()
    if logged is None:
        return generate_city(seed, people, organisations, institutions, years)
    built = orjson.loads(logged)
    return generate_city(
        built["seed"],
        built["people"],
        built["organisations"],
        built["institutions"],
        built["years"],
        date.fromisoformat(built["until"]),
    )


def _parameters(city: City) -> dict[str, Any]:
    return {
        "seed": city.seed,
        "years": city.years,
        "until": city.end.isoformat(),
        "people": len(city.persons),
        "organisations": len(city.organisations),
        "institutions": len(city.institutions),
    }


@dataclass(frozen=True)
class Visit:
    """What a visitor of the demo needs: a fresh key per role and subjects to try them on."""

    keys: dict[str, str]  # role -> token
    subject: str | None  # a person on file with a negative record, for the subject key
    organisation: str | None  # an organisation on file with a negative record
    provider: str
    measures: list[str]


def make_visit(registry: Registry, city: City) -> Visit:
    """Fresh demo keys, one per role, bound to a sample person of the city on file."""
    subject, organisation = _samples(registry, city)
    measures = sorted(defined_measures(registry))
    bindings: dict[Role, dict[str, Any]] = {
        Role.ADMIN: {},
        Role.PROVIDER: {"provider": DEMO_PROVIDER},
        Role.CONSUMER: {"measures": measures},
        Role.SUBJECT: {"subject": (SubjectKind.PERSON, subject)},
        Role.AUDITOR: {},
    }
    if subject is None:  # a city without a person on file
        del bindings[Role.SUBJECT]
    made = {role: keys.create(registry, role, **bound) for role, bound in bindings.items()}
    tokens = {role.value: token for role, (_, token) in made.items()}
    return Visit(tokens, subject, organisation, DEMO_PROVIDER, measures)


def _samples(registry: Registry, city: City) -> tuple[str | None, str | None]:
    """The first person and the first organisation of the city with a negative record on
    file: their pages have something to explain."""
    types = registry.record_types()
    found: dict[SubjectKind, str] = {}
    for record in city.records():
        kind = record.subject.kind
        if kind in found or kind is SubjectKind.INSTITUTION:
            continue
        if types[record.type].polarity is not Polarity.NEGATIVE:
            continue
        if registry.find_subject(kind, record.subject.id) is not None:
            found[kind] = record.subject.id
        if len(found) == 2:
            break
    return found.get(SubjectKind.PERSON), found.get(SubjectKind.ORGANISATION)
