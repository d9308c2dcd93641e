"""Bearer keys and roles: who is calling, and whether their role may do what they ask.

No ``Authorization`` header means the public, which may only look up organisations. A header
that is there but wrong (another scheme, an unknown, revoked or expired key) is refused with
401 everywhere, even where the public would be let in: a caller who meant to use a key must
learn that it does not work rather than silently get the public's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from socialcredit.api.errors import ApiError
from socialcredit.store import keys
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry

PUBLIC = "public"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_bearer = HTTPBearer(auto_error=False, description="An API key: `scs key create`")


def registry(request: Request) -> Registry:
    """The registry the app serves (set by ``app.create_app``)."""
    served: Registry = request.app.state.registry
    return served


RegistryDep = Annotated[Registry, Depends(registry)]


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey | None

    @property
    def role(self) -> str:
        return PUBLIC if self.key is None else self.key.role.value


def caller(
    request: Request,
    served: RegistryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if "authorization" not in request.headers:
        return Caller(None)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "invalid_key", "use `Authorization: Bearer <key>`", headers=_CHALLENGE)
    try:
        return Caller(keys.authenticate(served, credentials.credentials))
    except keys.ApiKeyError as exc:
        raise ApiError(401, "invalid_key", str(exc), headers=_CHALLENGE) from None


CallerDep = Annotated[Caller, Depends(caller)]
#: ``openapi_extra`` for the routes the public may call: the bearer scheme ``CallerDep``
#: declares becomes optional (OpenAPI's empty requirement means "no key at all").
KEY_OPTIONAL: dict[str, Any] = {"security": [{}]}


def require(*roles: Role) -> Callable[[Caller], ApiKey]:
    """A dependency that lets only keys of ``roles`` through and hands on the key."""
    names = " or ".join(role.value for role in roles)

    def allowed(who: CallerDep) -> ApiKey:
        if who.key is None:
            raise ApiError(401, "key_required", f"this needs a {names} key", headers=_CHALLENGE)
        if who.key.role not in roles:
            raise ApiError(403, "wrong_role", f"this needs a {names} key, not {who.role}")
        return who.key

    return allowed
