"""The lines we do not cross, as one matcher that every entry point shares.

The brief forbids scoring special categories (political opinion or activity, religion or belief,
ethnicity or race, party or trade-union membership, health, sex life or reproduction, biometric
or genetic data), surveillance inputs (location traces, face recognition, social-media content),
rewards for informing on others, and anything that moves points between subjects. The rulebook
checker calls this module for every record type, list and measure, and the catalog calls it
when an operator registers a record type, so the refusal reads the same wherever it happens.

Matching is deliberately simple and inspectable: English terms are regular expressions matched
on word boundaries in the lower-cased text (codes are split at ``.``, ``_`` and ``-``), Chinese
terms are plain substrings. A few phrases that describe lawful conduct but contain a forbidden
word are removed before matching; each is listed in ``ALLOWED_PHRASES`` with the reason.
Chinese single characters are too broad to match alone: 性 is in 一次性 ("at once") and 恶性
("malicious"), so the sex-life line matches 性生活, 性行为, 性取向 and 性关系 instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The line that forbids rules reaching beyond the subject (brief, line 2).
OTHER_SUBJECTS = "a subject's score depends only on its own records"

#: line name -> (English term patterns, Chinese substrings). Patterns are matched whole-word.
SPECIAL_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "political opinion or activity": (
        (
            r"petition(?:s|ing|ed|er|ers)?",
            r"complaints? to (?:the )?authorit(?:y|ies)",
            r"assembl(?:y|ies)",
            r"demonstrations?",
            r"protest(?:s|ing|ed|ers?)?",
            r"strikes?",
            r"striking",
            r"criticism",
            r"critici[sz](?:e|ed|es|ing)",
            r"online (?:speech|posts?|posting|remarks|comments?)",
            r"remarks",
            r"speech",
            r"rumou?rs?",
            r"bad information",
            r"national reputation",
            r"foreign media",
            r"political",
            r"dissent(?:ers?)?",
        ),
        (
            "信访",
            "上访",
            "集会",
            "游行",
            "示威",
            "罢工",
            "批评",
            "言论",
            "谣言",
            "不良信息",
            "国家声誉",
            "境外媒体",
            "政治",
        ),
    ),
    "religion or belief": (
        (
            r"religions?",
            r"religious",
            r"beliefs?",
            r"worship(?:s|ping|ped)?",
            r"prayers?",
            r"pray(?:s|ing|ed)?",
            r"church(?:es)?",
            r"mosques?",
            r"temples?",
            r"superstitions?",
            r"superstitious",
            r"incense",
            r"cults?",
            r"sects?",
        ),
        (
            "宗教",
            "信仰",
            "迷信",
            "邪教",
            "烧香",
            "烧纸",
            "礼拜",
            "祈祷",
            "寺庙",
            "教堂",
            "清真寺",
        ),
    ),
    "ethnicity or race": (
        (r"ethnic(?:ity|ities)?", r"races?", r"racial"),
        ("民族", "种族"),
    ),
    "party or trade-union membership": (
        (
            r"party (?:members?|membership|dues|discipline|meetings?|branch)",
            r"communist party",
            r"trade unions?",
            r"labou?r unions?",
            r"unions? (?:members?|membership|dues)",
            r"unioni[sz](?:ed|ing|ation)",
        ),
        ("党员", "党费", "党纪", "党组织", "组织生活", "工会"),
    ),
    "health": (
        (
            r"health",
            r"diseases?",
            r"illness(?:es)?",
            r"sickness",
            r"medical (?:conditions?|history|records?|treatment|examinations?)",
            r"diagnos(?:is|es|ed)",
            r"mental",
            r"disabilit(?:y|ies)",
            r"disabled",
            r"hiv",
        ),
        ("健康", "疾病", "病史", "病情", "残疾", "精神病", "艾滋"),
    ),
    "sex life or reproduction": (
        (
            r"sexual(?:ity|ly)?",
            r"sex life",
            r"family planning",
            r"birth control",
            r"pregnan(?:t|cy|cies)",
            r"abortions?",
            r"contracepti(?:on|ves?)",
        ),
        (
            "计划生育",
            "生育",
            "超生",
            "怀孕",
            "堕胎",
            "流产",
            "性生活",
            "性行为",
            "性取向",
            "性关系",
        ),
    ),
    "biometric or genetic data": (
        (
            r"biometrics?",
            r"fingerprints?",
            r"dna",
            r"genetic(?:s)?",
            r"genomes?",
            r"iris scans?",
            r"voiceprints?",
        ),
        ("指纹", "基因", "生物识别", "虹膜", "声纹"),
    ),
    "surveillance input": (
        (
            r"locations?",
            r"gps",
            r"geolocation",
            r"whereabouts",
            r"faces?",
            r"facial",
            r"social media",
            r"wechat",
            r"weibo",
            r"chat groups?",
        ),
        (
            "人脸",
            "面部识别",
            "位置",
            "定位",
            "行踪",
            "轨迹",
            "社交媒体",
            "朋友圈",
            "微博",
            "微信群",
            "聊天群",
        ),
    ),
    "informant reward": (
        (
            r"informants?",
            r"informers?",
            r"rewards? for (?:report(?:s|ing)?|informing)",
            r"report(?:s|ing)? on (?:others|other people|neighbou?rs|colleagues)",
        ),
        ("举报奖励", "有奖举报", "检举奖励", "告密"),
    ),
}

#: Words that put a rule, list or measure onto someone other than the subject (line 2). Matched
#: in key names, in the values of unknown keys, and in list and measure titles. Record type
#: titles are exempt: "abused family members" names the victim of the subject's own conduct.
OTHER_SUBJECT_TERMS: tuple[tuple[str, ...], tuple[str, ...]] = (
    (
        r"relatives?",
        r"family(?: members?)?",
        r"household(?: head)?",
        r"spouses?",
        r"parents?",
        r"children",
        r"employees?",
        r"employers?",
        r"staff",
        r"legal representatives?",
        r"neighbou?rs?",
        r"friends?",
        r"contacts",
        r"colleagues?",
        r"transfer(?:red)? to",
        r"applies to related",
        r"related subjects?",
        r"other subjects?",
        r"guarantors?",
    ),
    (
        "亲属",
        "家属",
        "配偶",
        "家庭成员",
        "户主",
        "邻居",
        "员工",
        "朋友",
        "法定代表人",
        "连坐",
        "株连",
    ),
)

#: Lawful phrases containing a forbidden word, removed before matching. Each names conduct of
#: the subject that harms others, not a special category of the subject.
ALLOWED_PHRASES: tuple[str, ...] = (
    "health or life",  # "endangering health or life (food / drugs ...)": harm done to others
    "health safety",  # the code serious.health_safety: the same conduct
    "生命健康",  # 危害人民群众生命健康: the same conduct, in Chinese
    "medical accident",  # responsibility for an accident, not the subject's health
    "blood donation",  # a voluntary good deed, scored without any health data
    "bone marrow donation",  # likewise
)


@dataclass(frozen=True, slots=True)
class Crossing:
    """One line crossed: which line, and the term in the text that crossed it."""

    line: str
    term: str

    def __str__(self) -> str:
        return f'crosses the line "{self.line}" (matched "{self.term}")'


def _compile(english: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(english) + r")\b")


_MATCHERS = [
    (line, _compile(english), chinese) for line, (english, chinese) in SPECIAL_CATEGORIES.items()
]
_OTHER_SUBJECTS = (_compile(OTHER_SUBJECT_TERMS[0]), OTHER_SUBJECT_TERMS[1])
_SEPARATORS = re.compile(r"[._\-/]+")


def _normalise(text: str) -> str:
    """Lower-case, code separators to spaces, allowed phrases blanked out."""
    text = _SEPARATORS.sub(" ", text.lower())
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    return text


def _find(text: str, english: re.Pattern[str], chinese: tuple[str, ...]) -> str | None:
    found = english.search(text)
    if found:
        return found.group(0)
    return next((term for term in chinese if term in text), None)


def crossed_lines(code: str, title: str, category: str = "") -> list[Crossing]:
    """The special-category and surveillance lines that a record type, list or measure crosses.

    Empty when the entry is lawful. One crossing per line, naming the first term found, so a
    message tells the operator what to remove without repeating itself.
    """
    text = _normalise(f"{code} {category} {title}")
    crossings = []
    for line, english, chinese in _MATCHERS:
        term = _find(text, english, chinese)
        if term is not None:
            crossings.append(Crossing(line, term))
    return crossings


def reaches_other_subjects(text: str) -> Crossing | None:
    """Whether a key, value or title reads, writes or targets someone other than the subject."""
    term = _find(_normalise(text), *_OTHER_SUBJECTS)
    return Crossing(OTHER_SUBJECTS, term) if term is not None else None
