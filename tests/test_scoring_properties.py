"""Engine invariants over random histories (hypothesis), for both shipped rulebooks."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit.catalog import Polarity
from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import Rulebook, load_rulebook
from socialcredit.scoring import Result, Status, evaluate

RONGCHENG = load_rulebook("rongcheng")
FLENSBURG = load_rulebook("flensburg")
PERSON = SubjectRef(SubjectKind.PERSON, "11010519491231002X")
START = date(2018, 1, 1)
RONGCHENG_TYPES = [
    "traffic.fine_le_500",
    "traffic.fine_2000_10000",
    "traffic.licence_suspended",
    "loan.arrears_month",
    "tax.arrears",
    "utility.theft",
    "traffic.drunk_driving",
    "detention.administrative",
    "court.dishonest_debtor",
    "court.high_consumption_restriction",
    "donation.money",
    "volunteer.hours",
    "award.prefecture",
    "good_deeds.outstanding",
    "heroic_act",
    "heroic_act.outstanding",
    "court.judgment_performed",
    "conduct.corrected",
]
FLENSBURG_TYPES = ["offence.1pt", "offence.2pt", "offence.3pt", "seminar.completed"]
CORRECTS = {"court.judgment_performed", "conduct.corrected"}


@st.composite
def histories(draw: st.DrawFn, types: list[str]) -> list[Record]:
    """Up to 25 records over ten years; unique refs; corrections relate to another record."""
    size = draw(st.integers(0, 25))
    drafts = [
        (
            draw(st.sampled_from(types)),
            START + timedelta(days=draw(st.integers(0, 3650))),
            draw(st.one_of(st.none(), st.sampled_from(["act1", "act2"]))),
            draw(st.sampled_from([50, 350, 1200, 5500, 20000])),
            draw(st.sampled_from([5, 12, 60, 120, 320])),
            draw(st.integers(0, max(size - 1, 0))),
        )
        for _ in range(size)
    ]
    return [
        Record(
            "authority.test",
            f"r{i}",
            PERSON,
            code,
            day,
            act=act,
            amount=amount,
            quantity=quantity,
            relates_to=f"r{related}" if code in CORRECTS else None,
        )
        for i, (code, day, act, amount, quantity, related) in enumerate(drafts)
    ]


moments = st.dates(min_value=START, max_value=date(2030, 12, 31))


def score(records: list[Record], rulebook: Rulebook, as_of: date) -> Result:
    return evaluate(records, rulebook, as_of, SubjectKind.PERSON)


@settings(max_examples=150, deadline=None)
@given(histories(RONGCHENG_TYPES), moments, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_record_order(
    records: list[Record], as_of: date, rng: random.Random
) -> None:
    shuffled = list(records)
    rng.shuffle(shuffled)
    assert score(shuffled, RONGCHENG, as_of) == score(records, RONGCHENG, as_of)


@settings(max_examples=150, deadline=None)
@given(histories(RONGCHENG_TYPES), moments)
def test_applied_points_add_up_to_the_score_when_nothing_caps_it(
    records: list[Record], as_of: date
) -> None:
    result = score(records, RONGCHENG, as_of)
    applied = sum(c.applied_points for c in result.contributions)
    assert result.points_score == result.base + applied
    directs = [c for c in result.contributions if c.direct_grade and c.status is Status.COUNTED]
    if not directs:
        assert result.score == result.points_score
    for direct in directs:
        assert result.score <= RONGCHENG.direct_grade_cap(str(direct.direct_grade))
        assert RONGCHENG.grade_rank(result.grade) >= RONGCHENG.grade_rank(str(direct.direct_grade))


@settings(max_examples=150, deadline=None)
@given(histories(FLENSBURG_TYPES), moments)
def test_the_flensburg_standing_stays_within_its_bounds(records: list[Record], as_of: date) -> None:
    result = score(records, FLENSBURG, as_of)
    assert result.score >= 0
    assert result.score == max(result.points_score, 0)
    assert result.grade == FLENSBURG.grade_for(result.score)


@settings(max_examples=150, deadline=None)
@given(histories(RONGCHENG_TYPES), moments, st.data())
def test_removing_a_negative_record_never_lowers_the_score(
    records: list[Record], as_of: date, data: st.DataObject
) -> None:
    """Records sharing an act are left out: one act, one item can promote a smaller item of
    another class that then doubles as a repeat, a consequence of the two rules together."""
    negatives = [
        i
        for i, r in enumerate(records)
        if r.act is None and RONGCHENG.types[r.type].polarity is Polarity.NEGATIVE
    ]
    if not negatives:
        return
    drop = data.draw(st.sampled_from(negatives))
    fewer = records[:drop] + records[drop + 1 :]
    assert score(fewer, RONGCHENG, as_of).score >= score(records, RONGCHENG, as_of).score


@settings(max_examples=100, deadline=None)
@given(histories(RONGCHENG_TYPES), histories(FLENSBURG_TYPES))
def test_every_record_expires(rongcheng: list[Record], flensburg: list[Record]) -> None:
    # eleven years after the last record, nothing counts: back to the base, on no list
    later = date(2040, 1, 1)
    for records, rulebook in ((rongcheng, RONGCHENG), (flensburg, FLENSBURG)):
        result = score(records, rulebook, later)
        assert (result.score, result.lists, result.reasons) == (rulebook.score.base, (), ())
