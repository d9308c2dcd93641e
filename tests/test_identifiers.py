"""Identifiers: the checks agree with python-stdnum, and resident numbers never travel in clear."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from socialcredit.identifiers import (
    InvalidIdentifier,
    SubjectKind,
    display_form,
    mask_resident_id,
    normalise,
    normalise_resident_id,
    normalise_uscc,
    subject_key,
)
from tests.conftest import LEGACY_ORG, ORG, PERSON, PERSON_15


def test_the_worked_examples_of_the_reference_are_valid() -> None:
    assert normalise_resident_id(PERSON) == PERSON
    assert normalise_uscc(ORG) == ORG


def test_a_15_digit_resident_number_becomes_its_18_digit_form() -> None:
    assert normalise_resident_id(PERSON_15) == PERSON


def test_lower_case_x_and_surrounding_blanks_are_normalised() -> None:
    assert normalise_resident_id(PERSON.lower()) == PERSON
    assert normalise_resident_id(f" {PERSON} ") == PERSON
    assert normalise_uscc("9111 0000 6000 3734 1L") == ORG


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("110105194912310021", "check character"),
        ("11010519491231002", "length"),
        ("1101051949123100XX", "invalid characters"),
        ("110105194913310027", "birth date"),  # month 13 (check digit recomputed below)
        ("", "empty"),
    ],
)
def test_bad_resident_numbers_are_refused_with_the_reason(number: str, reason: str) -> None:
    if reason == "birth date":
        number = number[:17] + ric.calc_check_digit(number[:17] + "0")
    with pytest.raises(InvalidIdentifier, match=reason.split()[0]):
        normalise_resident_id(number)


def test_an_error_never_repeats_the_resident_number_in_clear() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalise_resident_id("110105194912310021")
    assert "110105194912310021" not in str(caught.value)
    assert "110105********0021" in str(caught.value)


@pytest.mark.parametrize("letter", list("IOZSV"))
def test_a_uscc_with_a_forbidden_letter_names_the_letter(letter: str) -> None:
    code = ORG[:10] + letter + ORG[11:]
    with pytest.raises(InvalidIdentifier, match=f"contains {letter}"):
        normalise_uscc(code)


def test_a_legacy_code_passes_only_when_allowed() -> None:
    with pytest.raises(InvalidIdentifier, match="check character"):
        normalise_uscc(LEGACY_ORG)
    assert normalise_uscc(LEGACY_ORG, frozenset({LEGACY_ORG})) == LEGACY_ORG


def test_masking_keeps_area_and_last_four() -> None:
    assert mask_resident_id(PERSON) == "110105********002X"
    assert display_form(SubjectKind.PERSON, PERSON) == "110105********002X"
    assert display_form(SubjectKind.ORGANISATION, ORG) == ORG


def test_the_keyed_hash_depends_on_the_secret_and_the_number() -> None:
    one, two = b"a" * 32, b"b" * 32
    key = subject_key(one, SubjectKind.PERSON, PERSON)
    assert len(key) == 64 and PERSON not in key
    assert key == subject_key(one, SubjectKind.PERSON, PERSON)
    assert key != subject_key(two, SubjectKind.PERSON, PERSON)
    # One code, one subject: organisation and institution share the USCC namespace.
    assert subject_key(one, SubjectKind.ORGANISATION, ORG) == subject_key(
        one, SubjectKind.INSTITUTION, ORG
    )


digits = st.text(alphabet="0123456789", min_size=17, max_size=17)
areas = st.sampled_from(["110105", "371082", "371002", "370633", "999999", "000000"])


@settings(max_examples=400, deadline=None)
@given(
    area=areas,
    rest=st.text(alphabet="0123456789", min_size=11, max_size=11),
    check=st.sampled_from(list("0123456789X")),
)
def test_our_resident_check_agrees_with_stdnum(area: str, rest: str, check: str) -> None:
    """The memoised step-by-step check accepts exactly what ``ric.validate`` accepts."""
    number = area + rest + check
    ours = _accepts(lambda: normalise(SubjectKind.PERSON, number))
    assert ours == ric.is_valid(number), number


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=17, max_size=17))
def test_a_uscc_with_its_own_check_character_is_accepted_exactly_when_stdnum_accepts(
    body: str,
) -> None:
    code = body + uscc.calc_check_digit(body)
    assert _accepts(lambda: normalise_uscc(code)) == uscc.is_valid(code)


def _accepts(check: object) -> bool:
    try:
        check()  # type: ignore[operator]
    except InvalidIdentifier:
        return False
    return True
