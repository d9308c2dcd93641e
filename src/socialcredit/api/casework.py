"""What the due-process routers share: bounded JSON bodies, whose file it is, errors.

A subject's key acts on its own file only; an admin acts on anyone's. Every read or change of
a person's due-process data is audited like a report read, refused attempts included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from socialcredit.api import access, bodies
from socialcredit.api.errors import ApiError, FieldProblem
from socialcredit.identifiers import subject_key
from socialcredit.store import queries
from socialcredit.store.cases import CaseError
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry, SubjectNotFound
from socialcredit.store.schema import subjects

#: Evidence may be a long statement; anything bigger belongs in a document store.
MAX_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)


async def body_of(request: Request, model: type[M], limit: int = MAX_BODY) -> M:
    """The request body as ``model``: 413 over ``limit`` bytes, 400 if not JSON, 422 naming
    each bad field."""
    return parsed(await bounded_body(request, limit), model)


async def bounded_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refused with 413 as soon as it is over ``limit`` bytes (read no further)."""
    return await bodies.read(request, limit)


def parsed(raw: bytes, model: type[M]) -> M:
    """``raw`` as ``model``: 400 if not JSON, 422 naming each bad field."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "the request body is not valid JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            FieldProblem(
                field=".".join(str(p) for p in e.get("loc", ())) or "body",
                reason=str(e.get("msg", "invalid")),
            )
            for e in exc.errors()
        ]
        message = "; ".join(f"{f.field}: {f.reason}" for f in fields)
        raise ApiError(422, "invalid_request", message, fields) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads ``model`` with ``body_of``, which
    FastAPI cannot see: without it the document shows no body at all."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def file_for(served: Registry, key: ApiKey, raw: str, action: str) -> queries.SubjectFile:
    """The file of subject ``raw`` for its own key or an admin; refusals are audited."""
    kind, number = access.identify(served, raw, "subject_id")
    target = access.subject_id(served, kind, number)
    if key.role is Role.SUBJECT and key.subject_key != subject_key(served.secret, kind, number):
        access.audit(served, key, target, action, "refused")
        raise ApiError(403, "not_your_data", "a subject key reads its own subject's data only")
    try:
        return served.subject_file(kind, number)
    except SubjectNotFound:
        access.audit(served, key, None, action, "no_file")
        raise ApiError(404, "no_file", "the registry has no file on this subject") from None


def own_file(served: Registry, key: ApiKey, action: str) -> queries.SubjectFile:
    """The file of the subject a subject key belongs to."""
    with served.engine.connect() as conn:
        own = conn.execute(select(subjects.c.id).where(subjects.c.key == key.subject_key)).scalar()
        file = None if own is None else queries.read_file(conn, own)
    if file is None:
        access.audit(served, key, None, action, "no_file")
        raise ApiError(404, "no_file", "the registry has no file on you")
    return file


def actor(key: ApiKey) -> str:
    return f"{key.role.value}:{key.provider or key.id}"


@contextmanager
def refusals() -> Iterator[None]:
    """A ``CaseError`` as the JSON error it names (status, code, field)."""
    try:
        yield
    except CaseError as exc:
        problems = [FieldProblem(field=exc.field, reason=str(exc))] if exc.field else []
        raise ApiError(exc.status, exc.code, str(exc), problems) from None
