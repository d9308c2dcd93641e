"""A subject's score over time: the engine asked again at the end of each past month.

Nothing derived is stored (docs/architecture.md, "When scores change"), so a score history
is not read from anywhere: it is recomputed from the subject's records as of each moment,
which also means it shows what the registry *would have said* on each day under today's
rulebook text, expired records dropping out exactly when they expired. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import NamedTuple

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record
from socialcredit.rulebook import Rulebook
from socialcredit.scoring import evaluate

#: Three years: the longest validity of an ordinary negative record in the shipped rulebooks.
MONTHS = 36


class Point(NamedTuple):
    day: date
    score: int
    grade: str

    def to_json(self) -> dict[str, object]:
        return {"day": self.day.isoformat(), "score": self.score, "grade": self.grade}


def month_ends(end: date, months: int = MONTHS) -> list[date]:
    """The last day of each of the ``months`` months before ``end``'s month, then ``end``."""
    days = [end]
    day = end.replace(day=1) - timedelta(days=1)
    for _ in range(months):
        days.append(day)
        day = day.replace(day=1) - timedelta(days=1)
    return days[::-1]


def scores_over_time(
    records: Sequence[Record],
    rulebook: Rulebook,
    kind: SubjectKind,
    end: date,
    months: int = MONTHS,
) -> list[Point]:
    """The score and grade at each of ``month_ends(end, months)``, oldest first."""
    out = []
    for day in month_ends(end, months):
        result = evaluate(records, rulebook, day, kind)
        out.append(Point(day, result.score, result.grade))
    return out
