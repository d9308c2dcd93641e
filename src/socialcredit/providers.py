"""Providers: the authorities that submit records, and which record types each may submit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
TYPE_PATTERN = re.compile(r"^[a-z0-9_.*]+$")


class ProviderError(ValueError):
    """A provider definition is unusable; the message says why."""


@dataclass(frozen=True, slots=True)
class Provider:
    """An authority such as ``court.rongcheng``, allowed the record types its patterns match.

    Patterns are shell-style (``court.*``), matched case-sensitively against type codes.
    """

    name: str
    type_patterns: tuple[str, ...]

    def may_submit(self, type_code: str) -> bool:
        return any(fnmatchcase(type_code, p) for p in self.type_patterns)


def make_provider(name: str, patterns: list[str] | tuple[str, ...]) -> Provider:
    if not NAME_PATTERN.match(name) or len(name) > 64:
        raise ProviderError(
            f"provider name {name!r}: use lower-case words separated by dots "
            "(court.rongcheng), at most 64 characters"
        )
    if not patterns:
        raise ProviderError(f"provider {name!r}: give at least one record type pattern")
    for p in patterns:
        if not TYPE_PATTERN.match(p):
            raise ProviderError(f"provider {name!r}: type pattern {p!r} is not a code or glob")
    return Provider(name, tuple(dict.fromkeys(patterns)))
