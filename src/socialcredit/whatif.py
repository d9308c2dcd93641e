"""What a rulebook would do to the current population, before anyone activates it.

Every subject in the registry is scored twice as of one day, under the active rulebook of the
same name and under the candidate, and the answer is counted, never listed: how many subjects
hold each grade and sit on each list before and after, and how many move from one grade to
another. Counting is the point: an operator sees the effect on the population without the
page ever naming a person (line 3 of the lines we do not cross).

Subjects stream from the ledger one at a time (``queries.stream_subjects``); only the first
pass's grade and lists per subject id are held, to pair them with the second pass, because
the bulk engine may return a chunk's subjects in any order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from types import ModuleType
from typing import Any

from sqlalchemy import Engine

from socialcredit.engines import Outcome, outcomes
from socialcredit.rulebook import Rulebook
from socialcredit.store.queries import effective_records, stream_subjects


@dataclass(slots=True)
class WhatIf:
    """The population's standing under two rulebooks on one day, as counts."""

    current: Rulebook
    candidate: Rulebook
    as_of: date
    subjects: int = 0
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    lists_before: Counter[str] = field(default_factory=Counter)
    lists_after: Counter[str] = field(default_factory=Counter)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def grades(self) -> list[str]:
        """Every grade of either rulebook, best first: the candidate's, then any it dropped."""
        order = [band.grade for band in self.candidate.grades]
        return order + [b.grade for b in self.current.grades if b.grade not in order]

    @property
    def lists(self) -> list[str]:
        return sorted(set(self.lists_before) | set(self.lists_after))

    @property
    def changed(self) -> int:
        """Subjects whose grade would change."""
        return sum(n for (old, new), n in self.moves.items() if old != new)

    def to_json(self) -> dict[str, Any]:
        return {
            "current": {"name": self.current.name, "version": self.current.version},
            "candidate": {"name": self.candidate.name, "version": self.candidate.version},
            "as_of": self.as_of.isoformat(),
            "subjects": self.subjects,
            "changed": self.changed,
            "grades": self.grades,
            "before": {g: self.before[g] for g in self.grades},
            "after": {g: self.after[g] for g in self.grades},
            "lists": {
                code: {"before": self.lists_before[code], "after": self.lists_after[code]}
                for code in self.lists
            },
            "moves": [
                {"from": old, "to": new, "subjects": n}
                for (old, new), n in sorted(self.moves.items())
            ],
        }


def compare(
    engine: Engine,
    current: Rulebook,
    candidate: Rulebook,
    as_of: date,
    bulk: ModuleType | None = None,
) -> WhatIf:
    """Score the registry's population under ``current`` and ``candidate`` as of ``as_of``."""
    answer = WhatIf(current, candidate, as_of)
    first: dict[str, Outcome] = {}
    for outcome in _population(engine, current, as_of, bulk):
        first[outcome.subject_id] = outcome
        answer.before[outcome.grade] += 1
        answer.lists_before.update(outcome.lists)
    for outcome in _population(engine, candidate, as_of, bulk):
        answer.subjects += 1
        answer.after[outcome.grade] += 1
        answer.lists_after.update(outcome.lists)
        answer.moves[first[outcome.subject_id].grade, outcome.grade] += 1
    return answer


def _population(
    engine: Engine, rulebook: Rulebook, as_of: date, bulk: ModuleType | None
) -> Iterator[Outcome]:
    with engine.connect() as reader:
        groups = (
            (str(subject.id), subject.kind, effective_records(subject, entries))
            for subject, entries in stream_subjects(reader)
        )
        yield from outcomes(groups, rulebook, as_of, bulk)
