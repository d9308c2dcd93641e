"""Bounded request bodies: nothing reads more of a body than its endpoint allows.

Two layers, one error. ``BodyLimit`` wraps the whole app, so every endpoint that takes a body
(the API's JSON, the web pages' forms and uploads) is bounded even where FastAPI parses the
body itself: a declared ``Content-Length`` over the limit is refused before a byte is read,
and a body without one (chunked) is counted as it streams and cut off at the limit.
``read`` is for the endpoints that read their body themselves, with their own, tighter
limit. Both answer 413 ``body_too_large`` (``errors`` maps the status to the code).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcredit.api.errors import ErrorBody

#: A form or a small JSON body: a dispute's 20,000 characters of evidence in Chinese, form
#: encoded, fit; anything bigger belongs in a document store.
DEFAULT_LIMIT = 256 * 1024


class BodyTooLarge(HTTPException):
    """A body over its endpoint's limit. An ``HTTPException`` so that FastAPI's own body
    parsing lets it through as it is rather than turning it into a 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"the body is over {limit:,} bytes")


async def read(request: Request, limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it is known to exceed ``limit``."""
    if _declared(request.headers.get("content-length")) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


class BodyLimit:
    """ASGI middleware bounding every request body: ``limits`` by exact path, else ``default``."""

    def __init__(self, app: ASGIApp, default: int, limits: Mapping[str, int]):
        self.app, self.default, self.limits = app, default, dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        length = next((v for n, v in scope["headers"] if n == b"content-length"), None)
        if length is not None:
            if _declared(length.decode("latin-1")) > limit:
                body = ErrorBody(code="body_too_large", message=BodyTooLarge(limit).detail)
                await JSONResponse(body.model_dump(), status_code=413)(scope, receive, send)
            else:  # the server delivers no more than the declared length
                await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


def _declared(value: str | None) -> int:
    """A ``Content-Length`` as a number; 0 when absent or not a number (the server refuses
    a malformed one before the app sees it)."""
    return int(value) if value is not None and value.isdigit() else 0
