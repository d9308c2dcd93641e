"""Cases of due process, and what they do to the records that count: pure, no I/O.

A **dispute** marks a record as disputed at once; the provider must confirm, correct or
revoke it by the deadline. If the deadline passes unanswered, the record **stops counting**
until the provider verifies it (FCRA §611: unverifiable information is deleted or modified).
A **review** is a person's request for human review of an automated list decision (GDPR
Art. 22), tracked the same way; a **repair** is a credit-repair application; a **deletion**
is a subject's request to delete one of their own positive records.

Everything here is judged against a day, so any past moment can be asked about: on day D a
disputed record is suspended if its deadline is before D and no answer was recorded by D.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from socialcredit.records import Record


class CaseKind(StrEnum):
    DISPUTE = "dispute"
    REVIEW = "review"
    REPAIR = "repair"
    DELETION = "deletion"


#: What closes each kind of case; anything else is refused with the list of these.
OUTCOMES: dict[CaseKind, tuple[str, ...]] = {
    CaseKind.DISPUTE: ("confirmed", "corrected", "revoked"),
    CaseKind.REVIEW: ("upheld", "overturned"),
    CaseKind.REPAIR: ("approved", "refused"),
    CaseKind.DELETION: ("deleted",),
}
OPEN = "open"


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a case, as the chained ``case_events`` entry recorded it."""

    seq: int
    step: str  # opened | answered | decided | provider_asked | …
    detail: dict[str, Any]
    actor: str
    recorded_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "at": self.recorded_at,
            "actor": self.actor,
            **self.detail,
        }


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    kind: CaseKind
    subject_id: int
    provider: str | None
    ref: str | None
    rulebook: str | None
    listing: str | None  # the list a review is about
    status: str  # open, or the outcome
    opened_at: str
    deadline: date
    closed_at: str | None
    detail: dict[str, Any]
    events: tuple[Event, ...] = field(default=())

    @property
    def opened_on(self) -> date:
        return date.fromisoformat(self.opened_at[:10])

    @property
    def closed_on(self) -> date | None:
        return date.fromisoformat(self.closed_at[:10]) if self.closed_at else None

    def is_open_on(self, day: date) -> bool:
        return self.opened_on <= day and (self.closed_on is None or self.closed_on > day)

    def overdue_on(self, day: date) -> bool:
        """Open on ``day`` with the deadline already passed."""
        return self.is_open_on(day) and day > self.deadline

    def state_on(self, day: date) -> str:
        """``open``, ``overdue`` or the outcome, as things stood on ``day``."""
        if self.opened_on > day:
            return "not_yet_opened"
        if self.closed_on is not None and self.closed_on <= day:
            return self.status
        return "overdue" if day > self.deadline else OPEN

    def timeline(self, today: date) -> list[dict[str, Any]]:
        """Every recorded step, plus the deadline passing if it passed with the case open."""
        steps = [e.to_json() for e in self.events]
        lapse = self.deadline + timedelta(days=1)
        answered_in_time = self.closed_on is not None and self.closed_on <= self.deadline
        if today >= lapse and not answered_in_time:
            consequence = (
                "the record stops counting until the provider verifies it"
                if self.kind is CaseKind.DISPUTE
                else "the answer is late"
            )
            steps.append(
                {"step": "deadline_passed", "at": lapse.isoformat(), "consequence": consequence}
            )
            steps.sort(key=lambda s: str(s["at"]))
        return steps

    def to_json(self, today: date) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "provider": self.provider,
            "ref": self.ref,
            "rulebook": self.rulebook,
            "list": self.listing,
            "status": self.status,
            "state": self.state_on(today),
            "opened_at": self.opened_at,
            "deadline": self.deadline.isoformat(),
            "closed_at": self.closed_at,
            **{k: v for k, v in self.detail.items() if k not in ("provider", "ref")},
            "timeline": self.timeline(today),
        }


def suspended(cases: Iterable[Case], day: date) -> set[tuple[str, str]]:
    """The (provider, ref) of records that do not count on ``day``: disputed, unanswered
    past the deadline. An answer recorded later makes them count again from its day."""
    return {
        (c.provider, c.ref)
        for c in cases
        if c.kind is CaseKind.DISPUTE and c.provider and c.ref and c.overdue_on(day)
    }


def disputed(cases: Iterable[Case], day: date) -> dict[tuple[str, str], Case]:
    """Records under an open dispute on ``day``, to be shown to consumers as disputed."""
    return {
        (c.provider, c.ref): c
        for c in cases
        if c.kind is CaseKind.DISPUTE and c.provider and c.ref and c.is_open_on(day)
    }


def counting(records: Sequence[Record], cases: Iterable[Case], day: date) -> list[Record]:
    """``records`` without the suspended ones: what the engine scores on ``day``."""
    out = suspended(cases, day)
    if not out:
        return list(records)
    return [r for r in records if (r.provider, r.ref) not in out]
