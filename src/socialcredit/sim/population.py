"""The synthetic population: persons and organisations as columns of NumPy arrays.

One array per trait instead of one object per agent, so that a month of a million agents is a
handful of vector operations (the plain one-object-per-agent model in ``plain`` is the
benchmark's baseline). Traits the rules never see: income, conscientiousness, exposure to
risks, propensity for positive conduct, district and age. Conscientiousness is drawn
independently of income on purpose: any gap between income groups in the outcomes then comes
from the rules and the feedback, not from honesty differing by income.

Every subject carries a valid identifier (resident number or USCC), so the simulated records
are records the registry, ``scs score`` and the bulk engine accept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from socialcredit.demo import DISTRICTS, make_uscc
from socialcredit.identifiers import SubjectKind
from socialcredit.sim.params import Parameters

#: The kinds simulated, in the order of the ``kind`` codes.
KINDS = (SubjectKind.PERSON, SubjectKind.ORGANISATION)
PERSON, ORGANISATION = 0, 1
#: Ages of persons on the first day: adults up to 80.
MIN_AGE, MAX_AGE = 18, 80
#: Age bands reported in the disparate-impact tables (lower bounds).
AGE_BANDS = (18, 30, 45, 60)
#: The largest population accepted: resident numbers are unique by birth date and a
#: three-digit sequence, and memory grows by about 1 KB per agent-year of history.
MAX_POPULATION = 20_000_000
#: A step coprime to the number of birth dates, so consecutive agents get scattered dates.
_BIRTH_STRIDE = 7919
#: ISO 7064 MOD 11-2 weights of the 17 body digits of a resident number.
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)


class PopulationError(ValueError):
    """A population size the simulation refuses, with the reason."""


@dataclass(frozen=True, slots=True)
class Population:
    """Agents 0..n-1: kind, identifier and latent traits, each an array of length n."""

    kind: np.ndarray  # int8: PERSON or ORGANISATION
    ids: pa.StringArray  # resident number or USCC
    income: np.ndarray  # float64, relative to the median
    conscientiousness: np.ndarray  # float64 in [0, 1]
    risk: np.ndarray  # float64, mean 1: exposure to risks
    positive: np.ndarray  # float64, mean 1: propensity for positive conduct
    district: np.ndarray  # int8: index into DISTRICTS
    age: np.ndarray  # int16: age on the first day; -1 for organisations

    @property
    def size(self) -> int:
        return len(self.kind)

    def income_quintile(self) -> np.ndarray:
        """0 (poorest fifth) to 4, ranked within each kind: a person is compared to persons."""
        out = np.zeros(self.size, dtype=np.int8)
        for k in (PERSON, ORGANISATION):
            where = np.nonzero(self.kind == k)[0]
            if len(where):
                ranks = np.argsort(np.argsort(self.income[where], kind="stable"), kind="stable")
                out[where] = (ranks * 5 // len(where)).astype(np.int8)
        return out

    def age_band(self) -> np.ndarray:
        """Index into AGE_BANDS; -1 for organisations."""
        band = np.searchsorted(np.array(AGE_BANDS), self.age, side="right") - 1
        return np.where(self.kind == PERSON, band, -1).astype(np.int8)


def check_size(n: int) -> None:
    if n < 1:
        raise PopulationError(f"--population must be at least 1, not {n}")
    if n > MAX_POPULATION:
        raise PopulationError(
            f"--population {n:,} is more than this simulation accepts ({MAX_POPULATION:,}): "
            "simulate a representative sample and scale the shares"
        )


def make_population(n: int, params: Parameters, seed: int, start: date) -> Population:
    """``n`` agents drawn from ``seed``: the same seed and size give the same agents."""
    check_size(n)
    p = params.population
    rng = np.random.default_rng([seed, 1])
    kind = (rng.random(n) < p.organisation_share).astype(np.int8)
    shares = np.array([d.share for d in DISTRICTS])
    district = rng.choice(len(DISTRICTS), size=n, p=shares / shares.sum()).astype(np.int8)
    # Districts differ in median income: from -shift to +shift in log terms.
    shifts = np.linspace(-p.district_income_shift, p.district_income_shift, len(DISTRICTS))
    sigma = np.where(kind == PERSON, p.income_sigma, p.organisation_income_sigma)
    income = p.income_median * np.exp(rng.standard_normal(n) * sigma + shifts[district])
    conscientiousness = rng.beta(p.conscientiousness_a, p.conscientiousness_b, n)
    risk = rng.gamma(p.risk_shape, 1.0 / p.risk_shape, n)
    positive = rng.gamma(p.positive_shape, 1.0 / p.positive_shape, n)
    persons = np.nonzero(kind == PERSON)[0]
    ids, age = _identifiers(kind, persons, district, start, seed)
    return Population(kind, ids, income, conscientiousness, risk, positive, district, age)


def _identifiers(
    kind: np.ndarray, persons: np.ndarray, district: np.ndarray, start: date, seed: int
) -> tuple[pa.StringArray, np.ndarray]:
    """Valid, distinct identifiers: resident numbers for persons, USCCs for organisations.

    A person's number is unique by construction: its birth date and sequence number come from
    its position among the persons (``MAX_POPULATION`` keeps the sequence within 3 digits).
    """
    n = len(kind)
    latest = date(start.year - MIN_AGE, start.month, min(start.day, 28)).toordinal()
    earliest = date(start.year - MAX_AGE, start.month, min(start.day, 28)).toordinal()
    days = latest - earliest
    j = np.arange(len(persons), dtype=np.int64)
    born = (earliest + (j * _BIRTH_STRIDE) % days - _EPOCH_ORDINAL).astype("datetime64[D]")
    sequence = j // days + 1
    years = born.astype("datetime64[Y]").astype(np.int64) + 1970
    months = born.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_of_month = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    age = np.full(n, -1, dtype=np.int16)
    age[persons] = (start.year - years).astype(np.int16)
    areas = _areas(district[persons], years)
    bodies = [
        f"{a}{y:04d}{m:02d}{d:02d}{s:03d}"
        for a, y, m, d, s in zip(
            areas,
            years.tolist(),
            months.tolist(),
            day_of_month.tolist(),
            sequence.tolist(),
            strict=True,
        )
    ]
    checks = _ric_checks(bodies)
    out: list[str] = [""] * n
    for i, body, check in zip(persons.tolist(), bodies, checks, strict=True):
        out[i] = body + check
    organisations = np.nonzero(kind == ORGANISATION)[0]
    offset = int(np.random.default_rng([seed, 2]).integers(10**8))
    for j2, i in enumerate(organisations.tolist()):
        out[i] = make_uscc("91371082", offset + j2)
    return pa.array(out, type=pa.string()), age


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _areas(district: np.ndarray, years: np.ndarray) -> list[str]:
    """The area code each resident carries: its district's code in force in its birth year."""
    out = np.empty(len(district), dtype=object)
    for index, d in enumerate(DISTRICTS):
        where = np.nonzero(district == index)[0]
        firsts = np.array([first for first, _ in d.eras])
        codes = np.array([code for _, code in d.eras], dtype=object)
        out[where] = codes[np.searchsorted(firsts, years[where], side="right") - 1]
    return list(out)


def _ric_checks(bodies: list[str]) -> list[str]:
    if not bodies:
        return []
    digits = np.frombuffer("".join(bodies).encode("ascii"), dtype=np.uint8).reshape(-1, 17)
    total = (digits.astype(np.int64) - 48) @ _RIC_WEIGHTS
    check = (12 - total % 11) % 11
    return ["X" if c == 10 else str(c) for c in check.tolist()]
