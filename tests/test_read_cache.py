"""The server's read cache never serves what the registry no longer says.

A served registry (``Registry.serving``) reads through its cache; a second registry object on
the same database stands for another process (``scs import``, the operator's commands). After
each write the served side is refreshed, as every request does first, and must answer as the
database does — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from socialcredit.api.auth import Freshness
from socialcredit.identifiers import SubjectKind, subject_key
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.store.registry import Registry, SubjectNotFound
from tests.conftest import PERSON, PERSON_2, record


def served_refs(served: Registry, number: str) -> list[str]:
    served.refresh()
    return sorted(r.ref for r in served.subject_file(SubjectKind.PERSON, number).records)


def test_a_new_record_is_seen_by_the_next_request(registry: Registry) -> None:
    validator = registry.validator()
    registry.append([validator.from_json(record())])
    served = registry.serving()
    assert served_refs(served, PERSON) == ["T-0001"]
    registry.append([validator.from_json(record(ref="T-0002"))])
    assert served_refs(served, PERSON) == ["T-0001", "T-0002"]


def test_only_the_subjects_a_write_touched_are_read_again(registry: Registry) -> None:
    validator = registry.validator()
    registry.append(
        [
            validator.from_json(record()),
            validator.from_json(record(ref="T-0009", subject={"kind": "person", "id": PERSON_2})),
        ]
    )
    served = registry.serving()
    first = served_refs(served, PERSON_2)
    kept = served.subject_file(SubjectKind.PERSON, PERSON_2)
    registry.append([validator.from_json(record(ref="T-0002"))])  # touches PERSON only
    assert served_refs(served, PERSON) == ["T-0001", "T-0002"]
    assert served.subject_file(SubjectKind.PERSON, PERSON_2) is kept  # still cached
    assert served_refs(served, PERSON_2) == first


def test_a_subject_that_appears_is_found(registry: Registry) -> None:
    served = registry.serving()
    served.refresh()
    with pytest.raises(SubjectNotFound):
        served.subject_file(SubjectKind.PERSON, PERSON)
    registry.append([registry.validator().from_json(record())])
    assert served_refs(served, PERSON) == ["T-0001"]


def test_a_revocation_is_seen_by_the_next_request(registry: Registry) -> None:
    registry.append([registry.validator().from_json(record())])
    served = registry.serving()
    assert served_refs(served, PERSON) == ["T-0001"]
    registry.revoke("police.traffic", "T-0001", reason="entered in error")
    served.refresh()
    assert served.subject_file(SubjectKind.PERSON, PERSON).records == []


def test_a_revoked_key_is_refused_by_the_next_request(registry: Registry) -> None:
    key, token = keys.create(registry, Role.AUDITOR)
    served = registry.serving()
    served.refresh()
    assert keys.authenticate(served, token).id == key.id
    keys.revoke(registry, key.id)
    served.refresh()
    with pytest.raises(keys.ApiKeyError, match="revoked"):
        keys.authenticate(served, token)


def test_a_new_day_drops_everything(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.append([registry.validator().from_json(record())])
    served = registry.serving()
    monkeypatch.setenv("SCS_CLOCK", "2026-01-01")
    served.refresh()
    kept = served.subject_file(SubjectKind.PERSON, PERSON)
    served.refresh()
    assert served.subject_file(SubjectKind.PERSON, PERSON) is kept
    monkeypatch.setenv("SCS_CLOCK", "2026-01-02")
    served.refresh()
    assert served.subject_file(SubjectKind.PERSON, PERSON) is not kept


def test_a_value_read_before_a_refresh_is_not_kept(registry: Registry) -> None:
    """A read that raced a write (it began before the refresh that saw the write) is
    answered but not stored, so it cannot outlive the write."""
    served = registry.serving()
    served.refresh()
    assert served.cache is not None

    def stale_read() -> list[str]:
        registry.append([registry.validator().from_json(record())])
        served.refresh()  # another request, starting after the write, refreshes
        return ["stale"]

    assert served.cache.config(("probe",), stale_read) == ["stale"]
    assert served.cache.config(("probe",), lambda: ["fresh"]) == ["fresh"]


def test_commands_read_the_database_every_time(registry: Registry) -> None:
    assert registry.cache is None
    registry.append([registry.validator().from_json(record())])
    assert [r.ref for r in registry.subject_file(SubjectKind.PERSON, PERSON).records] == ["T-0001"]


def test_a_subject_without_a_file_gets_one_and_only_it_is_dropped(registry: Registry) -> None:
    """A check of someone no record names is answered from the cache until a record names
    them; a record about someone else leaves that answer in place."""
    served = registry.serving()
    served.refresh()
    cache = served.cache
    assert cache is not None
    first = subject_key(registry.secret, SubjectKind.PERSON, PERSON)
    second = subject_key(registry.secret, SubjectKind.PERSON, PERSON_2)
    cache.remember_ids(cache.generation, {}, [first, second])
    registry.append([registry.validator().from_json(record())])  # names PERSON only
    served.refresh()
    assert not cache.has_no_file(first)
    assert cache.has_no_file(second)


def test_requests_queued_after_a_read_of_the_heads_read_them_again(registry: Registry) -> None:
    """``auth.Freshness``: requests the event loop queued before a read of the chain heads
    share it; a request queued after it (one that arrived later) sees a write committed in
    between; off the loop every call reads."""
    validator = registry.validator()
    registry.append([validator.from_json(record())])
    fresh = Freshness(registry.serving())
    served = fresh.registry

    def refs() -> list[str]:
        file = served.subject_file(SubjectKind.PERSON, PERSON)
        return sorted(r.ref for r in file.records)

    async def early() -> list[str]:  # queued with ``first``, before its read
        fresh.served()
        return refs()

    async def first() -> list[str]:
        fresh.served()
        found = refs()
        registry.append([validator.from_json(record(ref="T-0002"))])  # commits after the read
        return found

    async def later() -> list[str]:  # queued after the write: arrives after it
        fresh.served()
        return refs()

    async def main() -> tuple[list[str], list[str], list[str]]:
        one = asyncio.ensure_future(first())
        two = asyncio.ensure_future(early())
        a, b = await asyncio.gather(one, two)
        c = await asyncio.ensure_future(later())
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a == b == ["T-0001"]  # one read served both: neither arrived after the write
    assert c == ["T-0001", "T-0002"]

    registry.append([validator.from_json(record(ref="T-0003"))])
    seen: list[list[str]] = []
    worker = threading.Thread(target=lambda: (fresh.served(), seen.append(refs())))
    worker.start()
    worker.join()
    assert seen == [["T-0001", "T-0002", "T-0003"]]
