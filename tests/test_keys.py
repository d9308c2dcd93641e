"""``scs key``: keys are printed once, stored only as hashes, bound to their role, revocable;
``scs init`` creates the audit chain and ``scs verify`` checks it."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from socialcredit.cli import app
from socialcredit.store import keys
from socialcredit.store.registry import Registry
from socialcredit.store.schema import api_keys, audit_log, chain_heads, subjects
from tests.conftest import PERSON

RUNNER = CliRunner()


def scs(db_url: str, *args: str) -> Result:
    return RUNNER.invoke(app, [*args, "--db", db_url])


def created(db_url: str, *args: str) -> dict[str, Any]:
    result = scs(db_url, "key", "create", *args, "--json")
    assert result.exit_code == 0, result.stderr
    out: dict[str, Any] = orjson.loads(result.stdout)
    return out


def test_a_key_is_printed_once_and_only_its_hash_is_stored(registry: Registry, db_url: str) -> None:
    made = created(db_url, "--role", "consumer", "--measures", "spc.flights,spc.vehicles")
    assert made["key"].startswith("scs_") and made["id"].startswith("k_")
    with registry.engine.connect() as conn:
        row = conn.execute(select(api_keys)).one()
    assert made["key"] not in str(tuple(row))
    assert bytes(row.key_hash) == hashlib.sha256(made["key"].encode()).digest()
    assert keys.authenticate(registry, made["key"]).measures == ("spc.flights", "spc.vehicles")

    plain = scs(db_url, "key", "create", "--role", "admin")
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("scs_")
    assert "shown only this once" in plain.stderr
    listed = orjson.loads(scs(db_url, "key", "list").stdout)
    assert sorted(k["role"] for k in listed) == ["admin", "consumer"]
    assert "scs_" not in str(listed)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "provider"], "needs --provider"),
        (["--role", "subject"], "needs --subject"),
        (["--role", "consumer"], "needs --measures"),
        (["--role", "admin", "--provider", "police.traffic"], "belongs to provider keys"),
        (["--role", "consumer", "--measures", "spc.flights", "--subject", PERSON], "belongs to"),
        (["--role", "provider", "--provider", "nobody"], "no provider 'nobody'"),
        (["--role", "consumer", "--measures", "social.shaming"], "social.shaming"),
        (["--role", "subject", "--subject", "12345"], "12345"),
        (["--role", "admin", "--expires", "2026-11-22"], "in the past"),
        (["--role", "admin", "--expires", "soon"], "not a date"),
        (["--role", "superuser"], "superuser"),
    ],
)
def test_a_key_carries_exactly_the_binding_its_role_needs(
    registry: Registry, db_url: str, args: list[str], message: str
) -> None:
    result = scs(db_url, "key", "create", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert keys.all_keys(registry) == []


def test_a_revoked_key_stops_working(registry: Registry, db_url: str) -> None:
    made = created(db_url, "--role", "subject", "--subject", PERSON, "--expires", "2027-01-31")
    key = keys.authenticate(registry, made["key"])
    assert (key.subject_kind, key.expires.isoformat() if key.expires else None) == (
        "person",
        "2027-01-31",
    )
    revoked = scs(db_url, "key", "revoke", made["id"])
    assert revoked.exit_code == 0 and orjson.loads(revoked.stdout)["revoked_at"]
    with pytest.raises(keys.ApiKeyError, match="revoked"):
        keys.authenticate(registry, made["key"])
    assert scs(db_url, "key", "revoke", made["id"]).exit_code == 0  # again: no change
    missing = scs(db_url, "key", "revoke", "k_nope")
    assert missing.exit_code == 2 and "no key 'k_nope'" in missing.stderr


def test_init_creates_the_audit_chain_and_verify_reports_it(
    registry: Registry, db_url: str
) -> None:
    with registry.engine.connect() as conn:
        assert "audit_log" in set(conn.execute(select(chain_heads.c.chain)).scalars())
    result = scs(db_url, "verify")
    assert result.exit_code == 0, result.stderr
    out = orjson.loads(result.stdout)
    assert out["audit_entries"] == 0 and out["heads"]["audit_log"].startswith("0:")


def test_creating_and_revoking_a_key_is_in_the_operator_log(registry: Registry) -> None:
    from socialcredit.store.keys import Role
    from socialcredit.store.schema import operator_log

    key, token = keys.create(registry, Role.AUDITOR)
    keys.revoke(registry, key.id)
    with registry.engine.connect() as conn:
        logged = [
            (row.action, orjson.loads(row.detail))
            for row in conn.execute(
                select(operator_log).where(operator_log.c.action.like("api_key.%"))
            )
        ]
    assert [action for action, _ in logged] == ["api_key.create", "api_key.revoke"]
    assert logged[0][1]["id"] == logged[1][1]["id"] == key.id
    assert token not in str(logged)  # the token itself is never logged
    assert registry.verify().ok


def sealed_log(registry: Registry) -> list[int]:
    """Three transactions of audit entries: one read (seq 1), a batch of five reads of
    subjects with and without a file and of both results (2-6, sealed by 6), and two reads
    of another caller and purpose (7-8, sealed by 8). Returns the subjects' ids."""
    from socialcredit.store import audit
    from tests.conftest import PERSON_2, record

    validator = registry.validator()
    second = record(ref="T-0002", subject={"kind": "person", "id": PERSON_2})
    registry.append([validator.from_json(record()), validator.from_json(second)])
    with registry.engine.connect() as conn:
        ids = list(conn.execute(select(subjects.c.id).order_by(subjects.c.id)).scalars())
    batch = [(ids[0], "applies"), (None, "does_not_apply"), (ids[1], "does_not_apply")]
    for groups in (
        [audit.Readings("k_a", "consumer", "check", "travel_booking", [(ids[0], "applies")])],
        [
            audit.Readings("k_a", "consumer", "check", "travel_booking", batch),
            audit.Readings("k_b", "subject", "report", None, [(ids[1], "ok"), (None, "no_file")]),
        ],
        [audit.Readings("k_c", "consumer", "check", "rental", [(ids[1], "applies")] * 2)],
    ):
        with registry.writer.begin() as conn:
            audit.append_many(conn, groups)
    return ids


def test_a_transactions_audit_entries_are_sealed_together_and_verify(registry: Registry) -> None:
    """The group commit hashes entries from a prefix per result and seals a transaction's
    entries with one chain hash (``audit._chained``); the verifier recomputes each entry's
    canonical JSON. Both must agree, and every entry stays one row for the trail."""
    from socialcredit.store import audit

    sealed_log(registry)
    report = registry.verify()
    assert report.ok and report.audit_entries == 8, report.problem
    assert report.heads["audit_log"].startswith("8:")
    with registry.engine.connect() as conn:
        entries = audit.page(conn, 0, 100)
        hashes = [bytes(h) for h in conn.execute(select(audit_log.c.entry_hash)).scalars()]
    assert [e.seq for e in entries] == list(range(1, 9))
    assert [e.result for e in entries[1:6]] == [
        "applies",
        "does_not_apply",
        "does_not_apply",
        "ok",
        "no_file",
    ]
    assert [len(h) for h in hashes] == [32, 0, 0, 0, 0, 32, 0, 32]


def _update(seq: int, **values: Any) -> Any:
    return audit_log.update().where(audit_log.c.seq == seq).values(**values)


@pytest.mark.parametrize(
    ("tamper", "found_at", "problem"),
    [
        # A batch's entry in the middle, a field of its content each time.
        (lambda ids: [_update(3, result="applies")], 2, "sealed together"),
        (lambda ids: [_update(4, subject_id=None)], 2, "sealed together"),
        (lambda ids: [_update(2, subject_id=ids[1])], 2, "sealed together"),
        (lambda ids: [_update(5, purpose="rental")], 2, "sealed together"),
        (lambda ids: [_update(4, key_id="k_z")], 2, "sealed together"),
        (lambda ids: [_update(3, recorded_at="2020-01-01T00:00:00.000000Z")], 2, "sealed"),
        # Two entries' subjects swapped: the same rows, in another order.
        (lambda ids: [_update(2, subject_id=ids[1]), _update(4, subject_id=ids[0])], 2, "sealed"),
        # The entry that seals the batch: altered, unsealed, deleted.
        (lambda ids: [_update(6, result="ok")], 2, "sealed together"),
        (lambda ids: [_update(6, entry_hash=b"")], 2, "sealed together"),
        (lambda ids: [audit_log.delete().where(audit_log.c.seq == 6)], 6, "missing"),
        # One entry deleted from the middle of the batch, or at the end of the log.
        (lambda ids: [audit_log.delete().where(audit_log.c.seq == 4)], 4, "missing"),
        (lambda ids: [audit_log.delete().where(audit_log.c.seq == 8)], 7, "not sealed"),
        (lambda ids: [_update(8, entry_hash=b"")], 7, "not sealed"),
        (lambda ids: [audit_log.delete().where(audit_log.c.seq >= 7)], 7, "missing"),
        # A single read's entry, as before sealing.
        (lambda ids: [_update(1, result="does_not_apply")], 1, "entry altered"),
    ],
)
def test_altering_or_deleting_any_one_audit_entry_of_a_batch_is_found(
    registry: Registry, tamper: Any, found_at: int, problem: str
) -> None:
    ids = sealed_log(registry)
    with registry.engine.begin() as conn:
        for statement in tamper(ids):
            conn.execute(statement)
    report = registry.verify()
    assert not report.ok and report.problem is not None
    assert (report.problem.chain, report.problem.seq) == ("audit_log", found_at)
    assert problem in report.problem.problem


@pytest.mark.parametrize("distinct", [1, 3, 300])
def test_audit_entries_land_as_read_whatever_their_results(
    registry: Registry, distinct: int
) -> None:
    """On SQLite a group's entries are inserted by one statement that picks each entry's
    result by a byte (``audit._insert_sqlite``), with a row-by-row path for short groups and
    past 255 distinct results; on PostgreSQL row by row. Either way every entry lands as
    read, in order, both ways of appending, and the chain verifies."""
    from socialcredit.store import audit

    ids = sealed_log(registry)  # entries 1-8
    reads = [(None if n % 7 == 0 else ids[n % 2], f"result-{n % distinct}") for n in range(600)]
    # Runs long and short (rows below ``_JSON_FROM``), empty, interleaved in one transaction.
    cuts = [0, 1, 400, 403, 404, 600]
    groups = [
        audit.Readings(f"k_{n}", "consumer", "check", "rental", reads[start:end])
        for n, (start, end) in enumerate(itertools.pairwise(cuts))
    ]
    groups.insert(2, audit.Readings("k_y", "auditor", "trail", None, []))
    with registry.writer.begin() as conn:
        audit.append_many(conn, groups)
    if registry.engine.dialect.name == "sqlite":  # the API's group commit's way
        raw = registry.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            audit.append_many_sqlite(cursor, groups)
            cursor.execute("COMMIT")
        finally:
            raw.close()
        rounds = 2
    else:
        rounds = 1
    wanted = [
        (key_id, role, purpose, action, subject, result)
        for _ in range(rounds)
        for n, (start, end) in enumerate(itertools.pairwise(cuts))
        for key_id, role, purpose, action in [(f"k_{n}", "consumer", "rental", "check")]
        for subject, result in reads[start:end]
    ]
    with registry.engine.connect() as conn:
        entries = audit.page(conn, 8, 10_000)
    assert [e.seq for e in entries] == list(range(9, 9 + 600 * rounds))
    assert [(e.key_id, e.role, e.purpose, e.action, e.subject_id, e.result) for e in entries] == (
        wanted
    )
    report = registry.verify()
    assert report.ok and report.audit_entries == 8 + 600 * rounds, report.problem
