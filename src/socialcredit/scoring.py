"""Scoring one subject: ``evaluate`` and the types of its result.

The steps are in ``evaluation`` (its module doc is the algorithm), and this module runs them
compiled when the install could compile them and interpreted otherwise (``native``;
``ENGINE`` says which). Everything else imports the engine from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from socialcredit import evaluation, native
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
from socialcredit.rulebook.model import Rulebook

__all__ = [
    "ENGINE",
    "MAX_REASONS",
    "AppliedMeasure",
    "Contribution",
    "Note",
    "Reason",
    "Result",
    "Status",
    "evaluate",
]

_compiled = native.choose()
#: Which execution runs the steps: ``"compiled"`` or ``"interpreted"``.
ENGINE = "interpreted" if _compiled is None else "compiled"

evaluate: Callable[[Sequence[Record], Rulebook, date, SubjectKind], Result] = (
    evaluation.evaluate if _compiled is None else _compiled.evaluate
)
