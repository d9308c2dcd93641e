"""A run's metrics as one JSON document and as Parquet tables.

``summarise`` collects every answer of ``metrics`` for a run under stable keys (what the
report draws and what ``--compare`` sets side by side); ``headline`` picks the few numbers a
sensitivity or comparison table shows per run; ``tables`` gives the same data as Arrow tables
for analysis in other tools.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from socialcredit import __version__
from socialcredit.sim import metrics
from socialcredit.sim.population import AGE_BANDS, KINDS, PERSON
from socialcredit.sim.run import Run

#: The headline numbers, in the order tables show them, with what each means.
HEADLINES: dict[str, str] = {
    "ever_blacklisted": "share ever on a blacklist",
    "blacklisted_at_end": "share on a blacklist at the end",
    "worst_grade_at_end": "share in the worst grade at the end",
    "bottom_at_end": "share in the two worst grades at the end",
    "gini_at_end": "Gini of scores at the end",
    "median_months_out_of_worst": "median months to leave the worst grade",
    "median_months_out_with_repair": "... with a repair during the spell",
    "median_months_out_without_repair": "... without",
    "still_in_worst_after_24_months": "share of worst-grade spells still open after 24 months",
    "bottom_persistence": "share of the bottom after year 1 still there at the end",
    "bottom_lift": "that share / everyone's share in the bottom",
    "income_q1_vs_q5_blacklisted": "ever blacklisted: poorest fifth / richest fifth",
    "lowest_four_fifths_ratio": "lowest four-fifths ratio (ever blacklisted, income quintiles)",
}


def summarise(run: Run) -> dict[str, Any]:
    """Every metric of the run, JSON-ready."""
    rb = run.rulebook
    labels = [band.grade for band in rb.grades]
    worst = len(labels) - 1
    bottom = [worst - 1, worst] if len(labels) > 1 else [worst]
    grades = run.grades
    end_grade = grades[-1]
    list_codes = run.roles.codes
    lists_end = {
        code: float(((run.lists >> np.uint64(i)) & np.uint64(1)).astype(bool).mean())
        for i, code in enumerate(list_codes)
    }
    groups = group_tables(run, end_grade, bottom)
    recovery = metrics.recovery(grades, run.repaired, worst)
    return {
        "software": f"socialcredit {__version__}",
        "rulebook": {"name": rb.name, "version": rb.version},
        "policy": run.params.to_json(),
        "population": int(run.population.size),
        "persons": int((run.population.kind == PERSON).sum()),
        "organisations": int((run.population.kind != PERSON).sum()),
        "years": run.months // 12,
        "months": run.months,
        "seed": run.seed,
        "start": run.start.isoformat(),
        "end": run.month_end(run.months).isoformat(),
        "records": len(run.history),
        "seconds": run.seconds,
        "agent_months_per_second": run.agent_months / run.seconds if run.seconds else None,
        "unmodelled_types": list(run.table.unmodelled),
        "blacklists": [c for i, c in enumerate(list_codes) if run.roles.black >> i & 1],
        "reward_lists": [c for i, c in enumerate(list_codes) if run.roles.reward >> i & 1],
        "grades": labels,
        "default_grade": rb.grade_for(rb.score.base),
        "monthly": run.monthly,
        "grade_distribution": metrics.grade_distribution(grades, len(labels)).tolist(),
        "transitions_yearly": metrics.yearly_transitions(grades, len(labels)).tolist(),
        "transitions_start_to_end": metrics.transition_matrix(
            grades[min(12, run.months)], end_grade, len(labels)
        ).tolist(),
        "blacklisted": {
            "ever": float(run.ever_blacklisted.mean()),
            "at_end": float(run.blacklisted.mean()),
            "mean_months_of_ever_blacklisted": (
                float(run.months_blacklisted[run.ever_blacklisted].mean())
                if run.ever_blacklisted.any()
                else None
            ),
            "by_list_at_end": lists_end,
        },
        "recovery_from_worst_grade": {"grade": labels[worst], **recovery},
        "persistence": {
            "bottom_grades": [labels[b] for b in bottom],
            **metrics.persistence(grades, bottom),
        },
        "gini": {"at_end": run.monthly["gini"][-1], "monthly": run.monthly["gini"]},
        "groups": groups,
    }


def group_tables(run: Run, end_grade: np.ndarray, bottom: list[int]) -> dict[str, Any]:
    """Outcomes by groups the rules never see, with the four-fifths ratio."""
    pop = run.population
    persons = pop.kind == PERSON
    quintile = pop.income_quintile().astype(np.int64)
    outcomes = {
        "ever_blacklisted": run.ever_blacklisted,
        "bottom_grades_at_end": np.isin(end_grade, bottom),
    }
    groupings: dict[str, tuple[np.ndarray, list[str]]] = {
        "income_quintile_persons": (
            np.where(persons, quintile, -1),
            ["Q1 (poorest)", "Q2", "Q3", "Q4", "Q5 (richest)"],
        ),
        "income_quintile_organisations": (
            np.where(~persons, quintile, -1),
            ["Q1 (smallest)", "Q2", "Q3", "Q4", "Q5 (largest)"],
        ),
        "age_band": (
            pop.age_band().astype(np.int64),
            [
                f"{low}-{high - 1}" if high else f"{low}+"
                for low, high in zip(AGE_BANDS, (*AGE_BANDS[1:], 0), strict=True)
            ],
        ),
        "district": (pop.district.astype(np.int64), list(_district_names())),
        "kind": (pop.kind.astype(np.int64), [k.value for k in KINDS]),
    }
    return {
        name: {
            outcome: metrics.group_outcomes(groups, labels, adverse)
            for outcome, adverse in outcomes.items()
        }
        for name, (groups, labels) in groupings.items()
    }


def _district_names() -> tuple[str, ...]:
    from socialcredit.demo import DISTRICTS

    return tuple(d.name for d in DISTRICTS)


def headline(summary: dict[str, Any]) -> dict[str, float | None]:
    """The few numbers per run that sensitivity and comparison tables show."""
    recovery = summary["recovery_from_worst_grade"]
    quintiles = summary["groups"]["income_quintile_persons"]["ever_blacklisted"]
    rates = [q["adverse_rate"] for q in quintiles]
    ratios = [q.get("four_fifths_ratio") for q in quintiles if q.get("four_fifths_ratio")]
    distribution = summary["grade_distribution"][-1]
    persistence = summary["persistence"]
    return {
        "ever_blacklisted": summary["blacklisted"]["ever"],
        "blacklisted_at_end": summary["blacklisted"]["at_end"],
        "worst_grade_at_end": distribution[-1],
        "bottom_at_end": sum(distribution[-2:]),
        "gini_at_end": summary["gini"]["at_end"],
        "median_months_out_of_worst": _number(recovery["all"]["median_months"]),
        "median_months_out_with_repair": _number(recovery["with_repair"]["median_months"]),
        "median_months_out_without_repair": _number(recovery["without_repair"]["median_months"]),
        "still_in_worst_after_24_months": recovery["all"]["still_in_after_months"].get(24),
        "bottom_persistence": persistence["still_bottom_share"],
        "bottom_lift": persistence["lift"],
        "income_q1_vs_q5_blacklisted": (
            rates[0] / rates[-1] if rates and rates[0] is not None and rates[-1] else None
        ),
        "lowest_four_fifths_ratio": min(ratios) if ratios else None,
    }


def _number(value: int | None) -> float | None:
    return None if value is None else float(value)


def tables(run: Run, summary: dict[str, Any]) -> dict[str, pa.Table]:
    """The metrics as Arrow tables: monthly series, per agent outcomes, group outcomes."""
    labels = summary["grades"]
    monthly = dict(summary["monthly"])
    monthly["date"] = [
        run.month_end(m).isoformat() if m else run.start.isoformat() for m in range(run.months + 1)
    ]
    distribution = np.array(summary["grade_distribution"])
    for i, grade in enumerate(labels):
        monthly[f"share_{grade}"] = distribution[:, i].tolist()
    pop = run.population
    agents = pa.table(
        {
            "subject_kind": pa.array([KINDS[k].value for k in pop.kind.tolist()]),
            "subject_id": pop.ids,
            "income_quintile": pop.income_quintile() + 1,
            "age_band": pop.age_band(),
            "district": pop.district,
            "final_score": run.scores[-1],
            "final_grade": pa.array(labels).take(pa.array(run.grades[-1].astype(np.int64))),
            "ever_blacklisted": run.ever_blacklisted,
            "months_blacklisted": run.months_blacklisted,
        }
    )
    rows = [
        {"grouping": grouping, "outcome": outcome, **row}
        for grouping, outcomes in summary["groups"].items()
        for outcome, group_rows in outcomes.items()
        for row in group_rows
    ]
    transitions = [
        {"from": labels[i], "to": labels[j], "share": share, "period": period}
        for period, key in (
            ("yearly", "transitions_yearly"),
            ("year1_to_end", "transitions_start_to_end"),
        )
        for i, row in enumerate(summary[key])
        for j, share in enumerate(row)
    ]
    return {
        "monthly": pa.table(monthly),
        "agents": agents,
        "groups": pa.Table.from_pylist(rows),
        "transitions": pa.Table.from_pylist(transitions),
    }
