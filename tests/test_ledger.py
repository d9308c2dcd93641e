"""The ledger on both stores: stored once, never changed, amended by new entries, tamper-evident."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from socialcredit.records import Record
from socialcredit.store.ledger import AmendError
from socialcredit.store.registry import Registry, RegistryError
from tests.conftest import ORG, PERSON, PERSON_2, record


def submit(registry: Registry, *records: dict[str, Any]) -> Any:
    validator = registry.validator()
    return registry.append([validator.from_json(r) for r in records])


def rows(registry: Registry, sql: str, **params: Any) -> list[Any]:
    with registry.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def tamper(registry: Registry, sql: str) -> None:
    with registry.engine.begin() as conn:
        conn.execute(text(sql))


def test_records_are_stored_once_per_provider_and_ref(registry: Registry) -> None:
    first = submit(registry, record(), record(ref="T-0002", occurred_on="2025-07-01"))
    again = submit(registry, record())
    assert (len(first.accepted), len(again.accepted), len(again.duplicates)) == (2, 0, 1)
    assert rows(registry, "SELECT count(*) FROM ledger")[0][0] == 2


def test_the_same_ref_with_different_content_is_refused_not_overwritten(
    registry: Registry,
) -> None:
    submit(registry, record())
    result = submit(registry, record(amount=300))
    assert result.accepted == [] and result.rejected[0][0].field == "ref"
    assert "never changed" in result.rejected[0][0].reason
    assert rows(registry, "SELECT amount FROM ledger")[0][0] == 200


def test_a_ref_used_twice_in_one_batch_keeps_the_first_and_refuses_the_second(
    registry: Registry,
) -> None:
    result = submit(registry, record(), record(amount=300), record())
    assert result.accepted == [0] and result.duplicates == [2]
    assert "earlier in this batch" in result.rejected[1][0].reason


def test_one_subject_cannot_change_kind(registry: Registry) -> None:
    submit(
        registry,
        record(
            provider="market.weihai",
            ref="M-1",
            type="permit.unlicensed",
            subject={"kind": "organisation", "id": ORG},
        ),
    )
    result = submit(
        registry,
        record(
            provider="market.weihai",
            ref="M-2",
            type="permit.unlicensed",
            subject={"kind": "institution", "id": ORG},
        ),
    )
    assert result.rejected[0][0].field == "subject.kind"
    assert "registered as organisation" in result.rejected[0][0].reason


def test_resident_numbers_are_stored_only_as_keyed_hash_and_mask(registry: Registry) -> None:
    submit(registry, record(subject={"kind": "person", "id": PERSON, "name": "Li Lei"}))
    ((kind, key, display, name),) = rows(registry, "SELECT kind, key, display, name FROM subjects")
    assert (kind, display, name) == ("person", "110105********002X", "Li Lei")
    assert len(key) == 64 and PERSON not in key


def test_a_revocation_is_a_new_entry_and_the_original_stays(registry: Registry) -> None:
    submit(registry, record())
    seq = registry.revoke("police.traffic", "T-0001", "wrong plate number")
    entries = rows(registry, "SELECT seq, kind, ref, amends, reason FROM ledger ORDER BY seq")
    assert [e.kind for e in entries] == ["record", "revocation"]
    assert entries[1].amends == entries[0].seq and entries[1].seq == seq
    assert entries[1].reason == "wrong plate number"
    with pytest.raises(AmendError, match="already amended by revocation"):
        registry.revoke("police.traffic", "T-0001", "again")


def test_a_correction_replaces_a_record_and_can_itself_be_corrected(registry: Registry) -> None:
    submit(registry, record())
    validator = registry.validator()
    fixed: Record = validator.from_json(record(ref="T-0001-c1", amount=150))
    registry.correct("T-0001", fixed, "amount was 150")
    with pytest.raises(AmendError, match="amend that correction instead"):
        registry.correct("T-0001", validator.from_json(record(ref="T-0001-c2")), "again")
    registry.correct("T-0001-c1", validator.from_json(record(ref="T-0001-c2", amount=100)), "x")
    kinds = [r.kind for r in rows(registry, "SELECT kind FROM ledger ORDER BY seq")]
    assert kinds == ["record", "correction", "correction"]
    assert registry.verify().ok


def test_amending_what_does_not_exist_or_without_a_reason_is_refused(registry: Registry) -> None:
    with pytest.raises(AmendError, match="no record with ref"):
        registry.revoke("police.traffic", "nope", "reason")
    submit(registry, record())
    with pytest.raises(AmendError, match="reason"):
        registry.revoke("police.traffic", "T-0001", "  ")
    with pytest.raises(AmendError, match="no record with ref"):
        registry.revoke("court.rongcheng", "T-0001", "another provider's record")


def test_verify_passes_on_an_untouched_registry(registry: Registry) -> None:
    submit(registry, record(), record(ref="T-2", subject={"kind": "person", "id": PERSON_2}))
    registry.revoke("police.traffic", "T-2", "mistake")
    report = registry.verify()
    assert report.ok and report.ledger_entries == 3 and report.operator_entries > 0


@pytest.mark.parametrize(
    ("sql", "seq", "problem"),
    [
        ("UPDATE ledger SET amount = 999 WHERE seq = 2", 2, "content altered"),
        ("UPDATE ledger SET occurred_on = '2025-01-01' WHERE seq = 1", 1, "content altered"),
        (
            "UPDATE ledger SET recorded_at = '2020-01-01T00:00:00.000000Z' WHERE seq = 3",
            3,
            "chain broken",
        ),
        ("DELETE FROM ledger WHERE seq = 2", 2, "missing"),
        ("DELETE FROM ledger WHERE seq = 3", 3, "missing"),
        (
            "UPDATE subjects SET key = (CASE WHEN substr(key, 1, 1) = 'f' THEN 'e' ELSE 'f' END)"
            " || substr(key, 2) WHERE display LIKE '371082%'",
            2,
            "content altered",
        ),
    ],
)
def test_verify_names_the_first_altered_entry(
    registry: Registry, sql: str, seq: int, problem: str
) -> None:
    submit(
        registry,
        record(),
        record(ref="T-2", subject={"kind": "person", "id": PERSON_2}),
        record(ref="T-3", occurred_on="2025-08-01"),
    )
    tamper(registry, sql)
    report = registry.verify()
    assert not report.ok and report.problem is not None
    assert (report.problem.chain, report.problem.seq) == ("ledger", seq)
    assert problem in report.problem.problem


def test_verify_detects_a_changed_operator_action(registry: Registry) -> None:
    tamper(
        registry,
        "UPDATE operator_log SET detail = replace(detail, 'traffic', 'court') "
        "WHERE action = 'provider.add'",
    )
    report = registry.verify()
    assert report.problem is not None and report.problem.chain == "operator_log"


def test_operator_actions_are_logged_with_who_did_them(registry: Registry) -> None:
    registry.allow_legacy_code("91350203M0001QAY9B", "pilot code issued 2015", actor="alice")
    ((action, actor, detail),) = rows(
        registry, "SELECT action, actor, detail FROM operator_log WHERE action LIKE 'legacy%'"
    )
    assert (action, actor) == ("legacy_code.allow", "alice") and "pilot code" in detail
    with pytest.raises(RegistryError, match="reason"):
        registry.allow_legacy_code("91350203M0001QAY9B", " ")


def test_an_uninitialised_database_is_not_mistaken_for_a_registry(sqlite_url: str) -> None:
    with pytest.raises(RegistryError, match="scs init"):
        Registry.open(sqlite_url)


def test_the_wrong_secret_is_refused(
    sqlite_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    Registry.init(sqlite_url)
    other = tmp_path / "other.key"
    other.write_text("ab" * 32)
    monkeypatch.setenv("SCS_SECRET_FILE", str(other))
    with pytest.raises(RegistryError, match="does not belong to this database"):
        Registry.open(sqlite_url)


def test_init_twice_upgrades_in_place_and_keeps_everything(registry: Registry) -> None:
    submit(registry, record())
    again = Registry.init(registry.url.replace("***", ""), actor="test")
    assert again.counts()["records"] == 1 and again.verify().ok


def test_concurrent_writers_never_fork_the_chain(registry: Registry, db_url: str) -> None:
    """Two registries appending at once take turns batch by batch: one unbroken chain."""
    import threading

    def writer(name: str) -> None:
        other = Registry.open(db_url)
        validator = other.validator()
        for batch in range(5):
            other.append(
                [
                    validator.from_json(record(ref=f"{name}-{batch}-{i}", occurred_on="2025-06-02"))
                    for i in range(40)
                ]
            )

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = registry.verify()
    assert report.ok and report.ledger_entries == 400


def test_verify_reports_the_chain_heads_to_anchor_outside(registry: Registry) -> None:
    submit(registry, record())
    heads = registry.verify().heads
    seq, digest = heads["ledger"].split(":")
    assert seq == "1" and len(digest) == 64
    assert heads["operator_log"].split(":")[0] == str(registry.verify().operator_entries)


def test_an_operator_type_applies_to_exactly_the_kinds_given(registry: Registry) -> None:
    from socialcredit.catalog import make_record_type

    registry.add_record_type(
        make_record_type(
            "lease.default", "Defaulted on a lease", "contract", "negative", "organisation"
        )
    )
    assert registry.record_types()["lease.default"].kinds_text == "organisation"
    # the shipped catalog's word still includes public institutions
    assert registry.record_types()["wages.arrears_gt_6m"].kinds_text == ("institution,organisation")


def test_a_rewritten_history_is_caught_by_an_anchored_head(registry: Registry) -> None:
    """Rewrite an entry and recompute every hash after it: only an anchor can tell."""
    from socialcredit.chain import entry_hash
    from socialcredit.intake import content_digest, content_of

    submit(registry, record(), record(ref="T-2", occurred_on="2025-07-01"))
    anchor = {int(k): bytes.fromhex(v) for k, v in [registry.verify().heads["ledger"].split(":")]}
    tamper(registry, "UPDATE ledger SET amount = 1 WHERE seq = 1")
    with registry.engine.begin() as conn:  # the forger recomputes the whole chain
        head = bytes(32)
        for row in conn.execute(
            text(
                "SELECT l.*, s.kind AS subject_kind, s.key AS subject_key FROM ledger l "
                "JOIN subjects s ON s.id = l.subject_id ORDER BY seq"
            )
        ).mappings():
            digest = content_digest(row["subject_kind"], row["subject_key"], content_of(row))
            head = entry_hash(head, row["seq"], row["recorded_at"], digest)
            conn.execute(
                text("UPDATE ledger SET content_hash = :c, entry_hash = :e WHERE seq = :s"),
                {"c": digest, "e": head, "s": row["seq"]},
            )
        conn.execute(
            text("UPDATE chain_heads SET entry_hash = :e WHERE chain = 'ledger'"), {"e": head}
        )
    assert registry.verify().ok  # the forgery is self-consistent
    report = registry.verify(anchor)
    assert report.problem is not None and report.problem.seq == 2
    assert "rewritten" in report.problem.problem


def test_rows_are_stored_whole_whichever_values_are_null(registry: Registry) -> None:
    """``database.insert_rows`` leaves NULL columns out of the statement on SQLite (binding a
    None costs sqlite3 an adapter look-up); what is stored must be exactly the rows given."""
    from socialcredit.store.database import insert_rows

    columns = ("n", "label", "amount", "digest")
    given = [
        (1, "a", 1.5, bytearray(b"\x00\x01")),
        (2, None, 2.5, None),
        (3, "c", None, bytearray(b"\xff")),
        (4, None, None, None),
        (5, "e", 5.0, bytearray()),
        (6, None, 2.5, None),
        (None, None, None, None),
        (None, "h", None, None),
    ]
    with registry.engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE scratch (n INTEGER, label TEXT, amount FLOAT, digest BYTEA)")
        )
        insert_rows(conn, "scratch", columns, given)
        insert_rows(conn, "scratch", columns, [])
    stored = rows(
        registry,
        "SELECT n, label, amount, digest FROM scratch ORDER BY n IS NULL, n, label IS NOT NULL",
    )
    assert [
        (n, label, amount, None if d is None else bytes(d)) for n, label, amount, d in stored
    ] == [(n, label, amount, None if d is None else bytes(d)) for n, label, amount, d in given]


def test_a_batch_of_records_of_every_shape_lands_as_submitted(registry: Registry) -> None:
    """Records with and without their optional fields in one batch (stored shape by shape on
    SQLite) read back as submitted, and the chain over them verifies."""
    bare = {k: v for k, v in record().items() if k != "legal_basis"}
    batch = [
        {**bare, "ref": "shape-1"},
        record(ref="shape-2", act="act-2", evidence="court file 2", legal_basis="Art. 2"),
        record(ref="shape-3", reported_on="2025-07-05"),
        {**bare, "ref": "shape-4", "act": "act-4"},
        {**bare, "ref": "shape-5"},
    ]
    result = submit(registry, *batch)
    assert sorted(result.accepted) == [0, 1, 2, 3, 4]
    stored = {
        row.ref: row
        for row in rows(
            registry,
            "SELECT ref, act, evidence, legal_basis, reported_on FROM ledger "
            "WHERE ref LIKE 'shape-%'",
        )
    }
    assert stored["shape-2"].act == "act-2" and stored["shape-2"].evidence == "court file 2"
    assert stored["shape-2"].legal_basis == "Art. 2" and stored["shape-4"].act == "act-4"
    assert str(stored["shape-3"].reported_on) == "2025-07-05"
    assert stored["shape-1"].act is None and stored["shape-5"].evidence is None
    assert stored["shape-1"].legal_basis is None and stored["shape-3"].legal_basis is not None
    assert registry.verify().ok
