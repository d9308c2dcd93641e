"""Benchmark: bulk import of demo records into a fresh SQLite registry.

Compares ``scs import`` (validation, keyed hashing, duplicate checks, the hash chain and the
ledger) with the ceiling of the embedded store: a bare ``executemany`` of the very same rows
into a table of the same shape (same DDL, indexes, pragmas and batch size), measured in the
same run. Reports medians over ``--repeat`` runs, alternating the two so that drift in the
machine's load hits both alike.

    python bench/bench_import.py                 # 1,000,000 records, 3 runs each
    python bench/bench_import.py --records 100000 --repeat 5 --format parquet

Not part of the test suite: it prints a JSON report (and writes it to bench/out/).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from pace import machine_pace

from socialcredit import demo
from socialcredit.importer import BATCH_SIZE, Format, import_file
from socialcredit.store.registry import Registry

OUT = Path(__file__).resolve().parent / "out"
END = date(2026, 11, 23)


def make_input(records: int, fmt: Format, seed: int) -> Path:
    """The demo records as a file, generated once and cached in bench/out/."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"demo-{seed}-{records}.{fmt.value}"
    if not path.exists():
        started = time.perf_counter()
        stream = demo.generate_records(seed, records, end=END)
        if fmt is Format.PARQUET:
            demo.write_parquet(stream, path)
        elif fmt is Format.JSONL:
            demo.write_jsonl(stream, path)
        else:  # CSV: the same records' flat columns, as pyarrow writes them from Parquet
            import pyarrow.csv
            import pyarrow.parquet

            table = pyarrow.parquet.read_table(make_input(records, Format.PARQUET, seed))
            pyarrow.csv.write_csv(table, path)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def fresh_registry(workdir: Path, name: str) -> Registry:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{workdir / name}{suffix}").unlink(missing_ok=True)
    registry = Registry.init(f"sqlite:///{workdir / name}", actor="bench")
    for provider, patterns in demo.DEMO_PROVIDERS:
        registry.add_provider(provider, patterns, actor="bench")
    return registry


def run_import(workdir: Path, path: Path, workers: int | None) -> tuple[float, int, float, float]:
    """Wall seconds, records accepted, and CPU seconds of this process and of the workers.

    The CPU figures say what the import costs whatever else the machine is doing: on an idle
    machine the wall time approaches the larger of the two (the two sides overlap).
    """
    registry = fresh_registry(workdir, "import.db")
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    summary = import_file(registry, path, workers=workers)
    elapsed = time.perf_counter() - started
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if summary.rejected:
        raise SystemExit(f"benchmark input had {summary.rejected} rejects: {summary.rejects_file}")
    registry.engine.dispose()

    def cpu(after: Any, before: Any) -> float:
        return float(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    return (
        elapsed,
        summary.accepted,
        cpu(self_after, self_before),
        cpu(children_after, children_before),
    )


def ledger_rows(workdir: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The rows the import stored, to replay through a bare executemany."""
    with sqlite3.connect(workdir / "import.db") as conn:
        cursor = conn.execute("SELECT * FROM ledger ORDER BY seq")
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()


def run_bare(workdir: Path, columns: list[str], rows: list[tuple[Any, ...]]) -> float:
    """executemany of the same rows into the same schema, with the registry's pragmas."""
    fresh_registry(workdir, "bare.db").engine.dispose()
    conn = sqlite3.connect(workdir / "bare.db", isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "cache_size=-65536",
        "wal_autocheckpoint=10000",
    ):
        conn.execute(f"PRAGMA {pragma}")
    sql = f"INSERT INTO ledger ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH_SIZE):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[start : start + BATCH_SIZE])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--format",
        choices=[f.value for f in (Format.JSONL, Format.PARQUET, Format.CSV)],
        default="jsonl",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: the importer's own choice)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("SCS_CLOCK", END.isoformat())

    path = make_input(args.records, Format(args.format), args.seed)
    ours: list[float] = []
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="scs-bench-") as tmp:
        workdir = Path(tmp)
        os.environ["SCS_SECRET_FILE"] = str(workdir / "secret.key")
        columns: list[str] = []
        rows: list[tuple[Any, ...]] = []
        main_cpu: list[float] = []
        worker_cpu: list[float] = []
        for run in range(args.repeat):
            elapsed, accepted, cpu_main, cpu_workers = run_import(workdir, path, args.workers)
            ours.append(elapsed)
            main_cpu.append(cpu_main)
            worker_cpu.append(cpu_workers)
            if run == 0:
                columns, rows = ledger_rows(workdir)
            bare.append(run_bare(workdir, columns, rows))
            print(
                f"run {run + 1}: import {accepted / elapsed:,.0f} rec/s, "
                f"bare executemany {len(rows) / bare[-1]:,.0f} rows/s; CPU per record: "
                f"main {cpu_main / accepted * 1e6:.1f} µs, "
                f"workers {cpu_workers / accepted * 1e6:.1f} µs",
                file=sys.stderr,
            )
    ours_rate = args.records / statistics.median(ours)
    bare_rate = args.records / statistics.median(bare)
    report = {
        "benchmark": "bulk import into a fresh SQLite registry",
        "records": args.records,
        "format": args.format,
        "runs": args.repeat,
        "import_median_s": round(statistics.median(ours), 2),
        "import_records_per_s": round(ours_rate),
        "bare_executemany_median_s": round(statistics.median(bare), 2),
        "bare_executemany_rows_per_s": round(bare_rate),
        "ratio_to_bare": round(ours_rate / bare_rate, 3),
        "cpu_us_per_record_main": round(statistics.median(main_cpu) / args.records * 1e6, 1),
        "cpu_us_per_record_workers": round(statistics.median(worker_cpu) / args.records * 1e6, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "targets": {"records_per_s": 50_000, "ratio_to_bare": 0.25},
        "cpus": os.cpu_count(),
        "machine_pace": machine_pace(),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / f"import-{args.format}-{args.records}.json").write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2)
    )
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
