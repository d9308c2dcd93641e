"""What each part of a cached batch check costs, in-process, without HTTP.

``bench_api.py`` measures batch checks over HTTP, where wrk, the framework and the server's
threads share two cores and the rate swings with the machine; this times the parts of
``POST /v1/checks`` one by one on a copy of the same demo city, each over the same 10,000
persons, answers cached as the server's are after its first batch:

- **parse**: the request body into ``BatchCheckIn``;
- **answers**: the keyed hash of each identifier and its cached answer (``checks._batch``);
- **reads**: the ``(subject, result)`` pairs the audit log is given;
- **items**: the answer's items (``checks._results``);
- **digest**: the audit entries' chain digest (``audit._chained``);
- **append**: appending the entries and committing (``audit.append_many_sqlite``, the
  group commit's way), then a passive checkpoint as the server runs after its commits.

    python bench/bench_batch_parts.py               # after bench_api.py built the city
    python bench/bench_batch_parts.py --people 2000

Prints the median µs a subject of each part over ``--repeat`` rounds; not part of the tests.
The server spends more than the sum: HTTP, the framework, and its threads' share of the GIL.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from collections.abc import Callable

import orjson
from bench_api import OUT, _persons, _pristine_city
from pace import machine_pace

from socialcredit import clock
from socialcredit.api import checks
from socialcredit.store import audit
from socialcredit.store.keys import ApiKey, Role
from socialcredit.store.registry import Registry

MEASURE, PURPOSE = "spc.high_speed_rail", "travel_booking"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    pristine = _pristine_city(args.people)
    work = OUT / "batch-parts.db"
    work.unlink(missing_ok=True)
    with sqlite3.connect(pristine) as source, sqlite3.connect(work) as copy:
        source.backup(copy)
    secret = OUT / f"api-{args.people}.key"
    served = Registry.init(f"sqlite:///{work}", secret, actor="bench").serving()
    persons = _persons(args.people)
    key = ApiKey("k_bench", Role.CONSUMER, None, None, None, (MEASURE,), None, "", None)
    book = served.rulebook("rongcheng")
    today = clock.today()
    body = orjson.dumps({"measure": MEASURE, "purpose": PURPOSE, "subjects": persons})
    asked = checks.BatchCheckIn.model_validate_json(body)
    batch = checks._batch(served, book, asked, today)  # fills the read cache
    reads = [(a.subject_id, a.result) for a in batch.answers.values()]
    groups = [audit.Readings(key.id, key.role.value, "check", PURPOSE, reads)]
    raw = served.engine.raw_connection()
    cursor = raw.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # as the group commit's connection

    def append() -> None:
        cursor.execute("BEGIN IMMEDIATE")
        audit.append_many_sqlite(cursor, groups)
        cursor.execute("COMMIT")
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    parts: dict[str, Callable[[], object]] = {
        "parse": lambda: checks.BatchCheckIn.model_validate_json(body),
        "answers": lambda: checks._batch(served, book, asked, today),
        "reads": lambda: [(a.subject_id, a.result) for a in batch.answers.values()],
        "items": lambda: b",".join(checks._results(served, key, batch)),
        "digest": lambda: audit._chained(0, b"", groups),
        "append": append,
    }
    report: dict[str, object] = {"subjects": len(persons), "repeat": args.repeat}
    for name, part in parts.items():
        part()  # warm
        took = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            part()
            took.append(time.perf_counter() - started)
        report[f"{name}_us"] = round(statistics.median(took) / len(persons) * 1e6, 3)
    costs = [float(v) for k, v in report.items() if k.endswith("_us") and isinstance(v, float)]
    report["sum_us"] = round(sum(costs), 3)
    report["machine_pace"] = machine_pace()
    raw.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
