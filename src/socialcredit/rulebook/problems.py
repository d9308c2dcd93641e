"""Problems found in a rulebook, each naming the entry it is about, and the error that carries them.

An operator fixing a rulebook needs every problem at once, each pointing at the exact entry
(``types."donation.money".tiers[2]``), so loading collects problems instead of stopping at the
first, and raises them together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def entry_path(parts: Iterable[str | int]) -> str:
    """Render a path into the rulebook the way TOML spells it: ``types."a.b".tiers[2]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
        out += key if not out else f".{key}"
    return out or "(rulebook)"


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong (``reason``) and where (``path``); ``line`` names a line crossed, if any."""

    path: str
    reason: str
    line: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class RulebookError(ValueError):
    """A rulebook cannot be used; ``problems`` lists every reason, each naming its entry."""

    def __init__(self, origin: str, problems: Sequence[Problem]):
        self.origin = origin
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"rulebook {origin}: {count} problem{'s' if count != 1 else ''}\n{lines}")


class RulebookNotFound(RulebookError):
    """Neither a readable file nor a shipped rulebook goes by the name given."""
