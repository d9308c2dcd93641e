"""A killed import leaves whole batches only, and running it again completes it exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import date
from pathlib import Path

import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url

from socialcredit import demo
from socialcredit.importer import import_file
from socialcredit.store.registry import Registry

ROWS = 60_000
SCS = Path(sys.executable).parent / "scs"


def init_registry(url: str) -> Registry:
    registry = Registry.init(url, actor="test")
    for name, patterns in demo.DEMO_PROVIDERS:
        registry.add_provider(name, patterns, actor="test")
    return registry


def landed(db_file: str) -> int:
    """Records committed so far, read from the chain head as another process sees it."""
    with closing(sqlite3.connect(db_file, timeout=10)) as conn:
        row = conn.execute("SELECT seq FROM chain_heads WHERE chain = 'ledger'").fetchone()
    return 0 if row is None else int(row[0])


def kill_midway(args: list[str], db_file: str, timeout: float = 30.0) -> int:
    """Run ``scs`` with ``args``, SIGKILL it (and its workers) once some records landed."""
    process = subprocess.Popen(
        [str(SCS), *args],
        env=os.environ.copy(),  # SCS_SECRET_FILE and SCS_CLOCK of the test
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill reaches the workers too
    )
    deadline = time.monotonic() + timeout
    try:
        while landed(db_file) == 0:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no batch landed in time"
            time.sleep(0.005)
        assert process.poll() is None, "the import finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()  # type: ignore[union-attr]
    assert process.returncode == -signal.SIGKILL
    return landed(db_file)


def stored_refs(registry: Registry) -> list[tuple[str, str]]:
    with registry.engine.connect() as conn:
        rows = conn.execute(text("SELECT provider, ref FROM ledger ORDER BY seq"))
        return [(provider, ref) for provider, ref in rows]


def orphan_subjects(registry: Registry) -> int:
    with registry.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM subjects WHERE id NOT IN (SELECT subject_id FROM ledger)"
                )
            ).scalar_one()
        )


def test_an_import_killed_midway_leaves_whole_batches_and_a_rerun_completes_it_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "records.jsonl"
    demo.write_jsonl(demo.generate_records(3, ROWS, end=date(2026, 11, 23)), path)
    file_refs = [
        (r["provider"], r["ref"]) for r in map(orjson.loads, path.read_bytes().splitlines())
    ]
    registry = init_registry(sqlite_url)
    db_file = str(make_url(sqlite_url).database)

    killed_at = kill_midway(
        ["import", str(path), "--db", sqlite_url, "--batch-size", "1000"], db_file
    )

    assert 0 < killed_at < ROWS
    report = registry.verify()
    assert report.ok, report.problem
    assert report.ledger_entries == killed_at
    # batches land in file order, whole or not at all: what is stored is a prefix of the file
    assert stored_refs(registry) == file_refs[:killed_at]
    assert orphan_subjects(registry) == 0  # no subject left behind by a half-written batch

    summary = import_file(registry, path, batch_size=1000)

    assert (summary.accepted, summary.duplicates, summary.rejected) == (
        ROWS - killed_at,
        killed_at,
        0,
    )
    assert stored_refs(registry) == file_refs
    assert registry.verify().ok
