"""A subject's notices: ``GET /v1/subjects/{id}/notices`` and ``GET /v1/me/notices``.

The notices are brought up to date before they are shown, so a subject never reads an
outbox that lags behind what a consumer would be told.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.casework import file_for, own_file
from socialcredit.api.disputes import RESPONSES, SubjectOrAdmin, SubjectPath
from socialcredit.store import outbox, queries
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry

router = APIRouter(tags=["due process"])


@router.get("/v1/subjects/{subject_id}/notices", responses=RESPONSES)
def subject_notices(
    served: RegistryDep, key: SubjectOrAdmin, subject_id: SubjectPath
) -> list[dict[str, Any]]:
    """Every notice sent or due to the subject, oldest first."""
    return _notices(served, key, file_for(served, key, subject_id, "notices"))


@router.get("/v1/me/notices", responses=RESPONSES)
def my_notices(
    served: RegistryDep, key: Annotated[ApiKey, Depends(require(Role.SUBJECT))]
) -> list[dict[str, Any]]:
    """The caller's own notices (a subject key)."""
    return _notices(served, key, own_file(served, key, "notices"))


def _notices(served: Registry, key: ApiKey, file: queries.SubjectFile) -> list[dict[str, Any]]:
    outbox.notify(served, file)
    with served.engine.connect() as conn:
        found = outbox.for_subject(conn, file.subject.id)
    access.audit(served, key, file.subject.id, "notices", "ok")
    return found
