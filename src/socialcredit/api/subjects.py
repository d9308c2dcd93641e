"""A subject's own data: the report (``/v1/subjects/{id}/report``) and who looked at it.

The report is the JSON twin of ``scs explain --json``: score, grade, lists, measures,
reasons and every record's part under each active rulebook, and the whole history. Only the
subject's own key and admins may read it, and every attempt is audited — a refused one too,
under the subject it was aimed at, with the result ``refused``: a person whose report
someone tried to read without the right deserves to see that in their access log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel
from sqlalchemy import select

from socialcredit import clock
from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.errors import COMMON_RESPONSES, ApiError, ErrorBody
from socialcredit.identifiers import subject_key
from socialcredit.scoring import evaluate
from socialcredit.store import audit as trail
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import SubjectNotFound
from socialcredit.store.schema import subjects

router = APIRouter(tags=["subjects"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "the registry has no file on the subject"}
}


@router.get(
    "/v1/subjects/{subject_id}/report",
    responses={**COMMON_RESPONSES, **_NOT_FOUND},
)
def report(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT, Role.ADMIN))],
    subject_id: Annotated[
        str, Path(min_length=1, max_length=32, description="resident number or USCC")
    ],
) -> dict[str, Any]:
    """The subject's report and explanation; for that subject's key or an admin's."""
    kind, number = access.identify(served, subject_id, "subject_id")
    target = access.subject_id(served, kind, number)
    if key.role is Role.SUBJECT and key.subject_key != subject_key(served.secret, kind, number):
        access.audit(served, key, target, "report", "refused")
        raise ApiError(403, "not_your_data", "a subject key reads its own subject's data only")
    try:
        file = served.subject_file(kind, number)
    except SubjectNotFound:
        access.audit(served, key, None, "report", "no_file")
        raise ApiError(404, "no_file", "the registry has no file on this subject") from None
    today = clock.today()
    names = [a.name for a in served.active_rulebooks()] or ["rongcheng"]
    results = [evaluate(file.records, served.rulebook(n), today, file.subject.kind) for n in names]
    access.audit(served, key, target, "report", "ok")
    who = file.subject
    return {
        "subject": {"kind": who.kind.value, "id": who.display, "name": who.name},
        "as_of": today.isoformat(),
        "results": [result.to_json() for result in results],
        "history": [entry.to_json() for entry in file.history],
    }


class AccessEntry(BaseModel):
    time: str
    key: str
    role: str
    purpose: str | None
    action: str
    result: str


class AccessLog(BaseModel):
    since: date
    entries: list[AccessEntry]


@router.get("/v1/me/access-log", response_model=AccessLog, responses=COMMON_RESPONSES)
def access_log(
    served: RegistryDep, key: Annotated[ApiKey, Depends(require(Role.SUBJECT))]
) -> AccessLog:
    """Who read my data, or tried to, when and for which purpose, in the last 12 months."""
    since = _year_before(clock.today())
    with served.engine.connect() as conn:
        own = conn.execute(select(subjects.c.id).where(subjects.c.key == key.subject_key)).scalar()
        entries = [] if own is None else trail.for_subject(conn, own, since)
    return AccessLog(
        since=since,
        entries=[
            AccessEntry(
                time=e.recorded_at,
                key=e.key_id,
                role=e.role,
                purpose=e.purpose,
                action=e.action,
                result=e.result,
            )
            for e in entries
        ],
    )


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)
