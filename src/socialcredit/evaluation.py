"""The scoring engine's steps: one subject's records, a rulebook and a moment in, an explained
result out.

Pure and deterministic: no I/O, no clock, no dependence on the order records arrive in. The
same inputs give the same score, grade, lists, measures, contributions and reasons, so any
past answer can be reproduced ("what did the registry say on 1 March, and why?") and the bulk
engine can be proved to agree with this one contribution for contribution.

The algorithm, in the order ``evaluate`` runs it (every step reads only earlier steps):

1. **Moment.** Records that occurred after ``as_of`` are ignored: they did not exist yet.
2. **Order.** The rest are sorted by ``(occurred_on, ref, provider)``. Every "earlier" and
   every tie below means this order.
3. **Classify.** Each record gets its base points: the type's points for the subject's kind,
   or the tier reached by its amount or quantity (limited to ``max_points``), or a direct
   grade, or nothing for a ``corrects`` type. Types the rulebook does not have, or that do not
   apply to the subject's kind, are ``not_scored``.
4. **Relate.** A record's ``relates_to`` is matched against the refs of the subject's records,
   preferring the same provider, then the earliest.
5. **One act, one item.** Among scored records sharing an ``act`` id and a polarity, only the
   most severe counts: for negative records a direct grade beats any points (the worse grade
   wins), otherwise the largest base points in size; for positive records the largest base
   points. Ties go to the earliest. The others are ``superseded``. ``corrects`` records are
   never grouped.
6. **Conditions.** A type with ``only_if`` counts only if the score on its day (all these
   steps, as of that day, over the records that occurred before it) lies in its range, and
   only if no earlier record of the type that counted lies within ``once_per``; otherwise it
   is ``ineligible``.
7. **Repeats and validity.** Going through negative point records in order (leaving out types
   with ``repeat_doubling = false``): if an earlier counted one of the same category is valid
   on this record's day, this record's points are ``repeat_factor`` times its base (never
   compounded). Validity then follows from the points
   after doubling (the type's own ``validity``, else the default for its polarity by size);
   a direct grade holds for its band's ``direct_validity``. Valid from the day of the conduct
   up to and including the day before the same date that period later.
8. **Corrections and repairs.** The earliest ``corrects`` record relating to a record (on or
   after its day) corrects it. If a repair rule pairs the two types and the direct grade still
   holds that day, the direct grade ends the day before (``repaired``) and the correcting
   record carries the repair points, valid for the repair's period from its day (a superseded
   direct grade just ends: it never counted, so nothing replaces it). Repair points
   are never doubled and never make later records repeats (step 7 has already run).
9. **Freezes.** A counted direct grade freezes additions from its day until it is corrected or
   stops holding. A positive record that occurred while frozen counts from the first day no
   freeze holds, for whatever remains of its own validity (``valid_from`` moves, ``valid_until``
   does not).
10. **Annual caps.** Per capped category and calendar year of occurrence, records fill the cap
    in order; a record gets what room is left (``capped`` if that is less than its points).
    Room is taken at occurrence: a record expiring or frozen later frees none.
11. **The moment's status.** A record counts at ``as_of`` if it is not superseded, ineligible or
    repaired and ``valid_from <= as_of <= valid_until``; otherwise it is ``frozen`` (not yet
    counting), ``expired``, or ``erased`` (past the rulebook's ``history`` period as well).
    For ``count = "highest"`` types only the largest of those that count keeps counting
    (between equals, the latest).
12. **Score and grade.** ``score = base + sum(applied points)``, kept within the rulebook's
    bounds, then capped at the worst end of the band of every direct grade that counts. The
    grade is the worse of the score's band and every direct grade that counts.
13. **Lists, measures, reasons.** Lists by grade, score range, or a record of a listed type
    holding at ``as_of`` (superseded records included: one act, one item is a scoring rule, a
    court list is the court's). Measures follow the lists, for the subject's kind. Reasons are
    the adverse factors that count, most important first: direct grades (worst first), then
    point totals per type by size, then frozen additions; at most four.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from operator import attrgetter, itemgetter

from socialcredit.catalog import Polarity
from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record
from socialcredit.result import (
    MAX_REASONS,
    AppliedMeasure,
    Contribution,
    Note,
    Reason,
    Result,
    Status,
)
from socialcredit.rulebook.model import (
    ONE_DAY,
    AnnualCap,
    Measure,
    Period,
    RecordRule,
    RepairRule,
    Rulebook,
)

_KIND_WORDS = {
    SubjectKind.PERSON: "persons",
    SubjectKind.ORGANISATION: "organisations",
    SubjectKind.INSTITUTION: "institutions",
}

# Enum members cost about 0.2 µs to look up as class attributes on Python 3.11, and the steps
# test them for every record: these aliases are the same objects, found as fast globals.
_CAPPED = Status.CAPPED
_COUNTED = Status.COUNTED
_DOUBLED = Status.DOUBLED
_ERASED = Status.ERASED
_EXPIRED = Status.EXPIRED
_FROZEN = Status.FROZEN
_INELIGIBLE = Status.INELIGIBLE
_NOT_SCORED = Status.NOT_SCORED
_REPAIRED = Status.REPAIRED
_SUPERSEDED = Status.SUPERSEDED
_NEGATIVE = Polarity.NEGATIVE
_POSITIVE = Polarity.POSITIVE


# -- validity ends ----------------------------------------------------------------------------
# Ordinal of the first day of each month from January 1900 to December 2200, by
# (year - 1900) * 12 + month - 1: enough for any record a registry holds, and small enough to
# stay in the processor's cache (a few kilobytes are ever touched).
_FIRST_YEAR = 1900
_MONTH_STARTS = [date(y, m, 1).toordinal() for y in range(_FIRST_YEAR, 2201) for m in range(1, 13)]
_LAST_MONTH = len(_MONTH_STARTS) - 1  # its successor is the table's last entry
_fromordinal = date.fromordinal


def last_day(start: date, months: int) -> date:
    """The last day a period of ``months`` from ``start`` covers: ``Period.last_day``, worked
    out with integers: the day before the same date in the target month if that exists, else
    (29 February plus a year) the last day of the target month. Dates outside the table take
    ``Period``'s own way.

    Step 7 calls this for every record, and a cache of dates was no faster: a look-up in a
    cache of thousands of days misses the processor's caches several times (about 0.5 µs in a
    run, against 0.1 µs in a micro-benchmark). It lives here rather than in
    ``rulebook.model`` so that the compiled engine (``native``) runs it compiled: a tenth of
    that engine's time to score a subject.
    """
    i = (start.year - _FIRST_YEAR) * 12 + start.month - 1 + months
    if 0 <= i < _LAST_MONTH:
        following = _MONTH_STARTS[i + 1]
        day = _MONTH_STARTS[i] + start.day - 2  # the day before the same date...
        return _fromordinal(day if day < following else following - 1)  # ...or month's end
    return Period(months=months).last_day(start)


class _Plan:
    """What a rulebook makes of one record type for one kind of subject, worked out once.

    Everything the steps would otherwise look up or compute per record from the rule (points
    for the kind, which validity applies, where the rule is in the rulebook, the reason codes)
    is here, so a record costs a dictionary look-up instead of a dozen attribute chains and
    calls. Built by ``_Tables`` and shared by every evaluation under the rulebook.
    """

    __slots__ = (
        "base",
        "basis",
        "category",
        "corrects",
        "direct",
        "negative",
        "own_span",
        "path",
        "points_key",
        "positive",
        "reason_key",
        "refusal",
        "repeats",
        "rule",
        "simple",
        "span",
        "steps",
        "tiers_by",
    )

    def __init__(self, rb: Rulebook, rule: RecordRule, kind: SubjectKind):
        self.rule = rule
        self.category = rule.category
        self.corrects = rule.corrects
        self.negative = rule.polarity is _NEGATIVE
        self.positive = rule.polarity is _POSITIVE
        self.direct = rule.direct_grade
        # A type that does not apply to the kind: the whole record is explained by this note.
        self.refusal: Note | None = (
            None
            if kind in rule.kinds
            else ("{!r} does not apply to {}", (rule.code, _KIND_WORDS[kind]))
        )
        applies = self.refusal is None and self.direct is None
        self.base = rule.points[kind] if applies and rule.points is not None else 0
        self.tiers_by = rule.tiers_by.value if rule.tiers_by is not None else None
        # Scored from the plan alone (fixed points, a direct grade, or nothing for a corrects
        # type): most records; the others (tiers, a kind it does not apply to) need words.
        self.simple = self.refusal is None and self.tiers_by is None
        # Step 7: may be doubled as a repeat and make later ones repeats (if its points are
        # not 0), and how long it counts: a fixed span in months, or by size (``steps``).
        self.repeats = (
            rb.counting.repeat_factor is not None
            and self.negative
            and rule.repeat_doubling
            and self.direct is None
            and not rule.corrects
        )
        period = rule.validity
        if period is None and self.direct is not None:
            period = rb.band(self.direct).direct_validity
        default = rb.validity.rule_for(rule.polarity)
        self.own_span: int | None = period.span if period is not None else None
        self.steps: tuple[tuple[int | None, int], ...] = (
            tuple((step.up_to, step.period.span) for step in default.steps)
            if default is not None and self.direct is None
            else ()
        )
        # The span of a record that was not doubled, where the type alone decides it (all but
        # tiered types): most records then need no look-up by size.
        self.span = self.own_span
        if self.span is None and rule.points is not None and self.steps:
            self.span = self.span_for(self.base)
        # Step 13 and the contribution.
        self.path = rule.path
        self.basis = rule.legal_basis or rb.meta.legal_basis
        self.reason_key = f"direct_grade:{rule.code}"
        self.points_key = f"points:{rule.code}"

    def span_for(self, points: int) -> int:
        """The validity in months of a record of this type worth ``points`` after doubling."""
        if self.own_span is not None:
            return self.own_span
        size = -points if points < 0 else points
        for up_to, span in self.steps:
            if up_to is None or size <= up_to:
                return span
        raise AssertionError("the checker requires a validity for every scored type")


class _Tables:
    """A rulebook's lookups for one kind of subject, built on first use and kept on it."""

    __slots__ = (
        "conditional",
        "direct_caps",
        "listed",
        "measures",
        "plans",
        "repairs",
        "unbounded",
    )

    def __init__(self, rb: Rulebook, kind: SubjectKind):
        self.plans = {code: _Plan(rb, rule, kind) for code, rule in rb.types.items()}
        self.conditional = any(rule.only_if is not None for rule in rb.types.values())
        self.direct_caps = {band.grade: rb.direct_grade_cap(band.grade) for band in rb.grades}
        self.listed = frozenset(code for listing in rb.lists for code in listing.types)
        self.measures = tuple(m for m in rb.measures if kind in m.kinds)
        # A measure triggered by a list of grades or scores has no dates: the same for everyone.
        self.unbounded = {
            (m.code, trigger): _applied(m, trigger, None, None)
            for m in self.measures
            for trigger in m.lists
        }
        # The first repair rule pairing a corrected type with a correcting type, if any.
        self.repairs: dict[tuple[str, str], RepairRule] = {}
        for repair in reversed(rb.repairs):
            for ends in repair.ends:
                for by in repair.by:
                    self.repairs[(ends, by)] = repair


def _applied(m: Measure, trigger: str, since: date | None, until: date | None) -> AppliedMeasure:
    return AppliedMeasure(
        m.code, m.title, m.kind.value, m.agency, m.legal_basis, m.context, trigger, since, until
    )


def _tables(rb: Rulebook, kind: SubjectKind) -> _Tables:
    tables = rb.derived.get((_Tables, kind))
    if not isinstance(tables, _Tables):
        # Two threads may both build them the first time: the same tables, either kept.
        tables = rb.derived[(_Tables, kind)] = _Tables(rb, kind)
    return tables


class _Item:
    """Working state of one record while the steps run; becomes a ``Contribution``."""

    __slots__ = (
        "base",
        "capped",
        "corrected_by",
        "counts",
        "direct",
        "doubled",
        "notes",
        "plan",
        "points",
        "record",
        "repair",
        "rule",
        "status",
        "target",
        "valid_from",
        "valid_until",
    )

    def __init__(self, record: Record, plan: _Plan | None, base: int, direct: str | None):
        self.record = record
        self.plan = plan
        self.rule = plan.rule if plan is not None else None
        self.base = base
        self.points = base
        self.direct = direct
        self.status: Status | None = None  # a final status decided before step 11
        self.notes: list[Note] | None = None  # most records need no words: none allocated
        self.valid_from: date | None = None
        self.valid_until: date | None = None
        self.target: _Item | None = None  # what a corrects record relates to
        self.corrected_by: _Item | None = None
        self.repair: RepairRule | None = None  # set on a corrects record that repaired
        self.doubled = False
        self.capped = False
        self.counts = False  # adds its points (or direct grade) at the moment: set by step 11

    def say(self, template: str, *values: object) -> None:
        """Add to the explanation (formatted with ``str.format`` when read)."""
        if self.notes is None:
            self.notes = []
        self.notes.append((template, values))

    @property
    def scored(self) -> bool:
        """Carries points or a direct grade that the counting rules act on."""
        rule = self.rule
        return self.status is None and rule is not None and not rule.corrects

    def holds_on(self, day: date) -> bool:
        return (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_from <= day <= self.valid_until
        )


# -- the entry point --------------------------------------------------------------------------
def evaluate(
    records: Sequence[Record], rulebook: Rulebook, as_of: date, kind: SubjectKind
) -> Result:
    """Score one subject's records under ``rulebook`` as of ``as_of`` (see the module doc).

    ``records`` are the subject's own records with revoked ones already removed; they may
    come in any order.
    """
    tables = _tables(rulebook, kind)
    items = _settle(records, rulebook, tables, as_of, kind, {})
    counting = [it for it in items if it.counts]
    points_score = rulebook.score.base + sum(it.points for it in counting)
    score, grade = _score_and_grade(points_score, counting, rulebook, tables)
    memberships = _lists(items, rulebook, tables, as_of, grade, score)
    return Result(
        rulebook=rulebook.name,
        version=rulebook.version,
        as_of=as_of,
        kind=kind,
        base=rulebook.score.base,
        points_score=points_score,
        score=score,
        grade=grade,
        lists=tuple(memberships),
        measures=_measures(tables, memberships),
        contributions=tuple([_contribution(it, rulebook, tables) for it in items]),
        reasons=_reasons(items, rulebook),
    )


def _settle(
    records: Iterable[Record],
    rb: Rulebook,
    tables: _Tables,
    as_of: date,
    kind: SubjectKind,
    decisions: dict[tuple[str, str], str | None],
) -> list[_Item]:
    """Steps 1-11: every record's points, validity and status at ``as_of``."""
    considered = sorted([r for r in records if r.occurred_on <= as_of], key=_ORDER)
    plans = tables.plans
    # _classify(record, plan, rb) for every record, without the call for the simple ones.
    items = [
        _Item(r, plan, plan.base, plan.direct)
        if (plan := plans.get(r.type)) is not None and plan.simple
        else _classify(r, plan, rb)
        for r in considered
    ]
    _relate(items)
    if rb.counting.one_act_one_item:
        _one_act_one_item(items, rb)
    if tables.conditional and any(
        it.rule is not None and it.rule.only_if is not None for it in items
    ):
        _conditions(items, rb, tables, kind, decisions)
    _repeats_and_validity(items, rb)
    _corrections(items, tables, kind)
    _freezes(items)
    if rb.counting.annual_caps:
        _annual_caps(items, rb.counting.annual_caps)
    _status_at(items, rb, as_of)
    return items


# -- step 3: classify -------------------------------------------------------------------------
#: Step 2's order, as a key function written in C.
_ORDER = attrgetter("occurred_on", "ref", "provider")


def _classify(record: Record, plan: _Plan | None, rb: Rulebook) -> _Item:
    """The item of a record whose plan is not simple (``_settle`` makes the simple ones
    itself): an unknown type, a type the kind has none of, or one scored by tiers."""
    item = _Item(record, plan, 0, None)
    if plan is None:
        item.status = _NOT_SCORED
        item.say("type {!r} is not in rulebook {} {}", record.type, rb.name, rb.version)
    elif plan.refusal is not None:
        item.status = _NOT_SCORED
        item.notes = [plan.refusal]
    elif plan.tiers_by is not None:
        rule = plan.rule
        value = getattr(record, plan.tiers_by)
        if value is None:
            item.status = _NOT_SCORED
            item.say("{!r} scores by {}; the record has none", rule.code, plan.tiers_by)
        else:
            item.points = item.base = rule.tier_points(value)
            item.say("{}", _tier_text(rule, value, item.base))
    return item


def _tier_text(rule: RecordRule, value: float, points: int) -> str:
    reached = [t for t in rule.tiers if value >= t.start]
    if not reached:
        return f"{rule.tiers_by} {value:g} is below the first tier ({rule.tiers[0].start:g})"
    tier = reached[-1]
    rate = f"{tier.points:+d} per full {tier.per:g}" if tier.per is not None else ""
    text = f"{rule.tiers_by} {value:g} reaches the tier from {tier.start:g}"
    text += f" ({rate})" if rate else ""
    if rule.max_points is not None and abs(tier.points_for(value)) > rule.max_points:
        text += f", limited to {rule.max_points} per record"
    return f"{text}: {points:+d}"


# -- step 4: relate ---------------------------------------------------------------------------
def _relate(items: list[_Item]) -> None:
    relating = [it for it in items if it.record.relates_to is not None]
    if not relating:
        return
    # Only the refs something relates to are indexed: most records are nobody's target.
    wanted = {it.record.relates_to for it in relating}
    by_ref: dict[str, list[_Item]] = {}
    for it in items:
        if it.record.ref in wanted:
            by_ref.setdefault(it.record.ref, []).append(it)
    for it in relating:
        ref = it.record.relates_to
        assert ref is not None
        candidates = [c for c in by_ref.get(ref, ()) if c is not it]
        same_provider = [c for c in candidates if c.record.provider == it.record.provider]
        preferred = same_provider or candidates
        it.target = preferred[0] if preferred else None


# -- step 5: one act, one item ----------------------------------------------------------------
def _one_act_one_item(items: list[_Item], rb: Rulebook) -> None:
    groups: dict[tuple[str, Polarity], list[_Item]] = {}
    for it in items:
        act = it.record.act
        if act is not None and it.scored:
            assert it.rule is not None
            groups.setdefault((act, it.rule.polarity), []).append(it)
    for (act, _), members in groups.items():
        if len(members) < 2:
            continue
        # max() keeps the first of equals, and members are in engine order: ties go earliest.
        winner = max(members, key=lambda it: _severity(it, rb))
        for it in members:
            if it is not winner:
                it.status = _SUPERSEDED
                it.say(
                    "superseded by {}: only the most severe item of act {!r} counts",
                    winner.record.ref,
                    act,
                )


def _severity(item: _Item, rb: Rulebook) -> tuple[int, int]:
    if item.direct is not None:
        return (1, rb.grade_rank(item.direct))
    return (0, abs(item.base))


# -- step 6: conditions -----------------------------------------------------------------------
def _conditions(
    items: list[_Item],
    rb: Rulebook,
    tables: _Tables,
    kind: SubjectKind,
    decisions: dict[tuple[str, str], str | None],
) -> None:
    """Decide ``only_if`` records in order; decisions are shared with the nested evaluations."""
    counted_on: dict[str, list[date]] = {}
    for it in items:
        rule = it.rule
        if rule is None or rule.only_if is None or not it.scored:
            continue
        day = it.record.occurred_on
        key = (it.record.provider, it.record.ref)
        if key not in decisions:
            decisions[key] = _condition_refusal(items, it, rb, tables, kind, decisions, counted_on)
        refusal = decisions[key]
        if refusal is None:
            counted_on.setdefault(rule.code, []).append(day)
        else:
            it.status = _INELIGIBLE
            it.say("{}", refusal)


def _condition_refusal(
    items: list[_Item],
    item: _Item,
    rb: Rulebook,
    tables: _Tables,
    kind: SubjectKind,
    decisions: dict[tuple[str, str], str | None],
    counted_on: Mapping[str, list[date]],
) -> str | None:
    """None if the record's condition holds, else why not."""
    rule = item.rule
    assert rule is not None and rule.only_if is not None
    condition = rule.only_if
    day = item.record.occurred_on
    if condition.once_per is not None:
        for earlier in counted_on.get(rule.code, ()):
            if day < condition.once_per.end(earlier):
                return (
                    f"an earlier {rule.code!r} counted on {earlier}: at most once in "
                    f"{condition.once_per}"
                )
    before = [it.record for it in items if it.record.occurred_on < day]
    previous = _settle(before, rb, tables, day, kind, decisions)
    counting = [it for it in previous if it.counts]
    points_score = rb.score.base + sum(it.points for it in counting)
    score, _ = _score_and_grade(points_score, counting, rb, tables)
    if not condition.admits(score):
        low = "" if condition.score_min is None else condition.score_min
        high = "" if condition.score_max is None else condition.score_max
        return f"the score on {day} was {score}; this counts only at {low}..{high}"
    return None


# -- step 7: repeats and validity -------------------------------------------------------------
def _repeats_and_validity(items: list[_Item], rb: Rulebook) -> None:
    factor = rb.counting.repeat_factor
    # Per class, the last day of the earlier counted deduction valid longest: every earlier
    # one began on or before this record's day, so one of them holds on it iff that one does.
    longest: dict[str, tuple[date, _Item]] = {}
    for it in items:
        plan = it.plan
        if plan is None or plan.corrects or it.status is _NOT_SCORED:
            continue
        day = it.record.occurred_on
        # plan.repeats: a negative point type that doubles, under a rulebook with a factor.
        repeatable = plan.repeats and it.status is None and it.base != 0
        previous = longest.get(plan.category) if repeatable else None
        span = plan.span
        if previous is not None and previous[0] >= day:
            assert factor is not None
            it.points = it.base * factor
            it.doubled = True
            it.say(
                "x{} as a repeat in class {!r}: {} counts until {} ({:+d} -> {:+d})",
                factor,
                plan.category,
                previous[1].record.ref,
                previous[0],
                it.base,
                it.points,
            )
            span = None
        # The type's own validity, else its direct grade's, else the default by size.
        until = last_day(day, span if span is not None else plan.span_for(it.points))
        it.valid_from, it.valid_until = day, until
        if repeatable and (previous is None or until > previous[0]):
            longest[plan.category] = (until, it)


# -- step 8: corrections and repairs ----------------------------------------------------------
def _corrections(items: list[_Item], tables: _Tables, kind: SubjectKind) -> None:
    for it in items:
        rule = it.rule
        if rule is None or not rule.corrects or it.status is not None:
            continue
        target = it.target
        day = it.record.occurred_on
        if target is None:
            it.status = _NOT_SCORED
            it.say("relates to {!r}: no record of this subject", it.record.relates_to)
            continue
        if target.record.occurred_on > day:
            it.status = _NOT_SCORED
            it.say("relates to {}, which occurred later", target.record.ref)
            continue
        if target.corrected_by is not None:
            it.status = _NOT_SCORED
            it.say(
                "{} was already corrected by {}", target.record.ref, target.corrected_by.record.ref
            )
            continue
        target.corrected_by = it
        target.say("corrected on {} by {}", day, it.record.ref)
        it.say("corrects {}", target.record.ref)
        repair = tables.repairs.get((target.record.type, it.record.type))
        if repair is not None:
            _repair(it, target, repair, kind)


def _repair(item: _Item, target: _Item, repair: RepairRule, kind: SubjectKind) -> None:
    day = item.record.occurred_on
    if not target.holds_on(day):
        item.say("{} no longer held on {}: nothing to repair", target.record.ref, day)
        return
    target.valid_until = day - ONE_DAY
    if target.status is not None:  # superseded: its listing ends, but it never counted
        target.say("ended on {} by {}", day, item.record.ref)
        return
    target.status = _REPAIRED
    target.say("direct grade {} ended on {} by {}", target.direct, day, item.record.ref)
    item.repair = repair
    item.points = repair.points[kind]
    item.valid_from = day
    item.valid_until = repair.validity.last_day(day)
    item.say(
        "{}: direct grade {} of {} becomes {:+d} for {}",
        repair.title,
        target.direct,
        target.record.ref,
        item.points,
        repair.validity,
    )


# -- step 9: freezes --------------------------------------------------------------------------
def _freezes(items: list[_Item]) -> None:
    spans: list[tuple[date, date, _Item]] = []  # [from, to) while additions are frozen
    for it in items:
        if it.direct is None or it.status not in (None, _REPAIRED):
            continue
        assert it.valid_from is not None and it.valid_until is not None
        end = it.valid_until + ONE_DAY
        if it.corrected_by is not None:
            end = min(end, it.corrected_by.record.occurred_on)
        if it.valid_from < end:
            spans.append((it.valid_from, end, it))
    if not spans:
        return
    # Merge into disjoint periods [starts[i], ends[i]), each remembering the direct grades
    # that froze it (in order of their start: a long history has many overlapping ones).
    spans.sort(key=_SPAN_ORDER)
    starts: list[date] = []
    ends: list[date] = []
    causes: list[list[tuple[date, date, _Item]]] = []
    for span in spans:
        if ends and span[0] <= ends[-1]:
            if span[1] > ends[-1]:
                ends[-1] = span[1]
            causes[-1].append(span)
        else:
            starts.append(span[0])
            ends.append(span[1])
            causes.append([span])
    # Days only grow (items are in order), and a direct grade that did not hold on an earlier
    # day of its period had ended by then: each period's search for the first one holding
    # resumes where its last one stopped.
    resume = [0] * len(causes)
    for it in items:
        plan = it.plan
        if it.status is not None or plan is None or not plan.positive or plan.corrects:
            continue  # only scored additions are frozen
        day = it.record.occurred_on
        at = bisect_right(starts, day) - 1
        if at < 0 or day >= ends[at]:
            continue
        parts, k = causes[at], resume[at]
        while not parts[k][0] <= day < parts[k][1]:
            k += 1
        resume[at] = k
        cause = parts[k][2]
        it.valid_from = ends[at]
        it.say(
            "recorded while additions were frozen (direct grade {} of {} uncorrected); "
            "counts from {} until {}",
            cause.direct,
            cause.record.ref,
            ends[at],
            it.valid_until,
        )


_SPAN_ORDER = itemgetter(0, 1)


# -- step 10: annual caps ---------------------------------------------------------------------
def _annual_caps(items: list[_Item], caps: Sequence[AnnualCap]) -> None:
    for cap in caps:
        room: dict[int, int] = {}
        for it in items:
            plan = it.plan
            if plan is None or plan.category != cap.category or not it.points:
                continue
            if it.status is not None or plan.corrects:
                continue  # not scored
            year = it.record.occurred_on.year
            left = room.setdefault(year, cap.points)
            size = min(abs(it.points), left)
            room[year] = left - size
            if size < abs(it.points):
                it.capped = True
                it.say(
                    "annual cap of {} for {!r} in {}: {} of {} count",
                    cap.points,
                    cap.category,
                    year,
                    size,
                    abs(it.points),
                )
                it.points = size if it.points > 0 else -size


# -- step 11: status at the moment ------------------------------------------------------------
def _status_at(items: list[_Item], rb: Rulebook, as_of: date) -> None:
    history = rb.validity.history
    best: dict[str, _Item] = {}
    for it in items:
        if it.status is not None or it.valid_from is None or it.valid_until is None:
            continue
        if as_of > it.valid_until:  # valid_until says until when: no text needed
            erased = history is not None and as_of >= history.end(it.valid_until + ONE_DAY)
            it.status = _ERASED if erased else _EXPIRED
        elif as_of < it.valid_from:
            it.status = _FROZEN
        else:
            it.counts = True
            rule = it.rule
            if rule is not None and rule.count_highest:
                held = best.get(rule.code)
                if held is None or (abs(it.points), it.record.occurred_on) >= (
                    abs(held.points),
                    held.record.occurred_on,
                ):
                    best[rule.code] = it
    for it in items:
        rule = it.rule
        if it.counts and rule is not None and rule.count_highest:
            top = best[rule.code]
            if it is not top:
                it.counts = False
                it.status = _SUPERSEDED
                it.say("only the highest tier counts: {} ({:+d})", top.record.ref, top.points)


# -- step 12: score and grade -----------------------------------------------------------------
def _score_and_grade(
    points_score: int, counting: list[_Item], rb: Rulebook, tables: _Tables
) -> tuple[int, str]:
    score = rb.score.clamp(points_score)
    directs = [it.direct for it in counting if it.direct is not None]
    caps = tables.direct_caps
    for grade in directs:
        cap = caps[grade]
        score = min(score, cap) if rb.score.higher_is_better else max(score, cap)
    grade = max([rb.grade_for(score), *directs], key=rb.grade_rank)
    return score, grade


# -- step 13: lists, measures, reasons --------------------------------------------------------
def _lists(
    items: list[_Item], rb: Rulebook, tables: _Tables, as_of: date, grade: str, score: int
) -> dict[str, tuple[date | None, date | None]]:
    """The lists the subject is on, each with since/until where the records determine it."""
    listed = tables.listed
    holding: dict[str, list[_Item]] = {}  # by type: records holding now, superseded or not
    for it in items:
        code = it.record.type
        if code in listed and it.status in (None, _SUPERSEDED) and it.holds_on(as_of):
            holding.setdefault(code, []).append(it)
    on: dict[str, tuple[date | None, date | None]] = {}
    for listing in rb.lists:
        if grade in listing.grades or listing.admits_score(score):
            on[listing.code] = (None, None)
            continue
        held = [it for code in listing.types for it in holding.get(code, ())]
        if held:
            on[listing.code] = (
                min(it.valid_from for it in held if it.valid_from is not None),
                max(it.valid_until for it in held if it.valid_until is not None),
            )
    return on


def _measures(
    tables: _Tables, memberships: Mapping[str, tuple[date | None, date | None]]
) -> tuple[AppliedMeasure, ...]:
    if not memberships:
        return ()
    applied = []
    for m in tables.measures:  # those for the subject's kind
        for trigger in m.lists:  # the first list it follows that the subject is on
            if trigger in memberships:
                break
        else:
            continue
        since, until = memberships[trigger]
        if since is None and until is None:
            applied.append(tables.unbounded[(m.code, trigger)])
        else:
            applied.append(_applied(m, trigger, since, until))
    return tuple(applied)


def _reasons(items: list[_Item], rb: Rulebook) -> tuple[Reason, ...]:
    """At most four adverse factors, most important first (see step 13), one per type.

    Ranked first and put into words after, so a long history costs no text it won't show.
    """
    directs: dict[str, list[_Item]] = {}
    totals: dict[str, list[_Item]] = {}
    frozen: list[_Item] = []
    for it in items:
        if not it.counts:  # most of a long history: expired, or frozen until a correction
            if it.status is _FROZEN:
                frozen.append(it)
            continue
        plan = it.plan
        assert plan is not None, "only scored records count"
        if it.direct is not None:
            directs.setdefault(plan.reason_key, []).append(it)
        elif it.repair is not None:
            totals.setdefault(f"repair:{it.repair.code}", []).append(it)
        elif plan.negative and it.points:
            totals.setdefault(plan.points_key, []).append(it)
    rank = rb.grade_rank
    ranked: list[tuple[tuple[int, int, str], list[_Item]]] = [
        ((0, -rank(str(group[0].direct)), code), group) for code, group in directs.items()
    ]
    ranked += [
        ((1, -abs(sum([it.points for it in group])), code), group) for code, group in totals.items()
    ]
    if frozen:
        ranked.append(((2, 0, "frozen_additions"), frozen))
    ranked.sort(key=_RANK_ORDER)
    reasons = []
    for (kind, _, code), group in ranked[:MAX_REASONS]:
        if kind == 0:
            reasons.append(_direct_reason(code, group))
        elif kind == 1:
            reasons.append(_points_reason(code, group))
        else:
            reasons.append(_frozen_reason(group))
    return tuple(reasons)


_RANK_ORDER = itemgetter(0)


def _direct_reason(code: str, group: list[_Item]) -> Reason:
    rule = group[0].rule
    assert rule is not None
    grade = group[0].direct
    until = max(it.valid_until for it in group if it.valid_until is not None)
    return Reason(
        code=code,
        points=0,
        refs=tuple(it.record.ref for it in group),
        text_en=f"Grade {grade} set directly: {rule.title} (until {until}).",
        text_zh=f"直接评定为{grade}级：{rule.title_zh or rule.title}（有效期至{until}）。",
    )


def _points_reason(code: str, group: list[_Item]) -> Reason:
    total = sum(it.points for it in group)
    first = group[0]
    rule = first.rule
    assert rule is not None
    if first.repair is not None:
        title, title_zh = first.repair.title, first.repair.title_zh or first.repair.title
    else:
        title, title_zh = rule.title, rule.title_zh or rule.title
    count = len(group)
    return Reason(
        code=code,
        points=total,
        refs=tuple(it.record.ref for it in group),
        text_en=f"{total:+d} points: {title} ({count} record{'s' if count != 1 else ''}).",
        text_zh=f"{total:+d}分：{title_zh}（{count}条记录）。",
    )


def _frozen_reason(frozen: list[_Item]) -> Reason:
    total = sum(it.points for it in frozen)
    count = len(frozen)
    return Reason(
        code="frozen_additions",
        points=total,
        refs=tuple(it.record.ref for it in frozen),
        text_en=(
            f"{count} addition{'s' if count != 1 else ''} worth {total:+d} points do not count "
            "until the conduct behind a direct grade is corrected."
        ),
        text_zh=f"直接评级所涉行为纠正前，{count}项加分（共{total:+d}分）暂不计入。",
    )


def _contribution(item: _Item, rb: Rulebook, tables: _Tables) -> Contribution:
    plan = item.plan
    record = item.record
    status = item.status
    if status is None:
        status = _CAPPED if item.capped else _DOUBLED if item.doubled else _COUNTED
    if item.repair is not None:
        path, basis = item.repair.path, item.repair.legal_basis or rb.meta.legal_basis
    elif plan is not None:
        path, basis = plan.path, plan.basis
    else:
        path, basis = None, None
    if item.counts and item.direct is not None:
        item.say(
            "grade {} directly: caps the score at {}", item.direct, tables.direct_caps[item.direct]
        )
    points = item.points
    notes = item.notes
    # tuple.__new__ with the fields in order: what the named tuple's own constructor does,
    # without its Python-level argument handling (a result builds one per record).
    return _new_contribution(
        Contribution,
        (
            record.ref,
            record.provider,
            record.type,
            record.occurred_on,
            item.base,
            points,
            points if item.counts else 0,
            status,
            tuple(notes) if notes else (),
            item.valid_from,
            item.valid_until,
            item.direct,
            path,
            basis,
        ),
    )


_new_contribution = tuple.__new__
