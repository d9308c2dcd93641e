"""A subject's own data: the report (``/v1/subjects/{id}/report``) and who looked at it.

The report (``socialcredit.report``) holds what ``scs explain --json`` does — score, grade,
lists, measures, reasons and every record's part under each active rulebook, and the whole
history — plus the score over the last years, disputes, repairs, notices and the access log,
as JSON, HTML or PDF (``?format=``). Only the
subject's own key and admins may read it, and every attempt is audited — a refused one too,
under the subject it was aimed at, with the result ``refused``: a person whose report
someone tried to read without the right deserves to see that in their access log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from socialcredit import clock
from socialcredit import report as credit_report
from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.casework import own_file
from socialcredit.api.errors import COMMON_RESPONSES, ApiError, ErrorBody
from socialcredit.identifiers import subject_key
from socialcredit.store import audit as trail
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.queries import SubjectFile
from socialcredit.store.registry import Registry, SubjectNotFound
from socialcredit.store.schema import subjects

router = APIRouter(tags=["subjects"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "the registry has no file on the subject"}
}
_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report as JSON, HTML or PDF (``format``)",
        "content": {"text/html": {}, "application/pdf": {}},
    }
}


ReportFormat = Annotated[
    Literal["json", "html", "pdf"],
    Query(description="json (default), html (a page) or pdf (a document to keep)"),
]


@router.get(
    "/v1/subjects/{subject_id}/report",
    responses={**COMMON_RESPONSES, **_NOT_FOUND, **_FORMATS},
)
def report(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT, Role.ADMIN))],
    subject_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=32,
            description="resident number or USCC",
            examples=access.SUBJECT_EXAMPLES,
        ),
    ],
    format: ReportFormat = "json",
) -> Any:
    """The subject's credit report; for that subject's key or an admin's."""
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
    return _report(served, key, file, format)


@router.get("/v1/me/report", responses={**COMMON_RESPONSES, **_NOT_FOUND, **_FORMATS})
def my_report(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT))],
    format: ReportFormat = "json",
) -> Any:
    """The caller's own credit report (a subject key)."""
    return _report(served, key, own_file(served, key, "report"), format)


def _report(served: Registry, key: ApiKey, file: SubjectFile, fmt: str) -> Any:
    access.audit(served, key, file.subject.id, "report", "ok")
    data = credit_report.gather(served, file)
    if fmt == "json":
        return data
    body = credit_report.render(data, fmt)
    media = "text/html; charset=utf-8" if fmt == "html" else "application/pdf"
    headers = {"Content-Disposition": f'inline; filename="credit-report-{data["as_of"]}.{fmt}"'}
    return Response(body, media_type=media, headers=headers)


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
