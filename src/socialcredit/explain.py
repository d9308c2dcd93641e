"""A result in words, for the person or company it is about.

The engine's result already says why every point counts; this puts it in the order a reader
asks: where do I stand, what follows from it (lists, measures and their legal basis), why
(the reasons, in English and Chinese), and what each record did. Pure: text in, text out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from socialcredit.rulebook import Rulebook
from socialcredit.scoring import Contribution, Result, Status
from socialcredit.store.queries import EntryStatus, HistoryEntry

_STATUS_WORDS = {
    Status.COUNTED: "counts",
    Status.DOUBLED: "counts, doubled as a repeat",
    Status.CAPPED: "counts in part: annual cap reached",
    Status.FROZEN: "does not count yet",
    Status.SUPERSEDED: "does not count: superseded",
    Status.EXPIRED: "no longer counts: expired",
    Status.ERASED: "no longer counts: expired and past the history period",
    Status.REPAIRED: "no longer counts: repaired",
    Status.INELIGIBLE: "does not count: its condition was not met",
    Status.NOT_SCORED: "not scored by this rulebook",
}
INDENT = "  "


def render(
    who: str,
    as_of: date,
    results: Sequence[tuple[Rulebook, Result]],
    history: Sequence[HistoryEntry] = (),
) -> str:
    """The explanation of ``who`` (already masked) under each rulebook, and amended entries."""
    lines = [f"{who}, as of {as_of.isoformat()}"]
    for rulebook, result in results:
        lines += ["", *_result(rulebook, result)]
    amended = [h for h in history if h.status is not EntryStatus.CURRENT]
    if amended:
        lines += ["", "Withdrawn or replaced records (kept as history, never counted):"]
        lines += [f"{INDENT}{_amended(h)}" for h in amended]
    return "\n".join(lines) + "\n"


def _result(rb: Rulebook, result: Result) -> list[str]:
    band = rb.band(result.grade)
    grade = f"grade {result.grade}" + (f" ({band.title})" if band.title else "")
    lines = [f"{rb.name} {rb.version}: {rb.meta.title}"]
    if rb.meta.legal_basis:
        lines.append(f"{INDENT}legal basis of every rule without its own: {rb.meta.legal_basis}")
    lines.append(f"{INDENT}Score {result.score}, {grade}")
    titles = {listing.code: listing.title for listing in rb.lists}
    lines.append(f"{INDENT}Lists: {'none' if not result.lists else ''}".rstrip())
    lines += [f"{INDENT * 2}{code}: {titles.get(code, code)}" for code in result.lists]
    if result.measures:
        lines.append(f"{INDENT}Measures:")
    for m in result.measures:
        span = _span(m.since, m.until, "since")
        by = f"by {m.agency}" + (f"; {span}" if span else "")
        lines.append(f"{INDENT * 2}{m.kind} {m.code}: {m.title} ({by})")
        lines.append(f"{INDENT * 3}legal basis: {m.legal_basis or 'none given'}")
    if result.reasons:
        lines.append(f"{INDENT}Reasons:")
    for number, reason in enumerate(result.reasons, 1):
        lines.append(f"{INDENT * 2}{number}. {reason.text_en}")
        lines.append(f"{INDENT * 2}   {reason.text_zh}")
    lines.append(f"{INDENT}Records: {'none' if not result.contributions else ''}".rstrip())
    for c in result.contributions:
        lines += _contribution(rb, c)
    return lines


def _contribution(rb: Rulebook, c: Contribution) -> list[str]:
    rule = rb.types.get(c.type)
    title = rule.title if rule is not None else c.type
    span = _span(c.valid_from, c.valid_until)
    lines = [
        f"{INDENT * 2}{c.ref} ({c.provider}, {c.occurred_on}): {title}: {_points(c)}; "
        f"{_STATUS_WORDS[c.status]}" + (f"; valid {span}" if span else "")
    ]
    lines += [f"{INDENT * 3}why: {why}" for why in c.why]
    if c.legal_basis and c.legal_basis != rb.meta.legal_basis:
        lines.append(f"{INDENT * 3}legal basis: {c.legal_basis}")
    return lines


def _points(c: Contribution) -> str:
    if c.direct_grade is not None:
        return f"grade {c.direct_grade} directly"
    if c.status is Status.NOT_SCORED:
        return "no points"
    if c.points == 0 and c.base_points == 0:
        return "no points of its own"
    text = f"{c.points:+d} points"
    return text if c.points == c.base_points else f"{text} (rule: {c.base_points:+d})"


def _span(start: date | None, end: date | None, first: str = "from") -> str:
    """``from 2025-01-01 until 2026-12-31``, leaving out an end that is not known."""
    return " ".join(f"{word} {day}" for word, day in ((first, start), ("until", end)) if day)


def _amended(h: HistoryEntry) -> str:
    what = f"{h.ref} ({h.provider}, {h.type or h.kind}, {h.occurred_on or '-'})"
    return f"{what}: {h.describe()}"
