"""Record types: what a provider may report about a subject.

The shipped catalogs (``catalogs/*.csv``) hold the lawful record types of the shipped
rulebooks; operators may add their own. Every type passes the special-category check of
``socialcredit.lines`` before it can be registered, so no catalog can carry petitions, religion,
health or the like.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

from socialcredit.identifiers import SubjectKind

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class Polarity(StrEnum):
    NEGATIVE = "negative"
    POSITIVE = "positive"


#: How a catalog's ``subject_kind`` column maps to subject kinds. Public institutions are
#: organisations for this purpose: they pay wages, sign contracts and can lose licences.
CATALOG_KINDS: Mapping[str, frozenset[SubjectKind]] = {
    "person": frozenset({SubjectKind.PERSON}),
    "organisation": frozenset({SubjectKind.ORGANISATION, SubjectKind.INSTITUTION}),
    "institution": frozenset({SubjectKind.INSTITUTION}),
    "any": frozenset(SubjectKind),
}


class CatalogError(ValueError):
    """A record type definition is unusable; the message names the code and the reason."""


@dataclass(frozen=True, slots=True)
class RecordType:
    code: str
    title: str
    category: str
    polarity: Polarity
    subject_kinds: frozenset[SubjectKind]
    source: str = "operator"

    def applies_to(self, kind: SubjectKind) -> bool:
        return kind in self.subject_kinds

    @property
    def kinds_text(self) -> str:
        """The subject kinds as stored: a sorted, comma-separated list."""
        return ",".join(sorted(k.value for k in self.subject_kinds))


def parse_kinds(text: str, catalog_words: bool = False) -> frozenset[SubjectKind]:
    """Parse ``any`` or a comma-separated list of subject kinds, taken literally.

    With ``catalog_words`` a shipped catalog's single word is read as the catalog means it
    (``organisation`` includes public institutions); an operator's list is never widened.
    """
    text = text.strip()
    if text == "any" or (catalog_words and text in CATALOG_KINDS):
        return CATALOG_KINDS[text]
    kinds = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            kinds.add(SubjectKind(part))
        except ValueError:
            raise CatalogError(
                f"unknown subject kind {part!r} (use person, organisation, institution or any)"
            ) from None
    if not kinds:
        raise CatalogError("a record type must apply to at least one subject kind")
    return frozenset(kinds)


def make_record_type(
    code: str,
    title: str,
    category: str,
    polarity: str,
    kinds: str,
    source: str = "operator",
    catalog_words: bool = False,
) -> RecordType:
    """Build a record type, checking its code, polarity and kinds (not the lines: see lines)."""
    if not CODE_PATTERN.match(code) or len(code) > 64:
        raise CatalogError(
            f"record type code {code!r}: use lower-case words separated by dots, at most 64 chars"
        )
    if not title.strip():
        raise CatalogError(f"record type {code!r}: title is empty")
    if not CODE_PATTERN.match(category):
        raise CatalogError(f"record type {code!r}: category {category!r} is not a plain word")
    try:
        pol = Polarity(polarity)
    except ValueError:
        raise CatalogError(
            f"record type {code!r}: polarity {polarity!r} must be negative or positive"
        ) from None
    return RecordType(code, title.strip(), category, pol, parse_kinds(kinds, catalog_words), source)


def shipped_catalog(name: str) -> list[RecordType]:
    """The record types of a shipped catalog (``rongcheng`` or ``flensburg``)."""
    text = resources.files("socialcredit.catalogs").joinpath(f"{name}.csv").read_text("utf-8")
    return [
        make_record_type(
            row["code"],
            row["title"],
            row["class"],
            row["polarity"],
            row["subject_kind"],
            name,
            catalog_words=True,
        )
        for row in csv.DictReader(text.splitlines())
    ]


SHIPPED_CATALOGS = ("rongcheng", "flensburg")


def all_shipped_types() -> list[RecordType]:
    return [t for name in SHIPPED_CATALOGS for t in shipped_catalog(name)]


def index(types: Iterable[RecordType]) -> dict[str, RecordType]:
    return {t.code: t for t in types}
