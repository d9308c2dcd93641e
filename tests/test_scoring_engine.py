"""Engine rules that the shipped rulebooks cannot show on their own, on small rulebooks.

Rongcheng's repair deduction falls in the "judgment" class, where no other type carries
points, so its reading ("never doubled, never makes later deductions repeats") is proved here
on a rulebook where the repair shares a class with ordinary deductions.
"""

from __future__ import annotations

from datetime import date

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import parse_rulebook
from socialcredit.scoring import Status, evaluate

RULES = """
language = 1

[meta]
name = "engine"
version = "1"
title = "Engine test rulebook"
legal_basis = "Test Act"

[score]
base = 1000
better = "higher"

[[grades]]
grade = "A"
min = 900

[[grades]]
grade = "D"
max = 899
direct_validity = "5y"

[validity]
negative = [{ up_to = 40, period = "1y" }, { period = "2y" }]
positive = "1y"

[counting]
repeat_factor = 2

[types."court.fine"]
title = "Fined by a court"
category = "judgment"
polarity = "negative"
kinds = "any"
points = -20

[types."court.listed"]
title = "Listed as a debtor"
category = "judgment"
polarity = "negative"
kinds = "any"
direct_grade = "D"

[types."court.performed"]
title = "Performed the judgment"
category = "judgment"
polarity = "positive"
kinds = "any"
effect = "corrects"

[repairs.performed]
title = "Repair deduction"
ends = ["court.listed"]
by = ["court.performed"]
points = -50
validity = "2y"
"""
RULEBOOK = parse_rulebook(RULES)
LOWER_IS_BETTER = parse_rulebook(
    RULES.replace('better = "higher"', 'better = "lower"')
    .replace("base = 1000", "base = 0")
    .replace('grade = "A"\nmin = 900', 'grade = "A"\nmax = 10')
    .replace('grade = "D"\nmax = 899', 'grade = "D"\nmin = 11')
    .replace("points = -20", "points = 20")
    .replace("points = -50", "points = 50")
)
SUBJECT = SubjectRef(SubjectKind.PERSON, "11010519491231002X")


def rec(ref: str, type_: str, day: str, relates_to: str | None = None) -> Record:
    return Record("court", ref, SUBJECT, type_, date.fromisoformat(day), relates_to=relates_to)


def test_a_repair_deduction_is_never_doubled() -> None:
    # -20 fine 2025-01-10 (to 2026-01-09) is valid when the listing is repaired on 2025-03-01:
    # the repair is -50, not -100. 1000 - 20 - 50 = 930
    records = [
        rec("f", "court.fine", "2025-01-10"),
        rec("l", "court.listed", "2025-02-01"),
        rec("p", "court.performed", "2025-03-01", relates_to="l"),
    ]
    result = evaluate(records, RULEBOOK, date(2025, 4, 1), SubjectKind.PERSON)
    assert result.score == 930
    performed = next(c for c in result.contributions if c.ref == "p")
    assert (performed.points, performed.status) == (-50, Status.COUNTED)


def test_a_repair_deduction_makes_no_later_deduction_a_repeat() -> None:
    # repair -50 from 2025-03-01 (to 2027-02-28); a -20 fine on 2025-04-01 stays -20: 930
    records = [
        rec("l", "court.listed", "2025-02-01"),
        rec("p", "court.performed", "2025-03-01", relates_to="l"),
        rec("f", "court.fine", "2025-04-01"),
    ]
    result = evaluate(records, RULEBOOK, date(2025, 5, 1), SubjectKind.PERSON)
    assert result.score == 930
    assert next(c for c in result.contributions if c.ref == "f").status is Status.COUNTED


def test_where_lower_is_better_a_direct_grade_raises_the_score_to_its_band() -> None:
    # points count up; a direct D caps at the worst end of its band from below: at least 11
    records = [rec("f", "court.fine", "2025-01-10"), rec("l", "court.listed", "2025-02-01")]
    result = evaluate(records, LOWER_IS_BETTER, date(2025, 3, 1), SubjectKind.PERSON)
    assert (result.points_score, result.score, result.grade) == (20, 20, "D")
    alone = evaluate(records[1:], LOWER_IS_BETTER, date(2025, 3, 1), SubjectKind.PERSON)
    assert (alone.points_score, alone.score, alone.grade) == (0, 11, "D")


def test_a_correction_that_comes_too_late_or_twice_has_no_effect() -> None:
    records = [
        rec("l", "court.listed", "2025-02-01"),
        rec("early", "court.performed", "2025-01-01", relates_to="l"),
        rec("p1", "court.performed", "2025-03-01", relates_to="l"),
        rec("p2", "court.performed", "2025-04-01", relates_to="l"),
        rec("lost", "court.performed", "2025-04-02", relates_to="nothing"),
    ]
    result = evaluate(records, RULEBOOK, date(2025, 5, 1), SubjectKind.PERSON)
    statuses = {c.ref: c.status for c in result.contributions}
    assert statuses == {
        "early": Status.NOT_SCORED,  # relates to a record that occurred later
        "l": Status.REPAIRED,
        "p1": Status.COUNTED,
        "p2": Status.NOT_SCORED,  # already corrected by p1
        "lost": Status.NOT_SCORED,  # relates to no record of this subject
    }
    assert result.score == 950
