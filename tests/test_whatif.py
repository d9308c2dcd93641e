"""What-if and the dashboard's counts, on both stores: counts only, never a subject."""

from __future__ import annotations

from socialcredit.engines import load_bulk
from socialcredit.rulebook import parse_rulebook, shipped_text
from socialcredit.store import stats
from socialcredit.store.registry import Registry
from socialcredit.whatif import compare
from tests.conftest import ORG, PERSON_2, TODAY, record

DEBTOR = record(
    provider="court.rongcheng",
    ref="D-1",
    type="court.dishonest_debtor",
    occurred_on="2026-01-10",
    legal_basis="Civil Procedure Law art. 255",
)
RECORDS = [
    DEBTOR,
    record(),
    record(ref="T-2", subject={"kind": "person", "id": PERSON_2}),
    record(
        provider="market.weihai",
        ref="M-1",
        type="penalty.fine_low",
        subject={"kind": "organisation", "id": ORG, "name": "Example Co."},
        occurred_on="2026-02-01",
    ),
]


def filled(registry: Registry) -> Registry:
    validator = registry.validator()
    registry.append([validator.from_json(r) for r in RECORDS])
    return registry


def lower_base(base: int) -> str:
    text = shipped_text("rongcheng")
    assert "base = 1000" in text and 'version = "1.0.0"' in text
    return text.replace("base = 1000", f"base = {base}", 1).replace(
        'version = "1.0.0"', 'version = "1.1.0"', 1
    )


def test_what_if_counts_every_subject_once_and_the_moves_between_grades(
    registry: Registry,
) -> None:
    filled(registry)
    current = registry.rulebook("rongcheng")
    candidate = parse_rulebook(lower_base(850))
    answer = compare(registry.engine, current, candidate, TODAY)
    assert answer.subjects == 3  # two persons and one organisation
    assert sum(answer.before.values()) == sum(answer.after.values()) == 3
    assert sum(answer.moves.values()) == 3
    assert answer.moves["D", "D"] == 1  # the listed debtor stays D: a direct grade
    assert answer.changed == 2  # the others start 150 points lower
    assert answer.lists_before["court_dishonest_debtors"] == 1
    assert answer.to_json()["moves"] == [
        {"from": old, "to": new, "subjects": n} for (old, new), n in sorted(answer.moves.items())
    ]


def test_what_if_gives_the_same_counts_with_the_bulk_engine(registry: Registry) -> None:
    filled(registry)
    current = registry.rulebook("rongcheng")
    candidate = parse_rulebook(lower_base(900))
    one_by_one = compare(registry.engine, current, candidate, TODAY)
    bulk = compare(registry.engine, current, candidate, TODAY, load_bulk())
    assert bulk.to_json() == one_by_one.to_json()


def test_the_dashboard_counts_arrivals_snapshots_and_versions(registry: Registry) -> None:
    filled(registry)
    with registry.engine.connect() as conn:
        arrivals = {a.provider: (a.total, a.recent) for a in stats.arrivals(conn, TODAY)}
        assert stats.latest_snapshot(conn, "rongcheng", "1.0.0") is None
        assert stats.versions(conn) == []
        assert stats.waiting(conn) == []
    assert arrivals == {
        "police.traffic": (2, 2),
        "court.rongcheng": (1, 1),
        "market.weihai": (1, 1),
    }
    registry.rescore("rongcheng", as_of=TODAY)
    registry.activate_rulebook("rongcheng")
    with registry.engine.connect() as conn:
        snapshot = stats.latest_snapshot(conn, "rongcheng", "1.0.0")
        versions = stats.versions(conn)
    assert snapshot is not None and snapshot.subjects == 3 and snapshot.as_of == TODAY
    assert snapshot.grades["D"] == 1 and snapshot.lists["court_dishonest_debtors"] == 1
    assert [(v.name, v.version, v.active) for v in versions] == [("rongcheng", "1.0.0", True)]
