"""What an audit entry costs, with the subject index as it is and as it was, in a log of
realistic size.

A batch check writes one audit entry per subject checked (``store.audit``), once about half
of the server's time a subject. This measures it apart from HTTP, on SQLite files with the
registry's schema and pragmas, in groups of 10,000 entries appended with
``audit.append_many_sqlite``, committed, then checkpointed (the server checkpoints after its
commits: a page a commit dirtied is written twice, to the WAL and then to the database, and
both writes are counted):

- **as it is**: the (subject, entry) pairs merged into ``audit_subjects`` in sorted runs
  every ``audit.MERGE_EVERY`` entries, by the append that gets there (its time counted in
  that group's);
- **as it was** (the baseline of the same run, the two alternated): an index on
  ``audit_log.subject_id``, written with every entry (revision 0005 and before).

    python bench/bench_audit.py                     # 1,500,000 entries logged first, 20 groups
    python bench/bench_audit.py --log 300000 --groups 10

Prints, in µs an entry, the mean over all timed groups (a run's cost lands in one group, so
the median would hide it) and the median group; not part of the test suite.
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
    copy of it with the index on ``audit_log.subject_id`` it had before revision 0006."""
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
    former = workdir / "former.db"
    shutil.copyfile(current, former)
    conn = connect(former)
    conn.execute("CREATE INDEX ix_audit_log_subject ON audit_log (subject_id)")
    conn.close()
    return current, former


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--log", type=int, default=1_500_000, help="entries logged beforehand")
    parser.add_argument("--groups", type=int, default=20, help="timed groups of 10,000 each")
    args = parser.parse_args()
    rng = random.Random(20261124)
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as tmp:
        current, former = build(Path(tmp), args.log, rng)
        connections = {"current": connect(current), "former": connect(former)}
        merge_every = {"current": audit.MERGE_EVERY, "former": 1 << 62}  # former: no runs
        timings: dict[str, list[float]] = {name: [] for name in connections}
        for _ in range(args.groups):
            for name, conn in connections.items():  # alternated: drift hits both alike
                audit.MERGE_EVERY = merge_every[name]
                timings[name].append(sum(append(conn, rng)))
        audit.MERGE_EVERY = merge_every["current"]
    report: dict[str, object] = {
        "logged_before": args.log,
        "timed_entries": args.groups * GROUP,
        "merge_every": audit.MERGE_EVERY,
    }
    for name, seconds in timings.items():
        report[f"{name}_mean_us"] = round(statistics.mean(seconds) / GROUP * 1e6, 2)
        report[f"{name}_median_us"] = round(statistics.median(seconds) / GROUP * 1e6, 2)
    report["former_over_current"] = round(
        statistics.mean(timings["former"]) / statistics.mean(timings["current"]), 2
    )
    report["machine_pace"] = machine_pace()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
