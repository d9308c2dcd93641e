"""Worked cases for the ``rongcheng`` rulebook, derived by hand from reference/rongcheng.md.

Each test pins one rule; the comment shows the arithmetic. Validity reads "from D up to and
including the day before the same date N years later", so a record of 2024-03-15 valid one
year counts through 2025-03-14.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import load_rulebook
from socialcredit.scoring import Contribution, Result, Status, evaluate

RULEBOOK = load_rulebook("rongcheng")
PERSON = SubjectRef(SubjectKind.PERSON, "11010519491231002X")
COMPANY = SubjectRef(SubjectKind.ORGANISATION, "91110000600037341L")
SPC_MEASURES = {
    "spc.flights",
    "spc.soft_sleepers_and_ship_cabins",
    "spc.high_speed_rail",
    "spc.luxury_venues",
    "spc.real_estate",
    "spc.high_end_rentals",
    "spc.vehicles",
    "spc.travel_and_holidays",
    "spc.private_school_fees",
    "spc.high_premium_products",
}


def rec(ref: str, type_: str, day: str, subject: SubjectRef = PERSON, **fields: Any) -> Record:
    provider = fields.pop("provider", "authority.test")
    return Record(provider, ref, subject, type_, date.fromisoformat(day), **fields)


def score(records: list[Record], as_of: str, kind: SubjectKind = SubjectKind.PERSON) -> Result:
    return evaluate(records, RULEBOOK, date.fromisoformat(as_of), kind)


def part(result: Result, ref: str) -> Contribution:
    return next(c for c in result.contributions if c.ref == ref)


# -- base and grades ------------------------------------------------------------------------
def test_no_records_is_1000_and_grade_a() -> None:
    result = score([], "2024-01-01")
    assert (result.score, result.grade, result.lists, result.reasons) == (1000, "A", (), ())


@pytest.mark.parametrize(
    ("points", "grade"),
    [
        (1050, "AAA"),
        (1049, "AA"),
        (1030, "AA"),
        (1029, "A"),
        (960, "A"),
        (959, "B"),
        (850, "B"),
        (849, "C"),
        (600, "C"),
        (599, "D"),
        (-5000, "D"),
        (5000, "AAA"),
    ],
)
def test_grade_bands_at_each_boundary(points: int, grade: str) -> None:
    assert RULEBOOK.grade_for(points) == grade


def test_an_addition_reaching_1050_puts_a_person_on_the_red_list_with_rewards() -> None:
    # 1000 + 30 (prefecture award) + 10 (district award) + 10 (industry red list) = 1050: AAA
    records = [
        rec("a1", "award.prefecture", "2024-01-05"),
        rec("a2", "award.district", "2024-01-06"),
        rec("a3", "industry.red_list", "2024-01-07"),
    ]
    result = score(records, "2024-02-01")
    assert (result.score, result.grade, result.lists) == (1050, "AAA", ("red",))
    rewards = {m.code for m in result.measures}
    assert rewards == {
        "reward.library_deposit_waived",
        "reward.bike_deposit_waived",
        "reward.preferential_loans",
        "reward.green_channel",
    }
    assert all(m.kind == "reward" and m.list == "red" for m in result.measures)


def test_organisation_rewards_are_the_organisation_ones() -> None:
    # 1000 + 100 (national award) = 1100: AAA; library and bike rewards are for persons only
    result = score(
        [rec("a1", "award.national", "2024-01-05", COMPANY)], "2024-02-01", SubjectKind.ORGANISATION
    )
    assert result.grade == "AAA"
    assert {m.code for m in result.measures} == {
        "reward.preferential_loans",
        "reward.green_channel",
        "reward.fewer_inspections",
        "reward.priority_approvals",
    }


# -- validity by size -------------------------------------------------------------------------
def test_deduction_of_40_or_less_counts_one_year_to_the_day_before() -> None:
    # -10 on 2024-03-15: counts 2024-03-15 .. 2025-03-14
    records = [rec("f1", "traffic.fine_le_500", "2024-03-15")]
    assert score(records, "2024-03-15").score == 990
    assert score(records, "2025-03-14").score == 990
    last = score(records, "2025-03-15")
    assert last.score == 1000
    assert part(last, "f1").status is Status.EXPIRED
    assert part(last, "f1").valid_until == date(2025, 3, 14)


def test_exactly_40_is_one_year_and_above_40_two_years() -> None:
    # -40 (fine at the top of the range): 1 year; -50 (unlicensed): more than 40, 2 years
    records = [
        rec("p40", "penalty.fine_max", "2024-03-15"),
        rec("p50", "permit.unlicensed", "2024-03-15"),
    ]
    assert part(score(records, "2024-04-01"), "p40").valid_until == date(2025, 3, 14)
    assert part(score(records, "2024-04-01"), "p50").valid_until == date(2026, 3, 14)
    assert score(records, "2024-04-01").score == 910  # 1000 - 40 - 50 (different classes)
    assert score(records, "2025-03-15").score == 950  # the -40 is gone
    assert score(records, "2026-03-14").score == 950
    assert score(records, "2026-03-15").score == 1000


def test_a_record_of_29_february_counts_through_28_february() -> None:
    # 2025-02-29 does not exist: the same date a year later is 1 March, so the last day is 28 Feb
    records = [rec("f1", "traffic.fine_le_500", "2024-02-29")]
    assert score(records, "2025-02-28").score == 990
    assert score(records, "2025-03-01").score == 1000


# -- repeat doubling ----------------------------------------------------------------------------
def test_repeat_in_the_same_class_is_doubled_and_the_doubled_value_sets_validity() -> None:
    # -10 (traffic) 2024-01-10, valid to 2025-01-09. -30 (traffic) 2024-06-01 repeats while it
    # is valid: -30 x 2 = -60, more than 40, so valid 2 years: 2024-06-01 .. 2026-05-31.
    records = [
        rec("t1", "traffic.fine_le_500", "2024-01-10"),
        rec("t2", "traffic.fine_2000_10000", "2024-06-01"),
    ]
    now = score(records, "2024-07-01")
    assert now.score == 930  # 1000 - 10 - 60
    second = part(now, "t2")
    assert (second.base_points, second.points, second.status) == (-30, -60, Status.DOUBLED)
    assert second.valid_until == date(2026, 5, 31)
    assert score(records, "2025-06-01").score == 940  # only the doubled -60 left
    assert score(records, "2026-05-31").score == 940
    assert score(records, "2026-06-01").score == 1000


def test_doubling_is_of_the_base_never_times_four() -> None:
    # -10, then -10 (x2 = -20), then -10 again while both are valid: -20, not -40
    records = [
        rec("t1", "traffic.fine_le_500", "2024-01-10"),
        rec("t2", "traffic.fine_le_500", "2024-02-10"),
        rec("t3", "traffic.fine_le_500", "2024-03-10"),
    ]
    result = score(records, "2024-04-01")
    assert result.score == 950  # 1000 - 10 - 20 - 20
    assert [c.points for c in result.contributions] == [-10, -20, -20]


def test_no_doubling_across_classes_or_after_the_earlier_one_expired() -> None:
    # traffic -10 then tax -20: different classes, 1000 - 10 - 20 = 970
    other_class = [
        rec("t1", "traffic.fine_le_500", "2024-01-10"),
        rec("x1", "tax.arrears", "2024-02-01"),
    ]
    assert score(other_class, "2024-03-01").score == 970
    # the first -10 counts through 2024-01-09; a repeat on 2024-01-10 is not doubled ...
    expired = [
        rec("t1", "traffic.fine_le_500", "2023-01-10"),
        rec("t2", "traffic.fine_le_500", "2024-01-10"),
    ]
    assert part(score(expired, "2024-02-01"), "t2").points == -10
    # ... but on its last day, 2024-01-09, it is: -20
    last_day = [
        rec("t1", "traffic.fine_le_500", "2023-01-10"),
        rec("t2", "traffic.fine_le_500", "2024-01-09"),
    ]
    assert part(score(last_day, "2024-02-01"), "t2").points == -20


def test_a_doubled_deduction_keeps_later_repeats_doubled_for_its_longer_validity() -> None:
    # -30 on 2024-01-01 (to 2024-12-31); -30 on 2024-06-01 doubled to -60 (to 2026-05-31);
    # -10 on 2025-06-01: the -60 still counts, so x2 = -20. On 2025-07-01: 1000 - 60 - 20 = 920
    records = [
        rec("t1", "traffic.twelve_points", "2024-01-01"),
        rec("t2", "traffic.fine_2000_10000", "2024-06-01"),
        rec("t3", "traffic.fine_le_500", "2025-06-01"),
    ]
    result = score(records, "2025-07-01")
    assert result.score == 920
    assert part(result, "t3").points == -20


def test_monthly_arrears_are_minus_10_per_cycle_never_doubled() -> None:
    # three overdue cycles, each -10 for a year: 1000 - 30 = 970
    records = [
        rec("m1", "loan.arrears_month", "2024-01-31"),
        rec("m2", "loan.arrears_month", "2024-02-29"),
        rec("m3", "loan.arrears_month", "2024-03-31"),
    ]
    result = score(records, "2024-04-01")
    assert result.score == 970
    assert all(c.points == -10 and c.status is Status.COUNTED for c in result.contributions)
    # m1 to 2025-01-30, m2 to 2025-02-28 (29 Feb -> 1 Mar - 1 day), m3 to 2025-03-30
    assert score(records, "2025-01-31").score == 980
    assert score(records, "2025-03-01").score == 990
    assert score(records, "2025-03-31").score == 1000


# -- one act, one item --------------------------------------------------------------------------
def test_one_act_a_direct_grade_beats_any_deduction() -> None:
    # drunk driving (direct B) and a -20 fine for the same act: only B; 1000 capped at 850
    records = [
        rec("d1", "traffic.drunk_driving", "2024-05-10", act="A1"),
        rec("f1", "traffic.fine_500_2000", "2024-05-10", act="A1"),
    ]
    result = score(records, "2024-06-01")
    assert (result.score, result.grade) == (850, "B")
    assert part(result, "f1").status is Status.SUPERSEDED
    assert part(result, "f1").applied_points == 0


def test_one_act_only_the_largest_deduction_counts() -> None:
    # -10, -60, -30 for one act: only -60 (valid 2 years): 1000 - 60 = 940
    records = [
        rec("a", "traffic.fine_le_500", "2024-05-10", act="A2"),
        rec("b", "traffic.licence_suspended", "2024-05-10", act="A2"),
        rec("c", "traffic.twelve_points", "2024-05-10", act="A2"),
    ]
    result = score(records, "2024-06-01")
    assert result.score == 940
    assert [c.status for c in result.contributions] == [
        Status.SUPERSEDED,
        Status.COUNTED,
        Status.SUPERSEDED,
    ]


def test_one_act_only_the_largest_addition_counts() -> None:
    # +5 (act of bravery) and +30 (outstanding act of bravery) for one act: 1000 + 30 = 1030 AA
    records = [
        rec("h1", "heroic_act", "2024-05-10", act="H"),
        rec("h2", "heroic_act.outstanding", "2024-05-10", act="H"),
    ]
    result = score(records, "2024-06-01")
    assert (result.score, result.grade) == (1030, "AA")
    assert part(result, "h1").status is Status.SUPERSEDED


# -- direct grades, the cap, frozen additions -----------------------------------------------------
@pytest.mark.parametrize(
    ("type_", "grade", "cap", "last_day", "listed"),
    [
        ("traffic.drunk_driving", "B", 850, "2026-05-09", ()),
        ("detention.administrative", "C", 600, "2027-05-09", ("warning",)),
        ("crime.intentional", "D", 599, "2029-05-09", ("blacklist",)),
    ],
)
def test_direct_grades_cap_the_score_and_hold_2_3_5_years(
    type_: str, grade: str, cap: int, last_day: str, listed: tuple[str, ...]
) -> None:
    # B holds 2 years, C 3, D 5, from 2024-05-10; the score is capped at 850 / 600 / 599
    records = [rec("g", type_, "2024-05-10")]
    result = score(records, "2024-06-01")
    assert (result.score, result.grade, result.lists) == (cap, grade, listed)
    assert part(result, "g").valid_until == date.fromisoformat(last_day)
    assert score(records, last_day).grade == grade
    after = score(records, str(date.fromisoformat(last_day).replace(day=10)))
    assert (after.score, after.grade) == (1000, "A")


def test_a_direct_grade_keeps_a_lower_score_and_the_worse_grade() -> None:
    # -100 (utility) and -100 (tax) = 800, grade C by points; a direct B caps at 850, so 800 stays
    # and the grade is the worse of C and B: C
    records = [
        rec("u", "utility.damage_facilities", "2024-01-10"),
        rec("t", "tax.evasion_serious", "2024-01-10"),
        rec("m", "mediation.unperformed", "2024-02-01"),
    ]
    result = score(records, "2024-03-01")
    assert (result.points_score, result.score, result.grade) == (800, 800, "C")


def test_additions_recorded_while_frozen_count_from_the_correction() -> None:
    # 800 by points as above; direct B on 2024-02-01 freezes additions until corrected.
    # A provincial award (+60) on 2024-03-01 (valid to 2027-02-28) is frozen: 800.
    records = [
        rec("u", "utility.damage_facilities", "2024-01-10"),
        rec("t", "tax.evasion_serious", "2024-01-10"),
        rec("m", "mediation.unperformed", "2024-02-01"),
        rec("aw", "award.provincial", "2024-03-01"),
        rec("fix", "conduct.corrected", "2024-06-01", relates_to="m"),
    ]
    frozen = score(records, "2024-05-31")
    assert frozen.score == 800
    assert part(frozen, "aw").status is Status.FROZEN
    assert part(frozen, "aw").applied_points == 0
    assert [r.code for r in frozen.reasons][-1] == "frozen_additions"
    # Corrected 2024-06-01: the award counts from that day to its own end, 2027-02-28.
    # 800 + 60 = 860, capped at B's floor 850 while the direct B holds (to 2026-01-31).
    corrected = score(records, "2024-06-01")
    award = part(corrected, "aw")
    assert (award.valid_from, award.valid_until) == (date(2024, 6, 1), date(2027, 2, 28))
    assert (corrected.points_score, corrected.score, corrected.grade) == (860, 850, "B")
    # 2026-01-10: both -100 expired (valid to 2026-01-09); B still holds: 1060 capped at 850
    assert score(records, "2026-01-10").score == 850
    # 2026-02-01: B expired too: 1000 + 60 = 1060, AAA
    assert score(records, "2026-02-01").score == 1060


def test_a_frozen_addition_counts_only_for_what_remains_of_its_validity() -> None:
    # B on 2024-02-01; +5 on 2024-03-01 valid to 2025-02-28; corrected 2025-01-15:
    # the +5 counts 2025-01-15 .. 2025-02-28 (score stays capped at 850 meanwhile, so compare
    # points_score: 1000 + 5)
    records = [
        rec("b", "traffic.drunk_driving", "2024-02-01"),
        rec("g", "good_deeds.outstanding", "2024-03-01"),
        rec("c", "conduct.corrected", "2025-01-15", relates_to="b"),
    ]
    assert score(records, "2025-01-14").points_score == 1000
    assert score(records, "2025-01-15").points_score == 1005
    assert score(records, "2025-02-28").points_score == 1005
    assert part(score(records, "2025-03-01"), "g").status is Status.EXPIRED


def test_a_freeze_outlasting_the_addition_means_it_never_counts() -> None:
    # +5 on 2024-03-01 (to 2025-02-28), correction only on 2025-04-01
    records = [
        rec("b", "traffic.drunk_driving", "2024-02-01"),
        rec("g", "good_deeds.outstanding", "2024-03-01"),
        rec("c", "conduct.corrected", "2025-04-01", relates_to="b"),
    ]
    assert part(score(records, "2025-01-01"), "g").status is Status.FROZEN
    assert part(score(records, "2025-04-02"), "g").status is Status.EXPIRED
    assert score(records, "2025-04-02").points_score == 1000


def test_an_uncorrected_freeze_ends_with_the_direct_grade() -> None:
    # B 2024-02-01 holds to 2026-01-31, never corrected; +5 on 2025-06-01 (to 2026-05-31)
    # counts from 2026-02-01, when the B stops holding: 1005
    records = [
        rec("b", "traffic.drunk_driving", "2024-02-01"),
        rec("g", "good_deeds.outstanding", "2025-06-01"),
    ]
    assert score(records, "2026-01-31").score == 850
    assert score(records, "2026-02-01").score == 1005
    assert part(score(records, "2026-02-01"), "g").valid_from == date(2026, 2, 1)


def test_additions_before_the_direct_grade_are_not_frozen() -> None:
    # +10 on 2024-01-05 counts; direct B on 2024-02-01 caps 1010 at 850 but does not freeze it
    records = [
        rec("a", "award.district", "2024-01-05"),
        rec("b", "traffic.drunk_driving", "2024-02-01"),
    ]
    result = score(records, "2024-03-01")
    assert (result.points_score, result.score) == (1010, 850)
    assert part(result, "a").status is Status.COUNTED


# -- repair of a listed debtor -----------------------------------------------------------------
def test_a_listed_debtor_is_d_on_both_lists_with_the_spc_restrictions() -> None:
    # court.dishonest_debtor: direct D (5 years, to 2029-02-28): 599, blacklist + court list
    records = [rec("d1", "court.dishonest_debtor", "2024-03-01", provider="court.rongcheng")]
    result = score(records, "2024-04-01")
    assert (result.score, result.grade) == (599, "D")
    assert result.lists == ("blacklist", "court_dishonest_debtors")
    assert {m.code for m in result.measures} == SPC_MEASURES
    flights = next(m for m in result.measures if m.code == "spc.flights")
    assert flights.kind == "restriction"
    assert flights.list == "court_dishonest_debtors"
    assert flights.legal_basis is not None and "(2015 revision), Art. 3" in flights.legal_basis
    assert "Civil Aviation" in flights.agency
    assert (flights.since, flights.until) == (date(2024, 3, 1), date(2029, 2, 28))
    assert all(m.legal_basis for m in result.measures)


def test_repair_of_a_listed_person_is_minus_50_for_two_years() -> None:
    # judgment performed 2024-09-10: D ends 2024-09-09; -50 from 2024-09-10 to 2026-09-09.
    # 1000 - 50 = 950: grade B, no list, no measure
    records = [
        rec("d1", "court.dishonest_debtor", "2024-03-01", provider="court.rongcheng"),
        rec(
            "p1",
            "court.judgment_performed",
            "2024-09-10",
            provider="court.rongcheng",
            relates_to="d1",
        ),
    ]
    result = score(records, "2024-09-10")
    assert (result.score, result.grade, result.lists, result.measures) == (950, "B", (), ())
    debtor, performed = part(result, "d1"), part(result, "p1")
    assert debtor.status is Status.REPAIRED
    assert debtor.valid_until == date(2024, 9, 9)
    assert (performed.points, performed.applied_points) == (-50, -50)
    assert (performed.valid_from, performed.valid_until) == (date(2024, 9, 10), date(2026, 9, 9))
    assert performed.rule == "repairs.dishonest_debtor_performed"
    assert score(records, "2024-09-09").score == 599  # the day before: still D
    assert score(records, "2026-09-09").score == 950
    assert score(records, "2026-09-10").score == 1000


def test_repair_of_a_listed_organisation_is_minus_80() -> None:
    # 1000 - 80 = 920: grade B
    records = [
        rec("d1", "court.dishonest_debtor", "2024-03-01", COMPANY),
        rec("p1", "court.judgment_performed", "2024-09-10", COMPANY, relates_to="d1"),
    ]
    result = score(records, "2024-10-01", SubjectKind.ORGANISATION)
    assert (result.score, result.grade) == (920, "B")


def test_relates_to_prefers_the_same_provider() -> None:
    # two records share the ref "X"; the court's performance repairs the court's record
    records = [
        rec("X", "court.dishonest_debtor", "2024-03-01", provider="court.a"),
        rec("X", "contract.breach", "2024-03-02", provider="bank.b"),
        rec("p", "court.judgment_performed", "2024-09-10", provider="court.a", relates_to="X"),
    ]
    result = score(records, "2024-10-01")
    repaired = [c for c in result.contributions if c.status is Status.REPAIRED]
    assert [(c.provider, c.type) for c in repaired] == [("court.a", "court.dishonest_debtor")]


# -- donations, lost property, volunteering, awards ---------------------------------------------
@pytest.mark.parametrize(
    ("amount", "points"),
    [
        (99, 0),  # below the first tier
        (100, 1),  # 100-1,000: +1 per full 100
        (350, 3),
        (999, 9),
        (1000, 10),
        (1001, 2),  # 1,001-5,000: +1 per full 400 -> 1001 // 400 = 2
        (1200, 3),  # 1200 // 400 = 3
        (5000, 10),  # 5000 // 400 = 12 -> at most +10 a record
        (5001, 10),  # 5,001-10,000: +1 per full 500 -> 10
        (5500, 10),  # 5500 // 500 = 11 -> capped at +10
        (25000, 10),  # above 10,000: +1 per full 1,000 -> 25 -> capped at +10
    ],
)
def test_donation_tiers(amount: int, points: int) -> None:
    result = score([rec("g", "donation.money", "2024-01-10", amount=amount)], "2024-01-11")
    assert part(result, "g").points == points
    assert result.score == 1000 + points


def test_donations_fill_the_annual_cap_of_40_in_date_order() -> None:
    # 2024: +10 +10 +10 +7 = 37; the fifth (+10) gets the 3 left; the sixth gets 0; 2025 is new
    records = [
        rec("g1", "donation.money", "2024-01-10", amount=1000),
        rec("g2", "donation.money", "2024-02-10", amount=1000),
        rec("g3", "donation.money", "2024-03-10", amount=1000),
        rec("g4", "donation.money", "2024-04-10", amount=700),
        rec("g5", "donation.money", "2024-05-10", amount=1000),
        rec("g6", "donation.money", "2024-06-10", amount=1000),
        rec("g7", "donation.money", "2025-01-05", amount=1000),
    ]
    result = score(records, "2024-07-01")
    assert result.score == 1040
    assert [(c.points, c.status) for c in result.contributions[4:6]] == [
        (3, Status.CAPPED),
        (0, Status.CAPPED),
    ]
    # 2025-02-15: g1 (to 2025-01-09) and g2 (to 2025-02-09) expired; g3 +10, g4 +7, g5 +3,
    # g6 still 0 (an earlier donation expiring frees no room), g7 +10: 1000 + 30 = 1030
    later = score(records, "2025-02-15")
    assert later.score == 1030
    assert part(later, "g6").applied_points == 0


@pytest.mark.parametrize(
    ("amount", "points"),
    [(99, 0), (100, 2), (1000, 2), (1001, 3), (5000, 3), (5001, 5), (10000, 5), (10001, 10)],
)
def test_lost_property_tiers(amount: int, points: int) -> None:
    result = score([rec("l", "lost_property.returned", "2024-01-10", amount=amount)], "2024-02-01")
    assert result.score == 1000 + points


@pytest.mark.parametrize(
    ("hours", "points"),
    [
        (9, 0),
        (10, 2),
        (20, 5),
        (49, 5),
        (50, 10),
        (80, 15),
        (100, 20),
        (150, 25),
        (200, 30),
        (250, 40),
        (300, 50),
        (1000, 50),
    ],
)
def test_volunteering_tiers_with_the_third_tier_at_50_hours(hours: int, points: int) -> None:
    result = score([rec("v", "volunteer.hours", "2024-01-10", quantity=hours)], "2024-02-01")
    assert result.score == 1000 + points


def test_volunteering_counts_only_the_highest_valid_tier() -> None:
    # 60 h (+10, to 2025-01-09) and later 25 h (+5, to 2025-05-31): only +10 while both count;
    # once the 60 h record expires the 25 h one counts
    records = [
        rec("v1", "volunteer.hours", "2024-01-10", quantity=60),
        rec("v2", "volunteer.hours", "2024-06-01", quantity=25),
    ]
    now = score(records, "2024-07-01")
    assert now.score == 1010
    assert part(now, "v2").status is Status.SUPERSEDED
    assert score(records, "2025-02-01").score == 1005


@pytest.mark.parametrize(
    ("type_", "points", "last_day"),
    [
        ("award.district", 10, "2025-04-30"),
        ("award.prefecture", 30, "2026-04-30"),
        ("award.provincial", 60, "2027-04-30"),
        ("award.national", 100, "2029-04-30"),
    ],
)
def test_awards_count_1_2_3_5_years(type_: str, points: int, last_day: str) -> None:
    records = [rec("a", type_, "2024-05-01")]
    assert score(records, last_day).score == 1000 + points
    assert score(records, str(date.fromisoformat(last_day).replace(day=1, month=5))).score == 1000


# -- lists, reasons, kinds, moments ------------------------------------------------------------
def test_high_consumption_restriction_is_c_with_its_own_court_list() -> None:
    # direct C: 600, warning list and the court's high-consumption list, which carries the SPC
    # restrictions
    result = score([rec("h", "court.high_consumption_restriction", "2024-03-01")], "2024-04-01")
    assert (result.score, result.grade) == (600, "C")
    assert result.lists == ("warning", "court_high_consumption")
    assert {m.code for m in result.measures} == SPC_MEASURES
    assert {m.list for m in result.measures} == {"court_high_consumption"}


def test_court_lists_hold_even_when_one_act_supersedes_the_lesser_listing() -> None:
    # the same act on both court lists: D beats C for the score, but both lists hold
    records = [
        rec("d", "court.dishonest_debtor", "2024-03-01", act="case-1"),
        rec("h", "court.high_consumption_restriction", "2024-03-01", act="case-1"),
    ]
    result = score(records, "2024-04-01")
    assert part(result, "h").status is Status.SUPERSEDED
    assert result.lists == ("blacklist", "court_dishonest_debtors", "court_high_consumption")


def test_reasons_are_at_most_four_most_important_first() -> None:
    # D and C direct grades first (worst first), then point totals by size:
    # utility -100, loan arrears 3 x -10 = -30, contract -20 (left out: a fifth)
    records = [
        rec("c1", "contract.breach", "2024-01-02"),
        rec("m1", "loan.arrears_month", "2024-01-31"),
        rec("m2", "loan.arrears_month", "2024-02-29"),
        rec("m3", "loan.arrears_month", "2024-03-31"),
        rec("u1", "utility.damage_facilities", "2024-02-01"),
        rec("dc", "detention.administrative", "2024-02-02"),
        rec("dd", "crime.intentional", "2024-02-03"),
    ]
    reasons = score(records, "2024-04-01").reasons
    assert [r.code for r in reasons] == [
        "direct_grade:crime.intentional",
        "direct_grade:detention.administrative",
        "points:utility.damage_facilities",
        "points:loan.arrears_month",
    ]
    assert reasons[3].points == -30
    assert reasons[3].refs == ("m1", "m2", "m3")
    assert "Grade D" in reasons[0].text_en
    assert "直接评定为D级" in reasons[0].text_zh
    assert "逾期偿还银行贷款" in reasons[3].text_zh


def test_a_reason_covers_every_record_of_its_type() -> None:
    # two administrative detentions: one reason, both refs, until the later one ends
    records = [
        rec("d1", "detention.administrative", "2024-01-10"),
        rec("d2", "detention.administrative", "2024-02-10"),
    ]
    (reason,) = score(records, "2024-03-01").reasons
    assert (reason.code, reason.refs) == ("direct_grade:detention.administrative", ("d1", "d2"))
    assert "until 2027-02-09" in reason.text_en


def test_types_not_in_the_rulebook_or_not_for_the_kind_are_not_scored() -> None:
    records = [
        rec("x", "petition.filed", "2024-01-10", COMPANY),
        rec("y", "creditcard.arrears_month", "2024-01-10", COMPANY),  # persons only
        rec("z", "donation.money", "2024-01-10", COMPANY),  # tiered by amount, none given
    ]
    result = score(records, "2024-02-01", SubjectKind.ORGANISATION)
    assert result.score == 1000
    assert [c.status for c in result.contributions] == [Status.NOT_SCORED] * 3


def test_any_moment_can_be_asked_for() -> None:
    # a record after the moment did not exist yet; a later moment sees it expired
    records = [rec("f1", "traffic.fine_le_500", "2024-03-15")]
    before = score(records, "2024-03-14")
    assert (before.score, before.contributions) == (1000, ())
    assert score(records, "2024-03-15").score == 990
    assert part(score(records, "2030-01-01"), "f1").status is Status.EXPIRED


def test_result_is_plain_json() -> None:
    import orjson

    records = [rec("d1", "court.dishonest_debtor", "2024-03-01")]
    data = score(records, "2024-04-01").to_json()
    assert orjson.loads(orjson.dumps(data)) == data
    assert data["contributions"][0]["status"] == "counted"
    assert data["measures"][0]["legal_basis"]
