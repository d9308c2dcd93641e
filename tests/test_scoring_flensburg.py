"""Worked cases for the ``flensburg`` rulebook, derived by hand from reference/flensburg.md.

"2.5 years" is read as 2 years and 6 months on the calendar: an entry whose decision became
final on D is deleted on the same date 2 years 6 months later and counts up to the day before.
"""

from __future__ import annotations

from datetime import date

import pytest

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import load_rulebook
from socialcredit.scoring import Contribution, Result, Status, evaluate

RULEBOOK = load_rulebook("flensburg")
DRIVER = SubjectRef(SubjectKind.PERSON, "11010519491231002X")


def rec(ref: str, type_: str, day: str) -> Record:
    return Record("kba", ref, DRIVER, type_, date.fromisoformat(day))


def standing(records: list[Record], as_of: str) -> Result:
    return evaluate(records, RULEBOOK, date.fromisoformat(as_of), SubjectKind.PERSON)


def part(result: Result, ref: str) -> Contribution:
    return next(c for c in result.contributions if c.ref == ref)


def test_the_standing_is_the_sum_of_entries_counting_up_from_zero() -> None:
    # 1 + 2 + 3 = 6: written warning
    records = [
        rec("a", "offence.1pt", "2024-01-10"),
        rec("b", "offence.2pt", "2024-02-10"),
        rec("c", "offence.3pt", "2024-03-10"),
    ]
    result = standing(records, "2024-04-01")
    assert (result.base, result.score, result.grade, result.lists) == (
        0,
        6,
        "warning",
        ("warning",),
    )
    (warning,) = result.measures
    assert (warning.code, warning.legal_basis) == ("stvg.warning", "StVG §4(5) sentence 1 no. 2")
    assert [r.points for r in result.reasons] == [3, 2, 1]


def test_a_clean_record_is_zero() -> None:
    result = standing([], "2024-01-01")
    assert (result.score, result.grade, result.lists, result.measures) == (0, "clear", (), ())


@pytest.mark.parametrize(
    ("entries", "points", "lists", "measures"),
    [
        (["offence.3pt"], 3, (), ()),
        (["offence.1pt", "offence.3pt"], 4, ("admonition",), ("stvg.admonition",)),
        (["offence.2pt", "offence.3pt"], 5, ("admonition",), ("stvg.admonition",)),
        (["offence.3pt", "offence.3pt"], 6, ("warning",), ("stvg.warning",)),
        (["offence.1pt", "offence.3pt", "offence.3pt"], 7, ("warning",), ("stvg.warning",)),
        (
            ["offence.2pt", "offence.3pt", "offence.3pt"],
            8,
            ("licence_withdrawal",),
            ("stvg.licence_withdrawal",),
        ),
    ],
)
def test_lists_at_4_6_and_8_points(
    entries: list[str], points: int, lists: tuple[str, ...], measures: tuple[str, ...]
) -> None:
    records = [rec(f"e{i}", code, f"2024-0{i + 1}-01") for i, code in enumerate(entries)]
    result = standing(records, "2024-06-01")
    assert (result.score, result.lists) == (points, lists)
    assert tuple(m.code for m in result.measures) == measures


def test_a_1_point_entry_is_deleted_after_two_and_a_half_years() -> None:
    # final 2021-03-15; 2 years 6 months later is 2023-09-15: counts through 2023-09-14
    records = [rec("a", "offence.1pt", "2021-03-15")]
    assert standing(records, "2023-09-14").score == 1
    deleted = standing(records, "2023-09-15")
    assert deleted.score == 0
    assert part(deleted, "a").status is Status.EXPIRED
    assert part(deleted, "a").valid_until == date(2023, 9, 14)


def test_two_and_a_half_years_from_31_august_ends_with_february() -> None:
    # 2021-08-31 + 2y6m = "2024-02-31", which rolls to 2024-03-01: counts through 2024-02-29
    records = [rec("a", "offence.1pt", "2021-08-31")]
    assert part(standing(records, "2022-01-01"), "a").valid_until == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("code", "final", "last_day"),
    [("offence.2pt", "2020-06-01", "2025-05-31"), ("offence.3pt", "2015-06-01", "2025-05-31")],
)
def test_2_points_count_5_years_and_3_points_10_years(code: str, final: str, last_day: str) -> None:
    records = [rec("a", code, final)]
    assert standing(records, last_day).score == int(code[8])
    assert standing(records, "2025-06-01").score == 0


def test_a_deleted_entry_is_history_for_one_more_year_then_erased() -> None:
    # deleted 2023-09-15; held (not counted, shown) until 2024-09-14; erased from 2024-09-15
    records = [rec("a", "offence.1pt", "2021-03-15")]
    assert part(standing(records, "2024-09-14"), "a").status is Status.EXPIRED
    erased = standing(records, "2024-09-15")
    assert (erased.score, part(erased, "a").status) == (0, Status.ERASED)


def test_a_seminar_at_1_to_5_points_removes_one_point() -> None:
    # 1 + 2 = 3 on the seminar day: 3 - 1 = 2
    records = [
        rec("a", "offence.1pt", "2024-01-10"),
        rec("b", "offence.2pt", "2024-02-10"),
        rec("s", "seminar.completed", "2024-03-01"),
    ]
    result = standing(records, "2024-04-01")
    assert result.score == 2
    assert part(result, "s").applied_points == -1


@pytest.mark.parametrize(
    ("entries", "after"),
    [
        ([], 0),  # standing 0: nothing to remove
        (["offence.1pt"], 0),  # standing 1: 1 - 1
        (["offence.2pt", "offence.3pt"], 4),  # standing 5: 5 - 1
        (["offence.3pt", "offence.3pt"], 6),  # standing 6: too late, no effect
    ],
)
def test_the_seminar_counts_only_at_a_standing_of_1_to_5(entries: list[str], after: int) -> None:
    records = [rec(f"e{i}", code, f"2024-0{i + 1}-01") for i, code in enumerate(entries)]
    records.append(rec("s", "seminar.completed", "2024-05-01"))
    result = standing(records, "2024-06-01")
    assert result.score == after
    before = sum(int(code[8]) for code in entries)
    expected = Status.COUNTED if 1 <= before <= 5 else Status.INELIGIBLE
    assert part(result, "s").status is expected


def test_the_seminar_counts_at_most_once_in_five_years() -> None:
    # 3 points on 2024-01-10 (to 2034-01-09). Seminar 2024-03-01: 3 - 1 = 2, its -1 counting
    # through 2029-02-28. A seminar on 2029-02-28 is within 5 years: no effect. One on
    # 2029-03-01 is not, and the standing that day is 3 again: 3 - 1 = 2.
    records = [
        rec("o", "offence.3pt", "2024-01-10"),
        rec("s1", "seminar.completed", "2024-03-01"),
        rec("s2", "seminar.completed", "2029-02-28"),
        rec("s3", "seminar.completed", "2029-03-01"),
    ]
    result = standing(records, "2029-03-02")
    assert part(result, "s1").status is Status.EXPIRED
    assert part(result, "s2").status is Status.INELIGIBLE
    assert "at most once in 5y" in part(result, "s2").why[0]
    assert part(result, "s3").status is Status.COUNTED
    assert result.score == 2


def test_the_standing_never_goes_below_zero() -> None:
    # 1 point (to 2023-06-30), seminar 2021-02-01 at standing 1: 0. After the entry is deleted
    # the seminar's -1 still counts (5 years), but there are no minus points: 0, not -1.
    records = [
        rec("a", "offence.1pt", "2021-01-01"),
        rec("s", "seminar.completed", "2021-02-01"),
    ]
    result = standing(records, "2023-07-01")
    assert (result.points_score, result.score) == (-1, 0)
