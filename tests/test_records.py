"""Record validation, unit by unit: each bad value is named by field with a usable reason."""

from __future__ import annotations

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
