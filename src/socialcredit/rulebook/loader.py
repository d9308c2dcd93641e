"""Loading rulebooks: TOML text -> JSON Schema check -> model -> meaning check.

The schema is the published contract (editors can check a rulebook against it while it is
written); the checker adds what a schema cannot say. A rulebook that fails either is refused
as a whole with every problem listed, so a half-understood rulebook can never score anyone.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from socialcredit.catalog import CATALOG_KINDS, Polarity
from socialcredit.identifiers import SubjectKind
from socialcredit.lines import OTHER_SUBJECTS, reaches_other_subjects
from socialcredit.rulebook.checker import check
from socialcredit.rulebook.model import (
    AnnualCap,
    Counting,
    GradeBand,
    ListDef,
    Measure,
    MeasureKind,
    Meta,
    Period,
    RecordRule,
    RepairRule,
    Rulebook,
    ScoreCondition,
    ScoreScale,
    Tier,
    TierBasis,
    Validity,
    ValidityRule,
    ValidityStep,
)
from socialcredit.rulebook.problems import Problem, RulebookError, RulebookNotFound, entry_path

SHIPPED_PACKAGE = "socialcredit.rulebooks"
_REQUIRED = re.compile(r"^'(.+)' is a required property$")


@cache
def schema() -> dict[str, Any]:
    """The published JSON Schema of the rulebook language."""
    text = resources.files("socialcredit.rulebook").joinpath("rulebook.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def shipped_names() -> tuple[str, ...]:
    """The names of the rulebooks shipped with socialcredit."""
    files = resources.files(SHIPPED_PACKAGE).iterdir()
    return tuple(sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml")))


def shipped_text(name: str) -> str:
    """The TOML text of a shipped rulebook."""
    if name not in shipped_names():
        raise RulebookNotFound(name, [_not_found(name)])
    return resources.files(SHIPPED_PACKAGE).joinpath(f"{name}.toml").read_text("utf-8")


def load_rulebook(source: str | Path) -> Rulebook:
    """Load and check a rulebook from a file path or by shipped name (``rongcheng``)."""
    path = Path(source)
    if isinstance(source, Path) or path.suffix == ".toml" or path.is_file():
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            problem = Problem("(file)", exc.strerror or str(exc))
            raise RulebookNotFound(str(source), [problem]) from None
        return parse_rulebook(text, str(path))
    return parse_rulebook(shipped_text(str(source)), str(source))


def parse_rulebook(text: str, origin: str = "<text>") -> Rulebook:
    """Check TOML text against the schema and the meaning rules; return the rulebook."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulebookError(origin, [Problem("(file)", f"not valid TOML: {exc}")]) from None
    document = _plain(document)
    problems = schema_problems(document)
    if problems:
        raise RulebookError(origin, problems)
    rulebook = build(document, text)
    problems = check(rulebook)
    if problems:
        raise RulebookError(origin, problems)
    return rulebook


def _not_found(name: str) -> Problem:
    shipped = ", ".join(shipped_names())
    return Problem(
        "(rulebook)",
        f"no rulebook file {name!r} and no shipped rulebook of that name (shipped: {shipped})",
    )


def _plain(value: Any) -> Any:
    """TOML dates as ISO strings, the form JSON Schema (and editors) understand."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# -- schema problems ----------------------------------------------------------------------------
def schema_problems(document: Any) -> list[Problem]:
    """Every schema violation as a problem naming its entry, in document order."""
    seen: dict[tuple[str, str], Problem] = {}
    for error in _validator().iter_errors(document):
        for problem in _explain(error):
            seen.setdefault((problem.path, problem.reason), problem)
    return sorted(seen.values(), key=lambda p: p.path)


def _explain(error: ValidationError) -> list[Problem]:
    parts = list(error.absolute_path)
    path = entry_path(parts)
    schema_part = error.schema if isinstance(error.schema, Mapping) else {}
    described = schema_part.get("description")
    if isinstance(error.instance, str) and reaches_other_subjects(error.instance):
        return [_other_subjects(parts, error.instance)]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(schema_part.get("properties", {}))
        return [
            _unknown_key([*parts, key], key, error.instance[key], allowed)
            for key in error.instance
            if key not in allowed
        ]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        found = _REQUIRED.match(error.message)
        key = found.group(1) if found else str(error.validator_value)
        return [Problem(entry_path([*parts, key]), "missing (required)")]
    if "propertyNames" in error.absolute_schema_path:
        where = entry_path([*parts, str(error.instance)])
        return [Problem(where, f"is not a valid name: use {described or error.message}")]
    if described and error.validator in ("oneOf", "pattern", "enum", "format"):
        return [Problem(path, f"{error.instance!r} is not valid: use {described}")]
    return [Problem(path, error.message)]


def _unknown_key(parts: list[str | int], key: str, value: Any, allowed: set[str]) -> Problem:
    """An unknown key; if it reaches another subject, say which line that crosses."""
    texts = [
        key,
        *(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)),
    ]
    for text in texts:
        if reaches_other_subjects(text):
            return _other_subjects(parts, text)
    hint = f"; allowed here: {', '.join(sorted(allowed))}" if allowed else ""
    return Problem(entry_path(parts), f"unknown key {key!r}{hint}")


def _other_subjects(parts: list[str | int], text: str) -> Problem:
    """Line 2, said as such rather than as a mere unknown key or value."""
    crossing = reaches_other_subjects(text)
    return Problem(
        entry_path(parts),
        f"{crossing}: no rule may read or write another subject's records or score, "
        "and a measure acts only on the listed subject",
        OTHER_SUBJECTS,
    )


# -- building the model -------------------------------------------------------------------------
def build(doc: Mapping[str, Any], source: str = "") -> Rulebook:
    """The model of a schema-valid document (meaning not yet checked)."""
    meta = doc["meta"]
    score = doc["score"]
    validity = doc["validity"]
    counting = doc.get("counting", {})
    return Rulebook(
        meta=Meta(
            name=meta["name"],
            version=meta["version"],
            title=meta["title"],
            jurisdiction=meta.get("jurisdiction"),
            effective=date.fromisoformat(meta["effective"]) if "effective" in meta else None,
            legal_basis=meta.get("legal_basis"),
            sources=tuple(meta.get("sources", ())),
            dispute_deadline_working_days=meta.get("dispute_deadline_working_days"),
            dispute_deadline_days=meta.get("dispute_deadline_days"),
            positive_deletion_working_days=meta.get("positive_deletion_working_days"),
            repair_min_publicity=_period(meta.get("repair_min_publicity")),
            repair_decision_working_days=meta.get("repair_decision_working_days"),
            retention=_period(meta.get("retention")),
        ),
        score=ScoreScale(
            base=score["base"],
            higher_is_better=score["better"] == "higher",
            minimum=score.get("min"),
            maximum=score.get("max"),
        ),
        grades=tuple(
            GradeBand(
                grade=g["grade"],
                minimum=g.get("min"),
                maximum=g.get("max"),
                title=g.get("title"),
                direct_validity=_period(g.get("direct_validity")),
            )
            for g in doc["grades"]
        ),
        validity=Validity(
            positive=_validity_rule(validity.get("positive")),
            negative=_validity_rule(validity.get("negative")),
            history=_period(validity.get("history")),
        ),
        counting=Counting(
            one_act_one_item=counting.get("one_act_one_item", False),
            repeat_factor=counting.get("repeat_factor"),
            annual_caps=tuple(
                AnnualCap(c["category"], c["points"]) for c in counting.get("annual_caps", ())
            ),
        ),
        types={code: _record_rule(code, t) for code, t in doc["types"].items()},
        repairs=tuple(_repair(code, r) for code, r in doc.get("repairs", {}).items()),
        lists=tuple(_list(code, x) for code, x in doc.get("lists", {}).items()),
        measures=tuple(_measure(code, m) for code, m in doc.get("measures", {}).items()),
        source=source,
    )


def _period(text: str | None) -> Period | None:
    return Period.parse(text) if text is not None else None


def _validity_rule(value: str | list[Mapping[str, Any]] | None) -> ValidityRule | None:
    if value is None:
        return None
    if isinstance(value, str):
        return ValidityRule((ValidityStep(None, Period.parse(value)),))
    return ValidityRule(
        tuple(ValidityStep(s.get("up_to"), Period.parse(s["period"])) for s in value)
    )


def _kind_points(value: int | Mapping[str, int]) -> dict[SubjectKind, int]:
    """Points by subject kind; a value for organisations also covers public institutions."""
    if isinstance(value, int):
        return dict.fromkeys(SubjectKind, value)
    points = {SubjectKind(k): v for k, v in value.items()}
    if SubjectKind.ORGANISATION in points:
        points.setdefault(SubjectKind.INSTITUTION, points[SubjectKind.ORGANISATION])
    return points


def _record_rule(code: str, t: Mapping[str, Any]) -> RecordRule:
    only_if = t.get("only_if")
    return RecordRule(
        code=code,
        title=t["title"],
        category=t["category"],
        polarity=Polarity(t["polarity"]),
        kinds=CATALOG_KINDS[t["kinds"]],
        title_zh=t.get("title_zh"),
        points=_kind_points(t["points"]) if "points" in t else None,
        direct_grade=t.get("direct_grade"),
        tiers_by=TierBasis(t["tiers_by"]) if "tiers_by" in t else None,
        tiers=tuple(Tier(x["from"], x["points"], x.get("per")) for x in t.get("tiers", ())),
        max_points=t.get("max_points"),
        count_highest=t.get("count") == "highest",
        repeat_doubling=t.get("repeat_doubling", True),
        corrects=t.get("effect") == "corrects",
        validity=_period(t.get("validity")),
        only_if=(
            ScoreCondition(
                only_if.get("score_min"),
                only_if.get("score_max"),
                _period(only_if.get("once_per")),
            )
            if only_if is not None
            else None
        ),
        legal_basis=t.get("legal_basis"),
    )


def _repair(code: str, r: Mapping[str, Any]) -> RepairRule:
    return RepairRule(
        code=code,
        title=r["title"],
        ends=frozenset(r["ends"]),
        by=frozenset(r["by"]),
        points=_kind_points(r["points"]),
        validity=Period.parse(r["validity"]),
        title_zh=r.get("title_zh"),
        legal_basis=r.get("legal_basis"),
    )


def _list(code: str, x: Mapping[str, Any]) -> ListDef:
    score = x.get("score")
    return ListDef(
        code=code,
        title=x["title"],
        grades=frozenset(x.get("grades", ())),
        types=frozenset(x.get("types", ())),
        score_range=(score.get("min"), score.get("max")) if score is not None else None,
    )


def _measure(code: str, m: Mapping[str, Any]) -> Measure:
    return Measure(
        code=code,
        title=m["title"],
        kind=MeasureKind(m["kind"]),
        lists=tuple(m["lists"]),
        agency=m["agency"],
        context=m["context"],
        kinds=CATALOG_KINDS[m.get("kinds", "any")],
        legal_basis=m.get("legal_basis"),
    )
