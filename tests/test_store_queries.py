"""Reading subjects back: the records that count, the whole history, one subject at a time."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.store import queries
from socialcredit.store.queries import (
    EntryStatus,
    Subject,
    read_file,
    read_records,
    stream_subjects,
)
from socialcredit.store.registry import Registry, SubjectNotFound
from tests.conftest import ORG, PERSON, PERSON_2, PERSON_15, record

PERSON_KIND = SubjectKind.PERSON
ORG_KIND = SubjectKind.ORGANISATION


def submit(registry: Registry, *records: dict[str, Any]) -> None:
    validator = registry.validator()
    result = registry.append([validator.from_json(r) for r in records])
    assert len(result.accepted) == len(records), result.rejected


def correct(registry: Registry, target: str, **fields: Any) -> None:
    registry.correct(target, registry.validator().from_json(record(**fields)), "amount was wrong")


def refs(registry: Registry, raw_id: str = PERSON, kind: SubjectKind = PERSON_KIND) -> list[str]:
    return [r.ref for r in registry.subject_records(kind, raw_id)]


def test_a_revoked_record_no_longer_counts(registry: Registry) -> None:
    submit(registry, record(), record(ref="T-0002", occurred_on="2025-07-01"))
    registry.revoke("police.traffic", "T-0001", "wrong plate number")
    assert refs(registry) == ["T-0002"]


def test_a_correction_counts_in_place_of_the_original(registry: Registry) -> None:
    submit(registry, record())
    correct(registry, "T-0001", ref="T-0001-c1", amount=150)
    (only,) = registry.subject_records(PERSON_KIND, PERSON)
    assert (only.ref, only.amount) == ("T-0001-c1", 150)


def test_only_the_last_of_a_chain_of_corrections_counts(registry: Registry) -> None:
    submit(registry, record())
    correct(registry, "T-0001", ref="T-0001-c1", amount=150)
    correct(registry, "T-0001-c1", ref="T-0001-c2", amount=100)
    assert refs(registry) == ["T-0001-c2"]
    registry.revoke("police.traffic", "T-0001-c2", "withdrawn altogether")
    assert refs(registry) == []


def test_records_come_back_as_the_engine_needs_them_without_the_resident_number(
    registry: Registry,
) -> None:
    submit(registry, record(subject={"kind": "person", "id": PERSON, "name": "Li Lei"}))
    (back,) = registry.subject_records(PERSON_KIND, PERSON_15)  # the old number finds it too
    assert back.subject.id == "110105********002X" and back.subject.name == "Li Lei"
    assert (back.type, back.occurred_on, back.amount) == (
        "traffic.fine_le_500",
        date(2025, 6, 1),
        200,
    )
    assert back.legal_basis == "Road Traffic Safety Law art. 90"


def test_the_history_shows_every_entry_with_what_became_of_it(registry: Registry) -> None:
    submit(registry, record(), record(ref="T-0002", occurred_on="2025-07-01"))
    registry.revoke("police.traffic", "T-0002", "wrong plate number", own_ref="R-1")
    correct(registry, "T-0001", ref="T-0001-c1", amount=150)
    history = {h.ref: h for h in registry.subject_history(PERSON_KIND, PERSON)}
    assert [h.status for h in history.values()] == [
        EntryStatus.CORRECTED,
        EntryStatus.REVOKED,
        EntryStatus.CURRENT,
        EntryStatus.CURRENT,
    ]
    assert history["T-0002"].describe() == "revoked by R-1 on 2026-11-23: wrong plate number"
    assert history["T-0001"].describe().startswith("corrected by T-0001-c1 on 2026-11-23")
    assert (history["R-1"].kind, history["R-1"].amends) == ("revocation", "T-0002")
    assert (history["T-0001-c1"].amends, history["T-0001-c1"].reason) == (
        "T-0001",
        "amount was wrong",
    )


def test_one_subjects_records_never_appear_in_anothers(registry: Registry) -> None:
    submit(
        registry,
        record(),
        record(ref="T-0002", subject={"kind": "person", "id": PERSON_2}),
        record(
            provider="market.weihai",
            ref="M-1",
            type="permit.unlicensed",
            subject={"kind": "organisation", "id": ORG},
        ),
    )
    assert refs(registry) == ["T-0001"]
    assert refs(registry, PERSON_2) == ["T-0002"]
    assert refs(registry, ORG, SubjectKind.ORGANISATION) == ["M-1"]
    assert [h.ref for h in registry.subject_history(PERSON_KIND, PERSON_2)] == ["T-0002"]


def test_a_record_corrected_onto_the_right_person_leaves_the_wrong_one(
    registry: Registry,
) -> None:
    submit(registry, record())
    correct(registry, "T-0001", ref="T-0001-c1", subject={"kind": "person", "id": PERSON_2})
    assert refs(registry) == []
    assert refs(registry, PERSON_2) == ["T-0001-c1"]
    (moved,) = registry.subject_history(PERSON_KIND, PERSON)
    assert moved.status is EntryStatus.CORRECTED and moved.amended_by == "T-0001-c1"


def test_a_repair_relating_to_a_corrected_listing_finds_its_correction(
    registry: Registry,
) -> None:
    debtor = {"provider": "court.rongcheng", "legal_basis": "Civil Procedure Law art. 255"}
    submit(registry, record(ref="D-1", type="court.dishonest_debtor", **debtor))
    correct(registry, "D-1", ref="D-1-c1", type="court.dishonest_debtor", **debtor)
    submit(
        registry,
        record(
            ref="P-1",
            type="court.judgment_performed",
            occurred_on="2026-01-10",
            relates_to="D-1",
            **debtor,
        ),
    )
    (performed,) = [r for r in registry.subject_records(PERSON_KIND, PERSON) if r.ref == "P-1"]
    assert performed.relates_to == "D-1-c1"
    result = registry.evaluate(PERSON_KIND, PERSON, "rongcheng")
    assert "court_dishonest_debtors" not in result.lists
    assert [c.status.value for c in result.contributions if c.ref == "D-1-c1"] == ["repaired"]


def test_a_subject_no_record_names_has_no_file(registry: Registry) -> None:
    with pytest.raises(SubjectNotFound, match=r"person 110105\*\*\*\*\*\*\*\*002X"):
        registry.subject_records(PERSON_KIND, PERSON)


def test_a_subjects_file_is_read_with_one_query_on_the_subject_index(
    registry: Registry,
) -> None:
    submit(registry, record(), record(ref="T-0002", occurred_on="2025-07-01"))
    registry.revoke("police.traffic", "T-0002", "wrong plate number")
    found = registry.find_subject(PERSON_KIND, PERSON)
    assert found is not None
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's explicit BEGIN
            statements.append(statement)

    event.listen(registry.engine, "before_cursor_execute", seen)
    try:
        with registry.engine.connect() as conn:
            file = read_file(conn, found.id)
    finally:
        event.remove(registry.engine, "before_cursor_execute", seen)
    assert [r.ref for r in file.records] == ["T-0001"] and len(file.history) == 3
    assert len(statements) == 1
    if registry.engine.dialect.name == "sqlite":
        with registry.engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statements[0], (found.id,))
            )
        assert "ix_ledger_subject" in plan and "ix_ledger_amends" in plan


def test_streaming_gives_each_subject_once_with_only_its_own_entries(
    registry: Registry,
) -> None:
    submit(
        registry,
        record(),
        record(ref="T-0002", subject={"kind": "person", "id": PERSON_2}),
        record(ref="T-0003", occurred_on="2025-08-01"),
    )
    with registry.engine.connect() as conn:
        streamed = [
            (subject.display, [e.ref for e in entries])
            for subject, entries in stream_subjects(conn, batch=1)
        ]
    assert sorted(streamed) == [
        ("110105********002X", ["T-0001", "T-0003"]),
        ("371082********1239", ["T-0002"]),
    ]


def test_read_records_gives_what_counts_for_each_subject_asked_for(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Corrections (of corrections), a revocation, a repair relating to a corrected listing,
    a subject named by a later record, amounts, quantities and dates, on both stores, against
    records written out by hand."""
    court = {"provider": "court.rongcheng", "legal_basis": "Civil Procedure Law art. 255"}
    debtor = {"type": "court.dishonest_debtor", **court}
    lee = {"kind": "person", "id": PERSON, "name": "Li Lei"}
    submit(
        registry,
        record(),  # creates the subject without a name
        record(ref="T-0002", subject=lee, occurred_on="2025-07-01", reported_on="2025-07-03"),
        record(ref="T-0003", occurred_on="2025-08-01"),
        record(
            ref="T-0004", subject={"kind": "person", "id": PERSON_2}, evidence="photo 7", quantity=2
        ),
        record(
            provider="market.weihai",
            ref="M-1",
            type="permit.unlicensed",
            subject={"kind": "organisation", "id": ORG},
            amount=5000.5,
        ),
        record(ref="D-1", **debtor),
    )
    correct(registry, "T-0001", ref="T-0001-c1", amount=150)
    correct(registry, "T-0001-c1", ref="T-0001-c2", amount=100)
    registry.revoke("police.traffic", "T-0003", "wrong plate number")
    correct(registry, "D-1", ref="D-1-c1", **debtor)
    correct(registry, "D-1-c1", ref="D-1-c2", occurred_on="2025-05-30", **debtor)
    performed = {"type": "court.judgment_performed", "occurred_on": "2026-01-10", **court}
    submit(registry, record(ref="P-1", relates_to="D-1", **performed))

    ids = {}
    for kind, number in ((PERSON_KIND, PERSON), (PERSON_KIND, PERSON_2), (ORG_KIND, ORG)):
        found = registry.find_subject(kind, number)
        assert found is not None
        ids[number] = found.id
    lei = SubjectRef(PERSON_KIND, "110105********002X", "Li Lei")
    traffic = {"provider": "police.traffic", "type": "traffic.fine_le_500"}
    basis = "Road Traffic Safety Law art. 90"
    expected = {
        ids[PERSON]: (
            Subject(ids[PERSON], PERSON_KIND, lei.id, "Li Lei"),
            [
                Record(
                    **traffic,
                    ref="T-0002",
                    subject=lei,
                    occurred_on=date(2025, 7, 1),
                    reported_on=date(2025, 7, 3),
                    amount=200.0,
                    legal_basis=basis,
                ),
                Record(
                    **traffic,
                    ref="T-0001-c2",
                    subject=lei,
                    occurred_on=date(2025, 6, 1),
                    amount=100.0,
                    legal_basis=basis,
                ),
                Record(
                    **debtor, ref="D-1-c2", subject=lei, occurred_on=date(2025, 5, 30), amount=200.0
                ),
                Record(
                    **performed | {"occurred_on": date(2026, 1, 10)},
                    ref="P-1",
                    subject=lei,
                    amount=200.0,
                    relates_to="D-1-c2",
                ),
            ],
        ),
        ids[PERSON_2]: (
            Subject(ids[PERSON_2], PERSON_KIND, "371082********1239", None),
            [
                Record(
                    **traffic,
                    ref="T-0004",
                    subject=SubjectRef(PERSON_KIND, "371082********1239"),
                    occurred_on=date(2025, 6, 1),
                    amount=200.0,
                    evidence="photo 7",
                    quantity=2.0,
                    legal_basis=basis,
                ),
            ],
        ),
        ids[ORG]: (
            Subject(ids[ORG], ORG_KIND, ORG, None),
            [
                Record(
                    "market.weihai",
                    "M-1",
                    SubjectRef(ORG_KIND, ORG),
                    "permit.unlicensed",
                    date(2025, 6, 1),
                    amount=5000.5,
                    legal_basis=basis,
                ),
            ],
        ),
    }
    asked = [ids[ORG], 10**9, ids[PERSON], ids[PERSON], ids[PERSON_2]]  # one has no file
    with registry.engine.connect() as conn:
        found = read_records(conn, asked)
        monkeypatch.setattr(queries, "LOOKUP_CHUNK", 2)
        chunked = read_records(conn, asked)
    assert found == expected and chunked == expected
    assert list(found) == [ids[PERSON], ids[PERSON_2], ids[ORG]]  # by first entry, as before
    for _, records in found.values():
        for r in records:
            assert type(r.occurred_on) is date and type(r.amount) is float
            assert r.reported_on is None or type(r.reported_on) is date
            assert r.quantity is None or type(r.quantity) is float
