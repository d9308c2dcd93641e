"""``GET /v1/audit``: the audit trail, in order, for auditors.

Auditors see every entry, subjects by the registry's internal row id only: enough to follow
one subject's reads through the trail, never enough to learn who that subject is.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.errors import COMMON_RESPONSES
from socialcredit.store import audit as trail
from socialcredit.store.keys import ApiKey, Role

router = APIRouter(tags=["audit"])
#: The largest sequence number a database integer holds: a bigger ``after`` is a 422, not a
#: database overflow.
MAX_SEQ = 2**63 - 1


class TrailEntry(BaseModel):
    seq: int
    time: str
    key: str
    role: str
    subject: int | None
    purpose: str | None
    action: str
    result: str


class TrailPage(BaseModel):
    entries: list[TrailEntry]
    next: int | None  # pass as ``after`` for the following page; null at the end


@router.get("/v1/audit", response_model=TrailPage, responses=COMMON_RESPONSES)
def audit_trail(
    served: RegistryDep,
    _key: Annotated[ApiKey, Depends(require(Role.AUDITOR))],
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="the last seq already read")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TrailPage:
    """Audit entries after ``after``, oldest first."""
    with served.engine.connect() as conn:
        entries = trail.page(conn, after, limit)
    return TrailPage(
        entries=[
            TrailEntry(
                seq=e.seq,
                time=e.recorded_at,
                key=e.key_id,
                role=e.role,
                subject=e.subject_id,
                purpose=e.purpose,
                action=e.action,
                result=e.result,
            )
            for e in entries
        ],
        next=entries[-1].seq if len(entries) == limit else None,
    )
