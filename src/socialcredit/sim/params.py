"""The simulation's parameters: shipped defaults, overridden by a policy file.

Every rate and effect of the model is a named number here, so that an analyst can see,
change and cite it: nothing that shapes a result hides in code. ``defaults.toml`` beside this
module holds the defaults with a comment each; a policy file (``--policy``, ``--compare``)
has the same shape, may name a ``rulebook`` and a ``name``, and overrides only what it gives.
A malformed file is refused with the field and the reason, never half-applied.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from socialcredit.demo import ORGANISATION_RATES, PERSON_RATES
from socialcredit.identifiers import SubjectKind


class PolicyError(ValueError):
    """A policy file that cannot be used, naming the file, the field and why."""

    def __init__(self, origin: str, field_path: str, reason: str):
        self.origin, self.field_path, self.reason = origin, field_path, reason
        super().__init__(f"{origin}: {field_path}: {reason}")


@dataclass(frozen=True, slots=True)
class Population:
    organisation_share: float
    income_median: float
    income_sigma: float
    organisation_income_sigma: float
    conscientiousness_a: float
    conscientiousness_b: float
    risk_shape: float
    positive_shape: float
    district_income_shift: float


@dataclass(frozen=True, slots=True)
class Behaviour:
    rate_scale: float
    conscientiousness_effect: float
    income_elasticity: float
    income_multiplier_cap: float
    arrears_persistence: float
    positive_income_elasticity: float
    donation_median: float
    volunteer_hours_median: float


@dataclass(frozen=True, slots=True)
class Feedback:
    restriction_income_loss: float
    reward_income_gain: float
    deterrence: float
    reward_positive_boost: float


@dataclass(frozen=True, slots=True)
class Repair:
    enabled: bool
    monthly_rate: float
    income_elasticity: float


#: Allowed range per numeric field (inclusive); a value outside is refused by name.
BOUNDS: dict[str, tuple[float, float]] = {
    "population.organisation_share": (0.0, 1.0),
    "population.income_median": (1e-6, 1e9),
    "population.income_sigma": (0.0, 5.0),
    "population.organisation_income_sigma": (0.0, 5.0),
    "population.conscientiousness_a": (1e-3, 1e3),
    "population.conscientiousness_b": (1e-3, 1e3),
    "population.risk_shape": (1e-3, 1e3),
    "population.positive_shape": (1e-3, 1e3),
    "population.district_income_shift": (0.0, 3.0),
    "behaviour.rate_scale": (0.0, 100.0),
    "behaviour.conscientiousness_effect": (0.0, 20.0),
    "behaviour.income_elasticity": (0.0, 10.0),
    "behaviour.income_multiplier_cap": (1.0, 1000.0),
    "behaviour.arrears_persistence": (0.0, 100.0),
    "behaviour.positive_income_elasticity": (0.0, 10.0),
    "behaviour.donation_median": (0.0, 1e7),
    "behaviour.volunteer_hours_median": (0.0, 1e4),
    "feedback.restriction_income_loss": (0.0, 1.0),
    "feedback.reward_income_gain": (0.0, 10.0),
    "feedback.deterrence": (0.0, 1.0),
    "feedback.reward_positive_boost": (0.0, 10.0),
    "repair.monthly_rate": (0.0, 1.0),
    "repair.income_elasticity": (0.0, 10.0),
}
#: A yearly rate above this is a unit mistake (a rate per month or a percentage).
MAX_RATE = 50.0

_SECTIONS: dict[str, type] = {
    "population": Population,
    "behaviour": Behaviour,
    "feedback": Feedback,
    "repair": Repair,
}


@dataclass(frozen=True, slots=True)
class Parameters:
    """One complete set of parameters: what a run (and its report) is a function of."""

    population: Population
    behaviour: Behaviour
    feedback: Feedback
    repair: Repair
    financial: tuple[str, ...]
    rates: Mapping[SubjectKind, Mapping[str, float]]
    name: str = "default"
    rulebook: str | None = None  # a policy file may name the rulebook it is about
    origin: str = field(default="defaults", compare=False)

    def scalars(self) -> Iterator[tuple[str, float]]:
        """Every numeric parameter as ``section.field`` and value: what sensitivity varies.

        Not the income median: it is the unit incomes are counted in, and every effect reads
        income relative to it, so varying it could only show that nothing changes.
        """
        for section in _SECTIONS:
            values = getattr(self, section)
            for f in fields(values):
                value = getattr(values, f.name)
                path = f"{section}.{f.name}"
                if not isinstance(value, bool) and path != "population.income_median":
                    yield path, float(value)

    def with_value(self, path: str, value: float) -> Parameters:
        """A copy with one ``section.field`` changed (kept within its bounds)."""
        section, name = path.split(".", 1)
        low, high = BOUNDS[path]
        changed = replace(getattr(self, section), **{name: min(max(value, low), high)})
        return replace(self, **{section: changed})

    def is_financial(self, code: str) -> bool:
        return any(_matches(p, code) for p in self.financial)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "rulebook": self.rulebook}
        for section in _SECTIONS:
            values = getattr(self, section)
            out[section] = {f.name: getattr(values, f.name) for f in fields(values)}
        out["types"] = {"financial": list(self.financial)}
        out["rates"] = {kind.value: dict(rates) for kind, rates in self.rates.items()}
        return out


def _matches(pattern: str, code: str) -> bool:
    if pattern.endswith(".*") or pattern.endswith("*"):
        return fnmatch.fnmatchcase(code, pattern)
    return pattern == code


def default_document() -> dict[str, Any]:
    text = resources.files("socialcredit.sim").joinpath("defaults.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_parameters(path: str | Path | None = None) -> Parameters:
    """The defaults, overridden by the policy file at ``path`` when given."""
    document = default_document()
    if path is None:
        return _build(document, {}, "defaults")
    origin = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise PolicyError(origin, "(file)", exc.strerror or str(exc)) from None
    try:
        policy = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(origin, "(file)", f"not valid TOML: {exc}") from None
    return _build(document, policy, origin, default_name=Path(path).stem)


def _build(
    defaults: dict[str, Any], policy: dict[str, Any], origin: str, default_name: str = "default"
) -> Parameters:
    known = {*_SECTIONS, "types", "rates", "name", "rulebook"}
    for key in policy:
        if key not in known:
            raise PolicyError(
                origin, key, f"unknown section; use one of {', '.join(sorted(known))}"
            )
    sections = {}
    for section, cls in _SECTIONS.items():
        given = policy.get(section, {})
        if not isinstance(given, dict):
            raise PolicyError(origin, section, "must be a table")
        names = {f.name for f in fields(cls)}
        for key in given:
            if key not in names:
                raise PolicyError(origin, f"{section}.{key}", "unknown parameter")
        values = {**defaults[section], **given}
        for key, value in values.items():
            _check_value(origin, f"{section}.{key}", value, cls)
        sections[section] = cls(**values)
    financial = policy.get("types", {}).get("financial", defaults["types"]["financial"])
    if not isinstance(financial, list) or not all(isinstance(p, str) for p in financial):
        raise PolicyError(origin, "types.financial", "must be a list of type codes or patterns")
    unknown_types = set(policy.get("types", {})) - {"financial"}
    if unknown_types:
        raise PolicyError(origin, f"types.{sorted(unknown_types)[0]}", "unknown parameter")
    name = policy.get("name", default_name)
    rulebook = policy.get("rulebook")
    for key, value in (("name", name), ("rulebook", rulebook)):
        if value is not None and not isinstance(value, str):
            raise PolicyError(origin, key, "must be a string")
    return Parameters(
        financial=tuple(financial),
        rates=_rates(defaults.get("rates", {}), policy.get("rates", {}), origin),
        name=name,
        rulebook=rulebook,
        origin=origin,
        **sections,
    )


def _check_value(origin: str, path: str, value: Any, cls: type) -> None:
    if path == "repair.enabled":
        if not isinstance(value, bool):
            raise PolicyError(origin, path, "must be true or false")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(origin, path, f"must be a number, not {value!r}")
    low, high = BOUNDS[path]
    if not low <= value <= high:
        raise PolicyError(origin, path, f"must be between {low:g} and {high:g}, not {value!r}")


def _rates(
    defaults: dict[str, Any], policy: dict[str, Any], origin: str
) -> dict[SubjectKind, dict[str, float]]:
    """Yearly base rates per kind and type: the demo city's, the defaults', the policy's."""
    if not isinstance(policy, dict):
        raise PolicyError(origin, "rates", "must be a table of subject kinds")
    base = {
        SubjectKind.PERSON: dict(PERSON_RATES),
        SubjectKind.ORGANISATION: dict(ORGANISATION_RATES),
    }
    for layer, where in ((defaults, "defaults"), (policy, origin)):
        for kind_name, rates in layer.items():
            try:
                kind = SubjectKind(kind_name)
            except ValueError:
                raise PolicyError(
                    where, f"rates.{kind_name}", "unknown subject kind; use person or organisation"
                ) from None
            if kind not in base or not isinstance(rates, dict):
                raise PolicyError(where, f"rates.{kind_name}", "must be a table of type = rate")
            for code, rate in rates.items():
                path = f'rates.{kind_name}."{code}"'
                if isinstance(rate, bool) or not isinstance(rate, int | float):
                    raise PolicyError(where, path, f"must be a number, not {rate!r}")
                if not 0 <= rate <= MAX_RATE:
                    raise PolicyError(
                        where, path, f"a yearly rate between 0 and {MAX_RATE:g}, not {rate!r}"
                    )
                base[kind][code] = float(rate)
    return base
