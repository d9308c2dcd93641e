"""Active rulebooks: which version of each rulebook the registry scores with.

Activating stores the TOML text exactly as published with its SHA-256, so every answer the
registry gives names a version whose text can be re-read and re-run. The latest activation of
a name is its active version; a name never activated falls back to the shipped rulebook of
that name. A version, once activated, is frozen: activating the same name and version with a
different text is refused, or two different rulebooks would give answers under one label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError

from socialcredit.rulebook import Rulebook, RulebookError, load_rulebook, parse_rulebook
from socialcredit.store.database import DatabaseError
from socialcredit.store.schema import rulebooks

#: Parsed active rulebooks by SHA-256: checking a rulebook costs milliseconds, and every
#: read-time evaluation asks for one.
_PARSED: dict[str, Rulebook] = {}


class SchemaOutdated(DatabaseError):
    """The database predates a table this version needs."""


@dataclass(frozen=True, slots=True)
class Activation:
    name: str
    version: str
    sha256: str
    activated_at: str
    actor: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "activated_at": self.activated_at,
            "actor": self.actor,
        }


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def one_line(exc: RulebookError) -> str:
    """Every problem of a refused rulebook on one line, each naming its entry."""
    return f"rulebook {exc.origin}: " + "; ".join(str(p) for p in exc.problems)


_ACTIVATION_COLUMNS = (
    rulebooks.c.name,
    rulebooks.c.version,
    rulebooks.c.sha256,
    rulebooks.c.activated_at,
    rulebooks.c.actor,
)


def active(conn: Connection) -> list[Activation]:
    """The active version of every activated rulebook, by name."""
    latest = select(func.max(rulebooks.c.id)).group_by(rulebooks.c.name)
    query = (
        select(*_ACTIVATION_COLUMNS).where(rulebooks.c.id.in_(latest)).order_by(rulebooks.c.name)
    )
    return [Activation(*row) for row in _run(conn, query)]


def active_text(conn: Connection, name: str) -> tuple[str, str] | None:
    """(TOML text, SHA-256) of the active version of ``name``, or None if never activated."""
    query = (
        select(rulebooks.c.toml, rulebooks.c.sha256)
        .where(rulebooks.c.name == name)
        .order_by(rulebooks.c.id.desc())
        .limit(1)
    )
    row = next(iter(_run(conn, query)), None)
    return None if row is None else (row.toml, row.sha256)


def parsed(text: str, sha256: str, origin: str) -> Rulebook:
    """The checked rulebook of a stored text (cached by its hash)."""
    rulebook = _PARSED.get(sha256)
    if rulebook is None:
        rulebook = _PARSED[sha256] = parse_rulebook(text, origin)
    return rulebook


@cache
def shipped(name: str) -> Rulebook:
    """A shipped rulebook, checked once per process: its text ships with the code."""
    return load_rulebook(name)


def version_digest(conn: Connection, name: str, version: str) -> str | None:
    """The SHA-256 under which ``name`` ``version`` was activated before, if it was."""
    rows = _run(
        conn,
        select(rulebooks.c.sha256)
        .where(rulebooks.c.name == name, rulebooks.c.version == version)
        .limit(1),
    )
    return str(rows[0].sha256) if rows else None


def insert(conn: Connection, rulebook: Rulebook, activated_at: str, actor: str) -> Activation:
    activation = Activation(
        rulebook.name, rulebook.version, digest(rulebook.source), activated_at, actor
    )
    conn.execute(rulebooks.insert().values(toml=rulebook.source, **activation.to_json()))
    return activation


@contextmanager
def schema_guard(table: str) -> Iterator[None]:
    """Turn "no such table" from a database older than this version into an actionable error."""
    try:
        yield
    except DBAPIError as exc:
        if table in str(exc.orig):
            raise SchemaOutdated(
                f"this registry's schema has no {table} table yet: run `scs init` to upgrade "
                "it in place"
            ) from None
        raise


def _run(conn: Connection, query: Any) -> list[Any]:
    with schema_guard("rulebooks"):
        return list(conn.execute(query))
