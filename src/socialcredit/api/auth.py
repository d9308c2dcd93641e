"""Bearer keys and roles: who is calling, and whether their role may do what they ask.

No ``Authorization`` header means the public, which may only look up organisations. A header
that is there but wrong (another scheme, an unknown, revoked or expired key) is refused with
401 everywhere, even where the public would be let in: a caller who meant to use a key must
learn that it does not work rather than silently get the public's answer.

Every caller is also held to its rate limit here (``limits``): a key by its id, the public
and keys that do not work by the client's address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from socialcredit.api import limits
from socialcredit.api.errors import ApiError
from socialcredit.store import keys
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry

PUBLIC = "public"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_bearer = HTTPBearer(auto_error=False, description="An API key: `scs key create`")


async def registry(request: Request) -> Registry:
    """The registry the app serves (set by ``app.create_app``), its read cache brought up to
    date with the database once per request (``store.read_cache``).

    The dependencies here are ``async`` though they read the database: a read of the chain
    heads or of one key is shorter than the hop to a worker thread a sync dependency costs."""
    return served_registry(request)


def served_registry(request: Request) -> Registry:
    fresh: Freshness = request.app.state.freshness
    return fresh.served()


class Freshness:
    """Brings the read cache up to date at the start of each request — reading the chain
    heads once for all the requests that arrived before the read.

    The cache's rule is that a request sees every write committed before it arrived
    (``store.read_cache``). On the event loop, a request's task is queued when its request
    has arrived, and the loop runs what is queued in order: a read of the heads followed at
    once by ``call_soon(expire)`` serves every task queued before the ``expire`` — all of
    them requests that arrived before the read began — and any request that arrives later
    is queued behind the ``expire`` and reads the heads again. At 32 connections the tasks a
    burst of arrivals queues share one read, which was a third of a cached check's own time.
    Off the loop (a worker thread) every call reads."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._shared_on: asyncio.AbstractEventLoop | None = None

    def served(self) -> Registry:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: nothing orders arrivals here
            self.registry.refresh()
            return self.registry
        if self._shared_on is not loop:
            self.registry.refresh()
            self._shared_on = loop
            loop.call_soon(self._expire)
        return self.registry

    def _expire(self) -> None:
        self._shared_on = None


RegistryDep = Annotated[Registry, Depends(registry)]


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey | None

    @property
    def role(self) -> str:
        return PUBLIC if self.key is None else self.key.role.value


async def caller(
    request: Request,
    served: RegistryDep,
    # Parsed again in ``identify``; declared so the OpenAPI document shows the scheme.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    return identify(request, served)


def identify(request: Request, served: Registry) -> Caller:
    """Who is calling (no header: the public), held to their rate limit."""
    header = request.headers.get("authorization")
    if header is None:
        limits.admit(request, limits.address(request), PUBLIC)
        return Caller(None)
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise keys.ApiKeyError("use `Authorization: Bearer <key>`")
        key = keys.authenticate(served, token.strip())
    except keys.ApiKeyError as exc:
        limits.admit(request, limits.address(request), PUBLIC)
        raise ApiError(401, "invalid_key", str(exc), headers=_CHALLENGE) from None
    limits.admit(request, key.id, key.role.value)
    return Caller(key)


CallerDep = Annotated[Caller, Depends(caller)]
#: ``openapi_extra`` for the routes the public may call: the bearer scheme ``CallerDep``
#: declares becomes optional (OpenAPI's empty requirement means "no key at all").
KEY_OPTIONAL: dict[str, Any] = {"security": [{}]}


def require(*roles: Role) -> Callable[[Caller], Coroutine[Any, Any, ApiKey]]:
    """A dependency that lets only keys of ``roles`` through and hands on the key."""

    async def allowed(who: CallerDep) -> ApiKey:
        return with_role(who, roles)

    return allowed


def with_role(who: Caller, roles: Sequence[Role]) -> ApiKey:
    """The caller's key if its role is one of ``roles``; 401 without a key, 403 with another."""
    names = " or ".join(role.value for role in roles)
    if who.key is None:
        raise ApiError(401, "key_required", f"this needs a {names} key", headers=_CHALLENGE)
    if who.key.role not in roles:
        raise ApiError(403, "wrong_role", f"this needs a {names} key, not {who.role}")
    return who.key


#: For an endpoint that reads its caller itself (``identify``): the security requirement the
#: OpenAPI document would show had it used ``require``.
BEARER_SECURITY: dict[str, Any] = {"security": [{"HTTPBearer": []}]}


class RawRoute(APIRoute):
    """A route whose endpoint takes the request alone and returns its response, called
    directly: FastAPI's request handler (solving dependencies for a lone ``Request``, running
    the endpoint, checking the response) cost a cached check more than a quarter of what the
    check itself costs. The route is still an ``APIRoute``, so the OpenAPI document describes
    it as declared (``response_model``, ``openapi_extra``); errors raised by the endpoint go
    to the app's handlers as from any other route. Such an endpoint reads its caller and
    parameters itself (``identify``), under the same rules."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        if dependant.dependencies or dependant.query_params or dependant.body_params:
            raise TypeError(f"{self.path}: a RawRoute's endpoint takes the request alone")
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint
