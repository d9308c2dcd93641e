"""The pages' words in English and Chinese: one JSON message catalog per language.

A flat JSON dict per language rather than gettext/Babel: the pages need about two hundred
short strings, Chinese has no plural forms and the English ones are worded to avoid them, so
``.po`` files, a compile step and a runtime dependency would buy nothing. What Babel would
give — no message missing in one language — a test checks: both catalogs have the same keys
and the same ``{placeholders}``. Texts the registry itself produces (reason codes) already
come in both languages; the engine's per-record notes are English only, and the page says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources

LANGUAGES = ("en", "zh")
DEFAULT = "en"
#: The ``lang`` attribute of each language's pages (BCP 47).
HTML_LANG = {"en": "en", "zh": "zh-Hans"}


@cache
def catalog(lang: str) -> dict[str, str]:
    """The message catalog of ``lang`` (one of ``LANGUAGES``)."""
    text = resources.files("socialcredit.web").joinpath(f"messages/{lang}.json").read_text("utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)``: the message in ``lang``, formatted; a missing key fails loudly."""
    messages = catalog(lang)

    def t(key: str, **values: object) -> str:
        return messages[key].format(**values) if values else messages[key]

    return t


def pick(accept_language: str | None) -> str:
    """The language a browser prefers among ours, from its ``Accept-Language`` header."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return DEFAULT
