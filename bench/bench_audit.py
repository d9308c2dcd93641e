"""What an audit entry costs, and what its subject index costs, in a log of realistic size.

A batch check writes one audit entry per subject checked (``store.audit``), and in the API
benchmark that insert is about half of the server's time a subject. This measures it apart
from HTTP, on SQLite files with the registry's schema and pragmas:

- **entries with the subject index** (the registry as it is): groups of 10,000 entries
  appended with ``audit.append_many_sqlite``, committed, then checkpointed (the server
  checkpoints after its commits: the pages a commit dirtied are written twice, to the WAL
  and then to the database, and both writes are counted);
- **the same entries without the subject index** (the baseline of the same run, the two
  alternated): what the log alone costs;
- **a deferred, sorted merge** of the baseline's timed entries into a separate
  ``(subject_id, seq)`` table holding the prefilled log's pairs: what the index would cost
  per entry if it were built off the hot path, in large sorted runs.

    python bench/bench_audit.py                     # 1,500,000 entries logged first, 20 groups
    python bench/bench_audit.py --log 300000 --groups 10

Prints medians (µs an entry) and the ratio; not part of the test suite.
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
from pathlib import Path

from pace import machine_pace

from socialcredit.store import audit
from socialcredit.store.registry import Registry

GROUP = 10_000  # a batch check's subjects
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
    """A registry with the demo city's number of subjects and ``log`` entries logged, and a
    copy of it without the subject index."""
    indexed = workdir / "indexed.db"
    Registry.init(f"sqlite:///{indexed}", actor="bench").engine.dispose()
    conn = connect(indexed)
    conn.executemany(
        "INSERT INTO subjects (id, kind, key, display) VALUES (?, 'person', ?, ?)",
        ((i, f"key{i:060d}", f"P{i:017d}") for i in range(1, SUBJECTS + 1)),
    )
    started = time.perf_counter()
    for _ in range(log // GROUP):
        append(conn, rng)
    conn.close()
    print(f"logged {log:,} entries in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    bare = workdir / "bare.db"
    shutil.copyfile(indexed, bare)
    conn = connect(bare)
    conn.execute("DROP INDEX ix_audit_log_subject")
    conn.execute(
        "CREATE TABLE audit_pairs (subject_id INTEGER, seq INTEGER, "
        "PRIMARY KEY (subject_id, seq)) WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO audit_pairs SELECT subject_id, seq FROM audit_log ORDER BY subject_id, seq"
    )
    conn.execute("VACUUM")
    conn.close()
    return indexed, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--log", type=int, default=1_500_000, help="entries logged beforehand")
    parser.add_argument("--groups", type=int, default=20, help="timed groups of 10,000 each")
    args = parser.parse_args()
    rng = random.Random(20261124)
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as tmp:
        indexed, bare = build(Path(tmp), args.log, rng)
        connections = {"indexed": connect(indexed), "bare": connect(bare)}
        timings: dict[str, list[tuple[float, float]]] = {name: [] for name in connections}
        for _ in range(args.groups):
            for name, conn in connections.items():  # alternated: drift hits both alike
                timings[name].append(append(conn, rng))
        bare_conn = connections["bare"]
        started = time.perf_counter()
        bare_conn.execute("BEGIN IMMEDIATE")
        bare_conn.execute(
            "INSERT INTO audit_pairs SELECT subject_id, seq FROM audit_log WHERE seq > ? "
            "ORDER BY subject_id, seq",
            ((args.log // GROUP) * GROUP,),
        )
        bare_conn.execute("COMMIT")
        merged = time.perf_counter()
        bare_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        merge = (merged - started, time.perf_counter() - merged)
    entries = args.groups * GROUP

    def per_entry(seconds: float) -> float:
        return round(seconds / GROUP * 1e6, 2)

    report: dict[str, object] = {"logged_before": args.log, "timed_entries": entries}
    totals = {name: statistics.median(a + b for a, b in pairs) for name, pairs in timings.items()}
    for name, pairs in timings.items():
        report[f"{name}_insert_us"] = per_entry(statistics.median(a for a, _ in pairs))
        report[f"{name}_checkpoint_us"] = per_entry(statistics.median(b for _, b in pairs))
        report[f"{name}_total_us"] = per_entry(totals[name])
    report["indexed_over_bare"] = round(totals["indexed"] / totals["bare"], 2)
    report["deferred_merge_us"] = round(merge[0] / entries * 1e6, 2)
    report["deferred_merge_checkpoint_us"] = round(merge[1] / entries * 1e6, 2)
    report["machine_pace"] = machine_pace()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
