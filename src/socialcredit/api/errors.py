"""Errors as JSON with a stable ``code`` and a ``message`` a caller can act on.

Clients branch on ``code``, people read ``message``; neither ever holds a stack trace or a
database error's text, which could leak table names, identifiers or keyed hashes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

log = logging.getLogger("socialcredit.api")


class FieldProblem(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    errors: list[FieldProblem] = []


class ApiError(Exception):
    """A request the API refuses, with the status, code and message to answer it with."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = errors or []
        self.headers = headers


def invalid_field(field: str, reason: str) -> ApiError:
    """422 naming the one field that is wrong."""
    return ApiError(
        422, "invalid_request", f"{field}: {reason}", [FieldProblem(field=field, reason=reason)]
    )


#: The error responses every endpoint may give, for the OpenAPI document.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "missing, unknown, revoked or expired key"),
        (403, "the key's role or binding does not allow this"),
        (422, "a parameter is invalid; `errors` names it"),
        (429, "too many requests from this key (or address); see `Retry-After`"),
    )
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal_error)


def _respond(error: ApiError) -> JSONResponse:
    body = ErrorBody(code=error.code, message=error.message, errors=error.errors)
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return _respond(exc)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return _respond(ApiError(400, "malformed_json", "the request body is not valid JSON"))
    fields = [
        FieldProblem(
            # ("query", "subject") names "subject"; a missing body, ("body",), names "body"
            field=".".join(str(part) for part in p.get("loc", ())[1:])
            or ".".join(str(part) for part in p.get("loc", ()))
            or "request",
            reason=str(p.get("msg", "invalid")),
        )
        for p in problems
    ]
    message = "; ".join(f"{f.field}: {f.reason}" for f in fields)
    return _respond(ApiError(422, "invalid_request", message, fields))


async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI's own: a body it could not even decode
        return _respond(ApiError(400, "malformed_json", "the request body is not valid JSON"))
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return _respond(ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers))


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return _respond(
        ApiError(500, "internal_error", "the registry could not answer; the error is logged")
    )
