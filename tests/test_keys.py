"""``scs key``: keys are printed once, stored only as hashes, bound to their role, revocable;
``scs init`` creates the audit chain and ``scs verify`` checks it."""

from __future__ import annotations

import hashlib
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


# -- the subject index of the audit log ---------------------------------------------------------
def _pairs(registry: Registry) -> tuple[int, list[tuple[int, int]]]:
    from socialcredit.store.schema import audit_index, audit_subjects

    with registry.engine.connect() as conn:
        upto = conn.execute(select(audit_index.c.upto)).scalar_one()
        held = conn.execute(select(audit_subjects.c.subject_id, audit_subjects.c.seq)).all()
    return int(upto), sorted((int(s), int(q)) for s, q in held)


def test_a_subjects_access_log_reads_the_merged_index_and_the_unmerged_tail(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries reach the subject index in runs (``MERGE_EVERY``); until then the access log
    finds them in the tail. Before, across and after a run, each subject sees each of its
    reads exactly once, through both ways of appending (SQLAlchemy and the raw cursor)."""
    from datetime import date

    from socialcredit.store import audit

    monkeypatch.setattr(audit, "MERGE_EVERY", 4)
    ids = sealed_log(registry)  # appends of 1, 5 and 2 entries: a run at the 2nd (seq 6)
    upto, held = _pairs(registry)
    assert upto == 6
    assert held == [(ids[0], 1), (ids[0], 2), (ids[1], 4), (ids[1], 5)]

    def seen(subject: int) -> list[int]:
        with registry.engine.connect() as conn:
            return [e.seq for e in audit.for_subject(conn, subject, date(2000, 1, 1))]

    assert seen(ids[0]) == [2, 1] and seen(ids[1]) == [8, 7, 5, 4]  # 7 and 8 from the tail
    reads = [(ids[0], "ok"), (ids[1], "ok"), (ids[0], "ok")]  # the tail reaches 5: a run
    group = [audit.Readings("k_d", "subject", "report", None, reads)]
    if registry.engine.dialect.name == "sqlite":  # the API's group commit's way
        conn = registry.engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            audit.append_many_sqlite(cursor, group)
            cursor.execute("COMMIT")
        finally:
            conn.close()
    else:
        with registry.writer.begin() as sa_conn:
            audit.append_many(sa_conn, group)
    upto, held = _pairs(registry)
    assert upto == 11 and len(held) == 9
    assert seen(ids[0]) == [11, 9, 2, 1] and seen(ids[1]) == [10, 8, 7, 5, 4]
    report = registry.verify()
    assert report.ok and report.audit_entries == 11, report.problem


@pytest.mark.parametrize(
    ("tamper", "found_at", "problem"),
    [
        ("DELETE FROM audit_subjects WHERE seq = 4", 4, "missing from the subject index"),
        ("UPDATE audit_subjects SET subject_id = subject_id + 1 WHERE seq = 2", 2, "missing"),
        ("INSERT INTO audit_subjects (subject_id, seq) VALUES (1, 3)", 3, "did not read"),
        ("UPDATE audit_index SET upto = 9", 9, "holds entries up to 9"),
        ("DELETE FROM audit_index", 1, "position is missing"),
    ],
)
def test_an_altered_subject_index_is_found_by_verify(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tamper: str, found_at: int, problem: str
) -> None:
    """The index is derived from the chained entries, so it is not chained itself: ``verify``
    compares it with them, since a pair removed would hide a read from a subject."""
    from sqlalchemy import text

    from socialcredit.store import audit

    monkeypatch.setattr(audit, "MERGE_EVERY", 4)
    sealed_log(registry)
    with registry.engine.begin() as conn:
        conn.execute(text(tamper))
    report = registry.verify()
    assert not report.ok and report.problem is not None
    assert (report.problem.chain, report.problem.seq) == ("audit_log", found_at)
    assert problem in report.problem.problem


def test_migration_0006_moves_the_audit_subjects_into_their_table(db_url: str) -> None:
    """A log written before revision 0006 keeps every subject's reads: its pairs move into
    ``audit_subjects``, the index position is the log's end, and the old index goes."""
    from alembic import command
    from sqlalchemy import inspect

    from socialcredit.store import database
    from socialcredit.store.schema import audit_index, audit_subjects

    engine = database.open_engine(db_url)
    command.upgrade(database.alembic_config(engine), "0005")
    entry = {"key_id": "k", "role": "consumer", "purpose": "travel_booking", "action": "check"}
    with engine.begin() as conn:
        conn.execute(
            subjects.insert(),
            [
                {"id": 1, "kind": "person", "key": "a" * 64, "display": "1101**"},
                {"id": 2, "kind": "person", "key": "b" * 64, "display": "1101**"},
            ],
        )
        conn.execute(
            audit_log.insert(),
            [
                {
                    **entry,
                    "seq": seq,
                    "subject_id": subject,
                    "result": "ok",
                    "recorded_at": "2026-01-01T00:00:00.000000Z",
                    "entry_hash": b"",
                }
                for seq, subject in ((1, 2), (2, None), (3, 1), (4, 2))
            ],
        )
    indexes = {i["name"] for i in inspect(engine).get_indexes("audit_log")}
    assert "ix_audit_log_subject" in indexes
    command.upgrade(database.alembic_config(engine), "0006")
    with engine.connect() as conn:
        assert conn.execute(select(audit_index.c.chain, audit_index.c.upto)).all() == [
            ("audit_log", 4)
        ]
        held = conn.execute(select(audit_subjects.c.subject_id, audit_subjects.c.seq)).all()
    assert sorted(tuple(map(int, pair)) for pair in held) == [(1, 3), (2, 1), (2, 4)]
    assert "ix_audit_log_subject" not in {
        i["name"] for i in inspect(engine).get_indexes("audit_log")
    }
    command.downgrade(database.alembic_config(engine), "0005")
    assert "audit_subjects" not in inspect(engine).get_table_names()
    assert "ix_audit_log_subject" in {i["name"] for i in inspect(engine).get_indexes("audit_log")}
