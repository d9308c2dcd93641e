"""The same model written the plain way: one Python object per agent, as Mesa would.

This is the benchmark's baseline, not a second tool. Each agent is an object with its
traits, its records and its standing; each month the model asks every agent to step, and an
agent draws its records with the same rate function as the vectorised model
(``behaviour.monthly_rates``, here with one agent's numbers), files repairs the same way, and
rescores itself with the one-subject engine, as an agent-based model that holds its own state
does: every agent, every month. The draws come from Python's ``random`` rather than NumPy's
generators, so a plain run is the same model but not the same dice as ``run.simulate``.
"""

from __future__ import annotations

import calendar
import math
import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook.model import Rulebook
from socialcredit.scoring import evaluate
from socialcredit.sim import behaviour
from socialcredit.sim.behaviour import FINANCIAL, GROUPS, TypeTable, type_table
from socialcredit.sim.engine import ListRoles
from socialcredit.sim.params import Parameters
from socialcredit.sim.population import KINDS, make_population


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the small monthly rates of one agent."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class Agent:
    """One subject: traits, records, standing; ``step`` lives one month."""

    def __init__(self, model: PlainModel, index: int):
        pop = model.population
        self.model = model
        self.kind = int(pop.kind[index])
        self.subject = SubjectRef(KINDS[self.kind], pop.ids[index].as_py())
        self.income = float(pop.income[index])
        self.conscientiousness = float(pop.conscientiousness[index])
        self.risk = float(pop.risk[index])
        self.positive = float(pop.positive[index])
        self.records: list[Record] = []
        self.open_listings: list[tuple[str, str, str]] = []  # provider, ref, repair type
        self.blacklisted = self.rewarded = self.adverse = self.in_arrears = False
        self.hours = 0.0
        self.grade = model.rulebook.grade_for(model.rulebook.score.base)

    def step(self, first: date, last: date) -> None:
        m, rng, table = self.model, self.model.rng, self.model.table
        income = float(
            behaviour.effective_income(
                np.float64(self.income),
                np.bool_(self.blacklisted),
                np.bool_(self.rewarded),
                m.params,
            )
        )
        expected = behaviour.monthly_rates(
            table,
            m.params,
            kind=np.int64(self.kind),
            income=np.float64(self.income),
            conscientiousness=np.float64(self.conscientiousness),
            risk=np.float64(self.risk),
            positive=np.float64(self.positive),
            blacklisted=np.bool_(self.blacklisted),
            rewarded=np.bool_(self.rewarded),
            sanctioned=np.bool_(self.adverse),
            in_arrears=np.bool_(self.in_arrears),
        )
        days = (last - first).days + 1
        self.in_arrears = False
        for group in range(len(GROUPS)):
            drawable = table.groups[self.kind][group]
            for _ in range(_poisson(rng, float(expected[group]))):
                if not len(drawable.types):
                    break
                t = int(drawable.draw(np.array([rng.random()]))[0])
                self._file(t, first + timedelta(days=rng.randrange(days)), income)
                self.in_arrears |= group == FINANCIAL
        chance = float(behaviour.repair_chance(np.float64(income), m.params))
        for listing in list(self.open_listings):
            if rng.random() < chance:
                self.open_listings.remove(listing)
                provider, ref, by = listing
                day = first + timedelta(days=rng.randrange(days))
                self.records.append(
                    Record(provider, m.new_ref(), self.subject, by, day, relates_to=ref)
                )
        result = evaluate(self.records, m.rulebook, last, self.subject.kind)
        self.grade = result.grade
        listed = {code for code in result.lists}
        self.blacklisted = bool(listed & m.black)
        self.rewarded = bool(listed & m.reward)
        self.adverse = bool(result.reasons)

    def _file(self, t: int, day: date, income: float) -> None:
        m = self.model
        code = m.table.codes[t]
        amount = quantity = None
        if t in m.table.amount_types:
            noise = np.float64(m.rng.gauss(0.0, 1.0))
            amount = float(behaviour.donation_amount(np.float64(income), noise, m.params))
        if t in m.table.quantity_types:
            noise = np.float64(m.rng.gauss(0.0, 1.0))
            self.hours += float(behaviour.volunteer_hours(noise, m.params))
            quantity = self.hours
        record = Record(
            m.table.providers[t],
            m.new_ref(),
            self.subject,
            code,
            day,
            amount=amount,
            quantity=quantity,
        )
        self.records.append(record)
        by = m.repair_by.get(t)
        if by is not None:
            self.open_listings.append((record.provider, record.ref, m.table.codes[by]))


@dataclass
class PlainRun:
    agent_months: int
    seconds: float  # the monthly steps only, as for the vectorised model's loop
    grade_counts: list[dict[str, int]] = field(default_factory=list)


class PlainModel:
    """A Mesa-style model: a list of agents and a ``step`` that steps each in turn."""

    def __init__(self, rulebook: Rulebook, params: Parameters, n: int, seed: int, start: date):
        self.rulebook, self.params = rulebook, params
        self.population = make_population(n, params, seed, start)
        self.table: TypeTable = type_table(rulebook, params)
        roles = ListRoles.of(rulebook)
        self.black = {c for i, c in enumerate(roles.codes) if roles.black >> i & 1}
        self.reward = {c for i, c in enumerate(roles.codes) if roles.reward >> i & 1}
        self.repair_by = {t: path.by for path in self.table.repairs for t in path.ends}
        self.rng = random.Random(seed)
        self.refs = 0
        self.agents = [Agent(self, i) for i in range(n)]

    def new_ref(self) -> str:
        self.refs += 1
        return str(self.refs)

    def step(self, first: date, last: date) -> None:
        for agent in self.agents:
            agent.step(first, last)


def simulate_plain(
    rulebook: Rulebook, params: Parameters, n: int, years: int, seed: int, *, start: date
) -> PlainRun:
    model = PlainModel(rulebook, params, n, seed, start.replace(day=1))
    run = PlainRun(agent_months=n * 12 * years, seconds=0.0)
    first = start.replace(day=1)
    began = time.perf_counter()
    for _ in range(12 * years):
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        model.step(first, last)
        counts: dict[str, int] = {}
        for agent in model.agents:
            counts[agent.grade] = counts.get(agent.grade, 0) + 1
        run.grade_counts.append(counts)
        first = last + timedelta(days=1)
    run.seconds = time.perf_counter() - began
    return run
