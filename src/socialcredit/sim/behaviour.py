"""What agents do in a month: the records they produce, given their traits and situation.

Each agent's conduct is three Poisson processes, one per kind of record:

- **offences** (negative types that are conduct): base rate x exposure to risks x
  ``exp(conscientiousness_effect * (0.5 - conscientiousness))``, lowered by ``deterrence``
  while a sanction counts against the agent (the engine gave it an adverse reason);
- **financial distress** (negative types listed in ``types.financial``: arrears, judged
  debts, court lists of debtors): the same conduct factor times
  ``(median income / effective income) ** income_elasticity`` (at most
  ``income_multiplier_cap``), times ``arrears_persistence`` in the month after one;
- **positive conduct** (donations, volunteering, awards): base rate x propensity x
  ``(effective income / median) ** positive_income_elasticity``, raised by
  ``reward_positive_boost`` while rewarded.

Effective income is the feedback from the registry: a blacklisted agent loses
``restriction_income_loss`` of its opportunities, a rewarded one gains ``reward_income_gain``.
Which type an event is follows the base rates of that kind of record for the agent's kind.
Base rates come from the demo city (``socialcredit.demo``) and ``defaults.toml``.

The rate function is written once over NumPy arrays; the plain model calls it with one
agent's numbers, so both models are the same model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from socialcredit.catalog import Polarity
from socialcredit.rulebook.model import Rulebook, TierBasis
from socialcredit.sim.params import Parameters
from socialcredit.sim.population import KINDS, ORGANISATION, PERSON

OFFENCE, FINANCIAL, POSITIVE = 0, 1, 2
GROUPS = ("offence", "financial", "positive")


@dataclass(frozen=True, slots=True)
class Drawable:
    """The types of one kind of record for one subject kind, for drawing by base rate."""

    types: np.ndarray  # int16: indices into TypeTable.codes
    cumulative: np.ndarray  # float64: cumulative probabilities, last 1.0
    yearly: float  # the sum of their base rates

    def draw(self, u: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.cumulative, u, side="right")
        return self.types[np.minimum(index, len(self.types) - 1)]


@dataclass(frozen=True, slots=True)
class RepairPath:
    """A repair rule as the agents use it: records of ``ends`` get repaired by ``by``."""

    ends: frozenset[int]  # type indices
    by: int  # the type index of the record that repairs


@dataclass(frozen=True, slots=True)
class TypeTable:
    """The rulebook's types as the simulation draws them.

    ``codes`` indexes every type the rulebook has; ``groups[kind][group]`` says which can be
    drawn as what. Types without a base rate are never drawn and listed in ``unmodelled``;
    ``corrects`` types and repair records are produced by the repair process, not drawn.
    """

    codes: tuple[str, ...]
    providers: tuple[str, ...]
    groups: tuple[tuple[Drawable, ...], ...]
    amount_types: frozenset[int]
    quantity_types: frozenset[int]
    repairs: tuple[RepairPath, ...]
    unmodelled: tuple[str, ...]
    index: dict[str, int] = field(default_factory=dict)


def type_table(rulebook: Rulebook, params: Parameters) -> TypeTable:
    codes = tuple(sorted(rulebook.types))
    index = {code: i for i, code in enumerate(codes)}
    repair_by = {code for repair in rulebook.repairs for code in repair.by}
    groups = []
    modelled: set[str] = set()
    for kind in KINDS:
        rates = params.rates.get(kind, {})
        members: list[list[tuple[int, float]]] = [[], [], []]
        for code in codes:
            rule = rulebook.types[code]
            rate = rates.get(code, 0.0)
            if rule.corrects or code in repair_by or kind not in rule.kinds or rate <= 0:
                continue
            if rule.polarity is Polarity.POSITIVE:
                group = POSITIVE
            else:
                group = FINANCIAL if params.is_financial(code) else OFFENCE
            members[group].append((index[code], rate))
            modelled.add(code)
        groups.append(tuple(_drawable(m) for m in members))
    repairs = tuple(
        RepairPath(frozenset(index[c] for c in r.ends if c in index), index[sorted(r.by)[0]])
        for r in rulebook.repairs
    )
    drawn_by_repair = repair_by | {c for c, r in rulebook.types.items() if r.corrects}
    return TypeTable(
        codes=codes,
        providers=tuple(f"sim.{code.split('.', 1)[0]}" for code in codes),
        groups=tuple(groups),
        amount_types=frozenset(
            index[c] for c, r in rulebook.types.items() if r.tiers_by is TierBasis.AMOUNT
        ),
        quantity_types=frozenset(
            index[c] for c, r in rulebook.types.items() if r.tiers_by is TierBasis.QUANTITY
        ),
        repairs=repairs,
        unmodelled=tuple(c for c in codes if c not in modelled and c not in drawn_by_repair),
        index=index,
    )


def _drawable(members: list[tuple[int, float]]) -> Drawable:
    if not members:
        return Drawable(np.zeros(0, dtype=np.int16), np.zeros(0), 0.0)
    rates = np.array([r for _, r in members])
    return Drawable(
        np.array([t for t, _ in members], dtype=np.int16),
        np.cumsum(rates) / rates.sum(),
        float(rates.sum()),
    )


def effective_income(
    income: npt.ArrayLike, blacklisted: npt.ArrayLike, rewarded: npt.ArrayLike, params: Parameters
) -> np.ndarray:
    """Income opportunities after the registry's restrictions and rewards."""
    f = params.feedback
    return np.asarray(
        np.asarray(income)
        * (1.0 - f.restriction_income_loss * np.asarray(blacklisted))
        * (1.0 + f.reward_income_gain * np.asarray(rewarded))
    )


def monthly_rates(
    table: TypeTable,
    params: Parameters,
    *,
    kind: npt.ArrayLike,
    income: npt.ArrayLike,
    conscientiousness: npt.ArrayLike,
    risk: npt.ArrayLike,
    positive: npt.ArrayLike,
    blacklisted: npt.ArrayLike,
    rewarded: npt.ArrayLike,
    sanctioned: npt.ArrayLike,
    in_arrears: npt.ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected offences, financial-distress records and positive records this month.

    Works on arrays of agents and on one agent's numbers alike (the plain model).
    """
    b, f = params.behaviour, params.feedback
    median = params.population.income_median
    yearly = np.array([[d.yearly for d in table.groups[k]] for k in (PERSON, ORGANISATION)])
    base = yearly[np.asarray(kind)] * (b.rate_scale / 12.0)  # (..., 3)
    conduct = np.asarray(risk) * np.exp(
        b.conscientiousness_effect * (0.5 - np.asarray(conscientiousness))
    )
    earning = np.maximum(effective_income(income, blacklisted, rewarded, params), 1e-9)
    distress = np.minimum((median / earning) ** b.income_elasticity, b.income_multiplier_cap)
    offences = base[..., OFFENCE] * conduct * (1.0 - f.deterrence * np.asarray(sanctioned))
    financial = (
        base[..., FINANCIAL] * conduct * distress * np.where(in_arrears, b.arrears_persistence, 1.0)
    )
    good = (
        base[..., POSITIVE]
        * np.asarray(positive)
        * (earning / median) ** b.positive_income_elasticity
        * (1.0 + f.reward_positive_boost * np.asarray(rewarded))
    )
    return np.asarray(offences), np.asarray(financial), np.asarray(good)


def repair_chance(income: npt.ArrayLike, params: Parameters) -> np.ndarray:
    """Monthly chance that a repairable listing is put right (e.g. the judgment performed)."""
    r = params.repair
    if not r.enabled:
        return np.zeros_like(np.asarray(income, dtype=np.float64))
    median = params.population.income_median
    relative = np.maximum(np.asarray(income, dtype=np.float64), 1e-9) / median
    return np.asarray(np.minimum(r.monthly_rate * relative**r.income_elasticity, 1.0))


def donation_amount(income: npt.ArrayLike, noise: npt.ArrayLike, params: Parameters) -> np.ndarray:
    """Yuan given: proportional to income, log-normal noise (``noise`` standard normal)."""
    median = params.population.income_median
    scale = params.behaviour.donation_median * np.asarray(income) / median
    return np.asarray(np.round(scale * np.exp(0.8 * np.asarray(noise))))


def volunteer_hours(noise: npt.ArrayLike, params: Parameters) -> np.ndarray:
    """Hours added by one volunteering report (``noise`` standard normal)."""
    hours = params.behaviour.volunteer_hours_median * np.exp(0.6 * np.asarray(noise))
    return np.asarray(np.round(hours, 1))
