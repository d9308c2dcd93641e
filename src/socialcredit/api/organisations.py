"""``GET /v1/organisations/{uscc}``: the public look-up of a company or institution.

As on Credit China, anyone may see an organisation's grade, lists and published penalty
decisions. Persons are never shown: an identifier shaped like a resident number gets the same
404 as an unknown code, before anything is looked up, so the answer cannot tell whether such
a person is on file. Penalties that are only warnings are not published (SAMR Order 45).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from socialcredit import clock
from socialcredit.api.auth import CallerDep, RegistryDep
from socialcredit.api.errors import ApiError, ErrorBody, invalid_field
from socialcredit.catalog import Polarity
from socialcredit.identifiers import InvalidIdentifier, SubjectKind, infer_kind, normalise_uscc
from socialcredit.scoring import evaluate
from socialcredit.store import outbox
from socialcredit.store.registry import SubjectNotFound

router = APIRouter(tags=["organisations"])


class Standing(BaseModel):
    rulebook: str
    version: str
    grade: str
    lists: list[str]


class Penalty(BaseModel):
    type: str
    title: str
    provider: str
    occurred_on: date
    act: str | None
    legal_basis: str | None
    amount: float | None


class Organisation(BaseModel):
    uscc: str
    kind: str
    name: str | None
    as_of: date
    standings: list[Standing]
    penalties: list[Penalty]


@router.get(
    "/v1/organisations/{uscc}",
    response_model=Organisation,
    responses={
        401: {"model": ErrorBody, "description": "a key was sent and does not work"},
        404: {"model": ErrorBody, "description": "no organisation has this code"},
        422: {"model": ErrorBody, "description": "not a valid USCC"},
    },
)
def organisation(
    served: RegistryDep,
    _caller: CallerDep,
    uscc: Annotated[str, Path(min_length=1, max_length=32)],
) -> Organisation:
    """An organisation's grade, lists and published penalties; open to everyone."""
    not_found = ApiError(404, "not_found", "no organisation has this code")
    if infer_kind(uscc) is SubjectKind.PERSON:
        raise not_found
    try:
        code = normalise_uscc(uscc, served.legacy_codes())
        file = served.subject_file(SubjectKind.ORGANISATION, code)
    except InvalidIdentifier as exc:
        raise invalid_field("uscc", str(exc)) from None
    except SubjectNotFound:
        raise not_found from None
    if file.subject.kind is SubjectKind.PERSON:  # cannot happen: a USCC never keys a person
        raise not_found
    today = clock.today()
    names = [a.name for a in served.active_rulebooks()] or ["rongcheng"]
    counted = served.scored_records(file, today)
    results = [evaluate(counted, served.rulebook(n), today, file.subject.kind) for n in names]
    if any(x.lists for x in results):  # the organisation is told before the public sees it
        outbox.notify(served, file, today)
    types = served.record_types()
    penalties = [
        Penalty(
            type=r.type,
            title=types[r.type].title,
            provider=r.provider,
            occurred_on=r.occurred_on,
            act=r.act,
            legal_basis=r.legal_basis,
            amount=r.amount,
        )
        for r in file.records
        if r.type in types
        and types[r.type].polarity is Polarity.NEGATIVE
        and not r.type.endswith(".warning")
    ]
    return Organisation(
        uscc=code,
        kind=file.subject.kind.value,
        name=file.subject.name,
        as_of=today,
        standings=[
            Standing(rulebook=x.rulebook, version=x.version, grade=x.grade, lists=list(x.lists))
            for x in results
        ],
        penalties=penalties,
    )
