"""The results snapshot: every subject's result under one rulebook version at one moment.

Checks, reports and explanations evaluate at read time (docs/architecture.md, "When scores
change"), so they never wait for this table and never read a stale score. The snapshot serves
what needs every subject at once: list extracts, score distributions, analytics. It is
replaced whole per (rulebook, version, as_of) in one transaction, so running it again gives
the same table and readers never see half of one.

Records stream from the ledger one subject at a time (``queries.stream_subjects``), so memory
stays flat however large the registry is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from types import ModuleType
from typing import Any

import orjson
from sqlalchemy import Engine, delete

from socialcredit import clock
from socialcredit.disputes import counting
from socialcredit.engines import outcomes
from socialcredit.rulebook import Rulebook
from socialcredit.store import database
from socialcredit.store.cases import disputes_by_subject
from socialcredit.store.queries import effective_records, stream_subjects
from socialcredit.store.rulebooks import schema_guard
from socialcredit.store.schema import results

INSERT_BATCH = 2_000


@dataclass(slots=True)
class RescoreSummary:
    rulebook: str
    version: str
    as_of: date
    engine: str
    subjects: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    lists: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "rulebook": self.rulebook,
            "version": self.version,
            "as_of": self.as_of.isoformat(),
            "engine": self.engine,
            "subjects": self.subjects,
            "grades": dict(sorted(self.grades.items())),
            "lists": dict(sorted(self.lists.items())),
        }


def rescore(
    engine: Engine,
    rulebook: Rulebook,
    as_of: date,
    bulk: ModuleType | None = None,
    progress: Callable[[int], None] | None = None,
) -> RescoreSummary:
    """Compute every subject's result and replace the snapshot for this rulebook and moment."""
    summary = RescoreSummary(
        rulebook.name, rulebook.version, as_of, "incremental" if bulk is None else "bulk"
    )
    computed_at = clock.timestamp()
    writer = engine.execution_options(**database.WRITER)
    with engine.connect() as reader, writer.begin() as out, schema_guard("results"):
        out.execute(
            delete(results).where(
                results.c.rulebook == rulebook.name,
                results.c.version == rulebook.version,
                results.c.as_of == as_of,
            )
        )
        disputed = disputes_by_subject(reader)
        groups = (
            (
                str(subject.id),
                subject.kind,
                counting(effective_records(subject, entries), disputed.get(subject.id, ()), as_of),
            )
            for subject, entries in stream_subjects(reader)
        )
        rows: list[dict[str, Any]] = []
        for outcome in outcomes(groups, rulebook, as_of, bulk):
            rows.append(
                {
                    "subject_id": int(outcome.subject_id),
                    "rulebook": rulebook.name,
                    "version": rulebook.version,
                    "as_of": as_of,
                    "score": outcome.score,
                    "grade": outcome.grade,
                    "lists": orjson.dumps(outcome.lists).decode(),
                    "computed_at": computed_at,
                }
            )
            summary.subjects += 1
            summary.grades[outcome.grade] += 1
            summary.lists.update(outcome.lists)
            if len(rows) >= INSERT_BATCH:
                out.execute(results.insert(), rows)
                rows = []
                if progress:
                    progress(summary.subjects)
        if rows:
            out.execute(results.insert(), rows)
        if progress:
            progress(summary.subjects)
    return summary
