"""What a run shows: the answers to the seed documents' questions, as plain numbers.

Pure functions over the arrays a run leaves (``run.Run``), each answering one question:
how grades spread and move (distribution, transition matrix), who is or was blacklisted,
how long it takes to get out of the worst grade with and without repair, whether the bottom
stays at the bottom, how unequal scores are (Gini), and whether outcomes differ by groups the
rules never see (income quintile, age, district) by more than the four-fifths rule allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: The four-fifths rule: a group whose rate of the favourable outcome is below this share
#: of the best group's rate shows adverse impact (US EEOC Uniform Guidelines, 29 CFR 1607.4(D)).
FOUR_FIFTHS = 0.8


def gini_of_counts(counts: np.ndarray, offset: int = 0) -> float:
    """Gini coefficient of non-negative integer values given as a histogram.

    ``counts[i]`` subjects have the value ``offset + i``. O(values) rather than a sort of all
    subjects, so it is cheap to take every month. 0 when everyone is equal (or all are 0).
    """
    counts = np.asarray(counts, dtype=np.float64)
    values = offset + np.arange(len(counts), dtype=np.float64)
    n = counts.sum()
    total = (counts * values).sum()
    if n == 0 or total == 0:
        return 0.0
    # G = sum_i sum_j |x_i - x_j| / (2 n^2 mean), via the cumulative form over sorted values.
    cum_n = np.cumsum(counts)
    cum_x = np.cumsum(counts * values)
    # For each value v: pairs with smaller values contribute counts*(v*cum_n_before - cum_x_before)
    before_n = cum_n - counts
    before_x = cum_x - counts * values
    absolute = 2.0 * (counts * (values * before_n - before_x)).sum()
    return float(min(max(absolute / (2.0 * n * total), 0.0), 1.0))


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative integers (negative values count as 0)."""
    values = np.maximum(np.asarray(values, dtype=np.int64), 0)
    if len(values) == 0:
        return 0.0
    return gini_of_counts(np.bincount(values), 0)


def grade_distribution(grades: np.ndarray, grade_count: int) -> np.ndarray:
    """Shares per grade for each month: ``[months + 1, grades]``, rows sum to 1."""
    out = np.zeros((grades.shape[0], grade_count))
    for m in range(grades.shape[0]):
        out[m] = np.bincount(grades[m], minlength=grade_count)[:grade_count]
    return np.asarray(out / max(grades.shape[1], 1))


def transition_matrix(before: np.ndarray, after: np.ndarray, grade_count: int) -> np.ndarray:
    """Share of subjects of each grade ``before`` that hold each grade ``after``.

    Rows are the grade before; each row with any subject sums to 1. A grade nobody held
    before has a row of zeros (nothing to say), not a made-up distribution.
    """
    counts = np.zeros((grade_count, grade_count))
    np.add.at(counts, (before.astype(np.int64), after.astype(np.int64)), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.asarray(np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0))


def yearly_transitions(grades: np.ndarray, grade_count: int) -> np.ndarray:
    """Year-on-year mobility, pooled over every year of the run."""
    years = (grades.shape[0] - 1) // 12
    if years == 0:
        return transition_matrix(grades[0], grades[-1], grade_count)
    before = np.concatenate([grades[12 * y] for y in range(years)])
    after = np.concatenate([grades[12 * (y + 1)] for y in range(years)])
    return transition_matrix(before, after, grade_count)


def spells(grades: np.ndarray, bottom: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every spell in grade ``bottom``: agent, first month in it, and months in it.

    A spell still open at the end is censored: its length is negative (minus the months seen).
    """
    inside = grades == bottom
    months = grades.shape[0]
    agents_out, starts_out, lengths_out = [], [], []
    entered = inside[1:] & ~inside[:-1]  # [months, agents]: entered in month m + 1
    for m, agents in ((m, np.nonzero(entered[m])[0]) for m in range(months - 1)):
        if not len(agents):
            continue
        first = m + 1
        rest = inside[first:, agents]  # from the first month in the spell
        left = ~rest
        has_left = left.any(axis=0)
        length = np.where(has_left, left.argmax(axis=0), -(months - first))
        agents_out.append(agents)
        starts_out.append(np.full(len(agents), first))
        lengths_out.append(length)
    if not agents_out:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(agents_out), np.concatenate(starts_out), np.concatenate(lengths_out)


def kaplan_meier(lengths: np.ndarray) -> list[tuple[int, float]]:
    """Share still in the spell after each number of months (censored spells negative)."""
    if len(lengths) == 0:
        return []
    done = lengths >= 0
    time = np.abs(lengths)
    curve = [(0, 1.0)]
    surviving = 1.0
    for t in range(1, int(time.max()) + 1):
        at_risk = int((time >= t).sum())
        ended = int(((time == t) & done).sum())
        if at_risk:
            surviving *= 1.0 - ended / at_risk
        curve.append((t, surviving))
    return curve


def median_months(curve: Sequence[tuple[int, float]]) -> int | None:
    """The first month at which half the spells have ended; None if not within the run."""
    return next((t for t, share in curve if share <= 0.5), None)


def recovery(grades: np.ndarray, repaired: np.ndarray, bottom: int) -> dict[str, Any]:
    """Time to leave the worst grade, for spells with a repair during them and without."""
    agents, starts, lengths = spells(grades, bottom)
    months = grades.shape[0]
    with_repair = np.zeros(len(agents), dtype=bool)
    for i, (a, s, n) in enumerate(zip(agents, starts, lengths, strict=True)):
        end = s + (n if n >= 0 else months - s)
        with_repair[i] = repaired[s : end + 1, a].any()
    out: dict[str, Any] = {}
    for name, chosen in (
        ("all", np.ones(len(agents), dtype=bool)),
        ("with_repair", with_repair),
        ("without_repair", ~with_repair),
    ):
        part = lengths[chosen]
        curve = kaplan_meier(part)
        out[name] = {
            "spells": len(part),
            "recovered": int((part >= 0).sum()),
            "censored": int((part < 0).sum()),
            "median_months": median_months(curve),
            "mean_months_of_recovered": float(part[part >= 0].mean())
            if (part >= 0).any()
            else None,
            "still_in_after_months": {t: share for t, share in curve if t in (12, 24, 36, 48, 60)},
            "curve": curve,
        }
    return out


def persistence(grades: np.ndarray, bottom: Sequence[int]) -> dict[str, Any]:
    """Of those in the bottom grades after the first year, the share still there at the end,
    against the share of everyone there at the end (the "lift": an underclass has a high one).
    """
    first = min(12, grades.shape[0] - 1)
    wanted = np.array(bottom)
    at_start = np.isin(grades[first], wanted)
    at_end = np.isin(grades[-1], wanted)
    cohort = int(at_start.sum())
    stayed = float(at_end[at_start].mean()) if cohort else None
    overall = float(at_end.mean())
    return {
        "from_month": first,
        "cohort": cohort,
        "still_bottom_share": stayed,
        "bottom_share_everyone": overall,
        "lift": (stayed / overall) if stayed is not None and overall > 0 else None,
    }


def group_outcomes(
    groups: np.ndarray, labels: Sequence[str], adverse: np.ndarray
) -> list[dict[str, Any]]:
    """Per group: size, adverse rate, and the four-fifths ratio of the favourable rate.

    ``groups`` holds an index into ``labels`` per subject (-1: not in this grouping). The ratio
    is each group's favourable rate (1 - adverse) over the best group's; below 0.8 is flagged.
    Also given: the adverse-rate ratio to the least affected group, which shows rare outcomes
    (blacklisting) more plainly than the four-fifths ratio can.
    """
    rows: list[dict[str, Any]] = []
    for index, label in enumerate(labels):
        member = groups == index
        size = int(member.sum())
        rate = float(adverse[member].mean()) if size else None
        rows.append({"group": label, "size": size, "adverse_rate": rate})
    rates = [float(r["adverse_rate"]) for r in rows if r["adverse_rate"] is not None]
    if rates:
        least = min(rates)
        best_favourable = 1.0 - least
        for r in rows:
            own = r["adverse_rate"]
            if own is None:
                r["four_fifths_ratio"] = r["adverse_ratio"] = None
                r["adverse_impact"] = False
                continue
            ratio = (1.0 - float(own)) / best_favourable if best_favourable else None
            r["four_fifths_ratio"] = ratio
            r["adverse_impact"] = ratio is not None and ratio < FOUR_FIFTHS
            r["adverse_ratio"] = float(own) / least if least > 0 else None
    return rows
