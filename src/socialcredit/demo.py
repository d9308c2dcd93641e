"""A synthetic city for the demo registry, the tests and the benchmarks.

The demo needs a population that looks like Rongcheng's without being anyone's data: valid but
invented resident numbers and credit codes, fifteen authorities with realistic permissions, and
a few years of records at plausible rates (most people have nothing on file, traffic offences
and blood donations are common, court lists and crimes are rare). Everything is drawn from
``random.Random`` seeded by the caller, so a seed names one city exactly, byte for byte, on
every machine; the records are produced lazily, one subject at a time, so a benchmark can stream
millions of them without holding them.

Identifiers are assembled from their parts with stdnum's check-character functions rather than
drawn and validated: ``stdnum`` validation costs tens of microseconds an identifier, which
dominates at a million records. The tests validate them.
"""

from __future__ import annotations

import heapq
import os
import random
from bisect import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from itertools import accumulate, islice
from itertools import count as counter
from typing import NamedTuple

import orjson
import pyarrow.parquet as pq
from stdnum.cn import ric, uscc

from socialcredit import clock
from socialcredit.catalog import Polarity, RecordType, index, shipped_catalog
from socialcredit.flat import FLAT_SCHEMA, flat_table
from socialcredit.identifiers import SubjectKind
from socialcredit.providers import Provider, make_provider
from socialcredit.records import Record, SubjectRef

# -- providers --------------------------------------------------------------------------------

#: The authorities of the demo city and the record types each may submit. Together they cover
#: every type of the shipped ``rongcheng`` catalog. Some types have two providers (two courts,
#: several regulators imposing administrative penalties) so that the demo shows a type is not a
#: provider. Every provider that files negative records a subject can put right also files the
#: ``conduct.corrected`` record that says so, because a correction must come from the authority
#: that made the original record.
DEMO_PROVIDERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "court.rongcheng",
        (
            "court.*",
            "judgment.*",
            "crime.*",
            "debt.judged",
            "contract.breach_judged",
            "utility.arrears_judged",
            "mediation.unperformed",
            "evidence.false",
            "testimony.refused",
            "family.support_neglect",
            "conduct.corrected",
        ),
    ),
    (
        "court.weihai_intermediate",
        (
            "court.*",
            "judgment.*",
            "crime.*",
            "debt.judged",
            "contract.breach_judged",
            "contract.fraud",
        ),
    ),
    ("police.traffic", ("traffic.*",)),
    (
        "police.rongcheng",
        (
            "detention.administrative",
            "public_transport.disruption",
            "violence.obstructing_officials",
            "documents.forgery",
            "lending.illegal_fundraising",
            "fraud.pyramid_or_commercial",
            "utility.theft",
            "utility.damage_facilities",
            "inspection.obstruction",
            "fireworks.prohibited",
            "nuisance.noise",
            "dog.rules_breach",
        ),
    ),
    ("tax.weihai", ("tax.*", "serious.market_order", "conduct.corrected")),
    ("bank.rongcheng_rcb", ("loan.*", "creditcard.*", "guarantee.default", "contract.breach")),
    ("bloodbank.shandong", ("blood.donation", "bone_marrow.donation")),
    (
        "civil_affairs.rongcheng",
        (
            "volunteer.hours",
            "donation.money",
            "lost_property.returned",
            "good_deeds.outstanding",
            "heroic_act",
            "heroic_act.*",
            "disaster.rescue",
            "award.*",
            "welfare.fraud",
        ),
    ),
    (
        "market.weihai",
        (
            "goods.counterfeit",
            "fraud.pyramid_or_commercial",
            "contract.fraud",
            "permit.*",
            "penalty.*",
            "market.ban",
            "industry.*",
            "serious.*",
            "licence.revoked",
            "application.falsified",
            "decision.refused_with_means",
            "conduct.corrected",
        ),
    ),
    (
        "utilities.rongcheng",
        (
            "utility.arrears",
            "utility.heating_tampering",
            "utility.theft",
            "utility.damage_facilities",
            "conduct.corrected",
        ),
    ),
    (
        "hrss.rongcheng",
        (
            "social_insurance.arrears",
            "wages.*",
            "subsidy.fraud",
            "welfare.fraud",
            "conduct.corrected",
        ),
    ),
    ("education.shandong", ("exam.cheating", "academic.fraud")),
    (
        "urban_management.rongcheng",
        (
            "construction.illegal_not_removed",
            "decision.refused_with_means",
            "penalty.*",
            "fireworks.prohibited",
            "dog.rules_breach",
            "conduct.corrected",
        ),
    ),
    ("emergency.weihai", ("accident.*", "penalty.*", "conduct.corrected")),
    ("finance.rongcheng", ("procurement.violation", "subsidy.fraud", "application.falsified")),
]


class ProviderStyle(NamedTuple):
    """How a provider numbers its records and its documents.

    ``ref_prefix`` makes every reference unique across providers as well as within one, so a
    ``relates_to`` can never point at another authority's record by accident. ``document`` is
    the provider's decision-number format (``{year}``, ``{n}``) used as ``evidence``.
    """

    ref_prefix: str
    document: str


PROVIDER_STYLES: dict[str, ProviderStyle] = {
    "court.rongcheng": ProviderStyle("RCC", "({year}) Lu 1082 Zhi {n}"),
    "court.weihai_intermediate": ProviderStyle("WIC", "({year}) Lu 10 Zhi {n}"),
    "police.traffic": ProviderStyle("TP", "Rong Gong Jiao Jue Zi [{year}] No. {n}"),
    "police.rongcheng": ProviderStyle("PSB", "Rong Gong Xing Fa Jue Zi [{year}] No. {n}"),
    "tax.weihai": ProviderStyle("TAX", "Wei Shui Chu Fa [{year}] No. {n}"),
    "bank.rongcheng_rcb": ProviderStyle("RCB", "RCB Overdue Notice {year}-{n}"),
    "bloodbank.shandong": ProviderStyle("BLD", "Shandong Blood Centre Certificate {year}-{n}"),
    "civil_affairs.rongcheng": ProviderStyle("CA", "Rong Min Fa [{year}] No. {n}"),
    "market.weihai": ProviderStyle("AMR", "Wei Shi Jian Chu Fa [{year}] No. {n}"),
    "utilities.rongcheng": ProviderStyle("UTL", "Rongcheng Utilities Arrears Notice {year}-{n}"),
    "hrss.rongcheng": ProviderStyle("HRSS", "Rong Ren She Jian Li [{year}] No. {n}"),
    "education.shandong": ProviderStyle("EXAM", "Lu Jiao Kao [{year}] No. {n}"),
    "urban_management.rongcheng": ProviderStyle("UM", "Rong Zong Zhi Fa [{year}] No. {n}"),
    "emergency.weihai": ProviderStyle("EM", "Wei Ying Ji Fa [{year}] No. {n}"),
    "finance.rongcheng": ProviderStyle("FIN", "Rong Cai Cai Jian [{year}] No. {n}"),
}

# -- rates ------------------------------------------------------------------------------------

#: Yearly rate per person of each kind of event. An event is one record, except that a
#: ``loan.arrears_month`` or ``creditcard.arrears_month`` event is a run of consecutive monthly
#: records (``ARREARS_RUN_MONTHS``) and a ``volunteer.hours`` event starts a series of reports
#: of growing cumulative hours (``VOLUNTEER_REPORTS``). Minor traffic offences lead the
#: negatives and donations of blood and money the positives; every direct grade stays well
#: under 1% of people a year. The rarest rates are set so that 200,000 generated records still
#: hold every type at least a dozen times, which is what lets the tests see all of them.
PERSON_RATES: dict[str, float] = {
    "traffic.warning": 0.08,
    "traffic.fine_le_500": 0.10,
    "traffic.fine_500_2000": 0.012,
    "traffic.fine_2000_10000": 0.002,
    "traffic.fine_gt_10000": 0.0002,
    "traffic.licence_suspended": 0.0008,
    "traffic.twelve_points": 0.0015,
    "traffic.drunk_driving": 0.0015,
    "creditcard.arrears_month": 0.012,
    "loan.arrears_month": 0.006,
    "contract.breach": 0.003,
    "contract.breach_judged": 0.0005,
    "lending.illegal_fundraising": 0.0001,
    "guarantee.default": 0.001,
    "debt.judged": 0.004,
    "fraud.pyramid_or_commercial": 0.0003,
    "goods.counterfeit": 0.0002,
    "utility.arrears": 0.012,
    "utility.arrears_judged": 0.0003,
    "utility.heating_tampering": 0.0005,
    "utility.theft": 0.0003,
    "utility.damage_facilities": 0.0002,
    "inspection.obstruction": 0.0002,
    "evidence.false": 0.0002,
    "testimony.refused": 0.0001,
    "exam.cheating": 0.001,
    "academic.fraud": 0.0001,
    "tax.arrears": 0.002,
    "tax.resistance": 0.0001,
    "tax.evasion_serious": 0.0001,
    "tax.abnormal_household": 0.0001,
    "tax.enforcement": 0.0002,
    "permit.inspection_failed": 0.0005,
    "permit.beyond_scope": 0.0003,
    "permit.unlicensed": 0.0008,
    "permit.obtained_by_fraud": 0.0001,
    "social_insurance.arrears": 0.004,
    "penalty.warning": 0.004,
    "penalty.fine_low": 0.005,
    "penalty.fine_heavy": 0.001,
    "penalty.fine_max": 0.0002,
    "penalty.unperformed": 0.0003,
    "subsidy.fraud": 0.0002,
    "public_transport.disruption": 0.0002,
    "violence.obstructing_officials": 0.0002,
    "documents.forgery": 0.0001,
    "family.support_neglect": 0.0003,
    "fireworks.prohibited": 0.003,
    "nuisance.noise": 0.004,
    "dog.rules_breach": 0.006,
    "welfare.fraud": 0.0003,
    "mediation.unperformed": 0.0005,
    "construction.illegal_not_removed": 0.0004,
    "accident.responsible": 0.0002,
    "application.falsified": 0.0001,
    "market.ban": 0.0001,
    "detention.administrative": 0.001,
    "crime.negligent_le_3y": 0.0003,
    "court.high_consumption_restriction": 0.0015,
    "serious.health_safety": 0.0001,
    "serious.market_order": 0.0001,
    "judgment.refused_with_means": 0.0005,
    "decision.refused_with_means": 0.0002,
    "industry.blacklist": 0.0001,
    "accident.major_main_responsibility": 0.0001,
    "court.dishonest_debtor": 0.002,
    "crime.intentional": 0.001,
    "crime.negligent_gt_3y": 0.0001,
    "blood.donation": 0.05,
    "bone_marrow.donation": 0.0001,
    "volunteer.hours": 0.02,
    "donation.money": 0.06,
    "lost_property.returned": 0.004,
    "good_deeds.outstanding": 0.005,
    "heroic_act": 0.001,
    "heroic_act.outstanding": 0.0001,
    "disaster.rescue": 0.0003,
    "award.district": 0.003,
    "award.prefecture": 0.001,
    "award.provincial": 0.0003,
    "award.national": 0.0001,
    "industry.red_list": 0.0005,
}

#: Yearly rate per organisation of each kind of event (see ``PERSON_RATES``). Administrative
#: penalties, failed permit inspections and tax and utility arrears are the common negatives;
#: donations, commendations and industry red lists the positives.
ORGANISATION_RATES: dict[str, float] = {
    "contract.breach": 0.01,
    "contract.breach_judged": 0.002,
    "contract.fraud": 0.001,
    "loan.arrears_month": 0.01,
    "lending.illegal_fundraising": 0.0008,
    "guarantee.default": 0.003,
    "debt.judged": 0.01,
    "fraud.pyramid_or_commercial": 0.001,
    "goods.counterfeit": 0.004,
    "utility.arrears": 0.02,
    "utility.arrears_judged": 0.001,
    "utility.theft": 0.001,
    "utility.damage_facilities": 0.001,
    "inspection.obstruction": 0.002,
    "evidence.false": 0.001,
    "tax.arrears": 0.03,
    "tax.resistance": 0.001,
    "tax.evasion_serious": 0.001,
    "tax.abnormal_household": 0.004,
    "tax.enforcement": 0.003,
    "permit.inspection_failed": 0.02,
    "permit.beyond_scope": 0.006,
    "permit.unlicensed": 0.004,
    "permit.obtained_by_fraud": 0.001,
    "wages.arrears_lt_2m": 0.01,
    "wages.arrears_2_6m": 0.004,
    "wages.arrears_gt_6m": 0.0015,
    "penalty.warning": 0.04,
    "penalty.fine_low": 0.05,
    "penalty.fine_heavy": 0.015,
    "penalty.fine_max": 0.003,
    "penalty.unperformed": 0.003,
    "subsidy.fraud": 0.001,
    "procurement.violation": 0.002,
    "documents.forgery": 0.001,
    "mediation.unperformed": 0.002,
    "construction.illegal_not_removed": 0.002,
    "application.falsified": 0.001,
    "market.ban": 0.001,
    "court.high_consumption_restriction": 0.004,
    "serious.health_safety": 0.001,
    "serious.market_order": 0.001,
    "judgment.refused_with_means": 0.002,
    "decision.refused_with_means": 0.001,
    "industry.blacklist": 0.001,
    "court.dishonest_debtor": 0.006,
    "licence.revoked": 0.01,
    "donation.money": 0.05,
    "award.district": 0.01,
    "award.prefecture": 0.004,
    "award.provincial": 0.0015,
    "award.national": 0.0005,
    "industry.red_list": 0.01,
}

#: Public institutions use ``ORGANISATION_RATES`` scaled by this factor: they are audited
#: bodies that seldom owe tax or sell counterfeits.
INSTITUTION_RATE_FACTOR = 0.3

#: Shape of the gamma distribution (mean 1) that scales each subject's negative and positive
#: rates. Conduct clusters: a small shape gives most subjects almost nothing on file and a few
#: subjects many records, as real registries show, instead of spreading records evenly.
NEGATIVE_DISPERSION = 0.2
POSITIVE_DISPERSION = 0.2

#: Records of one act from two catalog items: the second type and the chance that it follows.
#: They share an ``act`` id so that "one act, one item" counts only the more severe.
ACT_COMPANIONS: dict[str, tuple[str, float]] = {
    "contract.breach": ("contract.breach_judged", 0.25),
    "utility.arrears": ("utility.arrears_judged", 0.08),
    "traffic.fine_500_2000": ("traffic.twelve_points", 0.1),
    "traffic.fine_2000_10000": ("traffic.twelve_points", 0.3),
    "traffic.drunk_driving": ("traffic.licence_suspended", 0.8),
    "tax.evasion_serious": ("serious.market_order", 0.3),
    "wages.arrears_gt_6m": ("serious.market_order", 0.2),
}

#: Chance that a dishonest judgment debtor performs the judgment (``court.judgment_performed``)
#: and the delay in days, if it falls within the window.
JUDGMENT_PERFORMED_SHARE = 0.45
JUDGMENT_PERFORMED_DELAY_DAYS = (30, 540)

#: Chance, per type, that the subject later puts the conduct right (``conduct.corrected``,
#: filed by the provider of the original record), and the delay in days.
CORRECTION_SHARES: dict[str, float] = {
    "utility.arrears": 0.6,
    "tax.arrears": 0.7,
    "tax.abnormal_household": 0.3,
    "social_insurance.arrears": 0.6,
    "wages.arrears_lt_2m": 0.7,
    "wages.arrears_2_6m": 0.5,
    "wages.arrears_gt_6m": 0.3,
    "permit.unlicensed": 0.4,
    "penalty.unperformed": 0.5,
    "construction.illegal_not_removed": 0.4,
    "mediation.unperformed": 0.3,
    "decision.refused_with_means": 0.3,
}
CORRECTION_DELAY_DAYS = (10, 365)

#: Monthly records in one run of loan or credit-card arrears (drawn uniformly from the tuple).
ARREARS_RUN_MONTHS = (1, 1, 1, 2, 2, 3, 3, 4, 6, 9, 12)
#: Reports in one volunteering series, the days between reports, the half-hours added per
#: report, and the hours some volunteers had already reached before the window opened.
VOLUNTEER_REPORTS = (1, 8)
VOLUNTEER_GAP_DAYS = (30, 120)
VOLUNTEER_HALF_HOURS = (4, 40)
VOLUNTEER_OPENING_HOURS = (0.0, 0.0, 0.0, 0.0, 10.0, 24.5, 60.0)

#: Days from the conduct to the report: 1 + an exponential delay with this mean, at most the
#: maximum, and never after the end of the window.
REPORT_DELAY_MEAN_DAYS = 12.0
REPORT_DELAY_MAX_DAYS = 90
#: Share of negative records that carry the provider's decision number as ``evidence``.
EVIDENCE_SHARE = 0.15


class Amounts(NamedTuple):
    """Plausible amounts in yuan, drawn uniformly; repeats make a value more likely."""

    person: tuple[float, ...]
    organisation: tuple[float, ...]


#: Amounts (yuan) per type. Traffic fines fall inside their catalog band; donations and
#: returned property span the Rongcheng point tiers (100 / 1,000 / 5,000 / 10,000 yuan).
AMOUNTS: dict[str, Amounts] = {
    "traffic.fine_le_500": Amounts((20.0, 50.0, 100.0, 100.0, 150.0, 200.0, 200.0, 500.0), ()),
    "traffic.fine_500_2000": Amounts((600.0, 800.0, 1000.0, 1000.0, 1500.0, 1800.0), ()),
    "traffic.fine_2000_10000": Amounts((2000.0, 2000.0, 3000.0, 5000.0), ()),
    "traffic.fine_gt_10000": Amounts((12000.0, 15000.0, 20000.0, 30000.0), ()),
    "traffic.drunk_driving": Amounts((1000.0, 1500.0, 2000.0), ()),
    "donation.money": Amounts(
        (
            50.0,
            100.0,
            100.0,
            200.0,
            200.0,
            300.0,
            500.0,
            500.0,
            1000.0,
            2000.0,
            5000.0,
            10000.0,
            20000.0,
        ),
        (1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0),
    ),
    "lost_property.returned": Amounts(
        (100.0, 200.0, 500.0, 800.0, 1500.0, 3000.0, 6000.0, 12000.0), ()
    ),
    "loan.arrears_month": Amounts(
        (800.0, 1200.0, 1500.0, 2300.0, 3000.0, 4500.0), (20000.0, 50000.0, 120000.0)
    ),
    "creditcard.arrears_month": Amounts((300.0, 500.0, 1000.0, 2000.0, 5000.0), ()),
    "tax.arrears": Amounts((500.0, 1200.0, 3000.0, 8000.0), (5000.0, 20000.0, 80000.0)),
    "utility.arrears": Amounts((150.0, 300.0, 600.0, 1200.0, 2500.0), (3000.0, 10000.0, 40000.0)),
    "social_insurance.arrears": Amounts((800.0, 1500.0, 3000.0, 6000.0), ()),
    "wages.arrears_lt_2m": Amounts((), (20000.0, 50000.0, 90000.0)),
    "wages.arrears_2_6m": Amounts((), (60000.0, 150000.0, 300000.0)),
    "wages.arrears_gt_6m": Amounts((), (200000.0, 400000.0, 900000.0)),
    "penalty.fine_low": Amounts((200.0, 500.0, 1000.0), (2000.0, 5000.0, 10000.0)),
    "penalty.fine_heavy": Amounts((3000.0, 5000.0, 10000.0), (20000.0, 50000.0, 100000.0)),
    "penalty.fine_max": Amounts((20000.0, 50000.0), (200000.0, 500000.0, 1000000.0)),
}

#: The law each negative record cites (``legal_basis``). Demo citations: plausible articles
#: of the statute that governs each kind of conduct, not legal advice.
LEGAL_BASIS: dict[str, str] = {
    "contract.breach": "Civil Code art. 577",
    "contract.breach_judged": "Civil Code art. 577; Civil Procedure Law art. 247",
    "contract.fraud": "Civil Code art. 148; Criminal Law art. 224",
    "loan.arrears_month": "Civil Code art. 676",
    "creditcard.arrears_month": "Civil Code art. 676",
    "lending.illegal_fundraising": "Regulations on Preventing and Handling Illegal "
    "Fund-raising art. 30",
    "guarantee.default": "Civil Code art. 681",
    "debt.judged": "Civil Code art. 675; Civil Procedure Law art. 247",
    "fraud.pyramid_or_commercial": "Regulations on the Prohibition of Pyramid Selling art. 24",
    "goods.counterfeit": "Product Quality Law art. 50",
    "utility.arrears": "Civil Code art. 654",
    "utility.arrears_judged": "Civil Code art. 654; Civil Procedure Law art. 247",
    "utility.heating_tampering": "Shandong Urban Heating Regulations art. 38",
    "utility.theft": "Electricity Law art. 71",
    "utility.damage_facilities": "Public Security Administration Punishments Law art. 33",
    "inspection.obstruction": "Administrative Penalty Law art. 55",
    "evidence.false": "Civil Procedure Law art. 114",
    "testimony.refused": "Criminal Procedure Law art. 193",
    "exam.cheating": "Education Law art. 80",
    "academic.fraud": "Measures for Investigating and Handling Research Misconduct art. 20",
    "tax.arrears": "Tax Collection Administration Law art. 32",
    "tax.resistance": "Tax Collection Administration Law art. 67",
    "tax.evasion_serious": "Tax Collection Administration Law art. 63",
    "tax.abnormal_household": "Tax Collection Administration Law art. 60",
    "tax.enforcement": "Tax Collection Administration Law art. 40",
    "permit.inspection_failed": "Administrative Licensing Law art. 61",
    "permit.beyond_scope": "Administrative Licensing Law art. 80",
    "permit.unlicensed": "Administrative Licensing Law art. 81",
    "permit.obtained_by_fraud": "Administrative Licensing Law art. 79",
    "social_insurance.arrears": "Social Insurance Law art. 86",
    "wages.arrears_lt_2m": "Labour Contract Law art. 85",
    "wages.arrears_2_6m": "Labour Contract Law art. 85",
    "wages.arrears_gt_6m": "Labour Contract Law art. 85; Criminal Law art. 276-1",
    "traffic.warning": "Road Traffic Safety Law art. 90",
    "traffic.fine_le_500": "Road Traffic Safety Law art. 90",
    "traffic.fine_500_2000": "Road Traffic Safety Law art. 99",
    "traffic.fine_2000_10000": "Road Traffic Safety Law art. 98",
    "traffic.fine_gt_10000": "Road Traffic Safety Law art. 103",
    "traffic.licence_suspended": "Road Traffic Safety Law art. 91",
    "traffic.twelve_points": "Road Traffic Safety Law art. 24",
    "traffic.drunk_driving": "Road Traffic Safety Law art. 91",
    "penalty.warning": "Administrative Penalty Law art. 9",
    "penalty.fine_low": "Administrative Penalty Law art. 9",
    "penalty.fine_heavy": "Administrative Penalty Law art. 9",
    "penalty.fine_max": "Administrative Penalty Law art. 9",
    "penalty.unperformed": "Administrative Penalty Law art. 72",
    "subsidy.fraud": "Regulations on Penalties for Fiscal Violations art. 14",
    "procurement.violation": "Government Procurement Law art. 77",
    "public_transport.disruption": "Public Security Administration Punishments Law art. 23",
    "violence.obstructing_officials": "Criminal Law art. 277",
    "documents.forgery": "Criminal Law art. 280",
    "family.support_neglect": "Civil Code art. 1067; Law on the Protection of the Rights "
    "and Interests of the Elderly art. 75",
    "fireworks.prohibited": "Regulations on the Safety Administration of Fireworks art. 42",
    "nuisance.noise": "Law on the Prevention and Control of Noise Pollution art. 87",
    "dog.rules_breach": "Weihai Dog Management Regulations art. 33",
    "welfare.fraud": "Interim Measures for Social Assistance art. 68",
    "mediation.unperformed": "People's Mediation Law art. 32",
    "construction.illegal_not_removed": "Urban and Rural Planning Law art. 64",
    "accident.responsible": "Work Safety Law art. 95",
    "application.falsified": "Administrative Licensing Law art. 78",
    "market.ban": "Food Safety Law art. 135",
    "detention.administrative": "Public Security Administration Punishments Law art. 10",
    "crime.negligent_le_3y": "Criminal Law art. 15",
    "court.high_consumption_restriction": "SPC Provisions on Restricting High Consumption "
    "by Judgment Debtors art. 1",
    "serious.health_safety": "Food Safety Law art. 123",
    "serious.market_order": "Anti-Unfair Competition Law art. 19",
    "judgment.refused_with_means": "Civil Procedure Law art. 114",
    "decision.refused_with_means": "Administrative Compulsion Law art. 53",
    "industry.blacklist": "Guiding Opinions on Joint Rewards and Punishments (State "
    "Council 2016 No. 33)",
    "accident.major_main_responsibility": "Work Safety Law art. 94",
    "court.dishonest_debtor": "SPC Provisions on Publishing the List of Dishonest Judgment "
    "Debtors art. 1",
    "crime.intentional": "Criminal Law art. 14",
    "crime.negligent_gt_3y": "Criminal Law art. 15",
    "licence.revoked": "Administrative Licensing Law art. 70",
}

# -- identifiers and names --------------------------------------------------------------------


class District(NamedTuple):
    """A district of Weihai and the area codes its residents' numbers carry by birth year.

    stdnum checks that the area code was in force in the birth year, and Weihai's counties
    were renumbered in 1983, 1987 and 1989-1993, so an older resident of Rongcheng carries a
    Yantai-era code. ``eras`` pairs the first birth year of each code with the code.
    """

    name: str
    share: float
    eras: tuple[tuple[int, str], ...]


DISTRICTS: tuple[District, ...] = (
    District(
        "Rongcheng", 0.70, ((0, "372133"), (1983, "370633"), (1987, "371023"), (1989, "371082"))
    ),
    District("Huancui", 0.12, ((0, "372102"), (1983, "370620"), (1987, "371002"))),
    District(
        "Wendeng",
        0.10,
        ((0, "372132"), (1983, "370632"), (1987, "371022"), (1989, "371081"), (2014, "371003")),
    ),
    District("Rushan", 0.08, ((0, "372130"), (1983, "370630"), (1987, "371021"), (1993, "371083"))),
)

#: Area codes (current) where organisations register, with their shares.
ORGANISATION_AREAS: tuple[tuple[str, float], ...] = (
    ("371082", 0.75),
    ("371002", 0.10),
    ("371003", 0.10),
    ("371083", 0.05),
)
#: Entity types of organisations (USCC positions 1-2) and their shares: enterprises,
#: individual businesses, farmers' cooperatives. Institutions are always "12".
ORGANISATION_TYPES: tuple[tuple[str, float], ...] = (("91", 0.60), ("92", 0.35), ("93", 0.05))
#: Share of persons who carry a (synthetic) name in their records.
PERSON_NAME_SHARE = 0.4
#: Ages of the population: adult on the first day of the window, at most this old at its end.
MIN_AGE, MAX_AGE = 18, 90
#: A multiplier coprime to 10**8: organisation code bodies are ``index * stride`` mod 10**8,
#: a permutation, so codes look scattered yet never repeat.
ORGANISATION_CODE_STRIDE = 48_271_573

SURNAMES = (
    "Wang",
    "Li",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Zhao",
    "Huang",
    "Zhou",
    "Wu",
    "Xu",
    "Sun",
    "Hu",
    "Zhu",
    "Gao",
    "Lin",
    "He",
    "Guo",
    "Ma",
    "Luo",
    "Bi",
    "Tang",
    "Qu",
    "Yu",
    "Song",
)
GIVEN_NAMES = (
    "Fang",
    "Wei",
    "Min",
    "Jing",
    "Li",
    "Qiang",
    "Lei",
    "Jun",
    "Yang",
    "Yong",
    "Yan",
    "Jie",
    "Tao",
    "Ming",
    "Chao",
    "Xiuying",
    "Guiying",
    "Xiulan",
    "Hui",
    "Ping",
    "Gang",
    "Hong",
    "Bin",
    "Yu",
    "Lin",
    "Na",
    "Xin",
    "Hao",
    "Ying",
    "Jian",
    "Haiyan",
    "Zhiqiang",
)
TOWNS = ("Rongcheng", "Shidao", "Lidao", "Xiashan", "Chengshan", "Renhe", "Yatou", "Ningjin")
TRADE_NAMES = (
    "Haida",
    "Taixiang",
    "Xinhai",
    "Hongda",
    "Ruixiang",
    "Jinhai",
    "Huayu",
    "Shenghe",
    "Dongfang",
    "Longxiang",
    "Baolong",
    "Haiyang",
    "Yuanyang",
    "Fengyuan",
    "Chixin",
    "Weida",
)
INDUSTRIES = (
    "Fishing",
    "Seafood Processing",
    "Marine Foods",
    "Aquaculture",
    "Trading",
    "Construction",
    "Shipbuilding",
    "Auto Parts",
    "Tyre",
    "Logistics",
    "Tourism",
    "Textile",
    "Machinery",
)
SHOPS = (
    "Seafood Restaurant",
    "Grocery Store",
    "Noodle Shop",
    "Hardware Store",
    "Barber Shop",
    "Fruit Stall",
    "Car Repair Shop",
    "Tea House",
)
COOPERATIVES = ("Sea Cucumber", "Kelp", "Apple", "Peanut", "Fishery")
INSTITUTION_NAMES = (
    "Rongcheng People's Hospital",
    "Rongcheng Hospital of Traditional Chinese Medicine",
    "Rongcheng Maternal and Child Health Hospital",
    "Rongcheng Vocational Secondary School",
    "Rongcheng Water Conservancy Service Centre",
    "Rongcheng Marine Fisheries Research Institute",
    "Rongcheng Public Library",
    "Rongcheng Cultural Centre",
    "Rongcheng Housing Provident Fund Centre",
    "Rongcheng Centre for Disease Control",
)


# -- the city ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    """A generated city: its providers, its subjects and (lazily) their records.

    The records are not stored: ``records()`` regenerates them from the seed on every call,
    in the same order with the same content, so a city of any size costs only its subjects.
    """

    seed: int
    years: int
    end: date
    providers: list[Provider]
    persons: list[SubjectRef] = field(repr=False)
    organisations: list[SubjectRef] = field(repr=False)
    institutions: list[SubjectRef] = field(repr=False)

    def records(self) -> Iterator[Record]:
        """Every record of the city, subject by subject, subject kinds interleaved."""
        subjects = _interleave(
            [
                (self.persons, len(self.persons)),
                (self.organisations, len(self.organisations)),
                (self.institutions, len(self.institutions)),
            ]
        )
        return _RecordMaker(self.seed, self.end, self.years).records(subjects)


def generate_city(
    seed: int = 7,
    people: int = 10_000,
    organisations: int = 1_000,
    institutions: int = 20,
    years: int = 3,
    end: date | None = None,
) -> City:
    """Generate the city named by ``seed`` with records over the ``years`` up to ``end``."""
    if min(people, organisations, institutions) < 0:
        raise ValueError("people, organisations and institutions must not be negative")
    if years < 1:
        raise ValueError(f"years must be at least 1, not {years}")
    end = clock.today() if end is None else end
    return City(
        seed=seed,
        years=years,
        end=end,
        providers=demo_providers(),
        persons=list(islice(_persons(seed, end, years), people)),
        organisations=list(islice(_organisations(seed), organisations)),
        institutions=list(islice(_institutions(seed), institutions)),
    )


def generate_records(seed: int, count: int, end: date | None = None) -> Iterator[Record]:
    """Exactly ``count`` records of a city that grows until it has produced them.

    Subjects are drawn without limit in the default city's proportions (10,000 persons to
    1,000 organisations to 20 institutions) over three years, and the stream stops at
    ``count``: memory stays flat whatever the count. A subject's relating records follow the
    record they relate to, so the cut never leaves a dangling ``relates_to``.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    years = 3
    end = clock.today() if end is None else end
    subjects = _interleave(
        [
            (_persons(seed, end, years), 10_000),
            (_organisations(seed), 1_000),
            (_institutions(seed), 20),
        ]
    )
    return islice(_RecordMaker(seed, end, years).records(subjects), count)


def demo_providers() -> list[Provider]:
    """The ``DEMO_PROVIDERS`` as checked ``Provider`` objects."""
    return [make_provider(name, patterns) for name, patterns in DEMO_PROVIDERS]


# -- writers ----------------------------------------------------------------------------------

#: Records per Parquet row group and per batched write to a JSON lines file.
BATCH_SIZE = 100_000


def write_jsonl(records: Iterable[Record], path: str | os.PathLike[str]) -> int:
    """Write records as JSON lines in the submission format; return how many."""
    written = 0
    with open(path, "wb") as out:
        for batch in _batches(records):
            out.write(
                b"".join(orjson.dumps(r.to_json(), option=orjson.OPT_APPEND_NEWLINE) for r in batch)
            )
            written += len(batch)
    return written


def write_parquet(records: Iterable[Record], path: str | os.PathLike[str]) -> int:
    """Write records as flat Parquet columns (``FLAT_COLUMNS``), a row group per batch."""
    written = 0
    with pq.ParquetWriter(path, FLAT_SCHEMA) as out:
        for batch in _batches(records):
            out.write_table(flat_table((r.subject.kind.value, r.subject.id, r) for r in batch))
            written += len(batch)
    return written


def _batches(records: Iterable[Record]) -> Iterator[list[Record]]:
    it = iter(records)
    while batch := list(islice(it, BATCH_SIZE)):
        yield batch


# -- subjects ---------------------------------------------------------------------------------


def _interleave(sources: Sequence[tuple[Iterable[SubjectRef], float]]) -> Iterator[SubjectRef]:
    """Merge subject streams evenly by their weights (10:1 puts an organisation after every
    ten persons), so that any prefix of the records, as ``generate_records`` cuts, holds every
    kind of subject in proportion."""
    keyed = [_keyed(source, weight, k) for k, (source, weight) in enumerate(sources) if weight]
    for _, _, subject in heapq.merge(*keyed):
        yield subject


def _keyed(
    source: Iterable[SubjectRef], weight: float, rank: int
) -> Iterator[tuple[float, int, SubjectRef]]:
    for j, subject in enumerate(source):
        yield (j + 0.5) / weight, rank, subject


def _persons(seed: int, end: date, years: int) -> Iterator[SubjectRef]:
    """Endless distinct adult residents of the Weihai districts, with valid resident numbers.

    Uniqueness comes by construction: the sequence number counts up per area code, birth date
    and sex (odd for men, even for women), so no set of issued numbers is kept. A day's 500
    numbers per sex and area bound the population at tens of millions.
    """
    rng = random.Random(f"socialcredit-demo:{seed}:persons")
    earliest = _years_before(end, MAX_AGE).toordinal()
    latest = _years_before(_years_before(end, years), MIN_AGE).toordinal()
    district_weights = _cumulative([d.share for d in DISTRICTS])
    issued: dict[tuple[str, int, bool], int] = {}
    while True:
        district = DISTRICTS[bisect(district_weights, rng.random() * district_weights[-1])]
        ordinal = rng.randint(earliest, latest)
        born = date.fromordinal(ordinal)
        area = next(code for first, code in reversed(district.eras) if born.year >= first)
        male = rng.random() < 0.5
        key = (area, ordinal, male)
        taken = issued.get(key, 0)
        sequence = 2 * taken + (1 if male else 2)
        if sequence > 999:
            continue
        issued[key] = taken + 1
        body = f"{area}{born.year:04d}{born.month:02d}{born.day:02d}{sequence:03d}"
        name = None
        if rng.random() < PERSON_NAME_SHARE:
            name = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN_NAMES)}"
        yield SubjectRef(SubjectKind.PERSON, body + ric.calc_check_digit(body + "0"), name)


def _organisations(seed: int) -> Iterator[SubjectRef]:
    """Endless distinct enterprises, individual businesses and cooperatives with valid USCCs.

    Names draw on Rongcheng's towns and fishing, seafood and manufacturing trades.
    """
    rng = random.Random(f"socialcredit-demo:{seed}:organisations")
    areas = [a for a, _ in ORGANISATION_AREAS]
    area_weights = _cumulative([s for _, s in ORGANISATION_AREAS])
    types = [t for t, _ in ORGANISATION_TYPES]
    type_weights = _cumulative([s for _, s in ORGANISATION_TYPES])
    offset = _code_offset(seed)
    for i in counter():
        area = areas[bisect(area_weights, rng.random() * area_weights[-1])]
        kind = types[bisect(type_weights, rng.random() * type_weights[-1])]
        place = rng.choice(TOWNS) if area == "371082" else _AREA_NAMES[area]
        if kind == "91":
            name = f"{place} {rng.choice(TRADE_NAMES)} {rng.choice(INDUSTRIES)} Co., Ltd."
        elif kind == "92":
            name = f"{place} {rng.choice(SURNAMES)} Ji {rng.choice(SHOPS)}"
        else:
            name = (
                f"{place} {rng.choice(TRADE_NAMES)} {rng.choice(COOPERATIVES)} "
                "Professional Cooperative"
            )
        code = make_uscc(kind + area, offset + 2 * i)
        yield SubjectRef(SubjectKind.ORGANISATION, code, name)


def _institutions(seed: int) -> Iterator[SubjectRef]:
    """Endless distinct public institutions of Rongcheng (USCC "12", staffing office)."""
    offset = _code_offset(seed)
    for i in counter():
        if i < len(INSTITUTION_NAMES):
            name = INSTITUTION_NAMES[i]
        else:
            j = i - len(INSTITUTION_NAMES)
            name = f"Rongcheng No. {j // 2 + 1} {'Primary' if j % 2 else 'Middle'} School"
        code = make_uscc("12371082", offset + 2 * i + 1)
        yield SubjectRef(SubjectKind.INSTITUTION, code, name)


def _code_offset(seed: int) -> int:
    """Where a city's organisation codes start; one offset for organisations (even indices)
    and institutions (odd ones), so the two kinds never share a code."""
    return random.Random(f"socialcredit-demo:{seed}:codes").randrange(10**8)


_AREA_NAMES = {"371002": "Huancui", "371003": "Wendeng", "371083": "Rushan"}


def make_uscc(prefix: str, index: int) -> str:
    """The USCC with ``prefix`` (authority, type, area) and the ``index``-th organisation code.

    stdnum checks only the final character; the organisation code's own check character
    (GB 11714, position 17) is computed too, so the code is valid under both standards.
    """
    body = f"{index * ORGANISATION_CODE_STRIDE % 10**8:08d}"
    total = sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    check = 11 - total % 11
    organisation_code = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    code = prefix + organisation_code
    return code + str(uscc.calc_check_digit(code))


# -- records ----------------------------------------------------------------------------------


@cache
def _rongcheng() -> dict[str, RecordType]:
    return index(shipped_catalog("rongcheng"))


class _EventTable:
    """The event types of one subject kind and polarity, for drawing by cumulative rate."""

    def __init__(self, rates: dict[str, float], polarity: Polarity):
        types = _rongcheng()
        self.codes = [c for c in rates if types[c].polarity is polarity]
        self.cumulative = _cumulative([rates[c] for c in self.codes])
        self.per_day = self.cumulative[-1] / 365.25

    def draw(self, rng: random.Random) -> str:
        return self.codes[bisect(self.cumulative, rng.random() * self.cumulative[-1])]


@cache
def _tables() -> dict[SubjectKind, tuple[_EventTable, _EventTable, float]]:
    """Per subject kind: negative events, positive events and the rate factor."""
    person = (
        _EventTable(PERSON_RATES, Polarity.NEGATIVE),
        _EventTable(PERSON_RATES, Polarity.POSITIVE),
    )
    organisation = (
        _EventTable(ORGANISATION_RATES, Polarity.NEGATIVE),
        _EventTable(ORGANISATION_RATES, Polarity.POSITIVE),
    )
    return {
        SubjectKind.PERSON: (*person, 1.0),
        SubjectKind.ORGANISATION: (*organisation, 1.0),
        SubjectKind.INSTITUTION: (*organisation, INSTITUTION_RATE_FACTOR),
    }


class _RecordMaker:
    """Draws the records of one subject after another from a single seeded stream.

    Each subject's events are a Poisson process over the window (one for negative conduct,
    one for positive) whose rate is the catalog rates times the subject's own propensity.
    The state that must be unique across the city, reference and act counters, lives here.
    """

    def __init__(self, seed: int, end: date, years: int):
        self.rng = random.Random(f"socialcredit-demo:{seed}:records")
        start = _years_before(end, years)
        self.span = (end - start).days
        self.days = [start + timedelta(days=i) for i in range(self.span + 1)]
        self.end = end
        self.tables = _tables()
        self.refs = dict.fromkeys(PROVIDER_STYLES, 0)
        self.acts = 0
        providers = demo_providers()
        self.providers_for = {
            code: tuple(p.name for p in providers if p.may_submit(code)) for code in _rongcheng()
        }
        self.correctors = {p.name for p in providers if p.may_submit("conduct.corrected")}

    def records(self, subjects: Iterable[SubjectRef]) -> Iterator[Record]:
        for subject in subjects:
            yield from self.records_of(subject)

    def records_of(self, subject: SubjectRef) -> list[Record]:
        rng = self.rng
        out: list[Record] = []
        negative, positive, factor = self.tables[subject.kind]
        horizon = self.span + 1
        volunteering = False
        for table, shape in ((negative, NEGATIVE_DISPERSION), (positive, POSITIVE_DISPERSION)):
            intensity = table.per_day * factor * rng.gammavariate(shape, 1 / shape)
            if intensity <= 0:
                continue
            t = rng.expovariate(intensity)
            while t < horizon:
                code = table.draw(rng)
                day = int(t)
                if code in ("loan.arrears_month", "creditcard.arrears_month"):
                    self._arrears(subject, code, day, out)
                elif code == "volunteer.hours":
                    if not volunteering:
                        self._volunteering(subject, day, out)
                    volunteering = True
                else:
                    self._event(subject, code, day, out)
                t += rng.expovariate(intensity)
        return out

    def _event(self, subject: SubjectRef, code: str, day: int, out: list[Record]) -> None:
        """One act: its record, a second catalog item of the same act, and what follows it."""
        rng = self.rng
        companion = ACT_COMPANIONS.get(code)
        act = None
        if companion is not None and rng.random() < companion[1]:
            self.acts += 1
            act = f"ACT-{self.days[day].year}-{self.acts:07d}"
        record = self._record(subject, code, day, act=act)
        out.append(record)
        if act is not None and companion is not None:
            out.append(self._record(subject, companion[0], day, act=act))
        if code == "court.dishonest_debtor":
            if rng.random() < JUDGMENT_PERFORMED_SHARE:
                self._follow_up(
                    record, "court.judgment_performed", day, JUDGMENT_PERFORMED_DELAY_DAYS, out
                )
        elif (share := CORRECTION_SHARES.get(code)) is not None and (
            record.provider in self.correctors and rng.random() < share
        ):
            self._follow_up(record, "conduct.corrected", day, CORRECTION_DELAY_DAYS, out)

    def _follow_up(
        self, target: Record, code: str, day: int, delay: tuple[int, int], out: list[Record]
    ) -> None:
        """A record by the target's provider that relates to it, if it falls in the window."""
        later = day + self.rng.randint(*delay)
        if later <= self.span:
            out.append(
                self._record(
                    target.subject, code, later, provider=target.provider, relates_to=target.ref
                )
            )

    def _arrears(self, subject: SubjectRef, code: str, day: int, out: list[Record]) -> None:
        """A run of consecutive monthly arrears records on the same day of the month."""
        rng = self.rng
        first = self.days[day]
        provider = self._provider(code)
        amount = self._amount(code, subject.kind)
        for month in range(rng.choice(ARREARS_RUN_MONTHS)):
            occurred = first if month == 0 else _add_months(first, month)
            if occurred > self.end:
                break
            offset = (occurred - first).days + day
            out.append(self._record(subject, code, offset, provider=provider, amount=amount))

    def _volunteering(self, subject: SubjectRef, day: int, out: list[Record]) -> None:
        """Reports of the subject's cumulative volunteering hours, each above the last."""
        rng = self.rng
        hours = rng.choice(VOLUNTEER_OPENING_HOURS)
        provider = self._provider("volunteer.hours")
        for _ in range(rng.randint(*VOLUNTEER_REPORTS)):
            if day > self.span:
                break
            hours += rng.randint(*VOLUNTEER_HALF_HOURS) / 2
            out.append(
                self._record(subject, "volunteer.hours", day, provider=provider, quantity=hours)
            )
            day += rng.randint(*VOLUNTEER_GAP_DAYS)

    def _record(
        self,
        subject: SubjectRef,
        code: str,
        day: int,
        provider: str | None = None,
        act: str | None = None,
        amount: float | None = None,
        quantity: float | None = None,
        relates_to: str | None = None,
    ) -> Record:
        rng = self.rng
        provider = provider or self._provider(code)
        delay = 1 + int(rng.expovariate(1 / REPORT_DELAY_MEAN_DAYS))
        reported = self.days[min(day + min(delay, REPORT_DELAY_MAX_DAYS), self.span)]
        self.refs[provider] += 1
        style = PROVIDER_STYLES[provider]
        ref = f"{style.ref_prefix}-{reported.year}-{self.refs[provider]:06d}"
        evidence = None
        legal_basis = LEGAL_BASIS.get(code)  # exactly the negative types
        if legal_basis is not None and rng.random() < EVIDENCE_SHARE:
            evidence = style.document.format(year=reported.year, n=rng.randint(1, 3000))
        if amount is None:
            amount = self._amount(code, subject.kind)
        return Record(
            provider,
            ref,
            subject,
            code,
            self.days[day],
            reported,
            act,
            amount,
            quantity,
            relates_to,
            evidence,
            legal_basis,
        )

    def _provider(self, code: str) -> str:
        candidates = self.providers_for[code]
        return candidates[0] if len(candidates) == 1 else self.rng.choice(candidates)

    def _amount(self, code: str, kind: SubjectKind) -> float | None:
        amounts = AMOUNTS.get(code)
        if amounts is None:
            return None
        choices = amounts.person if kind is SubjectKind.PERSON else amounts.organisation
        return self.rng.choice(choices) if choices else None


# -- helpers ----------------------------------------------------------------------------------


def _cumulative(weights: Iterable[float]) -> list[float]:
    return list(accumulate(weights))


def _years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, at most the 28th so every month has it."""
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, min(day.day, 28))
