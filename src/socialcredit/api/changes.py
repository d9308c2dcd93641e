"""``GET /v1/changes``: the change feed for consumers that mirror the lists their measures use.

A railway that checks every booking would rather keep its own copy of who its measures apply
to. The feed is the ledger read as a notification log (as in ``eventsourcing``): the subjects
whose entries come after a cursor, each with the current verdict on every measure the key
runs, computed by the same ``checks.standing`` and ``checks.verdict`` as a check. Persons
appear only as this key's ``subject_ref``, never by number; every person delivered is in the
audit log (``change_feed``) before the page is sent, so the person sees that a consumer now
holds a copy of their standing.

Only ledger entries are events. Time passing is not: a listing's ``until`` is in the entry,
so the mirror expires it itself; nor is a dispute deadline lapsing (the record stops counting
without a new entry), which a mirror only learns from a check.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from socialcredit import clock
from socialcredit.api import access
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.checks import standing, verdict
from socialcredit.api.errors import COMMON_RESPONSES
from socialcredit.identifiers import SubjectKind
from socialcredit.notices import Draft
from socialcredit.rulebook.model import Measure
from socialcredit.store import cases, queries
from socialcredit.store.keys import ApiKey, Role, defined_measures
from socialcredit.store.registry import Registry
from socialcredit.store.schema import ledger, subjects

router = APIRouter(tags=["checks"])

#: What the feed's reads are logged as: a consumer keeping a copy of the lists it applies.
PURPOSE = "list_mirroring"
#: Ledger entries read at a time while collecting a page's subjects.
SCAN = 1_000


class ChangeEntry(BaseModel):
    subject_ref: str = Field(description="this key's opaque reference for the subject")
    kind: SubjectKind
    uscc: str | None = Field(
        default=None, description="organisations and institutions only (public data)"
    )
    measure: str
    applies: bool
    lists: list[str]
    since: date | None
    until: date | None = Field(description="the mirror drops the listing after this day itself")


class ChangePage(BaseModel):
    entries: list[ChangeEntry]
    next: str = Field(description="the cursor to pass as `since` for what follows")
    more: bool = Field(description="whether entries after `next` exist already")


@router.get("/v1/changes", response_model=ChangePage, responses=COMMON_RESPONSES)
def changes(
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.CONSUMER))],
    since: Annotated[
        str,
        Query(
            pattern=r"^[0-9]{1,18}$",
            description="the `next` of the previous page; 0 (the default) for the beginning",
        ),
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many subjects")] = 100,
) -> ChangePage:
    """The subjects whose records changed after ``since`` (new records, corrections,
    revocations), each with the current verdict on every measure the key runs; audited."""
    with served.engine.connect() as conn:
        picked, cursor, more = _changed(conn, int(since), limit)
        ids = list(picked)
        files = queries.read_records(conn, ids)
        disputes = cases.disputes_of(conn, ids)
    today = clock.today()
    measures = _measures(served, key)
    books = {name: served.rulebook(name) for name in measures}
    entries: list[ChangeEntry] = []
    reads: list[tuple[int | None, str]] = []
    told: list[tuple[int, list[Draft]]] = []
    for subject_id, (kind, keyed, display) in picked.items():
        ref = access.subject_ref(served, key, keyed)
        applies = False
        drafts: list[Draft] = []
        for name, wanted in measures.items():
            found = standing(
                files.get(subject_id), disputes.get(subject_id, []), books[name], today
            )
            answers = [(m.code, verdict(found, m.code, today)) for m in wanted]
            if any(answer.applies for _, answer in answers):
                applies = True
                drafts += found.notices()
            entries += [
                ChangeEntry(
                    subject_ref=ref,
                    kind=kind,
                    uscc=None if kind is SubjectKind.PERSON else display,
                    measure=code,
                    applies=answer.applies,
                    lists=answer.lists,
                    since=answer.since,
                    until=answer.until,
                )
                for code, answer in answers
            ]
        if drafts:
            told.append((subject_id, drafts))
        if kind is SubjectKind.PERSON:
            reads.append((subject_id, "applies" if applies else "does_not_apply"))
    if reads or told:
        access.record_reads(served, key, "change_feed", PURPOSE, reads, told)
    return ChangePage(entries=entries, next=str(cursor), more=more)


def _measures(served: Registry, key: ApiKey) -> dict[str, list[Measure]]:
    """The key's measures that a rulebook still defines, by rulebook."""
    defined = defined_measures(served)
    out: dict[str, list[Measure]] = defaultdict(list)
    for code in key.measures:
        if code in defined:
            name, measure = defined[code]
            out[name].append(measure)
    return dict(out)


def _changed(
    conn: Connection, after: int, limit: int
) -> tuple[dict[int, tuple[SubjectKind, str, str]], int, bool]:
    """Up to ``limit`` subjects with entries after ``after``, in the order of their first
    such entry: id -> (kind, keyed hash, display); the seq up to which they cover the ledger;
    whether more entries follow. A correction that moves a record to another subject changes
    both subjects, so the amended entry's subject counts too (and a page may then hold one
    subject more than ``limit``, rather than never move past that entry)."""
    target = ledger.alias("target")
    picked: dict[int, None] = {}
    cursor, more = after, False
    while not more:
        rows = conn.execute(
            select(ledger.c.seq, ledger.c.subject_id, target.c.subject_id.label("amended"))
            .outerjoin(target, target.c.seq == ledger.c.amends)
            .where(ledger.c.seq > cursor)
            .order_by(ledger.c.seq)
            .limit(SCAN)
        ).all()
        for row in rows:
            touched = [row.subject_id] + ([row.amended] if row.amended is not None else [])
            new = [s for s in dict.fromkeys(touched) if s not in picked]
            if new and len(picked) >= limit:
                more = True
                break
            picked.update(dict.fromkeys(new))
            cursor = row.seq
        else:
            if len(rows) < SCAN:
                break
    described = {
        row.id: (SubjectKind(row.kind), row.key, row.display)
        for row in conn.execute(
            select(subjects.c.id, subjects.c.kind, subjects.c.key, subjects.c.display).where(
                subjects.c.id.in_(list(picked))
            )
        )
    }
    return {s: described[s] for s in picked}, cursor, more
