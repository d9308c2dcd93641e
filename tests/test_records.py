"""Record validation, unit by unit: each bad value is named by field with a usable reason."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit.catalog import all_shipped_types, index
from socialcredit.demo import demo_providers
from socialcredit.identifiers import SubjectKind
from socialcredit.records import RecordRejected, RecordValidator
from tests.conftest import ORG, PERSON, TODAY, record

VALIDATOR = RecordValidator(
    {p.name: p for p in demo_providers()}, index(all_shipped_types()), TODAY
)


def errors_of(data: dict[str, Any], flat: bool = False) -> dict[str, str]:
    with pytest.raises(RecordRejected) as caught:
        VALIDATOR.from_flat(data) if flat else VALIDATOR.from_json(data)
    return {e.field: e.reason for e in caught.value.errors}


def flat(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "provider": "police.traffic",
        "ref": "T-1",
        "subject_kind": "person",
        "subject_id": PERSON,
        "type": "traffic.warning",
        "occurred_on": "2025-06-01",
    }
    row.update(overrides)
    return row


def test_a_valid_record_is_normalised() -> None:
    parsed = VALIDATOR.from_json(record(subject={"kind": "person", "id": "110105491231002"}))
    assert parsed.subject.id == PERSON and parsed.subject.kind is SubjectKind.PERSON
    assert parsed.occurred_on == date(2025, 6, 1) and parsed.amount == 200.0


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"provider": None}, "provider", "missing"),
        ({"subject": None}, "subject", "missing"),
        ({"subject": "110105"}, "subject", "must be an object"),
        ({"subject": {"kind": "person"}}, "subject.id", "missing"),
        ({"subject": {"kind": "robot", "id": PERSON}}, "subject.kind", "not person"),
        ({"subject": {"kind": "person", "id": 11010519}}, "subject.id", "must be a string"),
        ({"subject": {"kind": "person", "id": PERSON, "age": 7}}, "subject.age", "unknown"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"type": "petition.filed"}, "type", "unknown record type"),
        ({"provider": "court.nowhere"}, "provider", "unknown provider"),
        ({"type": "court.dishonest_debtor"}, "type", "may not submit"),
        ({"occurred_on": "2026-11-24"}, "occurred_on", "in the future"),
        ({"occurred_on": "2025-02-30"}, "occurred_on", "not a valid date"),
        ({"occurred_on": "01/06/2025"}, "occurred_on", "not a date"),
        ({"occurred_on": 20250601}, "occurred_on", "not a date"),
        ({"reported_on": "2025-05-01"}, "reported_on", "before occurred_on"),
        ({"amount": -1}, "amount", "negative"),
        ({"amount": "lots"}, "amount", "not a number"),
        ({"amount": True}, "amount", "not true/false"),
        ({"amount": "NaN"}, "amount", "finite"),
        ({"amount": 1e300}, "amount", "larger than"),
        ({"quantity": [1]}, "quantity", "must be a number"),
        ({"ref": " padded"}, "ref", "padding"),
        ({"ref": "a\x00b"}, "ref", "control"),
        ({"ref": "x" * 129}, "ref", "129 characters, the limit is 128"),
        ({"evidence": "x" * 10_000_000}, "evidence", "10000000 characters, the limit is 2000"),
        ({"legal_basis": "art.\x07 5"}, "legal_basis", "control characters"),
    ],
)
def test_each_bad_value_is_named_with_its_reason(
    change: dict[str, Any], field: str, reason: str
) -> None:
    data = {k: v for k, v in (record() | change).items() if v is not None}
    assert reason in errors_of(data)[field]


def test_every_problem_of_a_record_is_reported_at_once() -> None:
    found = errors_of(record(amount=-5, occurred_on="2030-01-01", type="court.dishonest_debtor"))
    assert set(found) == {"amount", "occurred_on", "type"}


def test_a_person_only_type_on_an_organisation_is_refused() -> None:
    found = errors_of(record(subject={"kind": "organisation", "id": ORG}))
    assert "applies to person, not organisation" in found["subject.kind"]


def test_flat_rows_accept_parquet_types_and_empty_cells() -> None:
    parsed = VALIDATOR.from_flat(
        flat(
            ref=12345,
            occurred_on=date(2025, 6, 1),
            reported_on=datetime(2025, 6, 3, 0, 0),
            amount="200.50",
            act="",
            evidence=None,
        )
    )
    assert parsed.ref == "12345" and parsed.reported_on == date(2025, 6, 3)
    assert parsed.amount == 200.5 and parsed.act is None and parsed.evidence is None


def test_flat_rows_name_unknown_columns() -> None:
    assert errors_of(flat(colour="red"), flat=True) == {"colour": "unknown column"}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["provider", "ref", "subject", "type", "occurred_on", "amount", "extra"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(),
            st.text(max_size=30),
            st.booleans(),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
        ),
    )
)
def test_arbitrary_json_is_either_a_record_or_a_list_of_named_errors(data: dict[str, Any]) -> None:
    try:
        VALIDATOR.from_json(data)
    except RecordRejected as exc:
        assert exc.errors and all(e.field and e.reason for e in exc.errors)


# -- the quick path of bulk imports gives the full validator's answers --------------------------
def _values(*plain: Any) -> st.SearchStrategy[Any]:
    odd = st.one_of(
        st.none(),
        st.integers(-5, 10**14),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=12),
        st.sampled_from([" T-1", "T  1", "", "x" * 129, "a\x00b", "２０２５-06-01", "-0"]),
        st.lists(st.integers(), max_size=1),
    )
    return st.one_of(st.sampled_from(plain), odd) if plain else odd


_quick_records = st.fixed_dictionaries(
    {
        "provider": _values("police.traffic", "court.rongcheng", "bank.rongcheng_rcb"),
        "ref": _values("T-1", "R 2", "参考-9"),
        "subject": st.one_of(
            st.fixed_dictionaries(
                {
                    "kind": _values("person", "organisation", "institution"),
                    "id": _values(PERSON, "110105491231002", ORG, " " + ORG.lower(), "1101"),
                },
                optional={
                    "name": _values("Li Wei", "  Li Wei ", "   ", "王\u2028伟"),
                    "age": _values(),
                },
            ),
            _values(),
        ),
        "type": _values("traffic.warning", "traffic.major_violation", "loan.arrears_month"),
        "occurred_on": _values("2025-06-01", "2026-11-24", "2025-02-30", "2025-6-1"),
    },
    optional={
        "reported_on": _values("2025-06-02", "2025-05-31"),
        "act": _values("A-1", "A 1 "),
        "amount": _values(200, 200.5, -0.0, 1e13, 1e13 + 2),
        "quantity": _values(3, 0),
        "relates_to": _values("T-0"),
        "evidence": _values("photo 7", "line\nbreak", " x "),
        "legal_basis": _values("Road Traffic Safety Law art. 90"),
        "colour": _values("red"),
    },
)


def _agree(quick: Callable[[Any], Any], full: Callable[[Any], Any], data: Any) -> None:
    """The quick path accepts only what the validator accepts, with the same values; being
    unsure (None) is always allowed, the validator then decides."""
    answer = quick(data)
    try:
        record = full(data)
    except RecordRejected:
        assert answer is None, f"the quick path accepted what the validator refuses: {answer}"
        return
    if answer is not None:
        _assert_same(answer, record)


def _assert_same(quick: Any, full: Any) -> None:
    """The quick path's values are the ones the validator's record is stored with."""
    from socialcredit.intake import record_content

    (provider, ref, kind, number, name, rtype, occurred, reported, act, amount, quantity,
     relates_to, evidence, legal_basis) = quick  # fmt: skip
    assert (kind, number) == (full.subject.kind.value, full.subject.id)
    assert record_content(full) == (
        "record", provider, ref, rtype, occurred, reported, act, amount, quantity, relates_to,
        evidence, legal_basis, name, None, None,
    )  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(_quick_records)
def test_the_quick_path_accepts_only_what_the_validator_accepts_and_agrees_on_it(
    data: dict[str, Any],
) -> None:
    fresh = RecordValidator(VALIDATOR.providers, VALIDATOR.types, TODAY)
    _agree(fresh.quick_json, VALIDATOR.from_json, data)


def _flat_row(data: dict[str, Any], dates_as_dates: bool) -> dict[str, Any]:
    """A drawn JSON record as a flat row: the subject's fields as columns (an unknown one as
    an unknown column), and, as Parquet's ``date`` columns give them, valid dates as dates."""
    row = {key: value for key, value in data.items() if key != "subject"}
    subject = data.get("subject")
    if isinstance(subject, dict):
        row.update({f"subject_{key}": value for key, value in subject.items()})
    else:
        row["subject_id"] = subject
    if dates_as_dates:
        for column in ("occurred_on", "reported_on"):
            value = row.get(column)
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                with contextlib.suppress(ValueError):
                    row[column] = date.fromisoformat(value)
    return row


def _mostly(*plain: Any) -> st.SearchStrategy[Any]:
    """One of ``plain`` nine times in ten, else an odd value: most rows then pass the
    validator, so the two paths are compared on accepted rows, not only on refusals."""
    odd = st.sampled_from([False] * 9 + [True])
    return odd.flatmap(lambda is_odd: _values() if is_odd else st.sampled_from(plain))


_plain_flat_rows = st.fixed_dictionaries(
    {
        "provider": _mostly("police.traffic", "bank.rongcheng_rcb"),
        "ref": _mostly("T-1", "参考-9"),
        "subject_kind": _mostly("person", "organisation"),
        "subject_id": _mostly(PERSON, "110105491231002", ORG),
        "type": _mostly("traffic.warning", "loan.arrears_month"),
        "occurred_on": _mostly("2025-06-01", date(2025, 6, 1), date(2024, 2, 29)),
    },
    optional={
        "subject_name": _mostly("Li Wei", "  Li Wei ", ""),
        "reported_on": _mostly("2025-06-02", date(2025, 6, 2), ""),
        "act": _mostly("A-1", ""),
        "amount": _mostly(200.0, 200, 0.0, 1e13, "200", "0.1", "200.50", " 12", "1e3", "-0"),
        "quantity": _mostly(3.0, 0, "3", "0.000", "99999999999999.9"),
        "relates_to": _mostly("T-0", ""),
        "evidence": _mostly("photo 7", " x ", ""),
        "legal_basis": _mostly("Civil Code art. 676", ""),
    },
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_plain_flat_rows, _quick_records), st.booleans(), st.sampled_from(["", None]))
def test_the_quick_path_of_flat_rows_agrees_with_the_flat_validator(
    data: dict[str, Any], dates_as_dates: bool, empty: str | None
) -> None:
    row = data if "subject_kind" in data else _flat_row(data, dates_as_dates)
    for column in ("act", "evidence"):  # an empty CSV cell and a missing one are both absent
        row.setdefault(column, empty)
    fresh = RecordValidator(VALIDATOR.providers, VALIDATOR.types, TODAY)
    _agree(fresh.quick_flat, VALIDATOR.from_flat, row)


def test_the_quick_path_takes_the_plain_flat_row_from_parquet_and_csv() -> None:
    plain = _flat_row(record(), dates_as_dates=True)
    assert VALIDATOR.quick_flat(plain) is not None
    assert VALIDATOR.quick_flat({**plain, "occurred_on": "2025-06-01", "act": ""}) is not None
    # a number as text (every CSV amount) is read as the validator reads it, or left to it
    assert VALIDATOR.quick_flat({**plain, "amount": "200.5"}) is not None
    assert VALIDATOR.quick_flat({**plain, "amount": "2e2"}) is None


def test_the_quick_path_takes_the_plain_record() -> None:
    assert VALIDATOR.quick_json(record()) is not None
