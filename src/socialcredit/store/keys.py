"""API keys: who may call the registry's API, in which role, for what.

A key is a random bearer token shown once at creation; only its SHA-256 is stored, so the
database (or a backup of it) holds nothing that opens the API. A SHA-256 without salt or
stretching is enough here because the token carries 256 random bits: there is no password
to guess. Each key is bound to one role and to what that role needs: a provider's name, a
subject's keyed hash, a consumer's measures, so every permission check is a comparison with
the key row and nothing a caller sends can widen it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

from sqlalchemy import RowMapping, select, update

from socialcredit import clock
from socialcredit.identifiers import SubjectKind, normalise, subject_key
from socialcredit.rulebook import shipped_names
from socialcredit.rulebook.model import Measure
from socialcredit.store.registry import Registry, RegistryError
from socialcredit.store.schema import api_keys

TOKEN_PREFIX = "scs_"


class Role(StrEnum):
    ADMIN = "admin"
    PROVIDER = "provider"
    CONSUMER = "consumer"
    SUBJECT = "subject"
    AUDITOR = "auditor"


class ApiKeyError(RegistryError):
    """A key cannot be created, revoked or used; the message says why."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    role: Role
    provider: str | None
    subject_kind: SubjectKind | None
    subject_key: str | None
    measures: tuple[str, ...]
    expires: date | None
    created_at: str
    revoked_at: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "role": self.role.value,
            "provider": self.provider,
            "subject_kind": self.subject_kind.value if self.subject_kind else None,
            "measures": list(self.measures),
            "expires": self.expires.isoformat() if self.expires else None,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def defined_measures(registry: Registry) -> dict[str, tuple[str, Measure]]:
    """Every measure the registry's rulebooks define: code -> (rulebook name, measure).

    The active rulebooks and the shipped ones not overridden by an activation; a code defined
    by two rulebooks belongs to the first by name, so the answer does not depend on order.
    """
    return registry.cached(("defined_measures",), lambda: _defined_measures(registry))


def _defined_measures(registry: Registry) -> dict[str, tuple[str, Measure]]:
    names = sorted({a.name for a in registry.active_rulebooks()} | set(shipped_names()))
    found: dict[str, tuple[str, Measure]] = {}
    for name in names:
        for measure in registry.rulebook(name).measures:
            found.setdefault(measure.code, (name, measure))
    return found


def create(
    registry: Registry,
    role: Role,
    provider: str | None = None,
    subject: tuple[SubjectKind, str] | None = None,
    measures: Sequence[str] = (),
    expires: date | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; return it and the token, which is not stored and cannot be shown again."""
    _check_binding(registry, role, provider, subject, measures, expires)
    kind, keyed = None, None
    if subject is not None:
        kind = subject[0]
        keyed = subject_key(
            registry.secret, kind, normalise(kind, subject[1], registry.legacy_codes())
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id="k_" + secrets.token_hex(8),
        role=role,
        provider=provider,
        subject_kind=kind,
        subject_key=keyed,
        measures=tuple(dict.fromkeys(measures)),
        expires=expires,
        created_at=clock.timestamp(),
        revoked_at=None,
    )
    with registry.writer.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                id=key.id,
                key_hash=_hash(token),
                role=key.role.value,
                provider=key.provider,
                subject_kind=kind.value if kind else None,
                subject_key=keyed,
                measures=" ".join(key.measures) or None,
                expires=expires,
                created_at=key.created_at,
            )
        )
        registry.log_action(
            conn,
            "api_key.create",
            {
                "id": key.id,
                "role": key.role.value,
                "provider": key.provider,
                "subject_kind": kind.value if kind else None,
                "measures": list(key.measures),
                "expires": expires.isoformat() if expires else None,
            },
        )
    return key, token


def revoke(registry: Registry, key_id: str) -> ApiKey:
    """Revoke a key from now on; revoking it again changes nothing."""
    with registry.writer.begin() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise ApiKeyError(f"there is no key {key_id!r}")
        if row.revoked_at is None:
            conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=clock.timestamp())
            )
            registry.log_action(conn, "api_key.revoke", {"id": key_id})
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return _key(row._mapping)


def authenticate(registry: Registry, token: str) -> ApiKey:
    """The key a bearer token belongs to, if it is known, not revoked and not expired.

    Creating and revoking a key are operator actions, so the server's read cache keeps a
    key until the next one (a revoked key is refused by the first request after)."""
    hashed = _hash(token)
    key = registry.cached(("api_key", hashed), lambda: _stored_key(registry, hashed))
    if key is None:
        raise ApiKeyError("the key is not known")
    if key.revoked_at is not None:
        raise ApiKeyError(f"the key was revoked at {key.revoked_at}")
    if key.expires is not None and clock.today() > key.expires:
        raise ApiKeyError(f"the key expired after {key.expires.isoformat()}")
    return key


def _stored_key(registry: Registry, hashed: bytes) -> ApiKey | None:
    with registry.engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_hash == hashed)).first()
    return None if row is None else _key(row._mapping)


def _check_binding(
    registry: Registry,
    role: Role,
    provider: str | None,
    subject: tuple[SubjectKind, str] | None,
    measures: Sequence[str],
    expires: date | None,
) -> None:
    """A key carries exactly the binding its role needs: no role gets another's reach."""
    needs = {
        Role.PROVIDER: ("--provider", provider is not None),
        Role.SUBJECT: ("--subject", subject is not None),
        Role.CONSUMER: ("--measures", bool(measures)),
    }
    for bound_role, (option, given) in needs.items():
        if role is bound_role and not given:
            raise ApiKeyError(f"a {role.value} key needs {option}")
        if role is not bound_role and given:
            raise ApiKeyError(f"{option} belongs to {bound_role.value} keys, not {role.value}")
    if provider is not None and provider not in registry.providers():
        raise ApiKeyError(f"there is no provider {provider!r}: register it with `scs provider add`")
    unknown = sorted(set(measures) - set(defined_measures(registry)))
    if unknown:
        raise ApiKeyError(f"no rulebook of the registry defines the measures {unknown}")
    if expires is not None and expires < clock.today():
        raise ApiKeyError(f"--expires {expires.isoformat()} is in the past")


#: Bearer tokens whose digest is kept: a consumer sends the same key with every check, and
#: hashing it again cost a check more than looking the key up. Only the digest is cached;
#: whether the key still works is asked of the read cache each time (``authenticate``).
TOKENS_KEPT = 4096


@lru_cache(maxsize=TOKENS_KEPT)
def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _key(row: RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        role=Role(row["role"]),
        provider=row["provider"],
        subject_kind=SubjectKind(row["subject_kind"]) if row["subject_kind"] else None,
        subject_key=row["subject_key"],
        measures=tuple((row["measures"] or "").split()),
        expires=row["expires"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def all_keys(registry: Registry) -> list[ApiKey]:
    """Every key ever created, revoked ones included, oldest first (no tokens: none are kept)."""
    with registry.engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
        return [_key(row._mapping) for row in rows]
