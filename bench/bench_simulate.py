"""The simulation lab at city scale, against the same model written one object per agent.

Run: ``python bench/bench_simulate.py [--population N] [--years Y] [--plain-population M]``
(defaults: 1,000,000 people for 5 years under ``rongcheng``, the plain model on 2,000 people
for 1 year). It measures, in this order and in this process:

- **vectorised**: ``sim.run.simulate``, what ``scs simulate`` runs: agents as NumPy arrays,
  records as columns, each month only the subjects with a new record or a record starting or
  stopping to count rescored by the project's engines (bulk engine, or ``scoring.evaluate``
  for a few hundred). Timed from the population draw to the last month, plus the metrics
  (``summarise``) separately; the report's charts are not included.
- **plain**: ``sim.plain.simulate_plain``, the same model with one Python object per agent
  that steps every month and rescores itself with ``scoring.evaluate``, as a Mesa model would.
  Timed over the monthly steps.

Both are reported as agent-months per second; the results, with peak memory, also go to
``bench/out/simulate-<population>.json``. Not part of the tests: timings depend on the
machine and its load (two cores here, shared).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import date
from pathlib import Path

from socialcredit.rulebook import load_rulebook
from socialcredit.sim.params import load_parameters
from socialcredit.sim.plain import simulate_plain
from socialcredit.sim.run import simulate
from socialcredit.sim.summary import headline, summarise

OUT = Path(__file__).parent / "out"
START = date(2027, 1, 1)
TARGET_SECONDS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--plain-population", type=int, default=2_000)
    parser.add_argument("--plain-years", type=int, default=1)
    parser.add_argument("--rulebook", default="rongcheng")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    book, params = load_rulebook(args.rulebook), load_parameters()

    began = time.perf_counter()
    months_done = [0]

    def tick(month: int) -> None:
        months_done[0] = month
        if month % 12 == 0:
            print(f"  year {month // 12}: {time.perf_counter() - began:.1f} s", flush=True)

    run = simulate(book, params, args.population, args.years, args.seed, start=START,
                   progress=tick)  # fmt: skip
    simulated = time.perf_counter() - began
    summary = summarise(run)
    total = time.perf_counter() - began
    vectorised = {
        "population": args.population,
        "years": args.years,
        "agent_months": run.agent_months,
        "records": len(run.history),
        "rescored_subject_months": int(sum(run.monthly["rescored"])),
        "seconds_simulation": round(simulated, 2),
        "seconds_with_metrics": round(total, 2),
        "agent_months_per_second": round(run.agent_months / simulated),
        "target_seconds": TARGET_SECONDS,
        "met": total < TARGET_SECONDS,
        "headline": headline(summary),
    }
    print(json.dumps({"vectorised": vectorised}, indent=2), flush=True)

    plain_run = simulate_plain(book, params, args.plain_population, args.plain_years,
                               args.seed, start=START)  # fmt: skip
    plain = {
        "population": args.plain_population,
        "years": args.plain_years,
        "agent_months": plain_run.agent_months,
        "seconds": round(plain_run.seconds, 2),
        "agent_months_per_second": round(plain_run.agent_months / plain_run.seconds),
    }
    report = {
        "rulebook": f"{book.name} {book.version}",
        "vectorised": vectorised,
        "plain": plain,
        "speed_ratio": round(
            vectorised["agent_months_per_second"] / plain["agent_months_per_second"], 1
        ),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps({"plain": plain, "speed_ratio": report["speed_ratio"],
                      "peak_rss_mb": report["peak_rss_mb"]}, indent=2))  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"simulate-{args.population}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
