"""The simulation lab: seeded, scored by the project's own engine, and refusing bad input."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import typer.main
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from typer.testing import CliRunner

from socialcredit.cli import app
from socialcredit.rulebook import load_rulebook
from socialcredit.sim import engine, metrics
from socialcredit.sim.params import PolicyError, load_parameters
from socialcredit.sim.plain import simulate_plain
from socialcredit.sim.population import PERSON, make_population
from socialcredit.sim.run import Run, simulate

RUNNER = CliRunner()
START = date(2024, 1, 1)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rongcheng_run() -> Run:
    return simulate(load_rulebook("rongcheng"), load_parameters(), 3000, 2, 11, start=START)


def test_the_same_seed_gives_the_same_run_and_another_seed_another(rongcheng_run: Run) -> None:
    again = simulate(load_rulebook("rongcheng"), load_parameters(), 3000, 2, 11, start=START)
    assert np.array_equal(again.grades, rongcheng_run.grades)
    assert np.array_equal(again.scores, rongcheng_run.scores)
    for name in ("agent", "type", "day", "relates"):
        assert np.array_equal(again.history.column(name), rongcheng_run.history.column(name))
    other = simulate(load_rulebook("rongcheng"), load_parameters(), 3000, 2, 12, start=START)
    assert not np.array_equal(other.history.column("agent"), rongcheng_run.history.column("agent"))


def test_simulated_scores_are_what_scs_score_returns_for_the_same_records(
    rongcheng_run: Run, tmp_path: Path
) -> None:
    """Written out, the simulated records score exactly as the run scored them."""
    records = tmp_path / "records.parquet"
    rongcheng_run.history.write(records)
    end = rongcheng_run.month_end(rongcheng_run.months)
    for choice in ("incremental", "bulk"):
        out = tmp_path / f"{choice}.jsonl"
        result = RUNNER.invoke(
            app,
            [
                "score",
                "--rulebook",
                "rongcheng",
                "--records",
                str(records),
                "--all",
                "--as-of",
                end.isoformat(),
                "--engine",
                choice,
                "--output",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output  # every simulated record is valid
        scored = {
            row["subject"]["id"]: row for row in map(json.loads, out.read_text().splitlines())
        }
        ids = rongcheng_run.population.ids.to_pylist()
        grades = [b.grade for b in rongcheng_run.rulebook.grades]
        with_records = np.unique(rongcheng_run.history.column("agent"))
        assert len(scored) == len(with_records) > 100
        for agent in with_records.tolist():
            row = scored[ids[agent]]
            assert row["score"] == rongcheng_run.scores[-1, agent], ids[agent]
            assert row["grade"] == grades[rongcheng_run.grades[-1, agent]], ids[agent]
        untouched = np.setdiff1d(np.arange(len(ids)), with_records)
        assert (rongcheng_run.scores[-1, untouched] == 1000).all()


def test_both_engine_paths_give_the_same_run(monkeypatch: pytest.MonkeyPatch) -> None:
    book, params = load_rulebook("flensburg"), load_parameters()
    monkeypatch.setattr(engine, "EVALUATE_BELOW", 0)
    in_bulk = simulate(book, params, 1500, 2, 5, start=START)
    monkeypatch.setattr(engine, "EVALUATE_BELOW", 10**9)
    one_by_one = simulate(book, params, 1500, 2, 5, start=START)
    assert np.array_equal(in_bulk.grades, one_by_one.grades)
    assert np.array_equal(in_bulk.scores, one_by_one.scores)
    assert in_bulk.grades[-1].max() > 0  # somebody left "clear"


def test_only_subjects_with_a_change_are_rescored(rongcheng_run: Run) -> None:
    rescored = np.array(rongcheng_run.monthly["rescored"][1:])
    assert 0 < rescored.max() < rongcheng_run.population.size / 5


def test_identifiers_are_valid_and_distinct() -> None:
    pop = make_population(4000, load_parameters(), 3, START)
    ids = pop.ids.to_pylist()
    assert len(set(ids)) == len(ids)
    for number, kind in zip(ids, pop.kind.tolist(), strict=True):
        assert (ric if kind == PERSON else uscc).is_valid(number), number


def test_the_plain_model_runs_the_same_model() -> None:
    plain = simulate_plain(load_rulebook("rongcheng"), load_parameters(), 300, 1, 4, start=START)
    assert plain.agent_months == 3600
    assert sum(plain.grade_counts[-1].values()) == 300


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("[feedback]\ndeterrence = 1.5\n", "feedback.deterrence", "between 0 and 1"),
        ("[feedback]\ndeterence = 0.2\n", "feedback.deterence", "unknown parameter"),
        ('[repair]\nenabled = "yes"\n', "repair.enabled", "true or false"),
        ('[behaviour]\nrate_scale = "2"\n', "behaviour.rate_scale", "must be a number"),
        (
            '[rates.person]\n"traffic.warning" = 120\n',
            'rates.person."traffic.warning"',
            "yearly rate",
        ),
        ("[rates.alien]\nx = 1\n", "rates.alien", "unknown subject kind"),
        ("[colour]\nx = 1\n", "colour", "unknown section"),
        ("deterrence = \n", "(file)", "not valid TOML"),
    ],
)
def test_a_malformed_policy_names_the_field_and_the_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_parameters(path)
    assert caught.value.field_path == field
    assert reason in caught.value.reason
    result = RUNNER.invoke(app, ["simulate", "--policy", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert field in result.output and reason in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--population", "0"], "at least 1"),
        (["--population", "1000000000"], "more than this simulation accepts"),
        (["--years", "0"], "--years must be between"),
        (["--rulebook", "atlantis"], "atlantis"),
        (["--start", "soon"], "not a date"),
        (["--compare", "no-repair"], "at least two"),
        (["--compare", "nothing.toml", "repair"], "not a shipped policy"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = RUNNER.invoke(app, ["simulate", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "o").exists()


# -- outputs ------------------------------------------------------------------------------------
def test_simulate_writes_metrics_and_a_self_contained_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = RUNNER.invoke(
        app,
        [
            "simulate",
            "--rulebook",
            "rongcheng",
            "--population",
            "2000",
            "--years",
            "2",
            "--seed",
            "3",
            "--start",
            "2024-01-01",
            "--sensitivity-population",
            "300",
            "--write-records",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["agent_months"] == 48_000
    for name in (
        "metrics.json",
        "monthly.parquet",
        "agents.parquet",
        "groups.parquet",
        "transitions.parquet",
        "sensitivity.parquet",
        "records.parquet",
        "report.html",
    ):
        assert (out / name).is_file(), name
    page = (out / "report.html").read_text()
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert page.count("<svg") >= 8
    for heading in (
        "Grade distribution",
        "transitions",
        "Blacklists",
        "Time to recover",
        "Persistence",
        "Gini",
        "never see",
        "Sensitivity",
    ):
        assert heading in page
    assert pq.read_table(out / "monthly.parquet").num_rows == 25
    metrics_doc = json.loads((out / "metrics.json").read_text())
    assert metrics_doc["sensitivity"]["rows"]


def test_compare_shows_what_repair_changes(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = RUNNER.invoke(
        app,
        [
            "simulate",
            "--population",
            "3000",
            "--years",
            "3",
            "--seed",
            "8",
            "--start",
            "2024-01-01",
            "--out",
            str(out),
            "--compare",
            "repair",
            "no-repair",
        ],
    )
    assert result.exit_code == 0, result.output
    repair, no_repair = json.loads(result.stdout)["variants"]
    with_ = json.loads((out / "repair" / "metrics.json").read_text())
    without = json.loads((out / "no-repair" / "metrics.json").read_text())
    assert with_["recovery_from_worst_grade"]["with_repair"]["spells"] > 0
    assert without["recovery_from_worst_grade"]["with_repair"]["spells"] == 0
    # One population: the same subjects in both runs.
    assert with_["population"] == without["population"] == 3000
    assert (out / "report.html").is_file() and (out / "compare.parquet").is_file()
    assert repair["blacklisted_at_end"] <= no_repair["blacklisted_at_end"]


# -- metric invariants --------------------------------------------------------------------------
grades_strategy = st.lists(st.integers(0, 5), min_size=1, max_size=200)


@given(grades_strategy, st.randoms(use_true_random=False))
def test_transition_rows_sum_to_one_or_are_empty(before: list[int], rnd: object) -> None:
    after = np.array(before[::-1])
    matrix = metrics.transition_matrix(np.array(before), after, 6)
    sums = matrix.sum(axis=1)
    present = np.isin(np.arange(6), before)
    assert np.allclose(sums[present], 1.0)
    assert np.allclose(sums[~present], 0.0)


@given(st.lists(st.integers(0, 2000), min_size=1, max_size=300))
def test_gini_lies_in_0_1_and_matches_the_pairwise_definition(values: list[int]) -> None:
    x = np.array(values, dtype=np.float64)
    g = metrics.gini(np.array(values))
    assert 0.0 <= g <= 1.0
    expected = (
        0.0 if x.sum() == 0 else np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) * x.sum())
    )
    assert g == pytest.approx(expected, abs=1e-9)


@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=200),
    st.lists(st.booleans(), min_size=200, max_size=200),
)
def test_four_fifths_ratios_are_at_most_one_and_flag_below_0_8(
    groups: list[int], adverse: list[bool]
) -> None:
    rows = metrics.group_outcomes(
        np.array(groups), ["a", "b", "c", "d"], np.array(adverse[: len(groups)])
    )
    for row in rows:
        ratio = row.get("four_fifths_ratio")
        if ratio is not None:
            assert 0.0 <= ratio <= 1.0 + 1e-12
            assert row["adverse_impact"] == (ratio < metrics.FOUR_FIFTHS)


@given(st.lists(st.integers(-60, 60).filter(lambda n: n != 0), min_size=1, max_size=50))
def test_the_survival_curve_starts_at_one_and_never_rises(lengths: list[int]) -> None:
    curve = metrics.kaplan_meier(np.array(lengths))
    shares = [share for _, share in curve]
    assert shares[0] == 1.0
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(shares))


def test_compare_takes_rulebook_variants_too(tmp_path: Path) -> None:
    """A rulebook file is a variant as well: here Rongcheng with a direct D held 2 years, not 5."""
    shipped = (ROOT / "src" / "socialcredit" / "rulebooks" / "rongcheng.toml").read_text()
    assert 'direct_validity = "5y"' in shipped
    variant = tmp_path / "rongcheng-short-d.toml"
    variant.write_text(shipped.replace('direct_validity = "5y"', 'direct_validity = "2y"', 1))
    out = tmp_path / "cmp"
    result = RUNNER.invoke(
        app,
        ["simulate", "--population", "1500", "--years", "2", "--seed", "2", "--start",
         "2024-01-01", "--out", str(out), "--compare", "repair", str(variant)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [v["variant"] for v in json.loads(result.stdout)["variants"]]
    assert names == ["repair", "rongcheng-short-d"]
    page = (out / "report.html").read_text()
    assert "rongcheng-short-d" in page


def test_the_command_names_the_defaults_the_simulation_uses() -> None:
    """``scs --help`` must not load the simulation, so the command repeats two defaults."""
    from socialcredit import sim_cli
    from socialcredit.sim import run, sensitivity

    assert sim_cli.DEFAULT_SENSITIVITY_POPULATION == sensitivity.DEFAULT_POPULATION
    command = typer.main.get_group(app).commands["simulate"]
    (start,) = [p for p in command.params if p.name == "start"]
    assert run.DEFAULT_START.isoformat() in str(getattr(start, "help", ""))
