"""The audit log's subject index, built in sorted generations behind the log.

A subject's access log ("who looked at my data") needs the entries about one subject out of
all of them. An index on ``audit_log.subject_id`` did that, but every batch check's commit
put 10,000 random subjects into it and dirtied most of its pages, a cost that grew with the
log and fell on the check itself (``bench/bench_audit.py``). Instead:

- The log is written without a subject index. Its **tail** (the entries after ``upto``) is
  read by a range of its primary key: ``audit.for_subject`` reads the tail and the index.
- A **generation** indexes one span of the log, the entries after ``upto``: their (subject,
  entry) pairs sorted by subject, appended after the previous generation in
  ``audit_subjects`` (primary key ``gen, subject_id, seq``), so filling it dirties only the
  pages at the table's end. A reader seeks each complete generation once.
- ``build`` makes one. It is **planned** first (a row of ``audit_generations``, not yet
  complete), so a builder that stops halfway is resumed by the next, on the same span;
  nobody reads a generation's rows before the transaction that completes it.
- On SQLite, whose write lock is the whole database's, the pairs are sorted into a
  temporary table of the builder's own connection (no lock on the registry held: SQLite
  sorts in C while the checks go on) and appended in slices of ``SLICE`` rows, one short
  write transaction each, the last of which completes the generation. A check waiting for
  the write lock waits for a slice, not for the generation (session 8 measured 0.35 s
  stalls when a merge ran inside the appending transaction: docs/benchmarks.md). On
  PostgreSQL a generation is one transaction.
- ``check`` proves the index is the log's: ``scs verify`` runs it, since a pair removed
  would hide a read from its subject.

The API server builds generations on a thread of its own (``api.audit_indexing``) whenever
the tail reaches ``AT_LEAST`` entries; ``scs audit index`` builds what is left at once.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from socialcredit.store import database, ledger

#: Entries in the tail before the server builds a generation: the most a subject's access
#: log reads without the index (a range of the log's primary key, some milliseconds).
AT_LEAST = 100_000
#: Entries one generation takes at most, so that a builder that fell behind sorts in steps.
MOST = 1_000_000
#: Pairs appended per write transaction on SQLite: each holds the write lock ~1 ms.
SLICE = 2_000

_PENDING_SQL = (
    "SELECT gen, first_seq, last_seq FROM audit_generations WHERE NOT complete ORDER BY gen LIMIT 1"
)
_DUE_SQL = (
    "SELECT (SELECT count(*) FROM audit_generations WHERE NOT complete), "
    "(SELECT coalesce(max(last_seq), 0) FROM audit_generations WHERE complete), "
    "(SELECT coalesce(max(seq), 0) FROM audit_log)"
)
_LAST_SQL = "SELECT coalesce(max(gen), 0), coalesce(max(last_seq), 0) FROM audit_generations"
_END_SQL = "SELECT seq, recorded_at FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"
_AT_SQL = "SELECT recorded_at FROM audit_log WHERE seq = {mark}"
_PLAN_SQL = (
    "INSERT INTO audit_generations (gen, first_seq, last_seq, last_at, complete) "
    "VALUES ({mark}, {mark}, {mark}, {mark}, FALSE)"
)
_COMPLETE_SQL = "UPDATE audit_generations SET complete = TRUE WHERE gen = {mark}"
_PAIRS = (
    "SELECT subject_id, seq FROM audit_log WHERE seq >= {mark} AND seq <= {mark} "
    "AND subject_id IS NOT NULL ORDER BY subject_id, seq"
)

Run = Callable[[str, Sequence[Any]], list[Any]]
_T = TypeVar("_T")


def build(
    engine: Engine,
    *,
    at_least: int = AT_LEAST,
    most: int = MOST,
    slice_rows: int = SLICE,
    stop: threading.Event | None = None,
) -> int:
    """Build one generation if the tail holds ``at_least`` entries (or finish the one a
    builder left planned); return the entries it indexed, 0 if none. A ``stop`` set while a
    SQLite generation is being appended ends the build after the slice under way (0): the
    generation stays planned for the next builder."""
    if not _due(engine, at_least):
        return 0
    if engine.dialect.name == "sqlite":
        return _build_sqlite(engine, at_least, most, slice_rows, stop)
    with engine.begin() as conn:
        # One builder at a time: a second waits here, then finds the tail indexed.
        conn.exec_driver_sql("LOCK TABLE audit_generations IN EXCLUSIVE MODE")
        run = _runner(conn)
        plan = _plan(run, "%s", at_least, most)
        if plan is None:
            return 0
        gen, first, last = plan
        conn.exec_driver_sql(
            "INSERT INTO audit_subjects (gen, subject_id, seq) SELECT %s, subject_id, seq "
            "FROM (" + _PAIRS.format(mark="%s") + ") AS pairs",
            (gen, first, last),
        )
        conn.exec_driver_sql(_COMPLETE_SQL.format(mark="%s"), (gen,))
        return last - first + 1


def build_all(engine: Engine) -> int:
    """Index the whole log now, however short its tail (``scs audit index``)."""
    total = 0
    while indexed := build(engine, at_least=1):
        total += indexed
    return total


def _due(engine: Engine, at_least: int) -> bool:
    """Whether there is a generation to build or finish, found without a lock: the server
    asks every second, and a write transaction would hold up the checks, if briefly."""
    with engine.connect() as conn:
        pending, upto, end = conn.exec_driver_sql(_DUE_SQL).one()
    return bool(pending) or int(end) - int(upto) >= at_least


def unindexed(conn: Connection) -> int:
    """The entries after the last complete generation: what a subject's access log reads
    from the log itself (``/metrics``: ``scs_audit_unindexed_entries``)."""
    _, upto, end = conn.exec_driver_sql(_DUE_SQL).one()
    return int(end) - int(upto)


def _runner(conn: Connection) -> Run:
    def run(sql: str, params: Sequence[Any]) -> list[Any]:
        result = conn.exec_driver_sql(sql, tuple(params))
        return list(result.all()) if result.returns_rows else []

    return run


def _plan(run: Run, mark: str, at_least: int, most: int) -> tuple[int, int, int] | None:
    """The generation to build: the one a builder left planned, or a new one planned now over
    the tail (up to ``most`` entries) if it holds ``at_least``. In the caller's writer
    transaction, so that two builders never plan two."""
    pending = run(_PENDING_SQL, ())
    if pending:
        gen, first, last = pending[0]
        return int(gen), int(first), int(last)
    newest, upto = (int(value) for value in run(_LAST_SQL, ())[0])
    end = run(_END_SQL, ())
    if not end or int(end[0][0]) - upto < at_least:
        return None
    last = min(int(end[0][0]), upto + most)
    at = end[0][1] if last == int(end[0][0]) else run(_AT_SQL.format(mark=mark), (last,))[0][0]
    run(_PLAN_SQL.format(mark=mark), (newest + 1, upto + 1, last, at))
    return newest + 1, upto + 1, last


def _build_sqlite(
    engine: Engine, at_least: int, most: int, slice_rows: int, stop: threading.Event | None
) -> int:
    raw = engine.raw_connection()  # autocommit at the driver: every BEGIN below is ours
    cursor = raw.cursor()
    # No checkpoint inside a slice's commit (copying the WAL back, tens of milliseconds
    # with the write lock held); the server's checkpoints, or anyone else's, copy it.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    try:

        def run(sql: str, params: Sequence[Any]) -> list[Any]:
            return list(cursor.execute(sql, tuple(params)).fetchall())

        plan = _in_transaction(cursor, lambda: _plan(run, "?", at_least, most))
        if plan is None:
            return 0
        gen, first, last = plan
        # Sorted outside any transaction of ours: a temporary table is the connection's own,
        # so sorting holds no lock on the registry and reads one snapshot of the span.
        cursor.execute("DROP TABLE IF EXISTS temp.audit_span")
        cursor.execute("CREATE TEMP TABLE audit_span AS " + _PAIRS.format(mark="?"), (first, last))
        total = int(run("SELECT count(*) FROM temp.audit_span", ())[0][0])
        # A builder that stopped halfway committed a prefix of the same sorted pairs.
        done = int(run("SELECT count(*) FROM audit_subjects WHERE gen = ?", (gen,))[0][0])

        def append(lower: int) -> None:
            """One slice, the last of which completes the generation."""
            cursor.execute(
                "INSERT OR IGNORE INTO main.audit_subjects (gen, subject_id, seq) "
                "SELECT ?, subject_id, seq FROM temp.audit_span "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
                (gen, lower, lower + slice_rows),
            )
            if lower + slice_rows >= total:
                cursor.execute(_COMPLETE_SQL.format(mark="?"), (gen,))

        for lower in range(done, max(total, done + 1), slice_rows):
            if lower > done and stop is not None and stop.is_set():
                return 0
            _in_transaction(cursor, functools.partial(append, lower))
        cursor.execute("DROP TABLE temp.audit_span")
        return last - first + 1
    finally:
        try:  # back to the pool as every connection is set up (``database``)
            cursor.execute(f"PRAGMA wal_autocheckpoint={database.WAL_AUTOCHECKPOINT}")
            cursor.close()
            raw.close()
        except Exception:
            raw.invalidate()  # not back to the pool: closed for good


def _in_transaction(cursor: Any, step: Callable[[], _T]) -> _T:
    cursor.execute("BEGIN IMMEDIATE")
    try:
        result = step()
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    cursor.execute("COMMIT")
    return result


def check(conn: Connection, entries: int) -> ledger.ChainProblem | None:
    """The index holds exactly the (subject, entry) pairs of the log's entries up to its end,
    each in the generation whose span holds the entry, and the generations tile the log
    from its first entry. ``entries``: how many entries the chain check found sound."""
    gens = conn.exec_driver_sql(
        "SELECT gen, first_seq, last_seq, complete FROM audit_generations ORDER BY gen"
    ).all()
    expected_first = 1
    for gen, first, last, complete in gens:
        if not complete:
            continue
        if int(first) != expected_first or int(last) < int(first):
            return ledger.ChainProblem(
                "audit_log",
                expected_first,
                f"the subject index's generation {gen} covers entries {first}-{last}, "
                f"not from {expected_first} on",
            )
        expected_first = int(last) + 1
    if expected_first - 1 > entries:
        return ledger.ChainProblem(
            "audit_log",
            entries + 1,
            f"the subject index says it holds entries up to {expected_first - 1}",
        )
    # ``last_at`` decides which generations a window reads: one set too early would hide
    # its entries from every access log.
    stale = conn.exec_driver_sql(
        "SELECT g.gen, g.last_seq FROM audit_generations g "
        "LEFT JOIN audit_log a ON a.seq = g.last_seq "
        "WHERE g.complete AND (a.recorded_at IS NULL OR a.recorded_at <> g.last_at) "
        "ORDER BY g.gen LIMIT 1"
    ).first()
    if stale is not None:
        return ledger.ChainProblem(
            "audit_log",
            int(stale[1]),
            f"the subject index's generation {stale[0]} gives its last entry another time "
            "than the log: an access log would skip the generation",
        )
    read = (
        "SELECT g.gen, a.subject_id, a.seq FROM audit_generations g "
        "JOIN audit_log a ON a.seq >= g.first_seq AND a.seq <= g.last_seq "
        "WHERE g.complete AND a.subject_id IS NOT NULL"
    )
    held = (
        "SELECT s.gen, s.subject_id, s.seq FROM audit_subjects s "
        "JOIN audit_generations g ON g.gen = s.gen WHERE g.complete"
    )
    for first_query, second_query, problem in (
        (read, held, "missing from the subject index: its subject's access log would not show it"),
        (held, read, "in the subject index for a subject it did not read"),
    ):
        found = conn.exec_driver_sql(
            f"SELECT seq FROM ({first_query} EXCEPT {second_query}) AS odd ORDER BY seq LIMIT 1"
        ).first()
        if found is not None:
            return ledger.ChainProblem("audit_log", int(found[0]), problem)
    return None
