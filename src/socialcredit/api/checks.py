"""``/v1/checks``: does measure M apply to subject S (or to each of 10,000) right now, for this
purpose?

A consumer runs its own measures only, and only for a declared purpose whose context the
measure belongs to: a travel ban answers a travel booking, not a job application. Using a
listing in a context unrelated to where the data arose is the social scoring the EU AI Act
bans (Art. 5(1)(c)), so such a check is refused, not merely discouraged. The answer is the
registry's evaluation at read time under the rulebook that defines the measure, and the
check is in the audit log, visible to the subject, before the answer is sent.

A single check is a batch of one: both go through ``_check``, and every answer, the change
feed's included, comes from ``standing`` and ``verdict``, so there is one scoring path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from socialcredit import clock
from socialcredit.api import access
from socialcredit.api.audit_writer import GroupCommit
from socialcredit.api.auth import (
    BEARER_SECURITY,
    RawRoute,
    RegistryDep,
    identify,
    require,
    served_registry,
    with_role,
)
from socialcredit.api.casework import bounded_body, parsed
from socialcredit.api.errors import (
    COMMON_RESPONSES,
    ApiError,
    ErrorBody,
    FieldProblem,
    invalid_field,
)
from socialcredit.disputes import Case, counting
from socialcredit.identifiers import keyed_hash_of
from socialcredit.notices import Draft
from socialcredit.records import Record
from socialcredit.rulebook import Rulebook
from socialcredit.rulebook.model import Measure
from socialcredit.scoring import Result, evaluate
from socialcredit.store import cases, outbox, queries
from socialcredit.store.keys import ApiKey, Role, defined_measures
from socialcredit.store.registry import Registry

#: A batch a consumer's nightly run or a booking system's queue fills; more is refused.
MAX_SUBJECTS = 10_000
#: 10,000 identifiers of up to 32 characters, quoted and spaced, with room to spare.
MAX_BODY = 1024 * 1024

router = APIRouter(tags=["checks"])

#: The declared purposes and the measure contexts (a rulebook's ``context``) each one fits.
#: Screening job applicants, tenants' families, school places and the like are deliberately
#: absent: no credit listing may follow a person into an unrelated part of their life.
PURPOSES: dict[str, frozenset[str]] = {
    "travel_booking": frozenset({"travel"}),
    "purchase": frozenset({"consumption"}),
    "rental": frozenset({"consumption"}),
    "credit_application": frozenset({"credit", "financial services"}),
    "driving_licence_administration": frozenset({"road traffic"}),
    "public_service_application": frozenset({"public services", "administrative services"}),
    "regulatory_supervision": frozenset({"regulatory supervision"}),
}


class ReasonOut(BaseModel):
    code: str
    text_en: str
    text_zh: str


class DisputedRecord(BaseModel):
    """A record under open dispute: shown as disputed; past its deadline it does not count."""

    provider: str
    ref: str
    deadline: date
    counts: bool


class Verdict(BaseModel):
    """Whether one measure applies to one subject today, and why: every check's answer."""

    applies: bool
    lists: list[str]
    since: date | None
    until: date | None
    reasons: list[ReasonOut]
    disputed: list[DisputedRecord] = []


class CheckAnswer(BaseModel):
    applies: bool
    measure: str
    rulebook: str
    version: str
    as_of: date
    lists: list[str]
    legal_basis: str | None
    since: date | None
    until: date | None
    reasons: list[ReasonOut]
    disputed: list[DisputedRecord] = []
    subject_ref: str = Field(description="this key's opaque reference for the subject")


class BatchCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    measure: str = Field(min_length=1, max_length=64)
    purpose: str = Field(
        min_length=1,
        max_length=64,
        description="a declared purpose",
        json_schema_extra={"enum": list(PURPOSES)},
    )
    subjects: list[str] = Field(
        min_length=1,
        description="resident numbers or USCCs, at most 10,000",
        json_schema_extra={"maxItems": MAX_SUBJECTS},
    )


class CheckItem(Verdict):
    index: int
    subject_ref: str


class CheckItemError(BaseModel):
    """An identifier that is not one: answered on its own; the rest are still checked."""

    index: int
    error: FieldProblem


class BatchCheckAnswer(BaseModel):
    measure: str
    rulebook: str
    version: str
    as_of: date
    legal_basis: str | None
    results: list[CheckItem | CheckItemError]


@dataclass(frozen=True, slots=True)
class Standing:
    """One subject's file evaluated under one rulebook today (``result`` None: no file)."""

    subject_id: int | None
    rulebook: Rulebook
    result: Result | None
    counted: list[Record]
    disputes: list[Case]

    def notices(self) -> list[Draft]:
        """What the subject must be told before a consumer learns a measure applies."""
        if self.result is None:
            return []
        return outbox.result_drafts(self.result, self.rulebook, self.counted)


def standing(
    file: tuple[queries.Subject, list[Record]] | None,
    disputes: list[Case],
    rulebook: Rulebook,
    today: date,
) -> Standing:
    """Evaluate a file (the subject and its records, ``queries.read_records``) at read time,
    leaving out records whose dispute deadline passed unanswered: the one scoring path of
    single checks, batch checks and the change feed."""
    if file is None:
        return Standing(None, rulebook, None, [], [])
    subject, records = file
    counted = counting(records, disputes, today)
    result = evaluate(counted, rulebook, today, subject.kind)
    return Standing(subject.id, rulebook, result, counted, disputes)


def verdict(found: Standing, measure: str, today: date) -> Verdict:
    """Whether ``measure`` applies, with its lists, span, reasons and disputed records. A
    subject without a file gets the answer of one the measure does not apply to."""
    if found.result is None:
        return Verdict(applies=False, lists=[], since=None, until=None, reasons=[])
    applied = [m for m in found.result.measures if m.code == measure]
    return Verdict(
        applies=bool(applied),
        lists=[m.list for m in applied],
        since=min((m.since for m in applied if m.since), default=None),
        until=max((m.until for m in applied if m.until), default=None),
        reasons=[
            ReasonOut(code=r.code, text_en=r.text_en, text_zh=r.text_zh)
            for r in found.result.reasons
        ]
        if applied
        else [],
        disputed=_disputed(found.disputes, found.result, today),
    )


def standings(
    served: Registry, rulebook: Rulebook, keyed: Sequence[str], today: date
) -> dict[str, Standing]:
    """The standing of each subject named by its keyed hash, read with a query per 500
    subjects for their ids, files and disputes (not one per subject)."""
    cache = served.cache
    generation = cache.generation if cache is not None else 0
    with served.engine.connect() as conn:
        ids = queries.subject_ids(conn, keyed)
        if cache is not None:
            cache.remember_ids(generation, ids, (k for k in keyed if k not in ids))
        files = queries.read_records(conn, list(ids.values()))
        disputes = cases.disputes_of(conn, list(ids.values()))
    out: dict[str, Standing] = {}
    for key in keyed:
        found = ids.get(key)
        if found is None:
            out[key] = standing(None, [], rulebook, today)
        else:
            out[key] = standing(files.get(found), disputes.get(found, []), rulebook, today)
    return out


RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMON_RESPONSES,
    404: {"model": ErrorBody, "description": "no active rulebook defines the measure any more"},
}


#: ``GET /v1/checks``'s query parameters: (name, most characters, description, example).
_CHECK_PARAMETERS = (
    ("subject", 32, "resident number or USCC", access.SUBJECT_EXAMPLES),
    ("measure", 64, "a measure the key runs", ["spc.flights"]),
    ("purpose", 64, "a declared purpose", list(PURPOSES)),
)
_CHECK_OPENAPI: dict[str, Any] = {
    **BEARER_SECURITY,
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": True,
            "description": text,
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": most,
                "examples": examples,
                **({"enum": list(PURPOSES)} if name == "purpose" else {}),
            },
        }
        for name, most, text, examples in _CHECK_PARAMETERS
    ],
}


async def check_endpoint(request: Request) -> Response:
    """Whether ``measure`` applies to ``subject`` today; audited before it is answered.

    The hot path of the registry: a railway's booking system asks this for every ticket. It
    reads its caller and parameters itself (``auth.identify``, ``_check_query``) rather than
    through FastAPI's dependencies, which cost more than the rest of a cached check, and is
    called as a ``RawRoute``; the rules are the same functions every other endpoint uses. A
    subject whose answer the server's read cache holds is answered on the event loop; the
    audit entry (and any notice) is committed with those of concurrent checks
    (``audit_writer``) before the answer is sent."""
    served = served_registry(request)
    key = with_role(identify(request, served), (Role.CONSUMER,))
    subject, measure, purpose = _check_query(request)
    rulebook_name, defined = _authorise(served, key, measure, purpose)
    keyed = _keyed_subject(served, subject)
    book = served.rulebook(rulebook_name)
    today = clock.today()
    found = cached_answers(served, book, measure, [keyed])
    if not found:
        found = await run_in_threadpool(answers, served, book, measure, [keyed], today)
    answer = found[keyed]
    reads = [(answer.subject_id, answer.result)]
    writer: GroupCommit = request.app.state.audit_writer
    await writer.write(access.readings(key, "check", purpose, reads), answer.notices())
    remember_notified(served, book, measure, [answer])
    body = {
        **answer.body,
        "measure": measure,
        "rulebook": rulebook_name,
        "version": book.version,
        "as_of": today.isoformat(),
        "legal_basis": defined.legal_basis,
        "subject_ref": access.subject_ref(served, key, keyed),
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _keyed_subject(served: Registry, subject: str) -> str:
    """The keyed hash of the subject a check asks about, or 422 naming ``subject``: the
    identifier checked and keyed in the one cached look-up each of a batch's goes through."""
    keyed = keyed_hash_of(served.secret, subject, served.legacy_codes())
    if not isinstance(keyed, str):
        raise invalid_field("subject", str(keyed))
    return keyed


def mount_single_check(app: FastAPI) -> None:
    """``GET /v1/checks`` on the app's own routing table, first in it, not in ``router``.

    Included routers are matched through a layer of their own (FastAPI resolves an included
    router's routes against its prefix and dependencies on every request): for the check, a
    route on the app itself cost a tenth less than the same route one router down."""
    app.router.add_api_route(
        "/v1/checks",
        check_endpoint,
        methods=["GET"],
        tags=["checks"],
        response_model=CheckAnswer,
        responses=RESPONSES,
        openapi_extra=_CHECK_OPENAPI,
        route_class_override=RawRoute,
    )
    app.router.routes.insert(0, app.router.routes.pop())


def check(served: Registry, key: ApiKey, subject: str, measure: str, purpose: str) -> CheckAnswer:
    """One check, answered as ``GET /v1/checks`` answers it, for callers outside the event
    loop (the consumer's check page); audited and notices written before it returns."""
    rulebook_name, defined = _authorise(served, key, measure, purpose)
    keyed = _keyed_subject(served, subject)
    book = served.rulebook(rulebook_name)
    today = clock.today()
    answer = answers(served, book, measure, [keyed], today)[keyed]
    access.record_reads(
        served, key, "check", purpose, [(answer.subject_id, answer.result)], answer.notices()
    )
    remember_notified(served, book, measure, [answer])
    return CheckAnswer.model_validate(
        {
            **answer.body,
            "measure": measure,
            "rulebook": rulebook_name,
            "version": book.version,
            "as_of": today,
            "legal_basis": defined.legal_basis,
            "subject_ref": access.subject_ref(served, key, keyed),
        }
    )


@router.post(
    "/v1/checks",
    response_model=BatchCheckAnswer,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BatchCheckIn.model_json_schema()}},
        }
    },
    responses={
        **RESPONSES,
        400: {"model": ErrorBody, "description": "the body is not JSON"},
        413: {"model": ErrorBody, "description": "more than 10,000 subjects, or too many bytes"},
    },
)
async def check_batch(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.CONSUMER))],
) -> Response:
    """Check one measure for up to 10,000 subjects at once, under the single check's rules.

    An invalid identifier is answered on its own (``error`` naming it) and the others are
    still checked; every subject read is in the audit log, all in one transaction committed
    before the answer is sent."""
    raw = await bounded_body(request, MAX_BODY)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None
    subjects = body.get("subjects") if isinstance(body, dict) else None
    if isinstance(subjects, list) and len(subjects) > MAX_SUBJECTS:  # before validating them
        raise ApiError(
            413,
            "batch_too_large",
            f"{len(subjects):,} subjects in one request; send at most {MAX_SUBJECTS:,}",
        )
    asked = parsed(raw, BatchCheckIn)
    rulebook_name, defined = _authorise(served, key, asked.measure, asked.purpose)
    book = served.rulebook(rulebook_name)
    today = clock.today()
    batch = await run_in_threadpool(_batch, served, book, asked, today)
    reads: list[tuple[int | None, str]] = []
    notices: list[tuple[int, list[Draft]]] = []
    told: list[Answer] = []
    for a in batch.answers.values():
        reads.append((a.subject_id, a.result))
        if a.drafts and not a.notified and a.subject_id is not None:
            notices.append((a.subject_id, a.drafts))
            told.append(a)
    writer: GroupCommit = request.app.state.audit_writer
    await writer.write(access.readings(key, "check", asked.purpose, reads), notices)
    remember_notified(served, book, asked.measure, told)
    head = orjson.dumps(
        {
            "measure": asked.measure,
            "rulebook": rulebook_name,
            "version": book.version,
            "as_of": today.isoformat(),
            "legal_basis": defined.legal_basis,
            "results": [],
        }
    )
    return Response(
        b"".join((head[: -len(b"]}")], b",".join(_results(served, key, batch)), b"]}")),
        media_type="application/json",
    )


def _results(served: Registry, key: ApiKey, batch: Batch) -> list[bytes]:
    """Each identifier's item of the answer as JSON, in order: the verdict's JSON, made once
    per cached answer (``Answer.json``), with its index and this key's reference added — the
    bytes ``orjson.dumps`` gives the item's dict, without a dict per subject built and
    encoded again (a seventh of a batch's time)."""
    out: list[bytes] = []
    answered = batch.answers
    refs = access.subject_ref_items(served, key)
    for index, item in enumerate(batch.items):
        if isinstance(item, FieldProblem):
            out.append(orjson.dumps({"index": index, "error": item.model_dump()}))
        else:
            out.append(answered[item].json + b',"index":%d' % index + refs[item])
    return out


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch's identifiers in order — a keyed hash, or the problem with the identifier —
    and the answer for each distinct subject."""

    items: list[str | FieldProblem]
    answers: dict[str, Answer]


def _batch(served: Registry, book: Rulebook, asked: BatchCheckIn, today: date) -> Batch:
    legacy = served.legacy_codes()
    secret = served.secret
    items: list[str | FieldProblem] = []
    for index, raw in enumerate(asked.subjects):
        keyed = keyed_hash_of(secret, raw, legacy)
        if isinstance(keyed, str):
            items.append(keyed)
        else:
            items.append(FieldProblem(field=f"subjects.{index}", reason=str(keyed)))
    valid = [item for item in items if isinstance(item, str)]
    return Batch(items, answers(served, book, asked.measure, valid, today))


def _check_query(request: Request) -> tuple[str, str, str]:
    """The check's three parameters, or 422 naming the first that is missing or too long."""
    query = _query(request.scope["query_string"])
    values: list[str] = []
    for name, most, _, _ in _CHECK_PARAMETERS:
        value = query.get(name)
        if value is None:
            raise invalid_field(name, "Field required")
        if not 1 <= len(value) <= most:
            raise invalid_field(name, f"must be 1 to {most} characters long")
        values.append(value)
    return values[0], values[1], values[2]


def _query(raw: bytes) -> dict[str, str]:
    """A query string's parameters, the last of a repeated one winning, as Starlette's
    ``request.query_params`` reads them. A check's query has nothing to unquote (digits,
    letters, dots, underscores), so it is split without ``parse_qsl``'s per-pair unquoting
    and the multi-dict built around it, which together cost more than validating the
    resident number; anything quoted goes through ``parse_qsl`` as before."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        return dict(parse_qsl(text, keep_blank_values=True))
    found: dict[str, str] = {}
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            found[name] = value
    return found


def _authorise(served: Registry, key: ApiKey, measure: str, purpose: str) -> tuple[str, Measure]:
    """The rulebook and definition of ``measure``, if the key runs it and the declared
    purpose fits its context; refused before any subject is looked up (so not audited)."""
    contexts = PURPOSES.get(purpose)
    if contexts is None:
        raise invalid_field(
            "purpose", f"{purpose!r} is not a declared purpose; declared: {', '.join(PURPOSES)}"
        )
    if measure not in key.measures:
        raise ApiError(403, "measure_not_allowed", f"this key does not run the measure {measure!r}")
    found = defined_measures(served).get(measure)
    if found is None:
        raise ApiError(404, "measure_unknown", f"no active rulebook defines {measure!r} any more")
    if found[1].context not in contexts:
        raise ApiError(
            403,
            "purpose_unrelated",
            f"{measure!r} belongs to {found[1].context!r}, which {purpose!r} is unrelated to",
        )
    return found


@dataclass(frozen=True, slots=True)
class Answer:
    """One subject's verdict on one measure today, as sent, and what sending it requires."""

    subject_id: int | None
    applies: bool
    body: dict[str, Any]  # the ``Verdict`` as JSON
    drafts: list[Draft]  # the notices the subject must have before a consumer learns of it
    generation: int  # the read cache's generation when the answer was read (0: no cache)
    notified: bool = False  # the drafts are known to be in the outbox already
    #: ``body`` encoded, without its closing brace: a batch item adds its fields to it.
    json: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "json", orjson.dumps(self.body)[: -len(b"}")])

    @property
    def result(self) -> str:
        return "applies" if self.applies else "does_not_apply"

    def notices(self) -> list[tuple[int, list[Draft]]]:
        if self.notified or self.subject_id is None or not self.drafts:
            return []
        return [(self.subject_id, self.drafts)]


_NO_FILE = Verdict(applies=False, lists=[], since=None, until=None, reasons=[])
#: The answer for a subject no record names: the measure does not apply (and the answer does
#: not say that there is no file).
_NO_FILE_ANSWER = Answer(None, False, _NO_FILE.model_dump(mode="json"), [], 0)


def answers(
    served: Registry, book: Rulebook, measure: str, keyed: Sequence[str], today: date
) -> dict[str, Answer]:
    """The answer for each subject (by keyed hash): from the server's read cache where it
    holds one, else evaluated from bulk reads (``standings``) and kept there."""
    found = cached_answers(served, book, measure, keyed, complete=False)
    if len(found) == len(keyed):
        return found
    missing = [k for k in dict.fromkeys(keyed) if k not in found]
    if not missing:
        return found
    cache = served.cache
    generation = cache.generation if cache is not None else 0
    for k, standing_ in standings(served, book, missing, today).items():
        v = verdict(standing_, measure, today)
        answer = Answer(
            standing_.subject_id,
            v.applies,
            v.model_dump(mode="json"),
            standing_.notices() if v.applies else [],
            generation,
        )
        found[k] = answer
        if cache is not None and answer.subject_id is not None:
            cache.put(generation, answer.subject_id, _answer_key(book, measure), answer)
    return found


def cached_answers(
    served: Registry,
    book: Rulebook,
    measure: str,
    keyed: Sequence[str],
    complete: bool = True,
) -> dict[str, Answer]:
    """The answers the read cache holds; with ``complete``, all of them or none."""
    cache = served.cache
    if cache is None:
        return {}
    found: dict[str, Answer] = cache.by_keyed_hash(
        keyed, _answer_key(book, measure), _NO_FILE_ANSWER
    )
    if complete and len(found) < len(keyed) and len(found) < len(set(keyed)):
        return {}
    return found


def remember_notified(
    served: Registry, book: Rulebook, measure: str, sent: Sequence[Answer]
) -> None:
    """After the commit: these subjects' notices are in the outbox, so the next check of
    them writes none (until their file changes and the cache drops the answer). Kept under
    the generation the answer was read in, so a file that changed since keeps nothing."""
    cache = served.cache
    if cache is None:
        return
    for answer in sent:
        if answer.subject_id is not None and answer.drafts and not answer.notified:
            done = replace(answer, notified=True)
            cache.put(answer.generation, answer.subject_id, _answer_key(book, measure), done)


def _answer_key(book: Rulebook, measure: str) -> tuple[str, str, str, str]:
    return ("answer", book.name, book.version, measure)


def _disputed(found: list[Case], result: Result, today: date) -> list[DisputedRecord]:
    """The subject's records under open dispute; ``counts`` says whether the answer rests on
    one (a record past its deadline unanswered does not count)."""
    relevant = {(c.provider, c.ref) for c in result.contributions}
    return [
        DisputedRecord(
            provider=str(c.provider),
            ref=str(c.ref),
            deadline=c.deadline,
            counts=(c.provider, c.ref) in relevant,
        )
        for c in found
        if c.is_open_on(today)
    ]
