"""Building the demo registry: the synthetic city of ``demo`` loaded into a real database.

The records go through the same validation and ledger as any provider's, so the demo shows
the registry as it really behaves. Building is idempotent: a database that already holds the
city is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from socialcredit.demo import generate_city
from socialcredit.records import Record, RecordRejected
from socialcredit.store.registry import Registry

BATCH = 5_000


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
    city = generate_city(seed, people, organisations, institutions, years)
    already = registry.counts()["records"] > 0
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
    return {
        "database": registry.url,
        "already_built": already,
        # The city has more people than the registry: a person with no record has no file.
        "city": {
            "seed": seed,
            "years": years,
            "until": city.end.isoformat(),
            "people": people,
            "organisations": organisations,
            "institutions": institutions,
        },
        "registry": registry.counts(),
        "rejected": rejected,
        "sample_organisations": [{"uscc": s.id, "name": s.name} for s in city.organisations[:3]],
    }
