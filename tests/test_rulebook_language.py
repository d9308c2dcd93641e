"""The rulebook language: schema, meaning checks, the lines, the shipped rulebooks, the docs."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from socialcredit import evaluation, native
from socialcredit.catalog import CATALOG_KINDS, Polarity, shipped_catalog
from socialcredit.identifiers import SubjectKind
from socialcredit.lines import OTHER_SUBJECTS
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import (
    RulebookError,
    RulebookNotFound,
    load_rulebook,
    model,
    parse_rulebook,
    shipped_names,
)
from socialcredit.rulebook.loader import schema
from socialcredit.scoring import evaluate

DOCS = Path(__file__).resolve().parents[1] / "docs"

MINIMAL = """
language = 1

[meta]
name = "mini"
version = "0.1"
title = "Minimal rulebook"

[score]
base = 100
better = "higher"
min = 0
max = 200

[[grades]]
grade = "good"
min = 50

[[grades]]
grade = "bad"
max = 49
direct_validity = "1y"

[validity]
negative = "1y"
positive = "1y"

[types."late.payment"]
title = "Paid a bill late"
category = "payment"
polarity = "negative"
kinds = "any"
points = -10

[lists.bad]
title = "Bad grade"
grades = ["bad"]

[measures."no.credit"]
title = "No new consumer credit"
kind = "restriction"
lists = ["bad"]
agency = "Banks"
legal_basis = "Consumer Credit Act, section 1"
context = "credit"
"""


def problems_of(text: str) -> list[tuple[str, str, str | None]]:
    with pytest.raises(RulebookError) as caught:
        parse_rulebook(text, "test")
    return [(p.path, p.reason, p.line) for p in caught.value.problems]


def edited(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


def with_type(code: str, body: str) -> str:
    return MINIMAL + f'\n[types."{code}"]\n' + body


def negative_type(title: str, code: str = "x.conduct", category: str = "conduct") -> str:
    return with_type(
        code,
        f'title = "{title}"\ncategory = "{category}"\npolarity = "negative"\n'
        'kinds = "any"\npoints = -5\n',
    )


# -- the shipped rulebooks --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["rongcheng", "flensburg"])
def test_shipped_rulebooks_load_and_pass_every_check(name: str) -> None:
    assert name in shipped_names()
    rulebook = load_rulebook(name)
    assert (rulebook.name, rulebook.version) == (name, "1.0.0")


@pytest.mark.parametrize("name", ["rongcheng", "flensburg"])
def test_a_shipped_rulebook_carries_its_whole_catalog(name: str) -> None:
    rulebook = load_rulebook(name)
    text = resources.files("socialcredit.catalogs").joinpath(f"{name}.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert set(rulebook.types) == {row["code"] for row in rows}
    for row, catalog_type in zip(rows, shipped_catalog(name), strict=True):
        rule = rulebook.types[row["code"]]
        assert (rule.title, rule.category, rule.polarity, rule.kinds) == (
            catalog_type.title,
            catalog_type.category,
            catalog_type.polarity,
            CATALOG_KINDS[row["subject_kind"]],
        ), row["code"]
        points = {rule.points[k] for k in rule.kinds} if rule.points else set()
        assert points == ({int(row["points"])} if row["points"] else set()), row["code"]
        assert rule.direct_grade == (row["direct_grade"] or None), row["code"]
        assert rule.corrects == (row["effect"] == "corrects"), row["code"]


def test_rongcheng_restrictions_all_carry_a_legal_basis() -> None:
    measures = load_rulebook("rongcheng").measures
    restrictions = [m for m in measures if m.kind.value == "restriction"]
    assert len(restrictions) == 10
    assert all("(2015 revision), Art. 3" in (m.legal_basis or "") for m in restrictions)


# -- the schema -------------------------------------------------------------------------------
def test_the_schema_is_valid_draft_2020_12_and_closed_everywhere() -> None:
    Draft202012Validator.check_schema(schema())

    def objects(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = [node] if "properties" in node else []
            return found + [o for value in node.values() for o in objects(value)]
        if isinstance(node, list):
            return [o for value in node for o in objects(value)]
        return []

    assert all(o.get("additionalProperties") is False for o in objects(schema()))


def test_the_minimal_rulebook_loads() -> None:
    assert parse_rulebook(MINIMAL).types["late.payment"].points == dict.fromkeys(SubjectKind, -10)


def test_unknown_keys_are_rejected_by_name_with_the_allowed_ones() -> None:
    ((path, reason, line),) = problems_of(edited("points = -10", "points = -10\npionts = 3"))
    assert path == 'types."late.payment".pionts'
    assert "unknown key 'pionts'" in reason and "allowed here:" in reason and "points" in reason
    assert line is None


def test_a_problem_names_a_tier_by_its_index() -> None:
    body = (
        'title = "Gift"\ncategory = "gift"\npolarity = "positive"\nkinds = "any"\n'
        'tiers_by = "amount"\n'
        "tiers = [{ from = 1, points = 1 }, { from = 5, points = 2 }, { from = 3, points = 3 }]\n"
    )
    assert problems_of(with_type("donation.money", body)) == [
        ('types."donation.money".tiers[2]', "tiers must be listed by growing from", None)
    ]
    bad_key = body.replace("{ from = 3, points = 3 }", "{ from = 9, points = 3, each = 1 }")
    ((path, reason, _),) = problems_of(with_type("donation.money", bad_key))
    assert (path, reason.split(";")[0]) == (
        'types."donation.money".tiers[2].each',
        "unknown key 'each'",
    )


def test_missing_keys_and_bad_values_name_their_entry() -> None:
    found = problems_of(
        edited('title = "Paid a bill late"\n', "").replace('negative = "1y"', 'negative = "2.5y"')
    )
    assert ('types."late.payment".title', "missing (required)", None) in found
    period = next(reason for path, reason, _ in found if path == "validity.negative")
    assert "'2.5y' is not valid" in period and '"2y6m"' in period


def test_not_toml_at_all() -> None:
    ((path, reason, _),) = problems_of("language = ")
    assert path == "(file)" and reason.startswith("not valid TOML")


# -- meaning checks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        ("min = 50", "min = 40", "grades[0]", "good (40..) overlaps bad (..49)"),
        (
            "min = 50",
            "min = 60",
            "grades[0]",
            "gap: scores 50..59 between bad (..49) and good (60..)",
        ),
        ("max = 200", "max = 200\n[meta2]", "meta2", "unknown key 'meta2'"),
        ("base = 100", "base = 300", "score.base", "300 lies outside the bounds min..max"),
        ('negative = "1y"\n', "", 'types."late.payment"', "validity missing"),
        ("points = -10", "points = 10", 'types."late.payment"', "must not move the score"),
        (
            "points = -10",
            'points = -10\ndirect_grade = "bad"',
            'types."late.payment"',
            "exactly one of",
        ),
        (
            "points = -10",
            'direct_grade = "worst"',
            'types."late.payment".direct_grade',
            "unknown grade",
        ),
        ('grades = ["bad"]', 'grades = ["awful"]', "lists.bad.grades", "unknown grade 'awful'"),
        ('grades = ["bad"]', "", "lists.bad", "names nothing"),
        ('lists = ["bad"]', "lists = []", 'measures."no.credit".lists', "names nothing"),
        (
            'lists = ["bad"]',
            'lists = ["good"]',
            'measures."no.credit".lists',
            "unknown list 'good'",
        ),
        (
            'legal_basis = "Consumer Credit Act, section 1"\n',
            "",
            'measures."no.credit".legal_basis',
            "a restriction needs a legal basis",
        ),
        (
            'kinds = "any"\npoints = -10',
            'kinds = "any"\npoints = { person = -10 }',
            'types."late.payment".points',
            "no points for institution, organisation",
        ),
    ],
)
def test_meaning_problems_name_the_entry(old: str, new: str, path: str, reason: str) -> None:
    found = problems_of(edited(old, new))
    assert any(p == path and reason in r for p, r, _ in found), found


def test_grade_bands_must_be_listed_best_first() -> None:
    swapped = MINIMAL.replace('grade = "good"\nmin = 50', 'grade = "bad_first"\nmax = 49', 1)
    swapped = swapped.replace('grade = "bad"\nmax = 49', 'grade = "good_last"\nmin = 50', 1)
    swapped = swapped.replace('grades = ["bad"]', 'grades = ["bad_first"]')
    assert problems_of(swapped) == [
        ("grades", "list the bands best first (score.better = 'higher')", None)
    ]


def test_references_to_unknown_types_and_categories_are_problems() -> None:
    text = MINIMAL + (
        '\n[counting]\nannual_caps = [{ category = "gifts", points = 10 }]\n'
        '[lists.court]\ntitle = "Court list"\ntypes = ["court.listed"]\n'
        '[repairs.paid]\ntitle = "Paid"\nends = ["late.payment"]\nby = ["paid.up"]\n'
        'points = -5\nvalidity = "1y"\n'
    )
    found = {(p, r) for p, r, _ in problems_of(text)}
    assert found == {
        ("counting.annual_caps[0]", "names nothing: no record type has category 'gifts'"),
        ("lists.court.types", "unknown record type 'court.listed'"),
        ("repairs.paid.by", "unknown record type 'paid.up'"),
        ("repairs.paid.ends", "'late.payment' sets no direct grade to end"),
    }


def test_errors_are_typed_and_list_every_problem() -> None:
    with pytest.raises(RulebookError) as caught:
        parse_rulebook(edited('lists = ["bad"]', "lists = []").replace("min = 50", "min = 60"))
    assert len(caught.value.problems) == 2
    assert "2 problems" in str(caught.value)
    with pytest.raises(RulebookNotFound):
        load_rulebook("no-such-rulebook")


def test_a_rulebook_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_rulebook(path).name == "mini"
    assert load_rulebook(str(path)).name == "mini"
    with pytest.raises(RulebookNotFound):
        load_rulebook(tmp_path / "missing.toml")


# -- the lines --------------------------------------------------------------------------------
LINE_CASES = [
    ("political opinion or activity", "Petitioned higher authorities", "越级上访"),
    ("religion or belief", "Burned incense at tomb sweeping", "扫墓烧香"),
    ("ethnicity or race", "Ethnic minority household", "少数民族"),
    ("party or trade-union membership", "Party dues unpaid", "拖欠党费"),
    ("health", "Chronic illness on file", "患有慢性疾病"),
    ("sex life or reproduction", "Family planning violation", "违反计划生育"),
    ("biometric or genetic data", "Fingerprint mismatch", "指纹比对异常"),
    ("surveillance input", "Face recognition match at a crossing", "人脸识别抓拍"),
    ("informant reward", "Reward for reporting on neighbours", "举报奖励"),
]


@pytest.mark.parametrize(("line", "english", "chinese"), LINE_CASES)
def test_a_record_type_crossing_a_line_is_refused_in_english_and_chinese(
    line: str, english: str, chinese: str
) -> None:
    for title in (english, chinese):
        found = problems_of(negative_type(title))
        assert ('types."x.conduct"', line) in {(p, crossed) for p, _, crossed in found}, title
        reason = next(r for p, r, crossed in found if crossed == line)
        assert f'crosses the line "{line}"' in reason


def test_a_code_or_category_crossing_a_line_is_refused() -> None:
    by_code = problems_of(negative_type("Filed something", code="petition.filed"))
    by_category = problems_of(negative_type("Did something", category="religion"))
    assert [c for *_, c in by_code] == ["political opinion or activity"]
    assert [c for *_, c in by_category] == ["religion or belief"]


def test_lists_and_measures_crossing_a_line_are_refused() -> None:
    text = MINIMAL + (
        '\n[lists.faithful]\ntitle = "Regular temple visitors"\ngrades = ["good"]\n'
        '[measures."ban.travel"]\ntitle = "No travel"\nkind = "restriction"\nlists = ["bad"]\n'
        'agency = "Police"\nlegal_basis = "Act 1"\ncontext = "GPS location tracking"\n'
    )
    found = {(p, c) for p, _, c in problems_of(text)}
    assert found == {
        ("lists.faithful", "religion or belief"),
        ('measures."ban.travel"', "surveillance input"),
    }


@pytest.mark.parametrize(
    "key",
    [
        "relatives",
        "household",
        "spouse",
        "family_members",
        "employees",
        "legal_representative",
        "neighbours",
        "friends",
        "transfer_to",
        "applies_to_related",
    ],
)
def test_keys_reaching_other_subjects_cross_line_2(key: str) -> None:
    in_type = problems_of(edited("points = -10", f"points = -10\n{key} = -5"))
    at_top = problems_of(MINIMAL.replace("language = 1", f"language = 1\n{key} = true", 1))
    for found, path in ((in_type, f'types."late.payment".{key}'), (at_top, key)):
        ((where, reason, line),) = found
        assert (where, line) == (path, OTHER_SUBJECTS)
        assert "no rule may read or write another subject's records or score" in reason


def test_a_value_naming_other_subjects_crosses_line_2() -> None:
    found = problems_of(edited('kinds = "any"', 'kinds = "family_members"'))
    assert [(p, c) for p, _, c in found] == [('types."late.payment".kinds', OTHER_SUBJECTS)]


def test_a_measure_targeting_anyone_but_the_listed_subject_crosses_line_2() -> None:
    targeted = problems_of(edited('context = "credit"', 'context = "credit"\ntarget = "relatives"'))
    assert [(p, c) for p, _, c in targeted] == [('measures."no.credit".target', OTHER_SUBJECTS)]
    titled = problems_of(edited("No new consumer credit", "No new credit for the debtor's spouse"))
    assert [(p, c) for p, _, c in titled] == [('measures."no.credit"', OTHER_SUBJECTS)]


# -- the documentation's example ----------------------------------------------------------------
def docs_example() -> str:
    text = (DOCS / "rulebook-language.md").read_text("utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    return str(block)


def test_the_documented_example_loads_and_scores_as_documented() -> None:
    rulebook = parse_rulebook(docs_example(), "docs/rulebook-language.md")
    tenant = SubjectRef(SubjectKind.PERSON, "11010519491231002X")

    def rec(ref: str, type_: str, day: str, relates_to: str | None = None) -> Record:
        return Record("town", ref, tenant, type_, date.fromisoformat(day), relates_to=relates_to)

    records = [
        rec("r1", "rent.late", "2025-02-01"),
        rec("r2", "rent.late", "2025-03-01"),
        rec("j1", "rent.judgment", "2025-04-01"),
        rec("a1", "award.civic", "2025-05-01"),
        rec("p1", "rent.paid_after_judgment", "2025-06-01", relates_to="j1"),
    ]

    def on(day: str) -> tuple[int, str, tuple[str, ...], tuple[str, ...]]:
        result = evaluate(records, rulebook, date.fromisoformat(day), SubjectKind.PERSON)
        return result.score, result.grade, result.lists, tuple(m.code for m in result.measures)

    assert on("2025-02-01") == (90, "good", (), ())
    assert on("2025-03-01") == (70, "fair", (), ())
    assert on("2025-04-01") == (59, "poor", ("watch", "judged_tenants"), ("deposit.required",))
    assert on("2025-05-01") == (59, "poor", ("watch", "judged_tenants"), ("deposit.required",))
    assert on("2025-06-01") == (65, "fair", (), ())


def test_the_shipped_rulebooks_point_editors_at_the_schema() -> None:
    for name in shipped_names():
        first = resources.files("socialcredit.rulebooks").joinpath(f"{name}.toml").read_text()
        assert first.startswith("#:schema ../rulebook/rulebook.schema.json")
    assert json.loads(
        resources.files("socialcredit.rulebook").joinpath("rulebook.schema.json").read_text()
    )["$schema"].endswith("2020-12/schema")


def test_polarity_of_every_shipped_type_matches_its_points_direction() -> None:
    for name in shipped_names():
        rulebook = load_rulebook(name)
        worse = -1 if rulebook.score.higher_is_better else 1
        for rule in rulebook.types.values():
            sign = worse if rule.polarity is Polarity.NEGATIVE else -worse
            assert all(v * sign >= 0 for v in (rule.points or {}).values()), rule.code


def test_a_periods_last_day_is_the_day_before_the_same_date_that_period_later() -> None:
    """The engine's ``last_day`` works from a table of month starts: it must agree with the
    calendar rule (``_shift``, the same date later or the next month's 1st, minus a day) on
    every day of several leap cycles, for spans in and past the table, and out of the table's
    years; interpreted, and compiled where the install built it (``native``)."""
    executions = [evaluation.last_day]
    compiled = native.compiled()
    if compiled is not None:
        executions.append(compiled.last_day)
    start = date(1896, 1, 1).toordinal()
    days = [date.fromordinal(start + n) for n in range(0, 365 * 12, 1)]
    days += [date(1, 1, 31), date(1899, 12, 31), date(2199, 2, 28), date(2200, 12, 31)]
    for last_day in executions:
        for day in days:
            for months in (0, 1, 6, 12, 13, 24, 30, 60, 120, 1200):
                try:
                    expected: date | type[Exception] = model._shift(day, months) - model.ONE_DAY
                except (ValueError, OverflowError) as error:
                    expected = type(error)
                try:
                    got: date | type[Exception] = last_day(day, months)
                except (ValueError, OverflowError) as error:
                    got = type(error)
                assert got == expected, (day, months)
