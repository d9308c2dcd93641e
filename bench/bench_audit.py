"""What an audit entry costs, and what its subject index costs, in a log of realistic size.

A batch check writes one audit entry per subject checked (``store.audit``), and in the API
benchmark that insert is about half of the server's time a subject. This measures it apart
from HTTP, on SQLite files with the registry's schema and pragmas:

- **entries with an index on ``audit_log.subject_id``** (the registry before revision 0006,
  the baseline of the same run): groups of 10,000 entries appended with
  ``audit.append_many_sqlite``, committed, then checkpointed (the server checkpoints after
  its commits: the pages a commit dirtied are written twice, to the WAL and then to the
  database, and both writes are counted);
- **the same entries without it** (the registry as it is, the two alternated);
- **a generation of the subject index** built over the timed entries afterwards
  (``audit_index.build``): its cost an entry, and the longest write transaction of its
  slices (how long a check could wait for the write lock);
- **a subject's access log** (``audit.for_subject``) with the timed entries in the tail, and
  once they are in a generation, against the indexed query of the baseline;
- **merging generations**: a million more entries in ten generations of 100,000 (as the
  server builds them), a subject's access log over them, the merge of a run of ten (its
  cost an entry and its longest write transaction), the purge of the generations it
  retired (the same), and the access log again.

    python bench/bench_audit.py                     # 1,500,000 entries logged first, 20 groups
    python bench/bench_audit.py --log 300000 --groups 10

Prints medians (µs an entry, ms a read) and the ratio; not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pace import machine_pace

from socialcredit.store import audit, audit_index, database
from socialcredit.store.registry import Registry

GROUP = 10_000  # a batch check's subjects
SINCE = date(2000, 1, 1)  # before every entry: the reads return all of a subject's
SUBJECTS = 20_000  # the demo city's


def connect(path: Path) -> sqlite3.Connection:
    """A connection set up as the registry's writer is (``store.database``), the server's
    checkpointing (``api.audit_writer``): by hand, after commits."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "cache_size=-65536",
        "wal_autocheckpoint=0",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def readings(rng: random.Random) -> list[audit.Readings]:
    reads = [(rng.randrange(1, SUBJECTS + 1), "clear" if rng.random() < 0.9 else "applies")]
    reads += [(rng.randrange(1, SUBJECTS + 1), "clear") for _ in range(GROUP - 1)]
    return [audit.Readings("k" * 32, "consumer", "check", "rail_ticket_sale", reads)]


def append(conn: sqlite3.Connection, rng: random.Random) -> tuple[float, float]:
    """Seconds to append and commit one group, and to checkpoint after it."""
    group = readings(rng)
    started = time.perf_counter()
    cursor = conn.cursor()
    cursor.execute("BEGIN IMMEDIATE")
    audit.append_many_sqlite(cursor, group)
    cursor.execute("COMMIT")
    committed = time.perf_counter()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return committed - started, time.perf_counter() - committed


def build(workdir: Path, log: int, rng: random.Random) -> tuple[Path, Path]:
    """A registry with the demo city's number of subjects and ``log`` entries logged, all in
    generations of the subject index, and a copy of it with the old index instead."""
    current = workdir / "current.db"
    Registry.init(f"sqlite:///{current}", actor="bench").engine.dispose()
    conn = connect(current)
    conn.executemany(
        "INSERT INTO subjects (id, kind, key, display) VALUES (?, 'person', ?, ?)",
        ((i, f"key{i:060d}", f"P{i:017d}") for i in range(1, SUBJECTS + 1)),
    )
    started = time.perf_counter()
    for _ in range(log // GROUP):
        append(conn, rng)
    conn.close()
    print(f"logged {log:,} entries in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    engine = database.open_engine(f"sqlite:///{current}")
    audit_index.build_all(engine)
    engine.dispose()
    indexed = workdir / "indexed.db"
    shutil.copyfile(current, indexed)
    conn = connect(indexed)
    conn.execute("CREATE INDEX ix_audit_log_subject ON audit_log (subject_id)")
    conn.close()
    for path in (current, indexed):
        conn = connect(path)
        conn.execute("VACUUM")
        conn.close()
    return indexed, current


def generation(path: Path) -> tuple[float, float, int]:
    """Seconds to build one generation over the tail, the longest of its write
    transactions, and the entries it took."""
    engine = database.open_engine(f"sqlite:///{path}")
    longest, restore = timed_transactions()
    try:
        started = time.perf_counter()
        entries = audit_index.build(engine, at_least=1)
        took = time.perf_counter() - started
    finally:
        restore()
        engine.dispose()
    return took, longest[0], entries


def timed_transactions() -> tuple[list[float], Callable[[], None]]:
    """The longest of ``audit_index``'s write transactions (a generation's plan and slices)
    from now until the returned function is called."""
    longest = [0.0]
    inner = audit_index._in_transaction

    def timed(cursor: object, step: Callable[[], object]) -> object:
        began = time.perf_counter()
        try:
            return inner(cursor, step)
        finally:
            longest[0] = max(longest[0], time.perf_counter() - began)

    audit_index._in_transaction = timed  # type: ignore[assignment]

    def restore() -> None:
        audit_index._in_transaction = inner  # type: ignore[assignment]

    return longest, restore


def merging(path: Path, rng: random.Random) -> dict[str, object]:
    """Ten generations of 100,000 entries more, then one merge and the purge after it."""
    conn = connect(path)
    for _ in range(10):
        for _ in range(audit_index.AT_LEAST // GROUP):
            append(conn, rng)
        engine = database.open_engine(f"sqlite:///{path}")
        audit_index.build(engine, merging=None)
        engine.dispose()
    conn.close()
    engine = database.open_engine(f"sqlite:///{path}")
    with engine.connect() as c:
        before = audit_index.live_generations(c)
    engine.dispose()
    read_before = reads(path, rng, indexed=False)
    engine = database.open_engine(f"sqlite:///{path}")
    longest, restore = timed_transactions()
    try:
        started = time.perf_counter()
        merged = audit_index.build(engine, at_least=audit_index._NO_TAIL)
        merge_s = time.perf_counter() - started
    finally:
        restore()
    # A purge slice is an ``engine.begin`` block: time the longest by the engine's events.
    slices: list[float] = []
    began: list[float] = []
    from sqlalchemy import event

    event.listen(engine, "begin", lambda _c: began.append(time.perf_counter()))
    event.listen(engine, "commit", lambda _c: slices.append(time.perf_counter() - began[-1]))
    started = time.perf_counter()
    purged = audit_index.purge(engine)
    purge_s = time.perf_counter() - started
    with engine.connect() as c:
        after = audit_index.live_generations(c)
    engine.dispose()
    read_after = reads(path, rng, indexed=False)
    return {
        "merge_live_generations_before_after": [before, after],
        "merge_entries": merged,
        "merge_us_per_entry": round(merge_s / max(merged, 1) * 1e6, 2),
        "merge_longest_write_ms": round(longest[0] * 1e3, 2),
        "purge_pairs": purged,
        "purge_us_per_pair": round(purge_s / max(purged, 1) * 1e6, 2),
        "purge_longest_write_ms": round(max(slices, default=0.0) * 1e3, 2),
        "access_log_ms_before_merge": round(read_before * 1e3, 3),
        "access_log_ms_after_merge": round(read_after * 1e3, 3),
    }


def reads(path: Path, rng: random.Random, indexed: bool, count: int = 200) -> float:
    """Median seconds to read one subject's access log (the indexed query of the old schema
    on ``indexed``, ``audit.for_subject`` otherwise)."""
    engine = database.open_engine(f"sqlite:///{path}")
    took = []
    with engine.connect() as conn:
        for _ in range(count):
            subject = rng.randrange(1, SUBJECTS + 1)
            started = time.perf_counter()
            if indexed:
                conn.exec_driver_sql(
                    "SELECT * FROM audit_log WHERE subject_id = ? AND recorded_at >= ? "
                    "ORDER BY seq DESC",
                    (subject, SINCE.isoformat()),
                ).all()
            else:
                audit.for_subject(conn, subject, SINCE)
            took.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--log", type=int, default=1_500_000, help="entries logged beforehand")
    parser.add_argument("--groups", type=int, default=20, help="timed groups of 10,000 each")
    args = parser.parse_args()
    rng = random.Random(20261124)
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as tmp:
        indexed, current = build(Path(tmp), args.log, rng)
        connections = {"indexed": connect(indexed), "current": connect(current)}
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in connections}
        for _ in range(args.groups):
            for name, conn in connections.items():  # alternated: drift hits both alike
                timings[name].append(append(conn, rng))
        for conn in connections.values():
            conn.close()
        read_indexed = reads(indexed, rng, indexed=True)
        read_tail = reads(current, rng, indexed=False)
        built, longest, took = generation(current)
        read_generations = reads(current, rng, indexed=False)
        merged = merging(current, rng)
    entries = args.groups * GROUP

    def per_entry(seconds: float) -> float:
        return round(seconds / GROUP * 1e6, 2)

    report: dict[str, object] = {"logged_before": args.log, "timed_entries": entries}
    totals = {name: statistics.median(a + b for a, b in pairs) for name, pairs in timings.items()}
    for name, pairs in timings.items():
        report[f"{name}_insert_us"] = per_entry(statistics.median(a for a, _ in pairs))
        report[f"{name}_checkpoint_us"] = per_entry(statistics.median(b for _, b in pairs))
        report[f"{name}_total_us"] = per_entry(totals[name])
    report["indexed_over_current"] = round(totals["indexed"] / totals["current"], 2)
    report["generation_entries"] = took
    report["generation_us_per_entry"] = round(built / max(took, 1) * 1e6, 2)
    report["generation_longest_write_ms"] = round(longest * 1e3, 2)
    report["access_log_ms_indexed_baseline"] = round(read_indexed * 1e3, 3)
    report["access_log_ms_tail_of_timed_entries"] = round(read_tail * 1e3, 3)
    report["access_log_ms_from_generations"] = round(read_generations * 1e3, 3)
    report.update(merged)
    report["machine_pace"] = machine_pace()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
