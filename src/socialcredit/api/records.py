"""``POST /v1/records``: a provider submits one record or a batch, and learns each one's fate.

Validation is the importer's (``RecordValidator``), appending is the ledger's: one
transaction per request, duplicates recognised by (provider, ref) and content. A provider
key submits for its own provider only; a record naming another provider is rejected on its
own, and the rest of the batch still lands.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from socialcredit.api.auth import RegistryDep, require
from socialcredit.api.errors import (
    COMMON_RESPONSES,
    ApiError,
    ErrorBody,
    FieldProblem,
    invalid_field,
)
from socialcredit.records import FieldError, Record, RecordRejected
from socialcredit.store import outbox
from socialcredit.store.keys import ApiKey, Role
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
    background: BackgroundTasks,
) -> Submission:
    """Submit one record (a JSON object) or a batch (an array of up to 10,000).

    The subjects of the records that landed get their notices right after the answer is
    sent (``store.outbox``); a check would write them first in any case."""
    items = _items(await _bounded_body(request))
    landed: list[Record] = []
    answer = await run_in_threadpool(_submit, served, key, items, landed)
    background.add_task(outbox.notify_records, served, landed)
    return answer


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _too_large()
    return bytes(body)


def _too_large() -> ApiError:
    return ApiError(413, "body_too_large", f"the body is over {MAX_BODY:,} bytes")


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


def _submit(
    served: Registry, key: ApiKey, items: list[Any], landed: list[Record] | None = None
) -> Submission:
    validator = served.validator()
    outcome: dict[int, RecordResult] = {}
    valid: list[Record] = []
    positions: list[int] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("provider") != key.provider:
            wrong = FieldError("provider", f"this key submits for {key.provider!r} only")
            outcome[index] = _rejected(index, [wrong])
            continue
        try:
            valid.append(validator.from_json(item))
        except RecordRejected as exc:
            outcome[index] = _rejected(index, exc.errors)
        else:
            positions.append(index)
    batch = served.append(valid) if valid else None
    if batch is not None:
        for pos in batch.accepted:
            outcome[positions[pos]] = RecordResult(index=positions[pos], status="accepted")
            if landed is not None:
                landed.append(valid[pos])
        for pos in batch.duplicates:
            outcome[positions[pos]] = RecordResult(index=positions[pos], status="duplicate")
        for pos, errors in batch.rejected.items():
            outcome[positions[pos]] = _rejected(positions[pos], errors)
    results = [outcome[i] for i in range(len(items))]
    return Submission(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


def _rejected(index: int, errors: list[FieldError]) -> RecordResult:
    return RecordResult(
        index=index,
        status="rejected",
        errors=[FieldProblem(field=e.field, reason=e.reason) for e in errors],
    )
