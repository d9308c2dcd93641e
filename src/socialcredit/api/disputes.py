"""Disputes and human reviews: a subject contests a record or a list decision, and is answered.

``POST /v1/subjects/{id}/disputes`` marks the record disputed at once and asks its provider
to verify it by the rulebook's deadline; the provider answers through
``POST /v1/disputes/{id}/answer`` (confirmed, corrected or revoked) for its own records only.
If the deadline passes unanswered the record stops counting until the provider answers.
``/reviews`` asks a person to review an automated list decision (GDPR Art. 22).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from socialcredit import clock
from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.casework import actor, body_of, body_schema, file_for, own_file, refusals
from socialcredit.api.errors import COMMON_RESPONSES, ApiError, ErrorBody
from socialcredit.disputes import Case, CaseKind
from socialcredit.store import cases
from socialcredit.store.cases import MAX_EVIDENCE, MAX_REASON
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry

router = APIRouter(tags=["due process"])
SubjectPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=32,
        description="resident number or USCC",
        examples=access.SUBJECT_EXAMPLES,
    ),
]
CasePath = Annotated[str, Path(min_length=1, max_length=32, description="a case id")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMON_RESPONSES,
    400: {"model": ErrorBody, "description": "the body is not JSON"},
    404: {"model": ErrorBody, "description": "no such file, record or case"},
    409: {"model": ErrorBody, "description": "the case or record does not allow this now"},
    413: {"model": ErrorBody, "description": "the body is too large"},
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DisputeIn(_Body):
    provider: str = Field(min_length=1, max_length=64)
    ref: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    evidence: str | None = Field(default=None, max_length=MAX_EVIDENCE)


class AnswerIn(_Body):
    outcome: Literal["confirmed", "corrected", "revoked"]
    reasons: str = Field(min_length=1, max_length=MAX_REASON)
    record: dict[str, Any] | None = Field(
        default=None, description="the corrected record, with a new ref (outcome corrected)"
    )


class ReviewIn(_Body):
    rulebook: str = Field(min_length=1, max_length=64)
    list: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class ReviewDecisionIn(_Body):
    outcome: Literal["upheld", "overturned"]
    reasons: str = Field(min_length=1, max_length=MAX_REASON)


class TimelineStep(BaseModel):
    """One step of a case; each step adds its own details (reasons, outcome, …)."""

    model_config = ConfigDict(extra="allow")
    step: str
    at: str


class CaseOut(BaseModel):
    """A case as the API shows it; each kind adds its own fields (reason, commitment, …)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    id: str
    kind: CaseKind
    provider: str | None
    ref: str | None
    rulebook: str | None
    listing: str | None = Field(alias="list")
    status: str
    state: str
    opened_at: str
    deadline: date
    closed_at: str | None
    timeline: list[TimelineStep]


SubjectOrAdmin = Annotated[ApiKey, Depends(require(Role.SUBJECT, Role.ADMIN))]


def shown(case: Case) -> dict[str, Any]:
    return case.to_json(clock.today())


# -- disputes -----------------------------------------------------------------------------------
@router.post(
    "/v1/subjects/{subject_id}/disputes",
    status_code=201,
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(DisputeIn),
)
async def open_dispute(
    request: Request, served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> dict[str, Any]:
    """Dispute one of the subject's records: disputed at once, the provider asked to verify."""
    body = await body_of(request, DisputeIn)
    return await run_in_threadpool(_open_dispute, served, key, subject_id, body)


@router.post(
    "/v1/disputes",
    status_code=201,
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(DisputeIn),
)
async def open_my_dispute(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT))],
) -> dict[str, Any]:
    """The same for the caller's own file (a subject key)."""
    body = await body_of(request, DisputeIn)
    return await run_in_threadpool(_open_dispute, served, key, None, body)


def _open_dispute(
    served: Registry, key: ApiKey, subject_id: str | None, body: DisputeIn
) -> dict[str, Any]:
    file = (
        own_file(served, key, "dispute")
        if subject_id is None
        else file_for(served, key, subject_id, "dispute")
    )
    with refusals():
        case = cases.open_dispute(
            served, file, body.provider, body.ref, body.reason, body.evidence, actor(key)
        )
    access.audit(served, key, file.subject.id, "dispute", "opened")
    return shown(case)


@router.get("/v1/subjects/{subject_id}/disputes", response_model=list[CaseOut], responses=RESPONSES)
def list_disputes(
    served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> list[dict[str, Any]]:
    """The subject's disputes, each with its timeline."""
    return _list(served, key, subject_id, CaseKind.DISPUTE)


def _list(served: Registry, key: ApiKey, raw: str, kind: CaseKind) -> list[dict[str, Any]]:
    file = file_for(served, key, raw, f"{kind.value}s")
    with served.engine.connect() as conn:
        found = cases.for_subject(conn, file.subject.id, kind)
    access.audit(served, key, file.subject.id, f"{kind.value}s", "ok")
    return [shown(c) for c in found]


@router.get("/v1/disputes", response_model=list[CaseOut], responses=RESPONSES)
def pending_disputes(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.PROVIDER, Role.ADMIN))],
) -> list[dict[str, Any]]:
    """Open disputes the caller must answer (a provider: of its own records), nearest
    deadline first."""
    provider = key.provider if key.role is Role.PROVIDER else None
    with served.engine.connect() as conn:
        found = cases.pending(conn, CaseKind.DISPUTE, provider)
    for case in found:
        access.audit(served, key, case.subject_id, "dispute", "ok")
    return [shown(c) for c in found]


@router.get("/v1/disputes/{case_id}", response_model=CaseOut, responses=RESPONSES)
def get_dispute(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT, Role.ADMIN, Role.PROVIDER))],
    case_id: CasePath,
) -> dict[str, Any]:
    """One dispute: for its subject, the provider of the disputed record, or an admin."""
    return shown(_case_for(served, key, case_id, CaseKind.DISPUTE))


def _case_for(served: Registry, key: ApiKey, case_id: str, kind: CaseKind) -> Case:
    with served.engine.connect() as conn:
        case = cases.load(conn, case_id)
    allowed = case is not None and case.kind is kind
    if allowed and case is not None and key.role is Role.SUBJECT:
        mine = own_file(served, key, kind.value)
        allowed = mine.subject.id == case.subject_id
    if allowed and case is not None and key.role is Role.PROVIDER:
        allowed = case.provider == key.provider
    if not allowed or case is None:  # another's case is as unknown as a missing one
        raise ApiError(404, "no_case", f"no {kind.value} {case_id!r} for this key")
    access.audit(served, key, case.subject_id, kind.value, "ok")
    return case


@router.post(
    "/v1/disputes/{case_id}/answer",
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(AnswerIn),
)
async def answer_dispute(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.PROVIDER, Role.ADMIN))],
    case_id: CasePath,
) -> dict[str, Any]:
    """The provider confirms, corrects or revokes its disputed record, with reasons."""
    body = await body_of(request, AnswerIn)
    return await run_in_threadpool(_answer, served, key, case_id, body)


def _answer(served: Registry, key: ApiKey, case_id: str, body: AnswerIn) -> dict[str, Any]:
    provider = key.provider if key.role is Role.PROVIDER else None
    with refusals():
        case = cases.answer_dispute(
            served, case_id, provider, body.outcome, body.reasons, body.record, actor(key)
        )
    access.audit(served, key, case.subject_id, "dispute", body.outcome)
    return shown(case)


# -- human review -------------------------------------------------------------------------------
@router.post(
    "/v1/subjects/{subject_id}/reviews",
    status_code=201,
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(ReviewIn),
)
async def open_review(
    request: Request, served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> dict[str, Any]:
    """Ask for a person to review an automated list decision (GDPR Art. 22)."""
    body = await body_of(request, ReviewIn)
    return await run_in_threadpool(_open_review, served, key, subject_id, body)


def _open_review(served: Registry, key: ApiKey, raw: str, body: ReviewIn) -> dict[str, Any]:
    file = file_for(served, key, raw, "review")
    with refusals():
        case = cases.open_review(served, file, body.rulebook, body.list, body.reason, actor(key))
    access.audit(served, key, file.subject.id, "review", "opened")
    return shown(case)


@router.get("/v1/subjects/{subject_id}/reviews", response_model=list[CaseOut], responses=RESPONSES)
def list_reviews(
    served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> list[dict[str, Any]]:
    return _list(served, key, subject_id, CaseKind.REVIEW)


@router.get("/v1/reviews/{case_id}", response_model=CaseOut, responses=RESPONSES)
def get_review(served: RegistryDep, key: SubjectOrAdmin, case_id: CasePath) -> dict[str, Any]:
    return shown(_case_for(served, key, case_id, CaseKind.REVIEW))


@router.post(
    "/v1/reviews/{case_id}/decision",
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(ReviewDecisionIn),
)
async def decide_review(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.ADMIN))],
    case_id: CasePath,
) -> dict[str, Any]:
    """A person upholds or overturns the list decision, with reasons."""
    body = await body_of(request, ReviewDecisionIn)

    def decide() -> dict[str, Any]:
        with refusals():
            case = cases.answer_review(served, case_id, body.outcome, body.reasons, actor(key))
        access.audit(served, key, case.subject_id, "review", body.outcome)
        return shown(case)

    return await run_in_threadpool(decide)
