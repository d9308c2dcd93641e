"""``POST /v1/records``: a provider submits one record or a batch, and learns each one's fate.

Validation is the importer's (``intake.Preparer``: its quick path for the plain record, the
full ``RecordValidator`` naming every error otherwise), appending is the ledger's: one
transaction per request, duplicates recognised by (provider, ref) and content. A provider
key submits for its own provider only; a record naming another provider is rejected on its
own, and the rest of the batch still lands. A provider withdraws its own record through
``POST /v1/records/{ref}/revocation``: a new ledger entry, never an edit.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from socialcredit.api import bodies, casework, metrics
from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.errors import (
    COMMON_RESPONSES,
    ApiError,
    ErrorBody,
    FieldProblem,
    invalid_field,
)
from socialcredit.api.notice_queue import NoticeWriter
from socialcredit.intake import PreparedRow
from socialcredit.records import FieldError, RecordRejected
from socialcredit.store.cases import MAX_REASON
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.ledger import AlreadyAmended, NoRecord
from socialcredit.store.registry import Registry

MAX_BATCH = 10_000
#: Enough for a full batch of records with long evidence texts; more is refused unread.
MAX_BODY = 32 * 1024 * 1024

router = APIRouter(tags=["records"])


class RecordResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    errors: list[FieldProblem] = []


class Submission(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[RecordResult]


_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "description": "one record (see records.md)"},
                        {
                            "type": "array",
                            "items": {"description": "a record; anything else is rejected alone"},
                            "maxItems": MAX_BATCH,
                        },
                    ]
                }
            }
        },
    }
}


@router.post(
    "/v1/records",
    response_model=Submission,
    openapi_extra=_BODY_SCHEMA,
    responses={
        **COMMON_RESPONSES,
        400: {"model": ErrorBody, "description": "the body is not JSON"},
        413: {"model": ErrorBody, "description": "more than 10,000 records, or too many bytes"},
    },
)
async def submit(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.PROVIDER))],
) -> Response:
    """Submit one record (a JSON object) or a batch (an array of up to 10,000).

    The subjects of the adverse records that land are marked as owed their notices in the
    same transaction, and get them right after the answer is sent (``notice_queue``); a
    check would write them first in any case."""
    items = _items(await bodies.read(request, MAX_BODY))
    answer = await run_in_threadpool(_submit, served, key, items)
    metrics.submitted(answer["accepted"], answer["duplicates"], answer["rejected"])
    if answer["accepted"]:
        writer: NoticeWriter = request.app.state.notice_writer
        writer.wake()
    # Sent as built: the answer has the shape of ``Submission`` (the documented model), and
    # validating a thousand results through it again would cost more than storing them.
    return Response(orjson.dumps(answer), media_type="application/json")


def _items(body: bytes) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None
    if not isinstance(data, dict | list):
        raise invalid_field("body", "send one record (a JSON object) or an array of records")
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_BATCH:
        raise ApiError(
            413,
            "batch_too_large",
            f"{len(items):,} records in one request; send at most {MAX_BATCH:,} per batch",
        )
    return items


def _submit(served: Registry, key: ApiKey, items: list[Any]) -> dict[str, Any]:
    """Validate and prepare each item as ``scs import`` does (the quick path for the plain
    case, the full validator naming every error otherwise), then append the good ones in one
    transaction, which also marks the notices they call for as owed. Returns the
    ``Submission`` as JSON."""
    preparer = served.preparer()
    outcome: dict[int, dict[str, Any]] = {}
    valid: list[PreparedRow] = []
    positions: list[int] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("provider") != key.provider:
            wrong = FieldError("provider", f"this key submits for {key.provider!r} only")
            outcome[index] = _rejected(index, [wrong])
            continue
        try:
            valid.append(preparer.prepare_json(item))
        except RecordRejected as exc:
            outcome[index] = _rejected(index, exc.errors)
        else:
            positions.append(index)
    if valid:
        batch = served.append_prepared(valid, owe_notices=True)
        for pos in batch.accepted:
            outcome[positions[pos]] = _result(positions[pos], "accepted")
        for pos in batch.duplicates:
            outcome[positions[pos]] = _result(positions[pos], "duplicate")
        for pos, errors in batch.rejected.items():
            outcome[positions[pos]] = _rejected(positions[pos], errors)
    results = [outcome[i] for i in range(len(items))]
    statuses = Counter(r["status"] for r in results)
    return {
        "accepted": statuses["accepted"],
        "duplicates": statuses["duplicate"],
        "rejected": statuses["rejected"],
        "results": results,
    }


def _result(index: int, status: str) -> dict[str, Any]:
    return {"index": index, "status": status, "errors": []}


def _rejected(index: int, errors: list[FieldError]) -> dict[str, Any]:
    return {
        "index": index,
        "status": "rejected",
        "errors": [{"field": e.field, "reason": e.reason} for e in errors],
    }


# -- revocation ---------------------------------------------------------------------------------
#: The longest ref a record may have (``records``), and so the longest a revocation's may.
MAX_REF = 128
DEFAULT_REASON = "withdrawn by the provider"


class RevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(
        default=None, min_length=1, max_length=MAX_REASON, description="why it is withdrawn"
    )


class Revocation(BaseModel):
    provider: str
    ref: str = Field(description="the record revoked")
    revocation: str = Field(description="the revocation's own ref in the ledger")
    reason: str
    seq: int = Field(description="the revocation's ledger sequence number")


@router.post(
    "/v1/records/{ref}/revocation",
    response_model=Revocation,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RevocationIn.model_json_schema()}},
        }
    },
    responses={
        **COMMON_RESPONSES,
        400: {"model": ErrorBody, "description": "the body is not JSON"},
        404: {"model": ErrorBody, "description": "this provider has no record under that ref"},
        409: {"model": ErrorBody, "description": "the record was revoked or corrected already"},
        413: {"model": ErrorBody, "description": "the body is too large"},
    },
)
async def revoke(
    request: Request,
    served: RegistryDep,
    key: Annotated[ApiKey, Depends(require(Role.PROVIDER))],
    ref: Annotated[str, Path(min_length=1, max_length=MAX_REF)],
) -> Revocation:
    """Withdraw one of the key's provider's own records (the body and its ``reason`` are
    optional); the record stops counting at once, and its history shows the revocation.

    Another provider's ref gets the same 404 as an unknown one, so a provider cannot probe
    which refs others have used."""
    raw = await casework.bounded_body(request)
    body = casework.parsed(raw, RevocationIn) if raw.strip() else RevocationIn()
    return await run_in_threadpool(_revoke, served, key, ref, body.reason or DEFAULT_REASON)


def _revoke(served: Registry, key: ApiKey, ref: str, reason: str) -> Revocation:
    provider = str(key.provider)
    own = _revocation_ref(ref)
    try:
        seq = served.revoke(provider, ref, reason, own_ref=own)
    except NoRecord:
        raise ApiError(
            404, "no_record", "this provider has no current record under that ref"
        ) from None
    except AlreadyAmended as exc:
        raise ApiError(409, "already_amended", str(exc)) from None
    return Revocation(provider=provider, ref=ref, revocation=own, reason=reason, seq=seq)


def _revocation_ref(ref: str) -> str:
    """``revocation:REF`` as ``scs revoke`` names it, or with a digest of REF when that would
    be longer than a ref may be."""
    own = f"revocation:{ref}"
    if len(own) <= MAX_REF:
        return own
    return f"revocation:{hashlib.sha256(ref.encode()).hexdigest()}"
