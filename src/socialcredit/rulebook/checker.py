"""Meaning checks: what the schema cannot say, and the lines we do not cross.

A rulebook can be well-formed and still unusable or unlawful: grade bands with a gap leave
some scores without a grade, a negative record without validity never expires, a restriction
without legal basis is forbidden (GuoBanFa (2020) No. 49), a list naming nothing silently
lists no one, and a record type about petitions or religion must never be scored at all. Each
problem names the entry and, for a line crossed, the line.
"""

from __future__ import annotations

import math
from itertools import pairwise

from socialcredit.catalog import Polarity
from socialcredit.lines import crossed_lines, reaches_other_subjects
from socialcredit.rulebook.model import (
    GradeBand,
    ListDef,
    Measure,
    MeasureKind,
    RecordRule,
    RepairRule,
    Rulebook,
    ValidityRule,
)
from socialcredit.rulebook.problems import Problem, entry_path


def check(rulebook: Rulebook) -> list[Problem]:
    """Every meaning problem of ``rulebook``; empty when it may be activated."""
    problems: list[Problem] = []
    problems += _score_problems(rulebook)
    problems += _grade_problems(rulebook)
    for name in ("positive", "negative"):
        rule = getattr(rulebook.validity, name)
        if rule is not None:
            problems += _step_problems(f"validity.{name}", rule)
    for rule in rulebook.types.values():
        problems += _type_problems(rulebook, rule)
    categories = {t.category for t in rulebook.types.values()}
    for i, cap in enumerate(rulebook.counting.annual_caps):
        if cap.category not in categories:
            problems.append(
                Problem(
                    f"counting.annual_caps[{i}]",
                    f"names nothing: no record type has category {cap.category!r}",
                )
            )
    for repair in rulebook.repairs:
        problems += _repair_problems(rulebook, repair)
    for listing in rulebook.lists:
        problems += _list_problems(rulebook, listing)
    for measure in rulebook.measures:
        problems += _measure_problems(rulebook, measure)
    return problems


def _line_problems(path: str, code: str, title: str, category: str = "") -> list[Problem]:
    return [
        Problem(path, f"{c}: no rulebook may use {c.line}", c.line)
        for c in crossed_lines(code, title, category)
    ]


def _target_problem(path: str, text: str) -> list[Problem]:
    crossing = reaches_other_subjects(text)
    if crossing is None:
        return []
    return [Problem(path, f"{crossing}: it may act only on the listed subject", crossing.line)]


# -- score and grades ---------------------------------------------------------------------------
def _score_problems(rb: Rulebook) -> list[Problem]:
    low, high, base = rb.score.minimum, rb.score.maximum, rb.score.base
    if low is not None and high is not None and low > high:
        return [Problem("score", f"min {low} is above max {high}")]
    if rb.score.clamp(base) != base:
        return [Problem("score.base", f"{base} lies outside the bounds min..max")]
    return []


def _grade_problems(rb: Rulebook) -> list[Problem]:
    problems = []
    names: set[str] = set()
    for i, band in enumerate(rb.grades):
        if band.grade in names:
            problems.append(Problem(f"grades[{i}]", f"grade {band.grade!r} is defined twice"))
        names.add(band.grade)
        if band.minimum is not None and band.maximum is not None and band.minimum > band.maximum:
            reason = f"min {band.minimum} is above max {band.maximum}"
            problems.append(Problem(f"grades[{i}]", reason))
        if band.minimum is None and band.maximum is None and len(rb.grades) > 1:
            problems.append(Problem(f"grades[{i}]", "give min or max: the band covers every score"))
    if problems:
        return problems
    # Bands in ascending score order, with their index in the file (listed best first).
    ascending = list(enumerate(rb.grades))
    if rb.score.higher_is_better:
        ascending.reverse()

    def key(band: GradeBand) -> tuple[float, float]:
        return (
            -math.inf if band.minimum is None else band.minimum,
            math.inf if band.maximum is None else band.maximum,
        )

    if [key(b) for _, b in ascending] != sorted(key(b) for _, b in ascending):
        direction = "higher" if rb.score.higher_is_better else "lower"
        return [Problem("grades", f"list the bands best first (score.better = {direction!r})")]
    first_i, first = ascending[0]
    last_i, last = ascending[-1]
    low, high = rb.score.minimum, rb.score.maximum
    if first.minimum is not None and (low is None or first.minimum > low):
        problems.append(
            Problem(
                f"grades[{first_i}]",
                f"gap: scores below {first.minimum} have no grade (leave min out or set score.min)",
            )
        )
    if last.maximum is not None and (high is None or last.maximum < high):
        problems.append(
            Problem(
                f"grades[{last_i}]",
                f"gap: scores above {last.maximum} have no grade (leave max out or set score.max)",
            )
        )
    for (_, lower), (j, upper) in pairwise(ascending):
        if lower.maximum is None or upper.minimum is None or upper.minimum <= lower.maximum:
            problems.append(Problem(f"grades[{j}]", f"{upper} overlaps {lower}"))
        elif upper.minimum > lower.maximum + 1:
            problems.append(
                Problem(
                    f"grades[{j}]",
                    f"gap: scores {lower.maximum + 1}..{upper.minimum - 1} between {lower} and "
                    f"{upper} have no grade",
                )
            )
    return problems


def _step_problems(path: str, rule: ValidityRule) -> list[Problem]:
    problems = []
    bounds = [s.up_to for s in rule.steps]
    if bounds[-1] is not None:
        problems.append(
            Problem(
                f"{path}[{len(bounds) - 1}]",
                "the last step needs no up_to, so records of every size expire",
            )
        )
    for i, (a, b) in enumerate(pairwise(bounds), start=1):
        if a is None or (b is not None and b <= a):
            problems.append(Problem(f"{path}[{i}]", "steps must grow: up_to larger each time"))
    return problems


# -- record types -------------------------------------------------------------------------------
def _adverse_sign(rb: Rulebook) -> int:
    """The sign of points that make a score worse: -1 where higher is better."""
    return -1 if rb.score.higher_is_better else 1


def _type_problems(rb: Rulebook, t: RecordRule) -> list[Problem]:
    path = t.path
    problems = _line_problems(path, t.code, f"{t.title} {t.title_zh or ''}", t.category)
    forms = [
        name
        for name, used in (
            ("points", t.points is not None),
            ("direct_grade", t.direct_grade is not None),
            ("tiers", bool(t.tiers)),
        )
        if used
    ]
    if t.corrects and forms:
        problems.append(Problem(path, f"a corrects type scores nothing itself; remove {forms[0]}"))
    elif not t.corrects and len(forms) != 1:
        problems.append(
            Problem(
                path,
                'give exactly one of points, direct_grade or tiers (or effect = "corrects")'
                + (f"; found {' and '.join(forms)}" if forms else ""),
            )
        )
    problems += _sign_problems(rb, t)
    if t.points is not None:
        missing = sorted(k.value for k in t.kinds - t.points.keys())
        if missing:
            problems.append(Problem(f"{path}.points", f"no points for {', '.join(missing)}"))
    if t.direct_grade is not None:
        problems += _direct_grade_problems(rb, t)
    elif not t.corrects and t.validity is None and rb.validity.rule_for(t.polarity) is None:
        problems.append(
            Problem(
                path,
                f"validity missing: give validity here or a default validity.{t.polarity.value}"
                "; every record must expire",
            )
        )
    for i, (a, b) in enumerate(pairwise(t.tiers), start=1):
        if b.start <= a.start:
            problems.append(Problem(f"{path}.tiers[{i}]", "tiers must be listed by growing from"))
    if not t.repeat_doubling and rb.counting.repeat_factor is None:
        problems.append(
            Problem(
                f"{path}.repeat_doubling",
                "has no effect: the rulebook sets no counting.repeat_factor",
            )
        )
    if t.count_highest and t.direct_grade is not None:
        problems.append(Problem(f"{path}.count", "a direct grade has no points to compare"))
    if t.only_if is not None:
        low, high = t.only_if.score_min, t.only_if.score_max
        if low is not None and high is not None and low > high:
            reason = f"score_min {low} is above score_max {high}"
            problems.append(Problem(f"{path}.only_if", reason))
    return problems


def _sign_problems(rb: Rulebook, t: RecordRule) -> list[Problem]:
    """A negative record must never improve a score, nor a positive one worsen it."""
    adverse = _adverse_sign(rb) if t.polarity is Polarity.NEGATIVE else -_adverse_sign(rb)
    values = list(t.points.values()) if t.points is not None else []
    values += [tier.points for tier in t.tiers]
    if any(v * adverse < 0 for v in values):
        better = "higher" if rb.score.higher_is_better else "lower"
        return [
            Problem(
                t.path,
                f"a {t.polarity.value} record must not move the score the other way "
                f"(score.better = {better!r}): check the sign of its points",
            )
        ]
    return []


def _direct_grade_problems(rb: Rulebook, t: RecordRule) -> list[Problem]:
    path = f"{t.path}.direct_grade"
    grades = {band.grade: band for band in rb.grades}
    band = grades.get(t.direct_grade or "")
    if band is None:
        return [Problem(path, f"unknown grade {t.direct_grade!r} (grades: {', '.join(grades)})")]
    if t.polarity is not Polarity.NEGATIVE:
        return [Problem(path, "only negative records may set a grade directly")]
    if band.minimum is None and band.maximum is None:
        return [Problem(path, f"grade {band.grade!r} has no bound to cap the score at")]
    if band.direct_validity is None and t.validity is None:
        return [
            Problem(
                path,
                f"validity missing: give grades[{rb.grade_rank(band.grade)}].direct_validity"
                f" for {band.grade!r}; every record must expire",
            )
        ]
    return []


# -- repairs, lists, measures -------------------------------------------------------------------
def _unknown_types(path: str, codes: frozenset[str], rb: Rulebook) -> list[Problem]:
    unknown = sorted(codes - rb.types.keys())
    return [Problem(path, f"unknown record type {code!r}") for code in unknown]


def _repair_problems(rb: Rulebook, r: RepairRule) -> list[Problem]:
    path = r.path
    problems = _line_problems(path, r.code, f"{r.title} {r.title_zh or ''}")
    problems += _unknown_types(f"{path}.ends", r.ends, rb)
    problems += _unknown_types(f"{path}.by", r.by, rb)
    for code in sorted(r.ends & rb.types.keys()):
        ended = rb.types[code]
        if ended.direct_grade is None:
            problems.append(Problem(f"{path}.ends", f"{code!r} sets no direct grade to end"))
        missing = sorted(k.value for k in ended.kinds - r.points.keys())
        if missing:
            problems.append(
                Problem(
                    f"{path}.points",
                    f"no points for {', '.join(missing)}, to whom {code!r} applies",
                )
            )
    for code in sorted(r.by & rb.types.keys()):
        if not rb.types[code].corrects:
            problems.append(Problem(f"{path}.by", f"{code!r} is not a corrects type"))
    if any(v * _adverse_sign(rb) < 0 for v in r.points.values()):
        problems.append(Problem(f"{path}.points", "a repair deduction must not improve the score"))
    return problems


def _list_problems(rb: Rulebook, x: ListDef) -> list[Problem]:
    path = entry_path(["lists", x.code])
    problems = _line_problems(path, x.code, x.title)
    problems += _target_problem(path, f"{x.code} {x.title}")
    criteria = [
        name
        for name, used in (
            ("grades", bool(x.grades)),
            ("score", x.score_range is not None),
            ("types", bool(x.types)),
        )
        if used
    ]
    if not criteria:
        problems.append(Problem(path, "names nothing: give grades, score or types"))
    elif len(criteria) > 1:
        problems.append(Problem(path, f"give one criterion, not {' and '.join(criteria)}"))
    known = {band.grade for band in rb.grades}
    problems += [
        Problem(f"{path}.grades", f"unknown grade {g!r}") for g in sorted(x.grades - known)
    ]
    problems += _unknown_types(f"{path}.types", x.types, rb)
    if x.score_range is not None:
        low, high = x.score_range
        if low is None and high is None:
            problems.append(Problem(f"{path}.score", "names nothing: give min, max or both"))
        elif low is not None and high is not None and low > high:
            problems.append(Problem(f"{path}.score", f"min {low} is above max {high}"))
    return problems


def _measure_problems(rb: Rulebook, m: Measure) -> list[Problem]:
    path = entry_path(["measures", m.code])
    problems = _line_problems(path, m.code, f"{m.title} {m.context}")
    problems += _target_problem(path, f"{m.code} {m.title}")
    if not m.lists:
        problems.append(Problem(f"{path}.lists", "names nothing: give the lists that trigger it"))
    known = {x.code for x in rb.lists}
    problems += [
        Problem(f"{path}.lists", f"unknown list {code!r}") for code in m.lists if code not in known
    ]
    if m.kind is MeasureKind.RESTRICTION and not (m.legal_basis or "").strip():
        problems.append(
            Problem(
                f"{path}.legal_basis",
                "a restriction needs a legal basis (GuoBanFa (2020) No. 49): cite law and article",
            )
        )
    return problems
