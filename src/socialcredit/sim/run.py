"""One simulation: a population lived month by month under one rulebook and one policy.

Each month: agents draw their records from their traits and their standing (``behaviour``);
repairable listings may be put right; the records are appended (``history``); the agents
with a new record, or with a record that starts or stops counting this month, are rescored
by the engine (``engine``); their new standing feeds next month's behaviour. Everything is
drawn from generators seeded by ``seed``: the same seed, size, rulebook and parameters give
the same run, and two policies run from one seed start from the same population.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from socialcredit.rulebook.model import Rulebook
from socialcredit.sim import behaviour
from socialcredit.sim.behaviour import FINANCIAL, OFFENCE, POSITIVE, TypeTable, type_table
from socialcredit.sim.engine import NEVER, ListRoles, score_agents
from socialcredit.sim.history import Batch, History
from socialcredit.sim.metrics import gini_of_counts
from socialcredit.sim.params import Parameters
from socialcredit.sim.population import KINDS, Population, make_population

#: The first simulated month unless told otherwise: a fixed date, so runs do not depend on
#: the day they are made.
DEFAULT_START = date(2027, 1, 1)
MAX_YEARS = 50
_EPOCH = date(1970, 1, 1)
#: A month index after any simulated month.
_LATER = np.iinfo(np.int32).max


class SimulationError(ValueError):
    """Options a simulation cannot run with."""


@dataclass(slots=True)
class Run:
    """What a simulation leaves for the metrics: per-agent histories and monthly totals."""

    rulebook: Rulebook
    params: Parameters
    population: Population
    start: date
    months: int
    seed: int
    table: TypeTable
    roles: ListRoles
    history: History
    grades: np.ndarray  # int8 [months + 1, agents]: grade rank at the end of each month
    scores: np.ndarray  # int64 [years + 1, agents]: score at the end of each year
    blacklisted: np.ndarray  # bool [agents]: now
    ever_blacklisted: np.ndarray  # bool [agents]
    months_blacklisted: np.ndarray  # int32 [agents]
    repaired: np.ndarray  # bool [months + 1, agents]: a repair record that month
    lists: np.ndarray  # uint64 [agents]: list memberships at the end (bit i: i-th list)
    monthly: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def agent_months(self) -> int:
        return self.population.size * self.months

    def month_end(self, m: int) -> date:
        return _month_end(self.start, m)


def _month_start(start: date, m: int) -> date:
    """The first day of month ``m`` (1 = the first simulated month)."""
    total = start.month - 1 + m - 1
    return date(start.year + total // 12, total % 12 + 1, 1)


def _month_end(start: date, m: int) -> date:
    first = _month_start(start, m)
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def simulate(
    rulebook: Rulebook,
    params: Parameters,
    population: int | Population,
    years: int,
    seed: int,
    *,
    start: date = DEFAULT_START,
    progress: Callable[[int], None] | None = None,
) -> Run:
    """Run ``population`` agents (or a given population) for ``years`` under ``rulebook``."""
    if not 1 <= years <= MAX_YEARS:
        raise SimulationError(f"--years must be between 1 and {MAX_YEARS}, not {years}")
    start = start.replace(day=1)
    began = time.perf_counter()
    pop = (
        population
        if isinstance(population, Population)
        else make_population(population, params, seed, start)
    )
    months = 12 * years
    table = type_table(rulebook, params)
    roles = ListRoles.of(rulebook)
    stepper = _Stepper(rulebook, params, pop, table, roles, start, seed)
    run = Run(
        rulebook=rulebook,
        params=params,
        population=pop,
        start=start,
        months=months,
        seed=seed,
        table=table,
        roles=roles,
        history=stepper.history,
        grades=np.empty((months + 1, pop.size), dtype=np.int8),
        scores=np.empty((years + 1, pop.size), dtype=np.int64),
        blacklisted=stepper.blacklisted,
        ever_blacklisted=np.zeros(pop.size, dtype=bool),
        months_blacklisted=np.zeros(pop.size, dtype=np.int32),
        repaired=np.zeros((months + 1, pop.size), dtype=bool),
        lists=stepper.lists,
    )
    run.grades[0] = stepper.grade
    run.scores[0] = stepper.score
    _observe(run, stepper, 0, records=0, rescored=0)
    for m in range(1, months + 1):
        records, rescored, repaired = stepper.step(m)
        run.grades[m] = stepper.grade
        run.repaired[m, repaired] = True
        run.ever_blacklisted |= stepper.blacklisted
        run.months_blacklisted += stepper.blacklisted
        if m % 12 == 0:
            run.scores[m // 12] = stepper.score
        _observe(run, stepper, m, records=records, rescored=rescored)
        if progress is not None:
            progress(m)
    run.blacklisted = stepper.blacklisted
    run.lists = stepper.lists
    run.seconds = time.perf_counter() - began
    return run


def _observe(run: Run, s: _Stepper, m: int, *, records: int, rescored: int) -> None:
    """Monthly totals that need the full state of that month (cheap: O(agents))."""
    ever = run.ever_blacklisted
    low = int(s.score.min())
    counts = np.bincount(s.score - low)
    values = {
        "month": float(m),
        "records": float(records),
        "rescored": float(rescored),
        "blacklisted": float(s.blacklisted.mean()),
        "ever_blacklisted": float(ever.mean()),
        "rewarded": float(s.rewarded.mean()),
        "mean_score": float(s.score.mean()),
        "gini": gini_of_counts(counts, max(low, 0)) if low >= 0 else _gini_clipped(s.score),
    }
    for key, value in values.items():
        run.monthly.setdefault(key, []).append(value)


def _gini_clipped(score: np.ndarray) -> float:
    clipped = np.maximum(score, 0)
    return gini_of_counts(np.bincount(clipped), 0)


class _Stepper:
    """The mutable state of a run and the month step."""

    def __init__(
        self,
        rulebook: Rulebook,
        params: Parameters,
        pop: Population,
        table: TypeTable,
        roles: ListRoles,
        start: date,
        seed: int,
    ):
        self.rulebook, self.params, self.pop, self.table, self.roles = (
            rulebook,
            params,
            pop,
            table,
            roles,
        )
        self.start = start
        self.rng = np.random.default_rng([seed, 3])
        n = pop.size
        self.history = History(pop, table, capacity=max(1 << 16, n // 2))
        base = rulebook.score.base
        self.score = np.full(n, base, dtype=np.int64)
        self.grade = np.full(n, rulebook.grade_rank(rulebook.grade_for(base)), dtype=np.int8)
        self.lists = np.zeros(n, dtype=np.uint64)
        self.blacklisted = np.zeros(n, dtype=bool)
        self.rewarded = np.zeros(n, dtype=bool)
        self.adverse = np.zeros(n, dtype=bool)
        self.in_arrears = np.zeros(n, dtype=bool)
        self.next_due = np.full(n, _LATER, dtype=np.int32)
        self.hours = np.zeros(n)
        # Listings a repair rule can end, not yet repaired: agent, ref, repair record type.
        self.open_agent = np.zeros(0, dtype=np.int64)
        self.open_ref = np.zeros(0, dtype=np.int64)
        self.open_by = np.zeros(0, dtype=np.int16)
        self._ends = {t: path.by for path in table.repairs for t in path.ends}

    def step(self, m: int) -> tuple[int, int, np.ndarray]:
        """Live month ``m``; return records added, agents rescored, agents repaired."""
        first = _month_start(self.start, m)
        last = _month_end(self.start, m)
        day0, days = (first - _EPOCH).days, (last - first).days + 1
        income = behaviour.effective_income(
            self.pop.income, self.blacklisted, self.rewarded, self.params
        )
        drawn = self._conduct(income, day0, days)
        repairs = self._repairs(income, day0, days)
        batch = _concat([drawn, repairs])
        refs = self.history.append(batch)
        self._open_targets(batch, refs)
        types = batch.type
        financial = np.isin(types, self._financial_types)
        self.in_arrears[:] = False
        self.in_arrears[batch.agent[financial]] = True
        chosen = self.next_due == m
        chosen[batch.agent] = True
        rescored = int(chosen.sum())
        if rescored:
            self._rescore(chosen, last, m)
        return len(batch), rescored, np.unique(repairs.agent)

    @property
    def _financial_types(self) -> np.ndarray:
        return np.concatenate([g[FINANCIAL].types for g in self.table.groups])

    def _conduct(self, income: np.ndarray, day0: int, days: int) -> Batch:
        pop, rng = self.pop, self.rng
        expected = behaviour.monthly_rates(
            self.table,
            self.params,
            kind=pop.kind,
            income=self.pop.income,
            conscientiousness=pop.conscientiousness,
            risk=pop.risk,
            positive=pop.positive,
            blacklisted=self.blacklisted,
            rewarded=self.rewarded,
            sanctioned=self.adverse,
            in_arrears=self.in_arrears,
        )
        agents, types = [], []
        for group in (OFFENCE, FINANCIAL, POSITIVE):
            counts = rng.poisson(expected[group])
            who = np.nonzero(counts)[0]
            who = np.repeat(who, counts[who])
            # A kind with no type of this group has a rate of 0, so draws nothing.
            drawn = np.empty(len(who), dtype=np.int16)
            u = rng.random(len(who))
            for k in range(len(KINDS)):
                mine = pop.kind[who] == k
                if mine.any():
                    drawn[mine] = self.table.groups[k][group].draw(u[mine])
            agents.append(who)
            types.append(drawn)
        agent = np.concatenate(agents)
        kind_of = np.concatenate(types)
        # One cumulative-hours report per agent and month, so reports grow in date order.
        quantity_type = np.isin(kind_of, list(self.table.quantity_types))
        if quantity_type.any():
            first_report = np.zeros(len(agent), dtype=bool)
            _, firsts = np.unique(agent[quantity_type], return_index=True)
            first_report[np.nonzero(quantity_type)[0][firsts]] = True
            keep = ~quantity_type | first_report
            agent, kind_of, quantity_type = agent[keep], kind_of[keep], quantity_type[keep]
        n = len(agent)
        amount = np.full(n, np.nan)
        quantity = np.full(n, np.nan)
        amount_type = np.isin(kind_of, list(self.table.amount_types))
        amount[amount_type] = behaviour.donation_amount(
            income[agent[amount_type]], rng.standard_normal(int(amount_type.sum())), self.params
        )
        if quantity_type.any():
            volunteers = agent[quantity_type]
            self.hours[volunteers] += behaviour.volunteer_hours(
                rng.standard_normal(len(volunteers)), self.params
            )
            quantity[quantity_type] = self.hours[volunteers]
        day = day0 + rng.integers(0, days, n).astype(np.int32)
        return Batch(agent, kind_of, day, amount, quantity, np.full(n, -1, dtype=np.int64))

    def _repairs(self, income: np.ndarray, day0: int, days: int) -> Batch:
        chance = behaviour.repair_chance(income[self.open_agent], self.params)
        done = self.rng.random(len(self.open_agent)) < chance
        agent, ref, by = self.open_agent[done], self.open_ref[done], self.open_by[done]
        keep = ~done
        self.open_agent, self.open_ref, self.open_by = (
            self.open_agent[keep],
            self.open_ref[keep],
            self.open_by[keep],
        )
        n = len(agent)
        day = day0 + self.rng.integers(0, days, n).astype(np.int32)
        nan = np.full(n, np.nan)
        return Batch(agent, by, day, nan, nan.copy(), ref)

    def _open_targets(self, batch: Batch, refs: np.ndarray) -> None:
        if not self._ends:
            return
        targets = np.isin(batch.type, list(self._ends))
        if not targets.any():
            return
        by = np.array([self._ends[int(t)] for t in batch.type[targets]], dtype=np.int16)
        self.open_agent = np.concatenate([self.open_agent, batch.agent[targets]])
        self.open_ref = np.concatenate([self.open_ref, refs[targets]])
        self.open_by = np.concatenate([self.open_by, by])

    def _rescore(self, chosen: np.ndarray, as_of: date, m: int) -> None:
        scored = score_agents(self.history, chosen, self.rulebook, as_of)
        a = scored.agents
        self.score[a] = scored.score
        self.grade[a] = scored.grade
        self.lists[a] = scored.lists
        self.blacklisted[a] = (scored.lists & np.uint64(self.roles.black)) != 0
        self.rewarded[a] = (scored.lists & np.uint64(self.roles.reward)) != 0
        self.adverse[a] = scored.adverse
        self.next_due[chosen] = _LATER
        self.next_due[a] = self._month_of(scored.next_change)

    def _month_of(self, days: np.ndarray) -> np.ndarray:
        """The simulated month (1 = first) whose end is the first on or after each day."""
        never = days >= NEVER
        months = (
            np.asarray(np.where(never, 0, days), dtype="datetime64[D]")
            .astype("datetime64[M]")
            .astype(np.int64)
        )
        start = np.datetime64(self.start, "M").astype(np.int64)
        return np.where(never, _LATER, months - start + 1).astype(np.int32)


def _concat(batches: list[Batch]) -> Batch:
    return Batch(
        *(
            np.concatenate([getattr(b, name) for b in batches])
            for name in ("agent", "type", "day", "amount", "quantity", "relates")
        )
    )
