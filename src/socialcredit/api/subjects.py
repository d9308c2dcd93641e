"""A subject's own data: the report (``/v1/subjects/{id}/report``) and who looked at it.

The report is the JSON twin of ``scs explain --json``: score, grade, lists, measures,
reasons and every record's part under each active rulebook, and the whole history. Only the
subject's own key and admins may read it, and every attempt is audited — a refused one too,
under the subject it was aimed at, with the result ``refused``: a person whose report
someone tried to read without the right deserves to see that in their access log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel
from sqlalchemy import select

from socialcredit import clock
from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.casework import file_for
from socialcredit.api.errors import COMMON_RESPONSES, ErrorBody
from socialcredit.rulebook import Rulebook
from socialcredit.scoring import Result, evaluate
from socialcredit.store import audit as trail
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.queries import SubjectFile
from socialcredit.store.registry import Registry
from socialcredit.store.schema import subjects
from socialcredit.timeline import Point, scores_over_time

router = APIRouter(tags=["subjects"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "the registry has no file on the subject"}
}


@dataclass(frozen=True, slots=True)
class Report:
    """A subject's file and its results under each active rulebook, read and audited."""

    file: SubjectFile
    as_of: date
    results: list[tuple[Rulebook, Result]]

    def to_json(self) -> dict[str, Any]:
        who = self.file.subject
        return {
            "subject": {"kind": who.kind.value, "id": who.display, "name": who.name},
            "as_of": self.as_of.isoformat(),
            "results": [result.to_json() for _, result in self.results],
            "history": [entry.to_json() for entry in self.file.history],
        }


def read_report(served: Registry, key: ApiKey, raw_id: str) -> Report:
    """The subject's report for its own key or an admin's, audited before it is returned.

    Shared by the JSON endpoints and the web page of the subject's record, so the page and
    its JSON twin refuse, log and answer exactly alike.
    """
    file = file_for(served, key, raw_id, "report")
    target = file.subject.id
    today = clock.today()
    names = [a.name for a in served.active_rulebooks()] or ["rongcheng"]
    rulebooks = [served.rulebook(n) for n in names]
    results = [(rb, evaluate(file.records, rb, today, file.subject.kind)) for rb in rulebooks]
    access.audit(served, key, target, "report", "ok")
    return Report(file, today, results)


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
    return read_report(served, key, subject_id).to_json()


@router.get(
    "/v1/subjects/{subject_id}/scores",
    responses={**COMMON_RESPONSES, **_NOT_FOUND},
)
def scores(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.SUBJECT, Role.ADMIN))],
    subject_id: Annotated[
        str, Path(min_length=1, max_length=32, description="resident number or USCC")
    ],
) -> dict[str, Any]:
    """The subject's score and grade at each month's end of the last three years, per
    rulebook (the chart on the subject's web page); audited as a read of the report."""
    read = read_report(served, key, subject_id)
    return {
        "as_of": read.as_of.isoformat(),
        "rulebooks": [
            {
                "rulebook": rb.name,
                "version": rb.version,
                "points": [p.to_json() for p in history_of(read, rb)],
            }
            for rb, _ in read.results
        ],
    }


def history_of(read: Report, rulebook: Rulebook) -> list[Point]:
    """The subject's monthly scores under ``rulebook`` up to the report's day."""
    who = read.file.subject
    return scores_over_time(read.file.records, rulebook, who.kind, read.as_of)


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
