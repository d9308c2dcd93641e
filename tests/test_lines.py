"""The special-category and surveillance lines: each one crossed in English and in Chinese,
and every lawful shipped type left alone."""

from __future__ import annotations

import pytest

from socialcredit.catalog import all_shipped_types
from socialcredit.lines import (
    OTHER_SUBJECTS,
    SPECIAL_CATEGORIES,
    crossed_lines,
    reaches_other_subjects,
)
from socialcredit.rulebook import load_rulebook, shipped_names

CROSSINGS = [
    # (line, code, English title, Chinese title)
    ("political opinion or activity", "petition.filed", "Petitioned the authorities", "越级上访"),
    (
        "political opinion or activity",
        "assembly.unapproved",
        "Took part in an unapproved assembly",
        "参加未经批准的集会",
    ),
    (
        "political opinion or activity",
        "protest.joined",
        "Joined a street demonstration",
        "参加游行示威",
    ),
    ("political opinion or activity", "labour.strike", "Organised a strike", "组织罢工"),
    (
        "political opinion or activity",
        "speech.online",
        "Untrue remarks in online posts",
        "发表不实言论",
    ),
    (
        "political opinion or activity",
        "authority.criticism",
        "Public criticism of officials",
        "批评政府",
    ),
    ("religion or belief", "belief.group", "Member of a banned belief group", "参加邪教组织"),
    ("religion or belief", "tomb.incense", "Burned incense at tomb sweeping", "扫墓烧香"),
    ("religion or belief", "worship.attended", "Attended worship at a church", "参加宗教礼拜"),
    ("religion or belief", "superstition.items", "Sold superstitious items", "销售封建迷信用品"),
    ("ethnicity or race", "origin.ethnic", "Ethnic minority household", "少数民族户籍"),
    ("ethnicity or race", "origin.race", "Race recorded by the police", "种族登记"),
    ("party or trade-union membership", "party.dues_unpaid", "Party dues unpaid", "未按时缴纳党费"),
    (
        "party or trade-union membership",
        "party.member",
        "Party member in good standing",
        "优秀党员",
    ),
    ("party or trade-union membership", "union.member", "Trade union member", "加入工会"),
    ("health", "patient.chronic", "Chronic disease on file", "患有慢性疾病"),
    ("health", "insurance.health", "Health check not passed", "健康检查未通过"),
    (
        "sex life or reproduction",
        "family_planning.violation",
        "Family planning violation",
        "违反计划生育",
    ),
    (
        "sex life or reproduction",
        "conduct.private",
        "Sexual conduct outside marriage",
        "婚外性行为",
    ),
    (
        "biometric or genetic data",
        "id.fingerprint",
        "Fingerprint mismatch at check-in",
        "指纹比对异常",
    ),
    ("biometric or genetic data", "test.dna", "DNA test result", "基因检测结果"),
    ("surveillance input", "camera.match", "Face recognition match at a crossing", "人脸识别抓拍"),
    ("surveillance input", "phone.trace", "GPS location trace", "手机位置轨迹"),
    ("surveillance input", "posts.scraped", "Social media content", "社交媒体内容"),
    ("informant reward", "neighbour.reported", "Reward for reporting on neighbours", "举报奖励"),
    ("informant reward", "tip.off", "Paid informant", "有奖举报他人"),
]


@pytest.mark.parametrize(("line", "code", "english", "chinese"), CROSSINGS)
def test_each_line_is_crossed_in_english_and_in_chinese(
    line: str, code: str, english: str, chinese: str
) -> None:
    assert line in {c.line for c in crossed_lines(code, english)}
    assert line in {c.line for c in crossed_lines("neutral.code", chinese)}


def test_every_special_category_line_is_proved_above() -> None:
    assert {line for line, *_ in CROSSINGS} == set(SPECIAL_CATEGORIES)


def test_a_crossing_names_the_line_and_the_term() -> None:
    (crossing,) = crossed_lines("tomb.incense", "Burned incense at tomb sweeping")
    assert (crossing.line, crossing.term) == ("religion or belief", "incense")
    assert str(crossing) == 'crosses the line "religion or belief" (matched "incense")'


def test_the_category_is_checked_too() -> None:
    assert crossed_lines("x.y", "Some conduct", category="religion")


@pytest.mark.parametrize(
    "title",
    [
        "Responsible for a major production / traffic / fire / poisoning / medical accident",
        "Serious dishonesty endangering health or life (food / drugs / environment)",
        "Unpaid blood donation (each time)",
        "Bone-marrow donation",
        "Abused family members or refused the legal duty to support elderly parents",
        "Performed the judgment in good faith",
        "Struck off the register",  # not "strike": whole words only
        "Gracefully settled",  # not "race"
        "Environmental permit",  # not "mental"
        "危害人民群众生命健康的严重失信行为",
        "道路交通违法行为一次记满12分",  # 一次性 / 恶性 must not read as 性
        "恶性竞争",
    ],
)
def test_lawful_phrases_are_left_alone(title: str) -> None:
    assert crossed_lines("neutral.code", title) == []


def test_every_shipped_catalog_type_passes() -> None:
    crossing = {t.code: crossed_lines(t.code, t.title, t.category) for t in all_shipped_types()}
    assert {code: found for code, found in crossing.items() if found} == {}


@pytest.mark.parametrize("name", shipped_names())
def test_every_type_of_the_shipped_rulebooks_passes_in_both_languages(name: str) -> None:
    rulebook = load_rulebook(name)
    for rule in rulebook.types.values():
        assert crossed_lines(rule.code, f"{rule.title} {rule.title_zh}", rule.category) == []


@pytest.mark.parametrize(
    "text",
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
        "配偶",
        "家庭成员",
    ],
)
def test_reaching_other_subjects_is_line_2(text: str) -> None:
    crossing = reaches_other_subjects(text)
    assert crossing is not None and crossing.line == OTHER_SUBJECTS


def test_the_subject_itself_is_not_another_subject() -> None:
    assert reaches_other_subjects("No air travel") is None
    assert reaches_other_subjects("subject") is None
