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
- **Merging.** A reader seeks every generation its window reaches, and a busy server
  builds thousands a year. So when ``FAN_IN`` generations of one size class follow each
  other, a generation is planned over their joint span and built like any other (its
  pairs sorted, here out of theirs, and appended in slices); the transaction that
  completes it also marks them ``retired``.
  A reader's one statement sees either them or it, never both and never neither. Retired
  generations' pairs are then deleted (``purge``), a slice at a time. Size classes grow by
  ``FAN_IN`` from ``AT_LEAST``, so an entry is rewritten once a class, and a merge never
  takes more than ``MERGE_MOST`` entries: a log of 300 million entries a year is read in
  some fifty generations.
- ``check`` proves the index is the log's: ``scs verify`` runs it, since a pair removed
  would hide a read from its subject.

The API server builds generations on a thread of its own (``api.audit_indexing``) whenever
the tail reaches ``AT_LEAST`` entries; ``scs audit index`` builds what is left at once.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
#: Generations of one size class merged into one, and the factor between size classes.
FAN_IN = 10
#: Entries a merged generation spans at most: its merge sorts them in one go.
MERGE_MOST = 20_000_000
#: Slices after which the builder (and the purge) checkpoint the WAL themselves, passively,
#: on their own thread: a merge and its purge write some 70 MB of WAL a million pairs, which
#: the API server's group commit would otherwise copy on its event loop (``audit_writer``).
CHECKPOINT_SLICES = 50
#: A tail threshold no log reaches: ``build`` then only merges (or finishes a plan).
_NO_TAIL = 2**62

_PENDING_SQL = (
    "SELECT gen, first_seq, last_seq FROM audit_generations WHERE NOT complete ORDER BY gen"
)
_LIVE_SQL = (
    "SELECT gen, first_seq, last_seq FROM audit_generations WHERE complete AND NOT retired "
    "ORDER BY first_seq, gen"
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
#: The live generations within a span, other than the given one: those a merge over the
#: span takes its pairs from and retires (none for a new generation). Not the given one,
#: since a second builder finishing a merge must not retire the merge itself.
_WITHIN = (
    "complete AND NOT retired AND first_seq >= {mark} AND last_seq <= {mark} AND gen <> {mark}"
)
_RETIRE_SQL = "UPDATE audit_generations SET retired = TRUE WHERE " + _WITHIN
_RETIRED_SQL = "SELECT gen FROM audit_generations WHERE retired ORDER BY gen"
_PAIRS = (
    "SELECT subject_id, seq FROM audit_log WHERE seq >= {mark} AND seq <= {mark} "
    "AND subject_id IS NOT NULL ORDER BY subject_id, seq"
)

_SOURCES_SQL = "SELECT gen FROM audit_generations WHERE " + _WITHIN
#: A merge's pairs come from the generations it merges, 16 bytes a pair where the log has a
#: hundred an entry: half the cost of sorting the span out of the log (bench_audit.py).
_MERGED_PAIRS = (
    "SELECT subject_id, seq FROM audit_subjects WHERE gen IN (" + _SOURCES_SQL + ") "
    "ORDER BY subject_id, seq"
)

Run = Callable[[str, Sequence[Any]], list[Any]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Merging:
    """When generations are merged: ``fan_in`` of one size class in a row, size classes
    growing by ``fan_in`` from ``base`` entries, a merge spanning at most ``most``."""

    fan_in: int = FAN_IN
    base: int = AT_LEAST
    most: int = MERGE_MOST


def build(
    engine: Engine,
    *,
    at_least: int = AT_LEAST,
    most: int = MOST,
    slice_rows: int = SLICE,
    stop: threading.Event | None = None,
    merging: Merging | None = Merging(),
) -> int:
    """Build one generation if the tail holds ``at_least`` entries (or finish the one a
    builder left planned), else merge generations if ``merging`` finds a run to merge;
    return the entries it indexed, 0 if none. A ``stop`` set while a SQLite generation is
    being appended ends the build after the slice under way (0): the generation stays
    planned for the next builder."""
    if not _due(engine, at_least, merging):
        return 0
    if engine.dialect.name == "sqlite":
        return _build_sqlite(engine, at_least, most, slice_rows, stop, merging)
    with engine.begin() as conn:
        # One builder at a time: a second waits here, then finds the tail indexed.
        conn.exec_driver_sql("LOCK TABLE audit_generations IN EXCLUSIVE MODE")
        run = _runner(conn)
        plan = _plan(run, "%s", at_least, most, merging)
        if plan is None:
            return 0
        gen, first, last = plan
        pairs, params = _span_pairs(run, "%s", gen, first, last)
        conn.exec_driver_sql(
            "INSERT INTO audit_subjects (gen, subject_id, seq) SELECT %s, subject_id, seq "
            "FROM (" + pairs + ") AS pairs",
            (gen, *params),
        )
        _complete(run, "%s", gen, first, last)
        return last - first + 1


def build_all(engine: Engine) -> int:
    """Index the whole log now, however short its tail, merge what is due and purge what
    merges retired (``scs audit index``)."""
    total = 0
    while indexed := build(engine, at_least=1, merging=None):
        total += indexed
    while build(engine, at_least=_NO_TAIL):  # merges only: the tail was indexed above
        pass
    purge(engine)
    return total


def purge(engine: Engine, slice_rows: int = SLICE, stop: threading.Event | None = None) -> int:
    """Delete the pairs of retired generations, then the generations; return the pairs
    deleted. On SQLite a slice at a time, each its own write transaction, so that a check
    waits for the write lock no longer than for a slice of a build."""
    with engine.connect() as conn:
        retired = [int(gen) for (gen,) in conn.exec_driver_sql(_RETIRED_SQL)]
    deleted = 0
    for gen in retired:
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                result = conn.exec_driver_sql("DELETE FROM audit_subjects WHERE gen = %s", (gen,))
                deleted += max(result.rowcount, 0)
                conn.exec_driver_sql("DELETE FROM audit_generations WHERE gen = %s", (gen,))
            continue
        for count in itertools.count(1):
            if stop is not None and stop.is_set():
                return deleted
            if count % CHECKPOINT_SLICES == 0:
                database.checkpoint(engine)
            with engine.begin() as conn:
                # The pair ``slice_rows`` in: everything before it goes in this slice.
                bound = conn.exec_driver_sql(
                    "SELECT subject_id, seq FROM audit_subjects WHERE gen = ? "
                    "ORDER BY subject_id, seq LIMIT 1 OFFSET ?",
                    (gen, slice_rows),
                ).first()
                if bound is None:
                    result = conn.exec_driver_sql(
                        "DELETE FROM audit_subjects WHERE gen = ?", (gen,)
                    )
                    deleted += max(result.rowcount, 0)
                    conn.exec_driver_sql("DELETE FROM audit_generations WHERE gen = ?", (gen,))
                    break
                result = conn.exec_driver_sql(
                    "DELETE FROM audit_subjects WHERE gen = ? AND (subject_id, seq) < (?, ?)",
                    (gen, int(bound[0]), int(bound[1])),
                )
                deleted += max(result.rowcount, 0)
    if deleted and engine.dialect.name == "sqlite":
        database.checkpoint(engine)
    return deleted


def _due(engine: Engine, at_least: int, merging: Merging | None) -> bool:
    """Whether there is a generation to build, finish or merge, found without a lock: the
    server asks every second, and a write transaction would hold up the checks, if briefly."""
    with engine.connect() as conn:
        pending, upto, end = conn.exec_driver_sql(_DUE_SQL).one()
        if pending or int(end) - int(upto) >= at_least:
            return True
        if merging is None:
            return False
        live = [tuple(map(int, row)) for row in conn.exec_driver_sql(_LIVE_SQL)]
    return merge_span(live, merging) is not None


def merge_span(live: Sequence[tuple[int, ...]], merging: Merging) -> tuple[int, int] | None:
    """The span to merge, as (first entry, last entry), or None: the oldest run of
    ``fan_in`` live generations (``(gen, first_seq, last_seq)`` in the order of their spans)
    in one size class, within ``merging.most`` entries. A pure function of the generations,
    so that every builder chooses the same."""
    run: list[tuple[int, ...]] = []
    for generation in live:
        if run and _size_class(run[0], merging) != _size_class(generation, merging):
            run = []
        run.append(generation)
        if len(run) == merging.fan_in:
            first, last = run[0][1], run[-1][2]
            if last - first + 1 <= merging.most:
                return first, last
            run = run[1:]
    return None


def _size_class(generation: tuple[int, ...], merging: Merging) -> int:
    entries = generation[2] - generation[1] + 1
    level, bound = 0, merging.base * merging.fan_in
    while entries >= bound:
        level, bound = level + 1, bound * merging.fan_in
    return level


def unindexed(conn: Connection) -> int:
    """The entries after the last complete generation: what a subject's access log reads
    from the log itself (``/metrics``: ``scs_audit_unindexed_entries``)."""
    _, upto, end = conn.exec_driver_sql(_DUE_SQL).one()
    return int(end) - int(upto)


def live_generations(conn: Connection) -> int:
    """The generations a reader may seek (``/metrics``: ``scs_audit_generations``)."""
    return len(conn.exec_driver_sql(_LIVE_SQL).all())


def _runner(conn: Connection) -> Run:
    def run(sql: str, params: Sequence[Any]) -> list[Any]:
        result = conn.exec_driver_sql(sql, tuple(params))
        return list(result.all()) if result.returns_rows else []

    return run


def _plan(
    run: Run, mark: str, at_least: int, most: int, merging: Merging | None
) -> tuple[int, int, int] | None:
    """The generation to build, in this order: one over the tail a builder left planned, a
    new one over the tail (up to ``most`` entries) if it holds ``at_least``, a merge a
    builder left planned, a new merge. The tail comes first, so that a long merge never
    lets it grow. In the caller's writer transaction, so that two builders never plan two."""
    pending = [tuple(map(int, row)) for row in run(_PENDING_SQL, ())]
    live = [tuple(map(int, row)) for row in run(_LIVE_SQL, ())]
    upto = live[-1][2] if live else 0
    for gen, first, last in pending:
        if first > upto:  # over the tail, not over live generations: a new generation
            return gen, first, last
    newest, planned_upto = (int(value) for value in run(_LAST_SQL, ())[0])
    end = run(_END_SQL, ())
    if end and int(end[0][0]) - planned_upto >= at_least:
        last = min(int(end[0][0]), planned_upto + most)
        at = end[0][1] if last == int(end[0][0]) else run(_AT_SQL.format(mark=mark), (last,))[0][0]
        run(_PLAN_SQL.format(mark=mark), (newest + 1, planned_upto + 1, last, at))
        return newest + 1, planned_upto + 1, last
    if pending:
        return pending[0]  # type: ignore[return-value]
    span = merge_span(live, merging) if merging is not None else None
    if span is None:
        return None
    first, last = span
    at = run(_AT_SQL.format(mark=mark), (last,))[0][0]
    run(_PLAN_SQL.format(mark=mark), (newest + 1, first, last, at))
    return newest + 1, first, last


def _span_pairs(
    run: Run, mark: str, gen: int, first: int, last: int
) -> tuple[str, tuple[int, ...]]:
    """The query of a generation's pairs, sorted, and its parameters: from the live
    generations it merges, or from the log for a new one (or a merge another builder has
    completed meanwhile: the same pairs, which ``INSERT OR IGNORE`` then skips)."""
    if run(_SOURCES_SQL.format(mark=mark), (first, last, gen)):
        return _MERGED_PAIRS.format(mark=mark), (first, last, gen)
    return _PAIRS.format(mark=mark), (first, last)


def _complete(run: Run, mark: str, gen: int, first: int, last: int) -> None:
    """Retire the live generations a merged one spans (none for a new one), and complete
    it, in one transaction: a reader sees the one or the others, never both."""
    run(_RETIRE_SQL.format(mark=mark), (first, last, gen))
    run(_COMPLETE_SQL.format(mark=mark), (gen,))


def _build_sqlite(
    engine: Engine,
    at_least: int,
    most: int,
    slice_rows: int,
    stop: threading.Event | None,
    merging: Merging | None,
) -> int:
    raw = engine.raw_connection()  # autocommit at the driver: every BEGIN below is ours
    cursor = raw.cursor()
    # No checkpoint inside a slice's commit (copying the WAL back, tens of milliseconds
    # with the write lock held): the builder checkpoints passively between slices, every
    # ``CHECKPOINT_SLICES`` and when done.
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    try:

        def run(sql: str, params: Sequence[Any]) -> list[Any]:
            return list(cursor.execute(sql, tuple(params)).fetchall())

        plan = _in_transaction(cursor, lambda: _plan(run, "?", at_least, most, merging))
        if plan is None:
            return 0
        gen, first, last = plan
        # Sorted outside any transaction of ours: a temporary table is the connection's own,
        # so sorting holds no lock on the registry and reads one snapshot of the span.
        cursor.execute("DROP TABLE IF EXISTS temp.audit_span")
        pairs, params = _span_pairs(run, "?", gen, first, last)
        cursor.execute("CREATE TEMP TABLE audit_span AS " + pairs, params)
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
                _complete(run, "?", gen, first, last)

        for count, lower in enumerate(range(done, max(total, done + 1), slice_rows), 1):
            if lower > done and stop is not None and stop.is_set():
                return 0
            _in_transaction(cursor, functools.partial(append, lower))
            if count % CHECKPOINT_SLICES == 0:
                run("PRAGMA wal_checkpoint(PASSIVE)", ())
        cursor.execute("DROP TABLE temp.audit_span")
        run("PRAGMA wal_checkpoint(PASSIVE)", ())
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
    gens = conn.exec_driver_sql(_LIVE_SQL).all()  # in the order of their spans
    expected_first = 1
    for gen, first, last in gens:
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
        "WHERE g.complete AND NOT g.retired "
        "AND (a.recorded_at IS NULL OR a.recorded_at <> g.last_at) "
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
        "WHERE g.complete AND NOT g.retired AND a.subject_id IS NOT NULL"
    )
    held = (
        "SELECT s.gen, s.subject_id, s.seq FROM audit_subjects s "
        "JOIN audit_generations g ON g.gen = s.gen WHERE g.complete AND NOT g.retired"
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
