"""The audit log's subject index, built in sorted generations (``store.audit_index``).

A subject's access log must show every read of that subject exactly once, whether the read is
in a complete generation, in one being built, or in the tail after them; and ``scs verify``
must find an index that no longer matches the log, since a pair removed would hide a read.
"""

from __future__ import annotations

import itertools
import time
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from socialcredit.store import audit, audit_index
from socialcredit.store.registry import Registry
from socialcredit.store.schema import audit_generations, audit_log, audit_subjects, subjects
from tests.conftest import new_registry
from tests.test_keys import sealed_log

LONG_AGO = date(2000, 1, 1)


def seen(registry: Registry, subject: int, since: date = LONG_AGO) -> list[int]:
    with registry.engine.connect() as conn:
        return [entry.seq for entry in audit.for_subject(conn, subject, since)]


def expected(registry: Registry, subject: int) -> list[int]:
    """The slow way: every entry of the log about ``subject``, newest first."""
    with registry.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.seq)
            .where(audit_log.c.subject_id == subject)
            .order_by(audit_log.c.seq.desc())
        )
        return [int(seq) for seq in rows.scalars()]


def generations(registry: Registry) -> list[tuple[int, int, int, bool]]:
    g = audit_generations.c
    with registry.engine.connect() as conn:
        rows = conn.execute(select(g.gen, g.first_seq, g.last_seq, g.complete).order_by(g.gen))
        return [(int(a), int(b), int(c), bool(d)) for a, b, c, d in rows]


def pairs(registry: Registry, gen: int) -> list[tuple[int, int]]:
    s = audit_subjects.c
    with registry.engine.connect() as conn:
        rows = conn.execute(select(s.subject_id, s.seq).where(s.gen == gen))
        return sorted((int(a), int(b)) for a, b in rows)


def test_the_access_log_reads_generations_and_the_tail(registry: Registry) -> None:
    """Before any generation, across two and after both, each subject sees each of its reads
    exactly once; the pairs of a generation are its span's, sorted by subject."""
    ids = sealed_log(registry)  # entries 1-8: ids[0] at 1, 2; ids[1] at 4, 5, 7, 8
    assert seen(registry, ids[0]) == [2, 1] and seen(registry, ids[1]) == [8, 7, 5, 4]
    assert audit_index.build(registry.engine) == 0  # a tail of 8 is far below AT_LEAST
    assert audit_index.build(registry.engine, at_least=1, most=5, slice_rows=1) == 5
    assert generations(registry) == [(1, 1, 5, True)]
    assert pairs(registry, 1) == [(ids[0], 1), (ids[0], 2), (ids[1], 4), (ids[1], 5)]
    assert seen(registry, ids[0]) == [2, 1] and seen(registry, ids[1]) == [8, 7, 5, 4]
    assert audit_index.build(registry.engine, at_least=4) == 0  # the tail is 3 entries
    assert audit_index.build_all(registry.engine) == 3
    assert generations(registry) == [(1, 1, 5, True), (2, 6, 8, True)]
    assert pairs(registry, 2) == [(ids[1], 7), (ids[1], 8)]
    assert seen(registry, ids[0]) == [2, 1] and seen(registry, ids[1]) == [8, 7, 5, 4]
    assert audit_index.build_all(registry.engine) == 0
    report = registry.verify()
    assert report.ok and report.audit_entries == 8, report.problem


def test_a_window_skips_generations_wholly_before_it(registry: Registry) -> None:
    """The access log covers the last twelve months: generations that ended before the window
    are not read, and entries of a generation that straddles it are cut by their own time."""
    ids = sealed_log(registry)
    audit_index.build_all(registry.engine)
    with registry.writer.begin() as conn:
        conn.execute(text("UPDATE audit_log SET recorded_at = '2024-01-01T00Z' WHERE seq = 1"))
    assert seen(registry, ids[0], date(2025, 1, 1)) == [2]
    with registry.writer.begin() as conn:
        conn.execute(text("UPDATE audit_generations SET last_at = '2024-01-01T00:00:00Z'"))
    assert seen(registry, ids[0], date(2025, 1, 1)) == []  # the generation says it ended then
    assert seen(registry, ids[0], date(2023, 1, 1)) == [2, 1]


def test_a_builder_stopped_halfway_hides_nothing_and_the_next_finishes(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a generation lands in slices. A builder killed after some of them leaves a
    planned generation whose rows nobody reads; the next builder resumes it on the same span
    and appends each pair once."""
    registry = new_registry(sqlite_url)
    ids = sealed_log(registry)
    real = audit_index._in_transaction
    calls = {"n": 0}

    def dies_on_the_third(cursor: Any, step: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # the plan, the first slice, then the crash
            raise KeyboardInterrupt
        return real(cursor, step)

    monkeypatch.setattr(audit_index, "_in_transaction", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        audit_index.build(registry.engine, at_least=1, slice_rows=2)
    monkeypatch.setattr(audit_index, "_in_transaction", real)
    assert generations(registry) == [(1, 1, 8, False)]
    assert len(pairs(registry, 1)) == 2  # one slice landed
    assert seen(registry, ids[0]) == [2, 1] and seen(registry, ids[1]) == [8, 7, 5, 4]
    assert registry.verify().ok
    with registry.writer.begin() as conn:  # entries that arrived meanwhile: the next span
        late = audit.Readings("k", "consumer", "check", "rental", [(ids[0], "x")])
        audit.append_many(conn, [late])
    assert audit_index.build(registry.engine, at_least=100, slice_rows=2) == 8  # resumed
    assert generations(registry) == [(1, 1, 8, True)]
    assert len(pairs(registry, 1)) == 6
    assert seen(registry, ids[0]) == [9, 2, 1] and seen(registry, ids[1]) == [8, 7, 5, 4]
    assert audit_index.build_all(registry.engine) == 1
    report = registry.verify()
    assert report.ok and report.audit_entries == 9, report.problem


@pytest.mark.parametrize(
    ("tamper", "found_at", "problem"),
    [
        ("DELETE FROM audit_subjects WHERE seq = 4", 4, "missing from the subject index"),
        ("UPDATE audit_subjects SET subject_id = subject_id + 1 WHERE seq = 2", 2, "missing"),
        ("INSERT INTO audit_subjects (gen, subject_id, seq) VALUES (1, 1, 3)", 3, "did not read"),
        ("INSERT INTO audit_subjects (gen, subject_id, seq) VALUES (2, 1, 1)", 1, "did not read"),
        ("UPDATE audit_generations SET last_seq = 9 WHERE gen = 2", 9, "holds entries up to 9"),
        ("UPDATE audit_generations SET first_seq = 5 WHERE gen = 2", 6, "not from 6 on"),
        ("DELETE FROM audit_generations WHERE gen = 1", 1, "not from 1 on"),
        ("UPDATE audit_generations SET complete = FALSE WHERE gen = 1", 1, "not from 1 on"),
        ("UPDATE audit_generations SET last_at = '2001-01-01' WHERE gen = 2", 8, "skip"),
    ],
)
def test_an_altered_subject_index_is_found_by_verify(
    registry: Registry, tamper: str, found_at: int, problem: str
) -> None:
    """The index is derived from the chained entries, so it is not chained itself: ``verify``
    compares it with them, pair for pair and generation for generation."""
    sealed_log(registry)
    audit_index.build(registry.engine, at_least=1, most=5)
    audit_index.build(registry.engine, at_least=1)
    with registry.engine.begin() as conn:
        conn.execute(text(tamper))
    report = registry.verify()
    assert not report.ok and report.problem is not None
    assert (report.problem.chain, report.problem.seq) == ("audit_log", found_at)
    assert problem in report.problem.problem


def test_migration_0006_moves_the_audit_subjects_into_generation_one(db_url: str) -> None:
    """A log written before revision 0006 keeps every subject's reads: its pairs become the
    first generation, complete, and the old index goes (and comes back on a downgrade)."""
    from alembic import command
    from sqlalchemy import inspect

    from socialcredit.store import database

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
                    "recorded_at": f"2026-01-0{seq}T00:00:00.000000Z",
                    "entry_hash": b"",
                }
                for seq, subject in ((1, 2), (2, None), (3, 1), (4, 2))
            ],
        )
    assert "ix_audit_log_subject" in {i["name"] for i in inspect(engine).get_indexes("audit_log")}
    command.upgrade(database.alembic_config(engine), "0006")
    g, s = audit_generations.c, audit_subjects.c
    with engine.connect() as conn:
        gens = conn.execute(select(g.gen, g.first_seq, g.last_seq, g.last_at, g.complete)).all()
        held = conn.execute(select(s.gen, s.subject_id, s.seq)).all()
    assert [tuple(row) for row in gens] == [(1, 1, 4, "2026-01-04T00:00:00.000000Z", True)]
    assert sorted(tuple(map(int, row)) for row in held) == [(1, 1, 3), (1, 2, 1), (1, 2, 4)]
    assert "ix_audit_log_subject" not in {
        i["name"] for i in inspect(engine).get_indexes("audit_log")
    }
    command.downgrade(database.alembic_config(engine), "0005")
    assert "audit_subjects" not in inspect(engine).get_table_names()
    assert "ix_audit_log_subject" in {i["name"] for i in inspect(engine).get_indexes("audit_log")}


def test_migration_0006_of_an_empty_log_plans_nothing(sqlite_url: str) -> None:
    registry = Registry.init(sqlite_url, actor="test")
    assert generations(registry) == []
    assert registry.verify().ok


# -- any sequence of appends and builds -----------------------------------------------------------
POOL = 6

step = st.one_of(
    st.tuples(
        st.just("append"),
        st.lists(
            st.lists(st.one_of(st.none(), st.integers(1, POOL)), min_size=1, max_size=7),
            min_size=1,
            max_size=3,
        ),
    ),
    st.tuples(
        st.just("build"),
        st.tuples(
            st.integers(1, 6),
            st.integers(1, 12),
            st.integers(1, 5),
            st.one_of(
                st.none(),
                st.builds(
                    audit_index.Merging,
                    fan_in=st.integers(2, 4),
                    base=st.integers(1, 4),
                    most=st.integers(4, 60),
                ),
            ),
        ),
    ),
    st.tuples(st.just("purge"), st.integers(1, 5)),
)


@pytest.fixture
def pooled(registry: Registry) -> Registry:
    """A registry with ``POOL`` subjects (ids 1 to ``POOL``) to read."""
    with registry.writer.begin() as conn:
        conn.execute(
            subjects.insert(),
            [
                {"id": n, "kind": "person", "key": f"{n:064x}", "display": "1101**"}
                for n in range(1, POOL + 1)
            ],
        )
    return registry


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_any_appends_and_builds_show_each_read_once(
    pooled: Registry, steps: list[tuple[str, Any]]
) -> None:
    """Whatever appends (groups of reads, with and without a subject), builds (of any
    threshold, span and slice, merging or not) and purges happen in any order, every
    subject's access log equals the log read the slow way, and the registry verifies. The
    registry is shared by the examples, so later examples start from a longer log and more
    generations."""
    for kind, arg in steps:
        if kind == "append":
            groups = [
                audit.Readings("k", "consumer", "check", "rental", [(s, "r") for s in reads])
                for reads in arg
            ]
            with pooled.writer.begin() as conn:
                audit.append_many(conn, groups)
        elif kind == "purge":
            audit_index.purge(pooled.engine, slice_rows=arg)
        else:
            at_least, most, slice_rows, merging = arg
            audit_index.build(
                pooled.engine,
                at_least=at_least,
                most=most,
                slice_rows=slice_rows,
                merging=merging,
            )
        for subject in range(1, POOL + 1):
            assert seen(pooled, subject) == expected(pooled, subject)
    report = pooled.verify()
    assert report.ok, report.problem


def test_the_server_builds_generations_as_the_tail_grows(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server's indexing thread builds a generation once the tail holds ``AT_LEAST``
    entries, and stops when the server does."""
    from socialcredit.api.audit_indexing import Indexer

    ids = sealed_log(registry)
    indexer = Indexer(registry.engine, at_least=4, every=0.02)
    indexer.start()
    try:
        deadline = time.monotonic() + 10
        while not generations(registry) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        indexer.stop()
    assert generations(registry) == [(1, 1, 8, True)]
    assert not indexer.running
    assert seen(registry, ids[1]) == [8, 7, 5, 4]


def test_scs_audit_index_builds_what_is_left(registry: Registry, db_url: str) -> None:
    from typer.testing import CliRunner

    from socialcredit.cli import app

    sealed_log(registry)
    result = CliRunner().invoke(app, ["audit", "index", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert '"indexed": 8' in result.output
    assert generations(registry) == [(1, 1, 8, True)]


def test_metrics_count_the_entries_not_yet_indexed(registry: Registry) -> None:
    """``scs_audit_unindexed_entries``: what the access log still reads from the log itself,
    back to 0 once indexed. The server's lifespan runs, with its indexer stopped after."""
    from fastapi.testclient import TestClient

    from socialcredit.api.app import create_app

    sealed_log(registry)
    app = create_app(registry)
    with TestClient(app) as client:
        assert app.state.audit_indexer.running
        assert "scs_audit_unindexed_entries 8.0" in client.get("/metrics").text
        audit_index.build_all(registry.engine)
        scraped = client.get("/metrics").text
        assert "scs_audit_unindexed_entries 0.0" in scraped
        assert "scs_audit_generations 1.0" in scraped
    assert not app.state.audit_indexer.running


def test_two_builders_at_once_build_each_generation_once(registry: Registry) -> None:
    """Two servers on one database each run an indexer: planning is one writer transaction
    (SQLite) or takes a table lock (PostgreSQL), and a generation resumed by both appends
    each pair once."""
    import threading

    ids = sealed_log(registry)
    for _ in range(30):  # 8 + 30 * 12 entries
        with registry.writer.begin() as conn:
            reads = [(ids[n % 2], "r") for n in range(12)]
            audit.append_many(conn, [audit.Readings("k", "consumer", "check", "rental", reads)])
    errors: list[BaseException] = []

    def builder() -> None:
        try:
            while audit_index.build(registry.engine, at_least=1, most=50, slice_rows=7):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=builder) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    spans = [(first, last) for _, first, last, complete in generations(registry) if complete]
    assert spans[0][0] == 1 and spans[-1][1] == 368
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
    assert seen(registry, ids[1]) == expected(registry, ids[1])
    report = registry.verify()
    assert report.ok and report.audit_entries == 368, report.problem


# -- merging generations ------------------------------------------------------------------------
SMALL = audit_index.Merging(fan_in=3, base=1, most=100)


def small_generations(registry: Registry, count: int, size: int = 2) -> list[int]:
    """``count`` generations of ``size`` entries each over a fresh log of reads of two
    subjects, built without merging; the subjects' ids."""
    ids = sealed_log(registry)  # 8 entries
    for _ in range(count * size):
        with registry.writer.begin() as conn:
            reads = [(ids[0], "r")]
            audit.append_many(conn, [audit.Readings("k", "consumer", "check", "rental", reads)])
    while audit_index.build(registry.engine, at_least=size, most=size, merging=None):
        pass
    return ids


def live(registry: Registry) -> list[tuple[int, int]]:
    g = audit_generations.c
    with registry.engine.connect() as conn:
        rows = conn.execute(
            select(g.first_seq, g.last_seq)
            .where(g.complete, g.retired.is_(False))
            .order_by(g.first_seq)
        )
        return [(int(a), int(b)) for a, b in rows]


def test_a_run_of_generations_is_merged_into_one_over_their_span(registry: Registry) -> None:
    """Three generations of one size class become one over their span; they are retired in
    the transaction that completes it, then purged, and every read is shown once throughout."""
    ids = small_generations(registry, 4)  # 4 + 8 / 2 = 8 generations of 2 entries
    assert live(registry) == [(n, n + 1) for n in range(1, 17, 2)]
    assert audit_index.build(registry.engine, at_least=1000, merging=SMALL) == 6
    assert live(registry)[:2] == [(1, 6), (7, 8)]
    with registry.engine.connect() as conn:
        retired = conn.execute(
            select(audit_generations.c.gen).where(audit_generations.c.retired)
        ).all()
    assert len(retired) == 3
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    assert registry.verify().ok
    # Next: the following three (size class 0) into one; then (1-6) and (7-12) are in class 1
    # and (13-14), (15-16) in class 0, fewer than three of each: nothing more to merge.
    assert audit_index.build(registry.engine, at_least=1000, merging=SMALL) == 6
    assert audit_index.build(registry.engine, at_least=1000, merging=SMALL) == 0
    assert live(registry) == [(1, 6), (7, 12), (13, 14), (15, 16)]
    assert audit_index.purge(registry.engine, slice_rows=1) == 10  # the six retired ones' pairs
    with registry.engine.connect() as conn:
        left = conn.execute(select(audit_generations.c.gen)).all()
        pairs_left = conn.execute(text("SELECT count(*) FROM audit_subjects")).scalar_one()
    assert len(left) == 4 and pairs_left == 14  # entries 3 and 6 read no subject
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    report = registry.verify()
    assert report.ok and report.audit_entries == 16, report.problem


def test_merge_span_picks_the_oldest_run_of_one_size_class() -> None:
    merging = audit_index.Merging(fan_in=3, base=10, most=100)

    def gens(*sizes: int) -> list[tuple[int, int, int]]:
        out, first = [], 1
        for gen, size in enumerate(sizes, 1):
            out.append((gen, first, first + size - 1))
            first += size
        return out

    assert audit_index.merge_span(gens(10, 10), merging) is None  # too few
    assert audit_index.merge_span(gens(10, 20, 29), merging) == (1, 59)  # all under 30
    assert audit_index.merge_span(gens(30, 10, 10, 10), merging) == (31, 60)  # not the 30
    assert audit_index.merge_span(gens(10, 30, 10, 10), merging) is None  # not in a row
    assert audit_index.merge_span(gens(30, 30, 30), merging) == (1, 90)  # class 1 too
    assert audit_index.merge_span(gens(40, 40, 40), merging) is None  # 120 > most
    assert audit_index.merge_span(gens(40, 40, 40, 10, 10, 10), merging) == (121, 150)


def test_a_merge_stopped_halfway_hides_nothing_and_the_next_builder_finishes_it(
    sqlite_url: str,
) -> None:
    import threading

    registry = new_registry(sqlite_url)
    ids = small_generations(registry, 2)  # 6 generations of 2 entries
    stop = threading.Event()
    real = audit_index._in_transaction
    calls = {"n": 0}

    def stops_after_a_slice(cursor: Any, step: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the plan, then the server shuts down during the first slice
            stop.set()
        return real(cursor, step)

    audit_index._in_transaction = stops_after_a_slice  # type: ignore[assignment]
    try:
        assert (
            audit_index.build(
                registry.engine, at_least=1000, slice_rows=2, stop=stop, merging=SMALL
            )
            == 0
        )
    finally:
        audit_index._in_transaction = real  # type: ignore[assignment]
    merged = [g for g in generations(registry) if not g[3]]
    assert [(first, last) for _, first, last, _ in merged] == [(1, 6)]  # planned, not complete
    assert live(registry) == [(n, n + 1) for n in range(1, 13, 2)]  # still the six
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    assert registry.verify().ok
    # A tail to index comes first, then the merge is resumed where it stopped.
    with registry.writer.begin() as conn:
        audit.append_many(
            conn, [audit.Readings("k", "consumer", "check", "rental", [(ids[1], "r")] * 3)]
        )
    assert audit_index.build(registry.engine, at_least=3, merging=SMALL) == 3
    assert live(registry)[-1] == (13, 15)
    assert audit_index.build(registry.engine, at_least=3, merging=SMALL) == 6
    assert live(registry)[:2] == [(1, 6), (7, 8)]
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    report = registry.verify()
    assert report.ok, report.problem


@pytest.mark.parametrize(
    ("tamper", "found_at", "problem"),
    [
        # a live generation marked retired: its entries are no longer read by anyone
        ("UPDATE audit_generations SET retired = TRUE WHERE last_seq = 8", 7, "not from 7 on"),
        # a retired one brought back before its pairs are purged: read twice
        ("UPDATE audit_generations SET retired = FALSE WHERE retired", 3, "not from 3 on"),
    ],
)
def test_a_tampered_merge_is_found_by_verify(
    registry: Registry, tamper: str, found_at: int, problem: str
) -> None:
    small_generations(registry, 1)  # 5 generations of 2 entries
    assert audit_index.build(registry.engine, at_least=1000, merging=SMALL) == 6
    with registry.engine.begin() as conn:
        conn.execute(text(tamper))
    report = registry.verify()
    assert not report.ok and report.problem is not None
    assert report.problem.seq == found_at and problem in report.problem.problem


def test_migration_0007_downgrade_leaves_one_generation_over_the_log(sqlite_url: str) -> None:
    from alembic import command

    from socialcredit.store import database

    registry = new_registry(sqlite_url)
    ids = small_generations(registry, 2)
    audit_index.build(registry.engine, at_least=1000, merging=SMALL)
    command.downgrade(database.alembic_config(registry.engine), "0006")
    with registry.engine.connect() as conn:
        gens = conn.execute(
            text("SELECT gen, first_seq, last_seq, complete FROM audit_generations")
        )
        assert [tuple(row) for row in gens] == [(1, 1, 12, 1)]
    command.upgrade(database.alembic_config(registry.engine), "head")
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    assert registry.verify().ok


def test_a_purge_stopped_halfway_hides_nothing_and_the_next_finishes_it(
    sqlite_url: str,
) -> None:
    """Retired generations are read by nobody, so a purge stopped between two slices (the
    server shutting down) leaves nothing to see; the next purge deletes the rest."""
    import threading

    from sqlalchemy import event

    registry = new_registry(sqlite_url)
    ids = small_generations(registry, 1)  # 5 generations of 2 entries
    assert audit_index.build(registry.engine, at_least=1000, merging=SMALL) == 6
    stop = threading.Event()

    def shut_down(_conn: Any) -> None:
        stop.set()

    event.listen(registry.engine, "commit", shut_down)
    try:
        assert audit_index.purge(registry.engine, slice_rows=1, stop=stop) == 1  # one slice
    finally:
        event.remove(registry.engine, "commit", shut_down)

    def retired() -> int:
        with registry.engine.connect() as conn:
            query = text("SELECT count(*) FROM audit_generations WHERE retired")
            return int(conn.execute(query).scalar_one())

    assert retired() == 3
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    assert registry.verify().ok
    assert audit_index.purge(registry.engine, slice_rows=1) == 3  # entries 1-6 held 4 pairs
    assert retired() == 0
    for subject in ids:
        assert seen(registry, subject) == expected(registry, subject)
    assert registry.verify().ok
