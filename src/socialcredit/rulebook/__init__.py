"""The rulebook language: TOML rulebooks checked against a published schema and the lines.

``load_rulebook("rongcheng")`` or ``load_rulebook(path)`` returns a checked ``Rulebook`` or
raises ``RulebookError`` listing every problem; see ``docs/rulebook-language.md``.
"""

from socialcredit.rulebook.loader import load_rulebook, parse_rulebook, shipped_names, shipped_text
from socialcredit.rulebook.model import Rulebook
from socialcredit.rulebook.problems import Problem, RulebookError, RulebookNotFound

__all__ = [
    "Problem",
    "Rulebook",
    "RulebookError",
    "RulebookNotFound",
    "load_rulebook",
    "parse_rulebook",
    "shipped_names",
    "shipped_text",
]
