"""What scoring one subject gives: the result, every record's contribution, the measures that
apply and the reasons for an adverse outcome.

The types both executions of the engine return (``evaluation``, interpreted or compiled, see
``scoring``) and everything downstream reads: explanations, reports, notices, the API and the
result files. Kept apart from the steps so that a compiled copy of the steps returns the very
same classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

from socialcredit.identifiers import SubjectKind

MAX_REASONS = 4
#: One piece of an explanation: a ``str.format`` template and its values.
Note = tuple[str, tuple[object, ...]]


class Status(StrEnum):
    """Why a record counts as it does at the moment asked about."""

    COUNTED = "counted"
    DOUBLED = "doubled"  # counts, doubled as a repeat
    CAPPED = "capped"  # counts less (maybe 0) because an annual cap was reached
    FROZEN = "frozen"  # an addition waiting for a direct grade's conduct to be corrected
    SUPERSEDED = "superseded"  # a more severe item of the same act, or a higher tier, counts
    EXPIRED = "expired"  # validity over: history only
    ERASED = "erased"  # past the history period too
    REPAIRED = "repaired"  # a direct grade ended by a repair
    INELIGIBLE = "ineligible"  # an only_if condition was not met
    NOT_SCORED = "not_scored"  # the rulebook does not score it for this subject


class Contribution(NamedTuple):
    """One record's part in the result: what it is worth, what it adds now, and why.

    Immutable like the other result types, but a named tuple rather than a frozen dataclass:
    a result holds one per record, and a frozen dataclass costs about seven times as much to
    build, which alone would take a quarter of the 1 ms budget for 100 records. For the same
    reason the explanation is kept as notes (a template and its values) and put into words
    only when read: a consumer asking whether a measure applies never pays for the text.
    """

    ref: str
    provider: str
    type: str
    occurred_on: date
    base_points: int  # the rule's value for this record
    points: int  # after doubling, caps and repair: what it adds while it counts
    applied_points: int  # what it adds at the moment asked about
    status: Status
    notes: tuple[Note, ...]  # the explanation, put into words by ``why``
    valid_from: date | None
    valid_until: date | None
    direct_grade: str | None
    rule: str | None
    legal_basis: str | None

    @property
    def why(self) -> tuple[str, ...]:
        """Why the record counts as it does, in words."""
        return tuple(template.format(*args) for template, args in self.notes)

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "provider": self.provider,
            "type": self.type,
            "occurred_on": self.occurred_on.isoformat(),
            "base_points": self.base_points,
            "points": self.points,
            "applied_points": self.applied_points,
            "status": self.status.value,
            "why": list(self.why),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "direct_grade": self.direct_grade,
            "rule": self.rule,
            "legal_basis": self.legal_basis,
        }


@dataclass(frozen=True, slots=True)
class AppliedMeasure:
    """A measure that applies to the subject, with the list that triggered it."""

    code: str
    title: str
    kind: str
    agency: str
    legal_basis: str | None
    context: str
    list: str
    since: date | None
    until: date | None  # as things stand: a later record or repair may change it

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "kind": self.kind,
            "agency": self.agency,
            "legal_basis": self.legal_basis,
            "context": self.context,
            "list": self.list,
            "since": _iso(self.since),
            "until": _iso(self.until),
        }


@dataclass(frozen=True, slots=True)
class Reason:
    """An adverse factor, in words a subject can read (English and Chinese)."""

    code: str
    points: int
    refs: tuple[str, ...]
    text_en: str
    text_zh: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "points": self.points,
            "refs": list(self.refs),
            "text_en": self.text_en,
            "text_zh": self.text_zh,
        }


@dataclass(frozen=True, slots=True)
class Result:
    rulebook: str
    version: str
    as_of: date
    kind: SubjectKind
    base: int
    points_score: int  # base + applied points, before bounds and direct-grade caps
    score: int
    grade: str
    lists: tuple[str, ...]
    measures: tuple[AppliedMeasure, ...]
    contributions: tuple[Contribution, ...]
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rulebook": self.rulebook,
            "version": self.version,
            "as_of": self.as_of.isoformat(),
            "kind": self.kind.value,
            "base": self.base,
            "points_score": self.points_score,
            "score": self.score,
            "grade": self.grade,
            "lists": list(self.lists),
            "measures": [m.to_json() for m in self.measures],
            "contributions": [c.to_json() for c in self.contributions],
            "reasons": [r.to_json() for r in self.reasons],
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
