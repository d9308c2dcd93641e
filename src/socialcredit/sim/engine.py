"""Scoring the agents whose standing may have changed, with the project's own engines.

The simulation never decides a score itself. Each month it hands the full records of the
agents that need it to the bulk engine (``socialcredit.bulk``) or, for a handful of agents,
to the one-subject engine (``scoring.evaluate``): both are "our engine", proven equal by the
bulk tests, and the faster one is used for the size at hand.

"Need it" is also the engine's answer: a subject's standing changes only when it gets a
record or when one of its records starts or stops counting (a validity ends, a frozen
addition starts to count). The engine reports each record's ``valid_from`` and
``valid_until``; the earliest such day after the moment is when the agent is next due, so no
rule about validity is repeated here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.bulk import BulkRun
from socialcredit.records import Record
from socialcredit.rulebook.model import ONE_DAY, MeasureKind, Rulebook
from socialcredit.scoring import evaluate
from socialcredit.sim.history import History
from socialcredit.sim.population import KINDS

#: "Never" as a day number: no record of the agent will change its standing.
NEVER = np.iinfo(np.int32).max
#: Below this many agents the one-subject engine is faster than a bulk run, whose dozens of
#: statements cost ~0.4 s however few the subjects (measured on the 2-core machine with
#: three-year histories: 1,000 subjects 0.23 s one by one against 0.52 s in bulk; even at
#: 2,000; 4,000 subjects 0.84 s against 0.54 s).
EVALUATE_BELOW = 2000
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Scored:
    """The engine's answer for some agents, as arrays aligned with ``agents``."""

    agents: np.ndarray  # int64
    score: np.ndarray  # int64
    grade: np.ndarray  # int8: rank, 0 = best
    lists: np.ndarray  # uint64: bit i = on the rulebook's i-th list
    adverse: np.ndarray  # bool: at least one adverse reason counts
    next_change: np.ndarray  # int32 day number; NEVER if none


@dataclass(frozen=True, slots=True)
class ListRoles:
    """Which lists the simulation's feedback treats as blacklists and as rewards.

    A blacklist is a list that carries a restriction measure or is the list of the worst
    grade; a reward list one that carries a reward measure or is the list of the best grade.
    """

    codes: tuple[str, ...]
    black: int  # bit mask over ``codes``
    reward: int

    @classmethod
    def of(cls, rulebook: Rulebook) -> ListRoles:
        codes = tuple(lst.code for lst in rulebook.lists)
        best, worst = rulebook.grades[0].grade, rulebook.grades[-1].grade
        black = reward = 0
        for i, lst in enumerate(rulebook.lists):
            kinds = {m.kind for m in rulebook.measures if lst.code in m.lists}
            if MeasureKind.RESTRICTION in kinds or worst in lst.grades:
                black |= 1 << i
            elif MeasureKind.REWARD in kinds or best in lst.grades:
                reward |= 1 << i
        return cls(codes, black, reward)


def score_agents(history: History, chosen: np.ndarray, rulebook: Rulebook, as_of: date) -> Scored:
    """Score every agent flagged in the boolean ``chosen`` from all its records."""
    agents = np.nonzero(chosen)[0]
    rows = history.rows_of(chosen)
    if len(agents) < EVALUATE_BELOW:
        return _one_by_one(history, agents, rows, rulebook, as_of)
    return _in_bulk(history, agents, history.flat(rows), rulebook, as_of)


def _in_bulk(
    history: History, agents: np.ndarray, table: pa.Table, rulebook: Rulebook, as_of: date
) -> Scored:
    ids = history.population.ids.take(pa.array(agents))
    with BulkRun(table, rulebook, as_of, contributions=True) as run:
        results = pa.Table.from_batches(list(run.results()), schema=None)
        contributions = pa.Table.from_batches(list(run.contributions()))
    where = pc.index_in(results["subject_id"], value_set=ids).to_numpy()
    listed = _list_masks(results["lists"], rulebook)
    adverse = pc.list_value_length(results["reasons"]).to_numpy(zero_copy_only=False) > 0
    grades = pa.array([band.grade for band in rulebook.grades])
    grade = pc.index_in(results["grade"], value_set=grades).to_numpy().astype(np.int8)
    next_change = np.full(len(results), NEVER, dtype=np.int64)
    if len(contributions):
        owner = pc.index_in(contributions["subject_id"], value_set=results["subject_id"])
        due = _due(_days(contributions["valid_from"]), _days(contributions["valid_until"]), as_of)
        np.minimum.at(next_change, owner.to_numpy(), due)
    return Scored(
        agents=agents[where],
        score=results["score"].to_numpy(),
        grade=grade,
        lists=listed,
        adverse=adverse,
        next_change=np.minimum(next_change, NEVER).astype(np.int32),
    )


def _one_by_one(
    history: History,
    agents: np.ndarray,
    rows: np.ndarray,
    rulebook: Rulebook,
    as_of: date,
) -> Scored:
    grouped: dict[int, list[Record]] = defaultdict(list)
    owners = history.column("agent")[rows]
    for owner, record in zip(owners.tolist(), history.records(rows), strict=True):
        grouped[owner].append(record)
    codes = {lst.code: i for i, lst in enumerate(rulebook.lists)}
    n = len(agents)
    score = np.zeros(n, dtype=np.int64)
    grade = np.zeros(n, dtype=np.int8)
    listed = np.zeros(n, dtype=np.uint64)
    adverse = np.zeros(n, dtype=bool)
    next_change = np.full(n, NEVER, dtype=np.int64)
    kinds = history.population.kind
    for i, agent in enumerate(agents.tolist()):
        result = evaluate(grouped[agent], rulebook, as_of, KINDS[kinds[agent]])
        score[i] = result.score
        grade[i] = rulebook.grade_rank(result.grade)
        listed[i] = sum(1 << codes[code] for code in result.lists)
        adverse[i] = bool(result.reasons)
        changes = [
            c.valid_until + ONE_DAY
            for c in result.contributions
            if c.valid_until is not None and c.valid_until >= as_of
        ] + [c.valid_from for c in result.contributions if c.valid_from and c.valid_from > as_of]
        if changes:
            next_change[i] = (min(changes) - _EPOCH).days
    return Scored(agents, score, grade, listed, adverse, next_change.astype(np.int32))


def _due(valid_from: np.ndarray, valid_until: np.ndarray, as_of: date) -> np.ndarray:
    """Per record, the first day after ``as_of`` on which it starts or stops counting."""
    today = (as_of - _EPOCH).days
    ends = np.where(valid_until >= today, valid_until + 1, NEVER)
    starts = np.where(valid_from > today, valid_from, NEVER)
    return np.minimum(ends, starts)


def _days(column: pa.ChunkedArray) -> np.ndarray:
    """Day numbers of a date column; a missing date (never counts) as ``-1``."""
    numbers = pc.fill_null(column.cast(pa.int32()), -1)
    return np.asarray(numbers.to_numpy(), dtype=np.int64)


def _list_masks(lists: pa.ChunkedArray, rulebook: Rulebook) -> np.ndarray:
    codes = pa.array([lst.code for lst in rulebook.lists], type=pa.string())
    lists = lists.combine_chunks()
    out = np.zeros(len(lists), dtype=np.uint64)
    values = lists.flatten()
    if len(values):
        position = pc.index_in(values, value_set=codes).to_numpy()
        owner = pc.list_parent_indices(lists).to_numpy()
        np.bitwise_or.at(out, owner, np.left_shift(np.uint64(1), position.astype(np.uint64)))
    return out
