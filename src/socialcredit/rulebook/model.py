"""The rulebook as the engine reads it: frozen values built by the loader from checked TOML.

Everything a rule needs is data here, so the engine never branches on a rulebook's name: the
Rongcheng and Flensburg schemes differ only in the values these classes hold. Validity is
counted in calendar years and months because both sources state it that way ("2 years",
"2.5 years"), and a day count would drift with leap years.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache

from socialcredit.catalog import Polarity
from socialcredit.identifiers import SubjectKind
from socialcredit.rulebook.problems import entry_path

ONE_DAY = timedelta(days=1)
_POSITIVE = Polarity.POSITIVE  # an enum member costs ~0.2 µs to look up on Python 3.11


@lru_cache(maxsize=1 << 16)
def _shift(start: date, months: int) -> date:
    """The same date ``months`` later; a date that does not exist rolls to the next month's 1st.

    29 February plus one year is 1 March, so a record of that day counts up to and including
    28 February: the period never ends before the month it should end in.
    """
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    try:
        return start.replace(year=year, month=month)
    except ValueError:
        return date(year + month // 12, month % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """A span of whole years and months, such as ``2y6m`` (Flensburg's "2.5 years")."""

    years: int = 0
    months: int = 0
    span: int = field(init=False, repr=False, compare=False)  # in months

    def __post_init__(self) -> None:
        object.__setattr__(self, "span", self.years * 12 + self.months)

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``1y``, ``6m`` or ``2y6m`` (the schema has already checked the form)."""
        years, _, rest = text.partition("y") if "y" in text else ("0", "", text)
        months = rest.removesuffix("m") or "0"
        return cls(int(years), int(months))

    def end(self, start: date) -> date:
        """The first day no longer covered: the same date this period later."""
        return _shift(start, self.span)

    def last_day(self, start: date) -> date:
        """The last day covered: "from D up to and including the day before the same date".

        The scoring engine works this out for every record with integers
        (``evaluation.last_day``, tested equal to this on every day of twelve years)."""
        return _shift(start, self.span) - ONE_DAY

    def __str__(self) -> str:
        years = f"{self.years}y" if self.years else ""
        months = f"{self.months}m" if self.months else ""
        return years + months or "0m"


@dataclass(frozen=True, slots=True)
class ValidityStep:
    """Records whose points are at most ``up_to`` in size (any size when None) count ``period``."""

    up_to: int | None
    period: Period


@dataclass(frozen=True, slots=True)
class ValidityRule:
    """How long a record counts, by the size of its points after the counting rules."""

    steps: tuple[ValidityStep, ...]

    def period_for(self, points: int) -> Period:
        size = -points if points < 0 else points
        for step in self.steps:
            # The checker requires the last step to be open (no up_to), so one always matches.
            if step.up_to is None or size <= step.up_to:
                return step.period
        raise AssertionError("a checked rulebook ends its validity steps with an open step")


@dataclass(frozen=True, slots=True)
class Validity:
    """Default validity for types without their own, and how long expired records stay shown."""

    positive: ValidityRule | None
    negative: ValidityRule | None
    history: Period | None  # None: expired records stay in reports as history indefinitely

    def rule_for(self, polarity: Polarity) -> ValidityRule | None:
        return self.positive if polarity is _POSITIVE else self.negative


@dataclass(frozen=True, slots=True)
class Tier:
    """From ``start`` (inclusive) on: ``points``, or ``points`` per full ``per`` units."""

    start: float
    points: int
    per: float | None = None

    def points_for(self, value: float) -> int:
        if self.per is None:
            return self.points
        # "per full N": whole multiples only, with a hair of tolerance so that a float such
        # as 0.3 / 0.1 = 2.9999999999999996 still reads as 3.
        return self.points * math.floor(value / self.per + 1e-9)


class TierBasis(StrEnum):
    AMOUNT = "amount"
    QUANTITY = "quantity"


@dataclass(frozen=True, slots=True)
class ScoreCondition:
    """A record counts only at a standing in [score_min, score_max], at most once per period."""

    score_min: int | None
    score_max: int | None
    once_per: Period | None

    def admits(self, score: int) -> bool:
        return (self.score_min is None or score >= self.score_min) and (
            self.score_max is None or score <= self.score_max
        )


@dataclass(frozen=True, slots=True)
class RecordRule:
    """What one record type is worth, to whom, for how long, and under which counting rules.

    Exactly one of ``points``, ``direct_grade``, ``tiers`` is set, or none for a ``corrects``
    type, whose effect is on the record it relates to rather than on the score.
    """

    code: str
    title: str
    category: str
    polarity: Polarity
    kinds: frozenset[SubjectKind]
    title_zh: str | None = None
    points: Mapping[SubjectKind, int] | None = None
    direct_grade: str | None = None
    tiers_by: TierBasis | None = None
    tiers: tuple[Tier, ...] = ()
    max_points: int | None = None
    count_highest: bool = False
    repeat_doubling: bool = True  # False: never doubled, never makes a later record a repeat
    corrects: bool = False
    validity: Period | None = None
    only_if: ScoreCondition | None = None
    legal_basis: str | None = None
    path: str = field(init=False, repr=False, compare=False)  # where it is in the rulebook

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", entry_path(["types", self.code]))

    def tier_points(self, value: float) -> int:
        """Points of the highest tier ``value`` reaches, limited to ``max_points`` in size."""
        points = 0
        for tier in self.tiers:
            if value >= tier.start:
                points = tier.points_for(value)
        if self.max_points is not None and abs(points) > self.max_points:
            points = self.max_points if points > 0 else -self.max_points
        return points


@dataclass(frozen=True, slots=True)
class GradeBand:
    """A grade and its inclusive score range; an open end is None."""

    grade: str
    minimum: int | None
    maximum: int | None
    title: str | None = None
    direct_validity: Period | None = None

    def contains(self, score: int) -> bool:
        return (self.minimum is None or score >= self.minimum) and (
            self.maximum is None or score <= self.maximum
        )

    def __str__(self) -> str:
        low = "" if self.minimum is None else str(self.minimum)
        high = "" if self.maximum is None else str(self.maximum)
        return f"{self.grade} ({low}..{high})"


@dataclass(frozen=True, slots=True)
class ScoreScale:
    """Where scores start, their bounds, and which direction is better."""

    base: int
    higher_is_better: bool
    minimum: int | None = None
    maximum: int | None = None

    def clamp(self, score: int) -> int:
        if self.minimum is not None and score < self.minimum:
            return self.minimum
        if self.maximum is not None and score > self.maximum:
            return self.maximum
        return score


@dataclass(frozen=True, slots=True)
class AnnualCap:
    """At most ``points`` (in size) per calendar year from records of ``category``."""

    category: str
    points: int


@dataclass(frozen=True, slots=True)
class Counting:
    one_act_one_item: bool = False
    repeat_factor: int | None = None
    annual_caps: tuple[AnnualCap, ...] = ()


@dataclass(frozen=True, slots=True)
class RepairRule:
    """A ``by`` record relating to an ``ends`` record ends its direct grade for timed points."""

    code: str
    title: str
    ends: frozenset[str]
    by: frozenset[str]
    points: Mapping[SubjectKind, int]
    validity: Period
    title_zh: str | None = None
    legal_basis: str | None = None
    path: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", entry_path(["repairs", self.code]))


@dataclass(frozen=True, slots=True)
class ListDef:
    """A list and the one criterion that puts a subject on it: grades, a score range or types."""

    code: str
    title: str
    grades: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    score_range: tuple[int | None, int | None] | None = None

    def admits_score(self, score: int) -> bool:
        if self.score_range is None:
            return False
        low, high = self.score_range
        return (low is None or score >= low) and (high is None or score <= high)


class MeasureKind(StrEnum):
    RESTRICTION = "restriction"
    REWARD = "reward"


@dataclass(frozen=True, slots=True)
class Measure:
    """An action an implementing agency takes on the listed subject itself, and on no one else."""

    code: str
    title: str
    kind: MeasureKind
    lists: tuple[str, ...]
    agency: str
    context: str
    kinds: frozenset[SubjectKind]
    legal_basis: str | None = None


@dataclass(frozen=True, slots=True)
class Meta:
    name: str
    version: str
    title: str
    jurisdiction: str | None = None
    effective: date | None = None
    legal_basis: str | None = None
    sources: tuple[str, ...] = ()
    dispute_deadline_working_days: int | None = None
    dispute_deadline_days: int | None = None  # calendar days (FCRA: 30)
    positive_deletion_working_days: int | None = None
    repair_min_publicity: Period | None = None
    repair_decision_working_days: int | None = None
    retention: Period | None = None  # personal data erased this long after validity ends


@dataclass(frozen=True, slots=True)
class Rulebook:
    meta: Meta
    score: ScoreScale
    grades: tuple[GradeBand, ...]  # best first
    validity: Validity
    counting: Counting
    types: Mapping[str, RecordRule]
    repairs: tuple[RepairRule, ...] = ()
    lists: tuple[ListDef, ...] = ()
    measures: tuple[Measure, ...] = ()
    source: str = field(default="", repr=False, compare=False)
    _ranks: Mapping[str, int] = field(init=False, repr=False, compare=False)
    #: Lookup tables a consumer derives from the rulebook once and reuses, by a key of its
    #: own (the scoring engine keeps one per kind of subject). A rulebook never changes after
    #: loading, so neither do they; they are not part of its value.
    derived: dict[object, object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ranks = {band.grade: i for i, band in reversed(list(enumerate(self.grades)))}
        object.__setattr__(self, "_ranks", ranks)
        object.__setattr__(self, "derived", {})

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def version(self) -> str:
        return self.meta.version

    def grade_rank(self, grade: str) -> int:
        """0 for the best grade, growing towards the worst."""
        return self._ranks[grade]

    def band(self, grade: str) -> GradeBand:
        return self.grades[self.grade_rank(grade)]

    def grade_for(self, score: int) -> str:
        return next(band.grade for band in self.grades if band.contains(score))

    def direct_grade_cap(self, grade: str) -> int:
        """The best score a subject with a direct ``grade`` may have: the band's worst end.

        "The deduction for a downgrade is computed at the lowest score of that grade"; a band
        open at its worst end (Rongcheng's D) caps at its other end (599).
        """
        band = self.band(grade)
        worst, other = (
            (band.minimum, band.maximum)
            if self.score.higher_is_better
            else (band.maximum, band.minimum)
        )
        cap = worst if worst is not None else other
        assert cap is not None, "the checker rejects a band open at both ends"
        return cap
