"""Deadlines the registry keeps, computed from the rulebook and a day: pure, no clock.

Rongcheng's authority answers an objection "within 7 working days"; the FCRA gives 30 days.
A working day here is Monday to Friday. Public holidays are not known to the registry (they
differ by jurisdiction and year, and China moves weekend days around them), so a deadline
may fall a little *earlier* than the law's: the registry errs on the subject's side.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from socialcredit.rulebook.model import Rulebook

#: Without any rulebook setting: the FCRA's 30 days for disputes, the NDRC's 10 working days
#: for credit-repair decisions.
DEFAULT_DISPUTE_DAYS = 30
DEFAULT_REPAIR_WORKING_DAYS = 10
_ONE_DAY = timedelta(days=1)


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day (Monday to Friday) after ``start``."""
    day = start
    while days > 0:
        day += _ONE_DAY
        if day.weekday() < 5:
            days -= 1
    return day


def dispute_deadline(opened: date, rulebooks: Iterable[Rulebook]) -> date:
    """The last day a provider may answer a dispute opened on ``opened``.

    Every rulebook's own deadline counts and the earliest wins: a record scored under two
    rulebooks is owed the faster answer. With no rulebook setting, 30 calendar days.
    """
    candidates = []
    for book in rulebooks:
        if book.meta.dispute_deadline_working_days is not None:
            candidates.append(add_working_days(opened, book.meta.dispute_deadline_working_days))
        if book.meta.dispute_deadline_days is not None:
            candidates.append(opened + timedelta(days=book.meta.dispute_deadline_days))
    return min(candidates, default=opened + timedelta(days=DEFAULT_DISPUTE_DAYS))


def repair_deadline(opened: date, rulebook: Rulebook) -> date:
    """The last day an operator may decide a credit-repair application."""
    days = rulebook.meta.repair_decision_working_days or DEFAULT_REPAIR_WORKING_DAYS
    return add_working_days(opened, days)


def deletion_deadline(opened: date, rulebooks: Iterable[Rulebook]) -> date:
    """The last day for deleting a subject's own positive record (deleted at once here)."""
    days = [b.meta.positive_deletion_working_days for b in rulebooks]
    return add_working_days(opened, min((d for d in days if d), default=3))
