"""What the operator's dashboard counts: records arriving per provider, and the snapshot.

Counts only. Grade distributions and list sizes come from the results snapshot that
``scs rescore`` writes (``store.results``) rather than from scoring everyone on each page
view: that is what the snapshot is for, and the page says which day it is from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, case, func, select

from socialcredit.store.schema import cases, ledger, results, rulebooks


@dataclass(frozen=True, slots=True)
class Arrivals:
    """One provider's records: all of them, and those recorded since a given day."""

    provider: str
    total: int
    recent: int

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "total": self.total, "recent": self.recent}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest snapshot of one rulebook version: grades and list sizes, as counts."""

    rulebook: str
    version: str
    as_of: date
    subjects: int
    grades: Counter[str]
    lists: Counter[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "rulebook": self.rulebook,
            "version": self.version,
            "as_of": self.as_of.isoformat(),
            "subjects": self.subjects,
            "grades": dict(self.grades),
            "lists": dict(sorted(self.lists.items())),
        }


def arrivals(conn: Connection, since: date) -> list[Arrivals]:
    """Records (not corrections or revocations) per provider, most first."""
    recent = func.sum(case((ledger.c.recorded_at >= since.isoformat(), 1), else_=0))
    rows = conn.execute(
        select(ledger.c.provider, func.count(), recent)
        .where(ledger.c.kind == "record")
        .group_by(ledger.c.provider)
        .order_by(func.count().desc(), ledger.c.provider)
    )
    return [Arrivals(provider, int(total), int(new or 0)) for provider, total, new in rows]


def latest_snapshot(conn: Connection, rulebook: str, version: str) -> Snapshot | None:
    """The newest snapshot of ``rulebook`` ``version``, or None if it was never rescored."""
    as_of = conn.execute(
        select(func.max(results.c.as_of)).where(
            results.c.rulebook == rulebook, results.c.version == version
        )
    ).scalar()
    if as_of is None:
        return None
    where = (
        results.c.rulebook == rulebook,
        results.c.version == version,
        results.c.as_of == as_of,
    )
    counted = conn.execute(
        select(results.c.grade, func.count()).where(*where).group_by(results.c.grade)
    )
    grades: Counter[str] = Counter({grade: int(n) for grade, n in counted})
    lists: Counter[str] = Counter()
    for text, n in conn.execute(
        select(results.c.lists, func.count())
        .where(*where, results.c.lists != "[]")
        .group_by(results.c.lists)
    ):
        lists.update({code: n for code in orjson.loads(text)})
    return Snapshot(rulebook, version, as_of, sum(grades.values()), grades, lists)


@dataclass(frozen=True, slots=True)
class Version:
    """A rulebook version ever activated; ``active`` for the latest of its name."""

    name: str
    version: str
    sha256: str
    activated_at: str
    actor: str
    active: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "activated_at": self.activated_at,
            "actor": self.actor,
            "active": self.active,
        }


def versions(conn: Connection) -> list[Version]:
    """Every activation, newest first: the rulebook history an operator answers for."""
    rows = list(
        conn.execute(
            select(
                rulebooks.c.id,
                rulebooks.c.name,
                rulebooks.c.version,
                rulebooks.c.sha256,
                rulebooks.c.activated_at,
                rulebooks.c.actor,
            ).order_by(rulebooks.c.id.desc())
        )
    )
    seen: set[str] = set()
    out = []
    for row in rows:
        out.append(
            Version(
                row.name, row.version, row.sha256, row.activated_at, row.actor, row.name not in seen
            )
        )
        seen.add(row.name)
    return out


@dataclass(frozen=True, slots=True)
class Waiting:
    """An open dispute, review or repair: what it is about and the day it must be answered.

    The case id, never the subject's number: the operator acts on the case.
    """

    id: str
    kind: str
    provider: str | None
    ref: str | None
    opened_at: str
    deadline: date

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "provider": self.provider,
            "ref": self.ref,
            "opened_at": self.opened_at,
            "deadline": self.deadline.isoformat(),
        }


def waiting(conn: Connection, limit: int = 100) -> list[Waiting]:
    """Open cases, the nearest deadline first."""
    rows = conn.execute(
        select(
            cases.c.id,
            cases.c.kind,
            cases.c.provider,
            cases.c.ref,
            cases.c.opened_at,
            cases.c.deadline,
        )
        .where(cases.c.status == "open")
        .order_by(cases.c.deadline, cases.c.id)
        .limit(limit)
    )
    return [Waiting(*row) for row in rows]
