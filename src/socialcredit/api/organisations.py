"""``GET /v1/organisations/{uscc}`` and ``GET /v1/organisations?q=``: the public look-up.

As on Credit China, anyone may find an organisation by its code or name and see its grade,
lists and published penalty and licensing decisions, each for its publication period: the
period the rulebook keeps the record in force. Persons are never shown: an identifier shaped
like a resident number gets the same 404 as an unknown code, before anything is looked up,
so the answer cannot tell whether such a person is on file, and the name search reads
organisations and institutions only, so a person's name finds nothing. Penalties that are
only warnings are not published (SAMR Order 45).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from socialcredit import clock
from socialcredit.api.access import SUBJECT_EXAMPLES
from socialcredit.api.auth import KEY_OPTIONAL, CallerDep, RegistryDep
from socialcredit.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, invalid_field
from socialcredit.catalog import Polarity
from socialcredit.identifiers import (
    InvalidIdentifier,
    SubjectKind,
    infer_kind,
    normalise_uscc,
    subject_key,
)
from socialcredit.scoring import Result, evaluate
from socialcredit.store import outbox
from socialcredit.store.registry import Registry, SubjectNotFound
from socialcredit.store.schema import subjects

router = APIRouter(tags=["organisations"])


class Standing(BaseModel):
    rulebook: str
    version: str
    grade: str
    lists: list[str]


class Penalty(BaseModel):
    type: str
    title: str
    category: str  # the record type's category: "admin_penalty", "permit" (licensing), …
    provider: str
    occurred_on: date
    act: str | None
    legal_basis: str | None
    amount: float | None
    published_until: date | None  # the last day it is in force; None: no rulebook scores it


class Organisation(BaseModel):
    uscc: str
    kind: str
    name: str | None
    as_of: date
    standings: list[Standing]
    penalties: list[Penalty]


@router.get(
    "/v1/organisations/{uscc}",
    openapi_extra=KEY_OPTIONAL,
    response_model=Organisation,
    responses={
        401: {"model": ErrorBody, "description": "a key was sent and does not work"},
        404: {"model": ErrorBody, "description": "no organisation has this code"},
        422: {"model": ErrorBody, "description": "not a valid USCC"},
        429: COMMON_RESPONSES[429],
    },
)
def organisation(
    served: RegistryDep,
    _caller: CallerDep,
    uscc: Annotated[str, Path(min_length=1, max_length=32, examples=[SUBJECT_EXAMPLES[1]])],
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
    until = _in_force_until(results)
    penalties = [
        Penalty(
            type=r.type,
            title=types[r.type].title,
            category=types[r.type].category,
            provider=r.provider,
            occurred_on=r.occurred_on,
            act=r.act,
            legal_basis=r.legal_basis,
            amount=r.amount,
            published_until=until.get((r.provider, r.ref)),
        )
        for r in file.records
        if r.type in types
        and types[r.type].polarity is Polarity.NEGATIVE
        and not r.type.endswith(".warning")
        and until.get((r.provider, r.ref), today) >= today
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


def _in_force_until(results: list[Result]) -> dict[tuple[str, str], date]:
    """(provider, ref) -> the last day any rulebook keeps the record in force."""
    until: dict[tuple[str, str], date] = {}
    for result in results:
        for c in result.contributions:
            if c.valid_until is not None:
                key = (c.provider, c.ref)
                until[key] = max(until.get(key, c.valid_until), c.valid_until)
    return until


class Found(BaseModel):
    uscc: str
    kind: str
    name: str | None


class Search(BaseModel):
    query: str
    organisations: list[Found]
    #: Why nothing was looked up, when the query was refused: ``person_number`` for an
    #: identifier shaped like a resident number (persons are never searched).
    refused: str | None = None


#: A name search shows at most this many organisations: it finds, it does not list.
SEARCH_LIMIT = 50


@router.get(
    "/v1/organisations",
    openapi_extra=KEY_OPTIONAL,
    response_model=Search,
    responses={
        401: {"model": ErrorBody, "description": "a key was sent and does not work"},
        429: COMMON_RESPONSES[429],
    },
)
def search(
    served: RegistryDep,
    _caller: CallerDep,
    q: Annotated[
        str,
        Query(
            min_length=2,
            max_length=100,
            description="a USCC or part of a name",
            examples=["Example", SUBJECT_EXAMPLES[1]],
        ),
    ],
) -> Search:
    """Organisations and institutions by USCC or by part of their name; never persons."""
    return find_organisations(served, q)


def find_organisations(served: Registry, q: str) -> Search:
    """The look-up behind the search (shared with the public web page)."""
    query = q.strip()
    if infer_kind(query) is SubjectKind.PERSON:
        return Search(query=query, organisations=[], refused="person_number")
    where: Any
    try:
        code = normalise_uscc(query, served.legacy_codes())
    except InvalidIdentifier:
        where = subjects.c.name.icontains(query, autoescape=True)
    else:
        where = subjects.c.key == subject_key(served.secret, SubjectKind.ORGANISATION, code)
    with served.engine.connect() as conn:
        rows = conn.execute(
            select(subjects.c.display, subjects.c.kind, subjects.c.name)
            .where(where, subjects.c.kind != SubjectKind.PERSON.value)
            .order_by(subjects.c.name, subjects.c.display)
            .limit(SEARCH_LIMIT)
        )
        found = [Found(uscc=row.display, kind=row.kind, name=row.name) for row in rows]
    return Search(query=query, organisations=found)
