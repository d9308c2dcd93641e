"""Policy comparison: one population and seed under several rulebooks or policy variants.

Each variant is a policy file (parameters, optionally naming its rulebook), a shipped policy
by name (``policies/``: ``repair``, ``no-repair``, ``fast-repair``, ``no-feedback``), or a
rulebook file (a variant of a scheme: no doubling, shorter validity…) run with the default
parameters. The population is drawn once from the seed and shared, so the differences are
the policies' and not the draw's, as long as the variants keep the population parameters.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from socialcredit.rulebook import Rulebook, load_rulebook
from socialcredit.sim.params import Parameters, PolicyError, load_parameters

SHIPPED = ("repair", "no-repair", "fast-repair", "no-feedback")


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    rulebook: Rulebook
    params: Parameters


def shipped_policy(name: str) -> Path:
    return Path(str(resources.files("socialcredit.sim").joinpath("policies", f"{name}.toml")))


def resolve(entry: str, default_rulebook: str | Path) -> Variant:
    """A variant from a shipped policy name, a policy file or a rulebook file."""
    path = shipped_policy(entry) if entry in SHIPPED else Path(entry)
    if not path.is_file():
        raise PolicyError(
            entry, "(file)", f"no such file, and not a shipped policy ({', '.join(SHIPPED)})"
        )
    if _is_rulebook(path):
        rulebook = load_rulebook(path)
        return Variant(path.stem, rulebook, load_parameters())
    params = load_parameters(path)
    rulebook = load_rulebook(_rulebook_source(params.rulebook, path) or default_rulebook)
    return Variant(params.name, rulebook, params)


def _is_rulebook(path: Path) -> bool:
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return False  # load_parameters reports it with the reason
    return "meta" in document and "types" in document and "language" in document


def _rulebook_source(named: str | None, policy: Path) -> str | Path | None:
    """A policy's ``rulebook``: a shipped name, or a file relative to the policy file."""
    if named is None:
        return None
    if named.endswith(".toml"):
        candidate = Path(named)
        return candidate if candidate.is_absolute() else policy.parent / candidate
    return named


def slug(name: str, taken: set[str]) -> str:
    """A directory name for a variant's outputs, distinct from those already taken."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "variant"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate
