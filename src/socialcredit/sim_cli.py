"""``scs simulate``: the simulation lab from the command line; ``cli`` registers it.

One run writes its metrics (JSON, Parquet) and an HTML report into ``--out``; ``--compare``
runs one population under several policies or rulebooks and writes each run's outputs in a
subdirectory plus a side-by-side report. Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from socialcredit.console import CommandError, emit, progress_bar, user_errors

if TYPE_CHECKING:
    from socialcredit.rulebook import Rulebook
    from socialcredit.sim.compare import Variant
    from socialcredit.sim.params import Parameters

#: The sample for the sensitivity analysis (``sim.sensitivity.DEFAULT_POPULATION``, named
#: here so that ``scs --help`` does not load the simulation and matplotlib).
DEFAULT_SENSITIVITY_POPULATION = 2000


@user_errors
def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for metrics and the report")],
    rulebook: Annotated[
        str | None,
        typer.Option(
            "--rulebook",
            metavar="NAME_OR_FILE",
            help="A shipped rulebook or a .toml file (default: the policy's, else rongcheng)",
            show_default=False,
        ),
    ] = None,
    population: Annotated[int, typer.Option("--population", help="Subjects to simulate")] = 10_000,
    years: Annotated[int, typer.Option("--years", help="Years, in monthly steps")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed: one seed, one run")] = 1,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Policy file overriding the parameters")
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            metavar="VARIANT",
            help="Policy files, shipped policy names or rulebook files to run side by side; "
            "several may follow --compare",
        ),
    ] = None,
    more: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start", metavar="DATE", help="First simulated month (YYYY-MM-DD; default 2027-01-01)"
        ),
    ] = None,
    sensitivity_population: Annotated[
        int,
        typer.Option(
            "--sensitivity-population",
            help="Sample size for the sensitivity analysis; 0 skips it",
        ),
    ] = DEFAULT_SENSITIVITY_POPULATION,
    write_records: Annotated[
        bool,
        typer.Option("--write-records", help="Also write every simulated record (records.parquet)"),
    ] = False,
) -> None:
    """Simulate a synthetic population under a rulebook; write metrics and an HTML report."""
    from socialcredit.rulebook import load_rulebook
    from socialcredit.sim.compare import resolve
    from socialcredit.sim.params import PolicyError, load_parameters
    from socialcredit.sim.population import PopulationError, check_size
    from socialcredit.sim.run import DEFAULT_START, SimulationError

    try:
        check_size(population)
        first = _start(start) or DEFAULT_START
        if more and not compare:
            raise CommandError(f"unexpected argument {more[0]!r}")
        if compare:
            if policy is not None:
                raise CommandError("give the policies to compare with --compare, not --policy")
            variants = [resolve(entry, rulebook or "rongcheng") for entry in compare + (more or [])]
            if len(variants) < 2:
                raise CommandError("--compare needs at least two policies or rulebooks")
            emit(_compare(variants, population, years, seed, first, out, write_records))
            return
        params = load_parameters(policy)
        book = load_rulebook(rulebook or params.rulebook or "rongcheng")
        result = _one(
            book, params, population, years, seed, first, out, write_records, sensitivity_population
        )
        emit(result)
    except (PolicyError, PopulationError, SimulationError) as exc:
        raise CommandError(str(exc)) from None


def _start(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"--start {text!r} is not a date (YYYY-MM-DD)") from None


def _one(
    book: Rulebook,
    params: Parameters,
    population: int,
    years: int,
    seed: int,
    first: date,
    out: Path,
    write_records: bool,
    sensitivity_population: int,
) -> dict[str, Any]:
    from socialcredit.sim.report import write_outputs
    from socialcredit.sim.run import simulate
    from socialcredit.sim.sensitivity import runs_needed, sensitivity
    from socialcredit.sim.summary import headline, summarise, tables

    with progress_bar(
        f"simulating {population:,} under {book.name}", 12 * years, bytes_=False
    ) as advance:
        run = simulate(book, params, population, years, seed, start=first, progress=advance)
    summary = summarise(run)
    analysis = None
    if sensitivity_population > 0:
        sample = min(sensitivity_population, population)
        with progress_bar("sensitivity", runs_needed(params), bytes_=False) as advance:
            analysis = sensitivity(book, params, sample, years, seed, progress=advance).to_json()
    files = write_outputs(out, summary, tables(run, summary), analysis)
    if write_records:
        path = out / "records.parquet"
        run.history.write(path)
        files.append(path)
    return {
        "out": str(out),
        "files": [f.name for f in files],
        "rulebook": book.name,
        "policy": params.name,
        "population": population,
        "agent_months": run.agent_months,
        "seconds": round(run.seconds, 3),
        "agent_months_per_second": round(run.agent_months / run.seconds) if run.seconds else None,
        "headline": headline(summary),
    }


def _compare(
    variants: list[Variant],
    population: int,
    years: int,
    seed: int,
    first: date,
    out: Path,
    write_records: bool,
) -> dict[str, Any]:
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    from socialcredit.sim.compare import slug
    from socialcredit.sim.population import make_population
    from socialcredit.sim.report import render_comparison, write_outputs
    from socialcredit.sim.run import simulate
    from socialcredit.sim.summary import headline, summarise, tables

    taken: set[str] = set()
    summaries = []
    rows = []
    agents = make_population(population, variants[0].params, seed, first.replace(day=1))
    for variant in variants:
        same_people = variant.params.population == variants[0].params.population
        pop = agents if same_people else population
        with progress_bar(f"simulating {variant.name}", 12 * years, bytes_=False) as advance:
            run = simulate(
                variant.rulebook, variant.params, pop, years, seed, start=first, progress=advance
            )
        summary = summarise(run)
        summary["policy"]["name"] = variant.name
        directory = out / slug(variant.name, taken)
        write_outputs(directory, summary, tables(run, summary))
        if write_records:
            run.history.write(directory / "records.parquet")
        summaries.append(summary)
        rows.append(
            {
                "variant": variant.name,
                "rulebook": variant.rulebook.name,
                "directory": directory.name,
                **headline(summary),
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    pq.write_table(pa.Table.from_pylist(rows), out / "compare.parquet")
    (out / "report.html").write_text(render_comparison(summaries), "utf-8")
    return {"out": str(out), "variants": rows}
