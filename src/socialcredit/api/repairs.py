"""Credit repair and deletion of one's own positive records.

``POST /v1/subjects/{id}/repairs`` applies for repair of an adverse record, with a credit
commitment, once the rulebook's minimum publicity period has passed; an admin approves or
refuses with reasons through ``POST /v1/repairs/{id}/decision``. Approval files the
rulebook's repair record in the ledger, so the engine applies the repair rule.
``POST /v1/subjects/{id}/deletions`` deletes one of the subject's own positive records.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.casework import actor, body_of, body_schema, file_for, own_file, refusals
from socialcredit.api.disputes import (
    RESPONSES,
    CaseOut,
    CasePath,
    SubjectOrAdmin,
    SubjectPath,
    _Body,
    _case_for,
    _list,
    shown,
)
from socialcredit.disputes import CaseKind
from socialcredit.store import cases
from socialcredit.store.cases import MAX_COMMITMENT, MAX_REASON
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry

router = APIRouter(tags=["due process"])


class RepairIn(_Body):
    provider: str = Field(min_length=1, max_length=64)
    ref: str = Field(min_length=1, max_length=128)
    commitment: str = Field(min_length=1, max_length=MAX_COMMITMENT)


class DecisionIn(_Body):
    approve: bool
    reasons: str = Field(min_length=1, max_length=MAX_REASON)


class DeletionIn(_Body):
    provider: str = Field(min_length=1, max_length=64)
    ref: str = Field(min_length=1, max_length=128)


@router.post(
    "/v1/subjects/{subject_id}/repairs",
    status_code=201,
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(RepairIn),
)
async def apply_repair(
    request: Request, served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> dict[str, Any]:
    """Apply for credit repair of a record, with a credit commitment."""
    body = await body_of(request, RepairIn)
    return await run_in_threadpool(apply_for, served, key, subject_id, body)


def apply_for(served: Registry, key: ApiKey, subject_id: str, body: RepairIn) -> dict[str, Any]:
    """The application itself; the subject's web page calls it too, so both act alike."""
    file = file_for(served, key, subject_id, "repair")
    with refusals():
        case = cases.apply_repair(
            served, file, body.provider, body.ref, body.commitment, actor(key)
        )
    access.audit(served, key, file.subject.id, "repair", "applied")
    return shown(case)


@router.post(
    "/v1/repairs",
    status_code=201,
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(RepairIn),
)
async def apply_my_repair(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT))],
) -> dict[str, Any]:
    """The same for the caller's own file (a subject key)."""
    body = await body_of(request, RepairIn)

    def apply() -> dict[str, Any]:
        file = own_file(served, key, "repair")
        with refusals():
            case = cases.apply_repair(
                served, file, body.provider, body.ref, body.commitment, actor(key)
            )
        access.audit(served, key, file.subject.id, "repair", "applied")
        return shown(case)

    return await run_in_threadpool(apply)


@router.get("/v1/subjects/{subject_id}/repairs", response_model=list[CaseOut], responses=RESPONSES)
def list_repairs(
    served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> list[dict[str, Any]]:
    return _list(served, key, subject_id, CaseKind.REPAIR)


@router.get("/v1/repairs/{case_id}", response_model=CaseOut, responses=RESPONSES)
def get_repair(served: RegistryDep, key: SubjectOrAdmin, case_id: CasePath) -> dict[str, Any]:
    return shown(_case_for(served, key, case_id, CaseKind.REPAIR))


@router.post(
    "/v1/repairs/{case_id}/decision",
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(DecisionIn),
)
async def decide_repair(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.ADMIN))],
    case_id: CasePath,
) -> dict[str, Any]:
    """Approve or refuse a repair application, with reasons."""
    body = await body_of(request, DecisionIn)

    def decide() -> dict[str, Any]:
        with refusals():
            case = cases.decide_repair(served, case_id, body.approve, body.reasons, actor(key))
        access.audit(served, key, case.subject_id, "repair", case.status)
        return shown(case)

    return await run_in_threadpool(decide)


@router.post(
    "/v1/subjects/{subject_id}/deletions",
    status_code=201,
    response_model=CaseOut,
    responses=RESPONSES,
    openapi_extra=body_schema(DeletionIn),
)
async def delete_positive(
    request: Request, served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> dict[str, Any]:
    """Delete one of the subject's own positive records."""
    body = await body_of(request, DeletionIn)

    def delete() -> dict[str, Any]:
        file = file_for(served, key, subject_id, "deletion")
        with refusals():
            case = cases.delete_positive(served, file, body.provider, body.ref, actor(key))
        access.audit(served, key, file.subject.id, "deletion", "deleted")
        return shown(case)

    return await run_in_threadpool(delete)
