"""The compiled scoring engine is the interpreted one, only faster (``native``, ``hatch_build.py``).

The install compiles ``evaluation.py`` with mypyc where a C compiler is found. These tests
prove the two executions give equal results, contribution for contribution, on random
histories of every type of both shipped rulebooks and every kind of subject; that a compiled
engine built from another source is never used; and that ``SCS_ENGINE`` chooses as documented.
CI sets ``SCS_ENGINE=compiled``, so there a failed compile fails the run instead of passing
quietly on the interpreted engine.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcredit import evaluation, native, scoring
from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import Rulebook, load_rulebook

RULEBOOKS = {name: load_rulebook(name) for name in ("rongcheng", "flensburg")}
COMPILED = native.compiled()
needs_compiled = pytest.mark.skipif(
    COMPILED is None, reason="no compiled engine installed (no C compiler at install?)"
)
START = date(2015, 1, 1)
#: Types always in the mix, so that annual caps, repairs and freezes happen often.
STAGED = {
    "rongcheng": ["donation.money", "court.dishonest_debtor", "court.judgment_performed"],
    "flensburg": ["seminar.completed"],
}
IDS = {
    SubjectKind.PERSON: "11010519491231002X",
    SubjectKind.ORGANISATION: "91350100M000100Y43",
    SubjectKind.INSTITUTION: "12100000400000624D",
}


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Record], Rulebook, date, SubjectKind]:
    """A rulebook, a kind, a moment and up to 40 records of a few of its types (and one it
    does not know), with acts, amounts, quantities and relations drawn freely. Few types over
    a span of one to eleven years, so that repeats, caps, freezes and repairs happen."""
    rulebook = RULEBOOKS[draw(st.sampled_from(sorted(RULEBOOKS)))]
    kind = draw(st.sampled_from(list(SubjectKind)))
    subject = SubjectRef(kind, IDS[kind])
    known = sorted(rulebook.types)
    drawn = draw(st.lists(st.sampled_from(known), min_size=1, max_size=8))
    types = [*drawn, *STAGED[rulebook.name], "unknown.type"]
    span = draw(st.sampled_from([365, 1500, 4000]))
    size = draw(st.integers(0, 40))
    records = [
        Record(
            draw(st.sampled_from(["court.a", "court.b"])),
            f"r{i}",
            subject,
            draw(st.sampled_from(types)),
            START + timedelta(days=draw(st.integers(0, span))),
            act=draw(st.one_of(st.none(), st.sampled_from(["act1", "act2"]))),
            amount=draw(st.one_of(st.none(), st.sampled_from([0, 50, 350, 1200, 5500, 2e4, 5e5]))),
            quantity=draw(st.one_of(st.none(), st.sampled_from([1, 5, 12, 60, 120, 320]))),
            relates_to=draw(st.one_of(st.none(), st.integers(0, size).map(lambda n: f"r{n}"))),
        )
        for i in range(size)
    ]
    as_of = draw(st.dates(min_value=START, max_value=START + timedelta(days=span + 800)))
    return records, rulebook, as_of, kind


@needs_compiled
@settings(max_examples=400, deadline=None)
@given(cases())
def test_the_compiled_engine_gives_what_the_interpreted_one_gives(
    case: tuple[list[Record], Rulebook, date, SubjectKind],
) -> None:
    assert COMPILED is not None
    interpreted = evaluation.evaluate(*case)
    compiled = COMPILED.evaluate(*case)
    assert compiled == interpreted
    assert compiled.to_json() == interpreted.to_json()  # the words of every note too


def test_ci_runs_the_compiled_engine() -> None:
    """CI compiles at install and sets SCS_ENGINE=compiled: the engine in use is compiled."""
    if os.environ.get("SCS_ENGINE") != "compiled":
        pytest.skip("SCS_ENGINE=compiled is not set (CI sets it)")
    assert scoring.ENGINE == "compiled"
    assert scoring.evaluate is not evaluation.evaluate


@needs_compiled
def test_a_compiled_engine_built_from_another_source_is_not_used(tmp_path: Path) -> None:
    same = tmp_path / "same.py"
    shutil.copyfile(native.SOURCE, same)
    assert native.compiled(same) is COMPILED
    edited = tmp_path / "edited.py"
    edited.write_bytes(native.SOURCE.read_bytes() + b"\n# an edit after the install\n")
    assert native.compiled(edited) is None


def test_no_compiled_engine_installed_means_interpreted() -> None:
    assert native.compiled(module="socialcredit._no_such_engine") is None


def test_scs_engine_chooses() -> None:
    assert native.choose("interpreted") is None
    assert native.choose("auto") is COMPILED
    with pytest.raises(ValueError, match="SCS_ENGINE must be one of auto, compiled, interpreted"):
        native.choose("fast")
    if COMPILED is None:
        with pytest.raises(native.EngineUnavailable, match="SCS_ENGINE=compiled"):
            native.choose("compiled")
    else:
        assert native.choose("compiled") is COMPILED
