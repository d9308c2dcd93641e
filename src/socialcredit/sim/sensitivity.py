"""How much each answer depends on each parameter: one at a time, down and up.

Every numeric parameter is set to ``(1 - step)`` and ``(1 + step)`` times its value (a
parameter at 0 is raised to ``step`` instead) and the headline numbers are taken again, from
the same seed, so the difference is the parameter's and not the dice's (common random
numbers). This runs on a sample population (``population``), because it is one run per
parameter and direction: it says which assumptions the answers lean on, not their exact size
for the full population.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socialcredit.rulebook.model import Rulebook
from socialcredit.sim.params import Parameters
from socialcredit.sim.run import simulate
from socialcredit.sim.summary import headline, summarise

#: The relative change tried in each direction.
STEP = 0.5
#: The sample population of a sensitivity analysis unless told otherwise (``scs simulate``
#: names the same number for its --help).
DEFAULT_POPULATION = 2000


@dataclass(frozen=True, slots=True)
class Sensitivity:
    population: int
    step: float
    baseline: dict[str, float | None]
    rows: list[dict[str, Any]]  # parameter, direction, value, and each headline

    def to_json(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "step": self.step,
            "baseline": self.baseline,
            "rows": self.rows,
        }


def sensitivity(
    rulebook: Rulebook,
    params: Parameters,
    population: int,
    years: int,
    seed: int,
    *,
    step: float = STEP,
    progress: Callable[[int], None] | None = None,
) -> Sensitivity:
    """Headlines at the baseline and with each parameter moved down and up by ``step``."""
    baseline = headline(summarise(simulate(rulebook, params, population, years, seed)))
    rows = []
    done = 0
    for path, value in params.scalars():
        for direction, moved in (("down", value * (1 - step)), ("up", value * (1 + step))):
            if value == 0:
                if direction == "down":
                    continue
                moved = step
            varied = params.with_value(path, moved)
            tried = getattr(getattr(varied, path.split(".")[0]), path.split(".")[1])
            if tried == value:
                continue  # at a bound already: nothing to learn
            numbers = headline(summarise(simulate(rulebook, varied, population, years, seed)))
            rows.append({"parameter": path, "direction": direction, "value": tried, **numbers})
            done += 1
            if progress is not None:
                progress(done)
    return Sensitivity(population, step, baseline, rows)


def runs_needed(params: Parameters) -> int:
    return 2 * sum(1 for _ in params.scalars())
