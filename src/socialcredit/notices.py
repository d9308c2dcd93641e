"""Notices to subjects: what was recorded, why it hurts, the legal basis, how to dispute.

The seed documents' sharpest charge is that people were blacklisted with "no official advance
notification". Here every adverse outcome (a record that lowers the score or sets a grade, a
list membership that triggers a restriction) becomes a notice in the outbox (``store.outbox``)
before any consumer can see the restriction: a check writes the subject's missing notices
before it answers. Delivery is a separate, pluggable step (a file or a webhook channel).

``drafts`` is pure: a result in, the notices it calls for out, each with a stable key so that
asking again never writes a second notice for the same thing.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from socialcredit.rulebook.model import MeasureKind, Rulebook
from socialcredit.scoring import Result, Status

_COUNTING = (Status.COUNTED, Status.DOUBLED, Status.CAPPED)


@dataclass(frozen=True, slots=True)
class Draft:
    key: str  # stable: one notice per rulebook and adverse record or list membership
    body: dict[str, Any]


def how_to_dispute(provider: str, ref: str, rulebook: Rulebook) -> dict[str, str]:
    days = rulebook.meta.dispute_deadline_working_days
    cal = rulebook.meta.dispute_deadline_days
    within = f"{days} working days" if days else f"{cal} days" if cal else "30 days"
    return {
        "api": "POST /v1/subjects/{your id}/disputes "
        f'{{"provider": "{provider}", "ref": "{ref}", "reason": "…"}}',
        "cli": f"scs dispute open YOUR-ID --provider {provider} --ref {ref} --reason '…'",
        "en": f"You may dispute this record. It is marked disputed at once; {provider} must "
        f"verify it within {within}, or it stops counting until verified.",
        "zh": f"您可以对此记录提出异议。记录将立即标记为有异议；{provider}须在{within}内核实，"
        "否则在核实前不予计入。",
    }


def drafts(
    result: Result,
    rulebook: Rulebook,
    record_basis: Mapping[tuple[str, str], str | None] = {},
    written: Container[str] = (),
) -> list[Draft]:
    """The notices ``result`` calls for: one per adverse counted record, one per restricting
    list membership (with the measures it triggers and their legal bases).

    ``record_basis`` is the legal basis each provider cited for its record (by provider and
    ref); the notice names it first, and the rulebook's basis for scoring it beside it.
    ``written``: keys of notices the subject has already; those are not drafted again (a
    notice's body costs more to build than everything else here)."""
    reasons = [r.to_json() for r in result.reasons]
    restrictions = [m for m in result.measures if m.kind == MeasureKind.RESTRICTION.value]
    out = []
    worse = -1 if rulebook.score.higher_is_better else 1
    for c in result.contributions:
        counts = c.status in _COUNTING
        if not counts or not (c.direct_grade or c.applied_points * worse > 0):
            continue
        key = f"{result.rulebook}:record:{c.provider}:{c.ref}"
        if key in written:
            continue
        rule = rulebook.types.get(c.type)
        out.append(
            Draft(
                key=key,
                body={
                    "kind": "adverse_record",
                    "rulebook": f"{result.rulebook} {result.version}",
                    "what": {
                        "provider": c.provider,
                        "ref": c.ref,
                        "type": c.type,
                        "title": rule.title if rule else c.type,
                        "title_zh": rule.title_zh if rule else None,
                        "occurred_on": c.occurred_on.isoformat(),
                    },
                    "effect": {
                        "points": c.points,
                        "direct_grade": c.direct_grade,
                        "valid_until": c.valid_until.isoformat() if c.valid_until else None,
                        "score": result.score,
                        "grade": result.grade,
                    },
                    "why": list(c.why),
                    "legal_basis": record_basis.get((c.provider, c.ref)) or c.legal_basis,
                    "rule_basis": c.legal_basis,
                    "reasons": reasons,
                    "restrictions": [m.to_json() for m in restrictions],
                    "how_to_dispute": how_to_dispute(c.provider, c.ref, rulebook),
                },
            )
        )
    for code in result.lists:
        measures = [m for m in restrictions if m.list == code]
        if not measures:
            continue
        since = measures[0].since
        key = f"{result.rulebook}:list:{code}:{since}"
        if key in written:
            continue
        title = next((item.title for item in rulebook.lists if item.code == code), code)
        out.append(
            Draft(
                key=key,
                body={
                    "kind": "listed",
                    "rulebook": f"{result.rulebook} {result.version}",
                    "what": {"list": code, "title": title, "since": str(since)},
                    "effect": {"score": result.score, "grade": result.grade},
                    "restrictions": [m.to_json() for m in measures],
                    "legal_basis": sorted({m.legal_basis or "" for m in measures} - {""}),
                    "reasons": reasons,
                    "how_to_review": {
                        "api": "POST /v1/subjects/{your id}/reviews "
                        f'{{"rulebook": "{result.rulebook}", "list": "{code}", "reason": "…"}}',
                        "en": "You may ask for a person to review this listing (GDPR Art. 22) "
                        "and dispute any record behind it.",
                        "zh": "您可以要求人工复核此名单决定，并对其所依据的任何记录提出异议。",
                    },
                },
            )
        )
    return out


# -- delivery channels ------------------------------------------------------------------------
class Channel(Protocol):
    """Where notices go; ``name`` is stored with each notice it delivered."""

    name: str

    def send(self, notices: Sequence[dict[str, Any]]) -> None: ...


class FileChannel:
    """Appends each notice as one JSON line: a mail merge or a print shop picks them up."""

    def __init__(self, path: Path):
        self.path = path
        self.name = f"file:{path}"

    def send(self, notices: Sequence[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            for notice in notices:
                out.write(json.dumps(notice, ensure_ascii=False, sort_keys=True) + "\n")


class WebhookChannel:
    """POSTs the notices as one JSON array; any answer but 2xx fails the delivery."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url, self.timeout = url, timeout
        self.name = f"webhook:{url}"

    def send(self, notices: Sequence[dict[str, Any]]) -> None:
        data = json.dumps(list(notices), ensure_ascii=False).encode()
        request = urllib.request.Request(
            self.url, data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout):
            pass


def channel_for(target: str) -> Channel:
    """``file:PATH`` or an ``http(s)://`` URL."""
    if target.startswith(("http://", "https://")):
        return WebhookChannel(target)
    if target.startswith("file:"):
        return FileChannel(Path(target.removeprefix("file:")))
    raise ValueError(f"{target!r} is not a channel: use file:PATH or an http(s):// URL")
