"""``GET /v1/checks``: does measure M apply to subject S right now, for this purpose?

A consumer runs its own measures only, and only for a declared purpose whose context the
measure belongs to: a travel ban answers a travel booking, not a job application. Using a
listing in a context unrelated to where the data arose is the social scoring the EU AI Act
bans (Art. 5(1)(c)), so such a check is refused, not merely discouraged. The answer is the
registry's evaluation at read time under the rulebook that defines the measure, and the
check is in the audit log, visible to the subject, before the answer is sent.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from socialcredit import clock
from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.errors import COMMON_RESPONSES, ApiError, invalid_field
from socialcredit.disputes import Case, CaseKind, counting
from socialcredit.scoring import Result, evaluate
from socialcredit.store import cases, outbox
from socialcredit.store.keys import ApiKey, Role, defined_measures
from socialcredit.store.registry import SubjectNotFound

router = APIRouter(tags=["checks"])

#: The declared purposes and the measure contexts (a rulebook's ``context``) each one fits.
#: Screening job applicants, tenants' families, school places and the like are deliberately
#: absent: no credit listing may follow a person into an unrelated part of their life.
PURPOSES: dict[str, frozenset[str]] = {
    "travel_booking": frozenset({"travel"}),
    "purchase": frozenset({"consumption"}),
    "rental": frozenset({"consumption"}),
    "credit_application": frozenset({"credit", "financial services"}),
    "driving_licence_administration": frozenset({"road traffic"}),
    "public_service_application": frozenset({"public services", "administrative services"}),
    "regulatory_supervision": frozenset({"regulatory supervision"}),
}


class ReasonOut(BaseModel):
    code: str
    text_en: str
    text_zh: str


class DisputedRecord(BaseModel):
    """A record under open dispute: shown as disputed; past its deadline it does not count."""

    provider: str
    ref: str
    deadline: date
    counts: bool


class CheckAnswer(BaseModel):
    applies: bool
    measure: str
    rulebook: str
    version: str
    as_of: date
    lists: list[str]
    legal_basis: str | None
    since: date | None
    until: date | None
    reasons: list[ReasonOut]
    disputed: list[DisputedRecord] = []


@router.get("/v1/checks", response_model=CheckAnswer, responses=COMMON_RESPONSES)
def check(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.CONSUMER))],
    subject: Annotated[
        str,
        Query(
            min_length=1,
            max_length=32,
            description="resident number or USCC",
            examples=access.SUBJECT_EXAMPLES,
        ),
    ],
    measure: Annotated[str, Query(min_length=1, max_length=64, examples=["spc.flights"])],
    purpose: Annotated[
        str,
        Query(
            min_length=1, max_length=64, description="a declared purpose", examples=list(PURPOSES)
        ),
    ],
) -> CheckAnswer:
    """Whether ``measure`` applies to ``subject`` today; audited before it is answered."""
    contexts = PURPOSES.get(purpose)
    if contexts is None:
        raise invalid_field(
            "purpose", f"{purpose!r} is not a declared purpose; declared: {', '.join(PURPOSES)}"
        )
    if measure not in key.measures:
        raise ApiError(403, "measure_not_allowed", f"this key does not run the measure {measure!r}")
    found = defined_measures(served).get(measure)
    if found is None:
        raise ApiError(404, "measure_unknown", f"no active rulebook defines {measure!r} any more")
    rulebook_name, defined = found
    if defined.context not in contexts:
        raise ApiError(
            403,
            "purpose_unrelated",
            f"{measure!r} belongs to {defined.context!r}, which {purpose!r} is unrelated to",
        )
    kind, number = access.identify(served, subject, "subject")
    today = clock.today()
    rulebook = served.rulebook(rulebook_name)
    disputed: list[DisputedRecord] = []
    try:
        file = served.subject_file(kind, number)
    except SubjectNotFound:  # no file: nothing applies; the answer does not say which
        applied, reasons, version = [], [], rulebook.version
    else:
        with served.engine.connect() as conn:
            subject_cases = cases.for_subject(conn, file.subject.id, CaseKind.DISPUTE)
        counted = counting(file.records, subject_cases, today)
        result = evaluate(counted, rulebook, today, file.subject.kind)
        applied = [m for m in result.measures if m.code == measure]
        reasons = [
            ReasonOut(code=r.code, text_en=r.text_en, text_zh=r.text_zh) for r in result.reasons
        ]
        version = result.version
        if applied:  # the subject is told before any consumer learns of a restriction
            outbox.notify_result(served, file.subject.id, result, rulebook, counted)
        disputed = _disputed(subject_cases, result, today)
    access.audit(
        served,
        key,
        access.subject_id(served, kind, number),
        "check",
        "applies" if applied else "does_not_apply",
        purpose,
    )
    return CheckAnswer(
        applies=bool(applied),
        measure=measure,
        rulebook=rulebook_name,
        version=version,
        as_of=today,
        lists=[m.list for m in applied],
        legal_basis=defined.legal_basis,
        since=min((m.since for m in applied if m.since), default=None),
        until=max((m.until for m in applied if m.until), default=None),
        reasons=reasons if applied else [],
        disputed=disputed,
    )


def _disputed(found: list[Case], result: Result, today: date) -> list[Any]:
    """The subject's records under open dispute; ``counts`` says whether the answer rests on
    one (a record past its deadline unanswered does not count)."""
    relevant = {(c.provider, c.ref) for c in result.contributions}
    return [
        DisputedRecord(
            provider=str(c.provider),
            ref=str(c.ref),
            deadline=c.deadline,
            counts=(c.provider, c.ref) in relevant,
        )
        for c in found
        if c.is_open_on(today)
    ]
