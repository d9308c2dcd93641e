"""The API under load: single checks against a trivial endpoint, batch checks, record submission.

Run: ``python bench/bench_api.py [--people 10000] [--duration 10] [--repeat 3]``. Needs
``wrk`` (Debian: ``apt-get install wrk``). Builds the demo city once (cached in
``bench/out/``), copies it so every run starts from the same registry, starts one uvicorn
process serving ``create_app`` (the server ``scs serve`` runs) with rate limits off, and
drives it over loopback:

- **single checks** — ``GET /v1/checks`` with a consumer key, 32 connections, cycling over
  the city's persons (each check audited before it is answered), alternated with a
  **trivial JSON endpoint** added to the same app (same server, same stack, no database,
  first in the routing table as the checks are), sent the very requests the checks are
  sent — the same key header, the same query, made by the same wrk script — so that the two
  differ only in what the server does with them; the figure is the ratio of their requests
  per second (target ≥ 0.70) and the checks' p99 latency (target < 25 ms). A bare
  ``GET /bench/trivial`` (no header, no query, no script) is measured too and reported
  beside it: wrk's script costs wrk a core's worth of time the server shares;
- **batch checks** — ``POST /v1/checks`` with 10,000 subjects per request (target ≥ 200,000
  subject checks per second); after each run the bench waits for the server's audit indexer
  to catch up with the entries the run wrote (``scs_audit_unindexed_entries`` below 100,000)
  and reports how long that took, so the indexing is seen and not charged to the next part;
- **record submission** — ``POST /v1/records`` in batches of 1,000 new records from two
  client threads, timed until the server has also written the notices they call for
  (``scs_notices_pending`` back to 0; target ≥ 20,000 records per second).

wrk and the server share the machine's cores, so the figures are for this machine with the
load generator on it; the load average before each run is printed beside the figures, and
the server's CPU time per request (from ``/proc``) with them: it moves less with the load.
Medians of ``--repeat`` runs go to stdout and ``bench/out/api.json``. Not part of the tests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from socialcredit import scoring
from socialcredit.store import audit_index

OUT = Path(__file__).parent / "out"
MEASURES = ["spc.high_speed_rail", "spc.flights"]
TRIVIAL = "/bench/trivial"
BATCH_CHECKS = 10_000
BATCH_RECORDS = 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--record-batches", type=int, default=60)
    parser.add_argument(
        "--notice-workers",
        type=int,
        default=1,
        help="notice worker processes beside the server (scs serve --notice-workers); 0: "
        "the server writes the notices itself",
    )
    parser.add_argument(
        "--parts", default="checks,batch,records", help="which of checks, batch, records to run"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_api needs wrk: apt-get install wrk")
    OUT.mkdir(exist_ok=True)
    pristine = _pristine_city(args.people)
    work = OUT / "api-run.db"
    work.unlink(missing_ok=True)
    with sqlite3.connect(pristine) as source, sqlite3.connect(work) as copy:
        source.backup(copy)  # the WAL's pages too, which a file copy would miss
    url = f"sqlite:///{work}"
    secret = OUT / f"api-{args.people}.key"
    keys = _keys(url, secret)
    persons = _persons(args.people)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            url,
            str(secret),
            str(port),
            str(args.notice_workers),
        ],
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_up(port)
        report = _run(args, base, server.pid, keys, persons)
        (OUT / "api.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report["summary"], indent=2))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # uvicorn waits for idle keep-alive connections
            server.kill()
            server.wait()


def _run(
    args: argparse.Namespace, base: str, pid: int, keys: dict[str, str], persons: list[str]
) -> dict[str, Any]:
    port = int(base.rsplit(":", 1)[1])
    single = _lua_single(persons, keys["consumer"], "/v1/checks", "checks")
    trivial = _lua_single(persons, keys["consumer"], TRIVIAL, "trivial")
    batch = _lua_batch(persons, keys["consumer"])
    parts = set(args.parts.split(","))
    runs: dict[str, list[dict[str, float]]] = {
        "trivial": [],
        "trivial_bare": [],
        "checks": [],
        "batch": [],
    }

    def wrk(connections: int, script: Path | None, seconds: int = args.duration) -> dict[str, Any]:
        return _wrk(base + ("/" if script else TRIVIAL), seconds, connections, script, pid)

    records: list[tuple[float, float]] = []
    records_cpu: list[tuple[float, float]] = []
    cold: dict[str, float] | None = None
    if "checks" in parts:  # first checks of a fresh server: the read cache fills as they run
        cold = wrk(args.connections, single)
    if parts & {"checks", "batch"}:  # warm up: every person checked once (in batches)
        _check_everyone(port, keys["consumer"], persons)
    if "checks" in parts:  # and every single path
        for script in (None, trivial, single):
            wrk(2, script, 2)
    for repeat in range(args.repeat):
        if "checks" in parts:
            if repeat and "records" in parts:
                # The records just submitted named most of the city: their subjects' answers
                # left the cache, so check everyone once more, or this run would measure
                # first checks again (the cold figure above) rather than cached ones.
                _check_everyone(port, keys["consumer"], persons)
                wrk(2, single, 2)
            runs["trivial_bare"].append(wrk(args.connections, None))
            runs["trivial"].append(wrk(args.connections, trivial))
            runs["checks"].append(wrk(args.connections, single))
            for baseline, field in (("trivial", "over_trivial"), ("trivial_bare", "over_bare")):
                runs["checks"][-1][field] = round(
                    runs["checks"][-1]["rps"] / runs[baseline][-1]["rps"], 3
                )
        if "batch" in parts:
            runs["batch"].append(wrk(2, batch))
            runs["batch"][-1]["index_catch_up_s"] = _audit_indexed(port)
        if "records" in parts:
            # The CPU time of the server and of its notice workers (its child processes),
            # per record: it moves less with the machine's load and pace than the rates.
            before = _cpu_seconds(pid), sum(map(_cpu_seconds, _children(pid)))
            records.append(_submit_records(port, keys["provider"], args.record_batches))
            landed = args.record_batches * BATCH_RECORDS
            records_cpu.append(
                (
                    (_cpu_seconds(pid) - before[0]) / landed * 1e6,
                    (sum(map(_cpu_seconds, _children(pid))) - before[1]) / landed * 1e6,
                )
            )
        print(json.dumps({k: v[-1] for k, v in runs.items() if v}), file=sys.stderr)
    med = {name: _median_run(r) for name, r in runs.items() if r}
    # The server runs this install, so the engine it scores fresh checks and notices with.
    summary: dict[str, Any] = {
        "load_average_after": os.getloadavg(),
        "scoring_engine": scoring.ENGINE,
    }
    if "checks" in med:
        summary |= {
            "trivial_rps": med["trivial"]["rps"],
            "checks_rps": med["checks"]["rps"],
            "checks_over_trivial": round(med["checks"]["rps"] / med["trivial"]["rps"], 3),
            # Each run's checks against the trivial run just before it: the machine's pace
            # drifts between runs, and a pair shares it.
            "checks_over_trivial_per_run": [r["over_trivial"] for r in runs["checks"]],
            "checks_over_trivial_median_of_runs": med["checks"]["over_trivial"],
            # The same against a bare GET of the trivial route (no key, no query, no script).
            "trivial_bare_rps": med["trivial_bare"]["rps"],
            "checks_over_bare_trivial_per_run": [r["over_bare"] for r in runs["checks"]],
            "server_cpu_us_per_request": {
                name: med[name]["cpu_us"] for name in ("trivial_bare", "trivial", "checks")
            },
            "checks_p50_ms": med["checks"]["p50_ms"],
            "checks_p99_ms": med["checks"]["p99_ms"],
            "target_checks": ">= 0.70 of trivial, p99 < 25 ms at 32 connections",
            "first_checks_of_a_fresh_server": cold,
        }
    if "batch" in med:
        summary |= {
            "batch_subject_checks_per_s": round(med["batch"]["rps"] * BATCH_CHECKS),
            "batch_p99_ms": med["batch"]["p99_ms"],
            "batch_server_cpu_us_per_subject": round(med["batch"]["cpu_us"] / BATCH_CHECKS, 2),
            # After each run, until the audit indexer had caught up (``_audit_indexed``).
            "batch_index_catch_up_s": [r["index_catch_up_s"] for r in runs["batch"]],
            "target_batch": ">= 200000 subject checks/s",
        }
    if records:
        summary |= {
            "records_per_s": round(statistics.median(r[0] for r in records)),
            "records_per_s_until_answered": round(statistics.median(r[1] for r in records)),
            "notice_workers": args.notice_workers,
            "records_server_cpu_us_per_record": round(
                statistics.median(c[0] for c in records_cpu), 1
            ),
            "records_notice_workers_cpu_us_per_record": round(
                statistics.median(c[1] for c in records_cpu), 1
            ),
            "target_records": ">= 20000 records/s in batches of 1,000",
        }
    return {"summary": summary, "runs": runs, "records_per_s_runs": records}


# -- the server ---------------------------------------------------------------------------


def serve(url: str, secret: str, port: int, notice_workers: int) -> None:
    """The server process: ``create_app`` plus one trivial route, on one uvicorn worker, with
    ``notice_workers`` notice worker processes as ``scs serve --notice-workers`` starts."""
    import uvicorn

    from socialcredit import notice_worker
    from socialcredit.api.app import create_app
    from socialcredit.api.limits import RateLimit
    from socialcredit.api.serve import settle
    from socialcredit.store.registry import Registry

    registry = Registry.open(url, Path(secret))
    # No rate limit: the bench drives one key far beyond the default 1,000 requests a second.
    app = create_app(registry, RateLimit(0, 0), write_notices=notice_workers == 0)
    notice_worker.start(registry, notice_workers)  # daemons: they end with this process

    async def trivial() -> dict[str, bool]:
        return {"ok": True}

    app.add_api_route(TRIVIAL, trivial, methods=["GET"], include_in_schema=False)
    # First in the routing table, not last: matched after every router and the web pages,
    # it spent a quarter of its time in route matching, and the checks (second router) were
    # compared with a denominator slower than the stack they share.
    app.router.routes.insert(0, app.router.routes.pop())
    settle()  # as ``scs serve`` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not come up")


# -- the city, its keys and its people ------------------------------------------------------


def _pristine_city(people: int) -> Path:
    path = OUT / f"api-{people}.db"
    built = path.with_suffix(".built")
    if not built.exists():
        from socialcredit.demo_registry import build_demo

        print(f"building the demo city ({people:,} people) in {path}", file=sys.stderr)
        for stale in (path, OUT / f"api-{people}.key"):
            stale.unlink(missing_ok=True)
        build_demo(f"sqlite:///{path}", OUT / f"api-{people}.key", people, max(people // 10, 10))
        built.touch()
    return path


def _keys(url: str, secret: Path) -> dict[str, str]:
    from socialcredit.store import keys
    from socialcredit.store.keys import Role
    from socialcredit.store.registry import Registry

    registry = Registry.init(url, secret, actor="bench")  # a city cached by an older schema
    registry.add_provider(_PROVIDER, _PROVIDER_TYPES, actor="bench")
    _, consumer = keys.create(registry, Role.CONSUMER, measures=MEASURES)
    _, provider = keys.create(registry, Role.PROVIDER, provider=_PROVIDER)
    return {"consumer": consumer, "provider": provider}


#: A provider of the bench's own, allowed every kind of record the demo city makes, so that
#: submissions are the city's usual mix of types.
_PROVIDER = "bench.city"
_PROVIDER_TYPES = ["*"]


def _persons(people: int) -> list[str]:
    from socialcredit.demo import generate_city

    return [p.id for p in generate_city(7, people, max(people // 10, 10)).persons]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- wrk ------------------------------------------------------------------------------------


def _lua_single(persons: list[str], token: str, route: str, name: str) -> Path:
    """A wrk script asking ``route`` a check's question about each person in turn."""
    path = OUT / f"{name}.lua"
    listed = ",".join(f'"{p}"' for p in persons)
    path.write_text(
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f"local subjects = {{{listed}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #subjects + 1\n"
        f'  return wrk.format("GET", "{route}?subject=" .. subjects[i] ..\n'
        f'    "&measure={MEASURES[0]}&purpose=travel_booking")\n'
        "end\n"
    )
    return path


def _lua_batch(persons: list[str], token: str) -> Path:
    """Ten different bodies of 10,000 subjects, sent in turn."""
    path = OUT / "batch.lua"
    bodies = []
    for start in range(10):
        chosen = [persons[(start * 997 + i) % len(persons)] for i in range(BATCH_CHECKS)]
        body = {"measure": MEASURES[0], "purpose": "travel_booking", "subjects": chosen}
        bodies.append(json.dumps(orjson.dumps(body).decode()))
    path.write_text(
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{','.join(bodies)}}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #bodies + 1\n"
        '  return wrk.format("POST", "/v1/checks", nil, bodies[i])\n'
        "end\n"
    )
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(
    url: str, seconds: int, connections: int, script: Path | None, server: int
) -> dict[str, float]:
    """One wrk run: requests per second, latencies, and the ``server`` process's CPU time
    per request over the run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    if script is not None:
        command += ["-s", str(script)]
    load = os.getloadavg()[0]
    cpu = _cpu_seconds(server)
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    cpu = _cpu_seconds(server) - cpu
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if failed:
        sys.exit(f"{failed.group(1)} requests failed under wrk:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "rps": rps,
        "cpu_us": round(cpu / max(done, 1) * 1e6, 1),
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
        "load_average_before": load,
    }


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the server's notice workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _latency(out: str, percentile: str) -> float:
    found = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out)
    if found is None:
        return float("nan")
    return round(float(found.group(1)) * _UNITS[found.group(2)], 3)


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: round(statistics.median(r[name] for r in runs), 3) for name in runs[0]}


def _check_everyone(port: int, token: str, persons: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for start in range(0, len(persons), BATCH_CHECKS):
        body = {
            "measure": MEASURES[0],
            "purpose": "travel_booking",
            "subjects": persons[start : start + BATCH_CHECKS],
        }
        conn.request("POST", "/v1/checks", body=orjson.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"batch check failed: {response.status}")


# -- record submission ---------------------------------------------------------------------

_run_counter = 0


def _submit_records(port: int, token: str, batches: int) -> tuple[float, float]:
    """Records per second landed by two client threads posting pre-serialised batches: until
    the notices they call for are written, and until the last answer (notices pending)."""
    global _run_counter
    _run_counter += 1
    bodies = _record_bodies(batches, _run_counter)
    landed = [0, 0]

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for body in bodies[slot::2]:
            conn.request("POST", "/v1/records", body=body, headers=headers)
            response = conn.getresponse()
            answer = orjson.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"submission failed: {response.status} {answer}")
            landed[slot] += answer["accepted"]
            if answer["accepted"] != BATCH_RECORDS:
                raise RuntimeError(f"not all records landed: {answer['rejected']} rejected")

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = time.perf_counter() - started
    _notices_done(port)  # the work a submission leaves behind is part of its cost
    return sum(landed) / (time.perf_counter() - started), sum(landed) / answered


def _notices_done(port: int) -> None:
    """Wait until the server has written the notices the submissions called for."""
    while _gauge(port, "scs_notices_pending") > 0:
        time.sleep(0.05)


def _audit_indexed(port: int) -> float:
    """Wait until the server's indexer has caught up with the audit entries a batch run
    wrote (fewer than ``AT_LEAST`` left, the most it leaves unindexed); the seconds it took,
    reported so that the indexing a batch leaves behind is seen, not charged to the next
    part."""
    started = time.perf_counter()
    while _gauge(port, "scs_audit_unindexed_entries") >= audit_index.AT_LEAST:
        time.sleep(0.05)
    return round(time.perf_counter() - started, 2)


def _gauge(port: int, name: str) -> float:
    """One gauge of the server's ``/metrics`` (0 if it is not there)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    found = re.search(rf"^{name} ([\d.e+]+)$", text, re.M)
    return 0.0 if found is None else float(found.group(1))


def _record_bodies(batches: int, run: int) -> list[bytes]:
    """New records of the bench provider: the demo's own kind of records, fresh refs."""
    from socialcredit.demo import generate_records

    wanted = batches * BATCH_RECORDS
    chosen: list[dict[str, Any]] = []
    for record in generate_records(1000 + run, wanted * 2):
        if record.relates_to is None:
            item = record.to_json()
            item["provider"] = _PROVIDER
            item["ref"] = f"bench{run}-{len(chosen)}"
            chosen.append(item)
            if len(chosen) == wanted:
                break
    if len(chosen) < wanted:
        raise RuntimeError(f"only {len(chosen)} records of {_PROVIDER} generated")
    return [orjson.dumps(chosen[i : i + BATCH_RECORDS]) for i in range(0, wanted, BATCH_RECORDS)]


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
