"""The synthetic demo city: valid identifiers, lawful records, reproducible, realistic rates."""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from datetime import date
from importlib import resources
from itertools import pairwise
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric, uscc

from socialcredit import demo
from socialcredit.catalog import Polarity, index, shipped_catalog
from socialcredit.identifiers import SubjectKind
from socialcredit.providers import make_provider
from socialcredit.records import FLAT_COLUMNS, Record, RecordValidator

END = date(2025, 6, 30)
TYPES = index(shipped_catalog("rongcheng"))


def _direct_grade_codes() -> set[str]:
    text = resources.files("socialcredit.catalogs").joinpath("rongcheng.csv").read_text("utf-8")
    return {row["code"] for row in csv.DictReader(text.splitlines()) if row["direct_grade"]}


def _validator(end: date) -> RecordValidator:
    providers = {p.name: p for p in demo.demo_providers()}
    return RecordValidator(providers=providers, types=TYPES, today=end)


def _as_bytes(records: list[Record]) -> bytes:
    return b"".join(orjson.dumps(r.to_json()) for r in records)


@pytest.fixture(scope="module")
def small_city() -> demo.City:
    return demo.generate_city(seed=11, people=500, organisations=50, institutions=5, end=END)


@pytest.fixture(scope="module")
def small_records(small_city: demo.City) -> list[Record]:
    return list(small_city.records())


@pytest.fixture(scope="module")
def default_city() -> demo.City:
    return demo.generate_city(end=END)


@pytest.fixture(scope="module")
def large() -> list[Record]:
    return list(demo.generate_records(3, 200_000, end=END))


# -- providers and tables ------------------------------------------------------------------


def test_every_rongcheng_type_is_submittable_by_a_demo_provider() -> None:
    providers = demo.demo_providers()
    missing = [code for code in TYPES if not any(p.may_submit(code) for p in providers)]
    assert missing == []


def test_demo_providers_are_valid_and_each_numbers_its_records_distinctly() -> None:
    names = [name for name, _ in demo.DEMO_PROVIDERS]
    for name, patterns in demo.DEMO_PROVIDERS:
        make_provider(name, patterns)
    assert 10 <= len(names) == len(set(names)) <= 16
    assert set(demo.PROVIDER_STYLES) == set(names)
    prefixes = [style.ref_prefix for style in demo.PROVIDER_STYLES.values()]
    assert len(prefixes) == len(set(prefixes))


def test_rate_tables_only_name_types_their_subjects_can_have() -> None:
    for code in demo.PERSON_RATES:
        assert TYPES[code].applies_to(SubjectKind.PERSON), code
    for code in demo.ORGANISATION_RATES:
        assert TYPES[code].applies_to(SubjectKind.ORGANISATION), code
        assert TYPES[code].applies_to(SubjectKind.INSTITUTION), code
    named = {*demo.ACT_COMPANIONS, *demo.CORRECTION_SHARES, *demo.AMOUNTS}
    named |= {second for second, _ in demo.ACT_COMPANIONS.values()}
    assert named <= set(TYPES)


def test_every_negative_type_has_a_legal_basis() -> None:
    negative = {code for code, t in TYPES.items() if t.polarity is Polarity.NEGATIVE}
    assert set(demo.LEGAL_BASIS) == negative


# -- identifiers ---------------------------------------------------------------------------


def _organisation_code_is_valid(code: str) -> bool:
    """GB 11714: the organisation code (USCC positions 9-17) carries its own check."""
    body, check = code[8:16], code[16]
    total = sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    expected = 11 - total % 11
    return check == ("X" if expected == 10 else "0" if expected == 11 else str(expected))


@pytest.mark.parametrize("end", [END, date(1999, 3, 1), date(2016, 2, 29)])
def test_identifiers_pass_stdnum_and_are_unique(end: date) -> None:
    city = demo.generate_city(seed=5, people=3000, organisations=300, institutions=25, end=end)
    for person in city.persons:
        assert ric.validate(person.id) == person.id
        age = (end - ric.get_birth_date(person.id)).days / 365.25
        assert 18 + city.years - 0.01 <= age <= 90.01
    for organisation in city.organisations:
        assert uscc.validate(organisation.id) == organisation.id
        assert organisation.id[:2] in {"91", "92", "93"}
        assert _organisation_code_is_valid(organisation.id)
    for institution in city.institutions:
        assert uscc.validate(institution.id) == institution.id
        assert institution.id.startswith("12")
        assert _organisation_code_is_valid(institution.id)
    ids = [s.id for s in (*city.persons, *city.organisations, *city.institutions)]
    assert len(ids) == len(set(ids))
    assert all(s.name for s in (*city.organisations, *city.institutions))
    assert 0 < sum(1 for p in city.persons if p.name) < len(city.persons)


def test_subjects_of_a_large_generated_set_are_valid_and_distinct(large: list[Record]) -> None:
    subjects = {r.subject for r in large}
    assert len({s.id for s in subjects}) == len(subjects)
    for subject in list(subjects)[::20]:
        if subject.kind is SubjectKind.PERSON:
            ric.validate(subject.id)
        else:
            uscc.validate(subject.id)


# -- records -------------------------------------------------------------------------------


def test_every_record_passes_the_validator_unchanged(
    small_city: demo.City, small_records: list[Record]
) -> None:
    validator = _validator(small_city.end)
    assert {r.subject.kind for r in small_records} == set(SubjectKind)
    for record in small_records:
        assert validator.from_json(record.to_json()) == record


def test_same_arguments_give_the_same_records_byte_for_byte(
    small_city: demo.City, small_records: list[Record]
) -> None:
    again = demo.generate_city(seed=11, people=500, organisations=50, institutions=5, end=END)
    assert again.persons == small_city.persons
    assert _as_bytes(list(again.records())) == _as_bytes(small_records)
    assert _as_bytes(list(small_city.records())) == _as_bytes(small_records)
    first = list(demo.generate_records(4, 5000, end=END))
    assert _as_bytes(list(demo.generate_records(4, 5000, end=END))) == _as_bytes(first)
    assert _as_bytes(list(demo.generate_records(5, 5000, end=END))) != _as_bytes(first)


@pytest.mark.parametrize("count", [0, 1, 1234])
def test_generate_records_yields_exactly_the_count(count: int) -> None:
    assert sum(1 for _ in demo.generate_records(1, count, end=END)) == count


def test_no_record_falls_outside_the_window(small_records: list[Record]) -> None:
    start = date(END.year - 3, END.month, END.day)
    for record in small_records:
        assert record.reported_on is not None
        assert start <= record.occurred_on <= record.reported_on <= END
    today = date.today()
    for record in demo.generate_records(2, 3000):
        assert record.reported_on is not None
        assert record.reported_on <= today


def test_records_respect_kinds_and_provider_permissions(large: list[Record]) -> None:
    providers = {p.name: p for p in demo.demo_providers()}
    for provider, code in {(r.provider, r.type) for r in large}:
        assert providers[provider].may_submit(code), (provider, code)
    for kind, code in {(r.subject.kind, r.type) for r in large}:
        assert TYPES[code].applies_to(kind), (kind, code)


def test_every_rongcheng_type_occurs_in_200k_records(large: list[Record]) -> None:
    assert len(large) == 200_000
    counts = Counter(r.type for r in large)
    assert set(counts) == set(TYPES)


def test_refs_are_unique_per_provider(large: list[Record]) -> None:
    assert len({(r.provider, r.ref) for r in large}) == len(large)


def test_relating_records_follow_an_earlier_record_of_the_same_provider_and_subject(
    large: list[Record],
) -> None:
    by_ref = {(r.provider, r.ref): (i, r) for i, r in enumerate(large)}
    performed = 0
    for i, record in enumerate(large):
        if record.relates_to is None:
            continue
        j, target = by_ref[(record.provider, record.relates_to)]
        assert j < i
        assert target.subject == record.subject
        assert target.occurred_on < record.occurred_on
        assert TYPES[target.type].polarity is Polarity.NEGATIVE
        if record.type == "court.judgment_performed":
            assert target.type == "court.dishonest_debtor"
            performed += 1
        else:
            assert record.type == "conduct.corrected"
    debtors = sum(1 for r in large if r.type == "court.dishonest_debtor")
    assert 0 < performed < debtors


def test_an_act_joins_two_catalog_items_of_one_subject_and_day(large: list[Record]) -> None:
    acts: dict[str, list[Record]] = defaultdict(list)
    for record in large:
        if record.act is not None:
            acts[record.act].append(record)
    assert acts
    for records in acts.values():
        assert len(records) == 2
        first, second = records
        assert first.subject == second.subject
        assert first.occurred_on == second.occurred_on
        assert first.type != second.type


def test_arrears_come_in_runs_of_consecutive_months(large: list[Record]) -> None:
    months: dict[tuple[str, str], list[date]] = defaultdict(list)
    for record in large:
        if record.type.endswith(".arrears_month"):
            months[(record.subject.id, record.type)].append(record.occurred_on)
    longest = 0
    for dates in months.values():
        numbers = sorted({d.year * 12 + d.month for d in dates})
        run = best = 1
        for a, b in pairwise(numbers):
            run = run + 1 if b == a + 1 else 1
            best = max(best, run)
        longest = max(longest, best)
    assert longest >= 6


def test_volunteer_hours_are_cumulative(large: list[Record]) -> None:
    reports: dict[str, list[Record]] = defaultdict(list)
    for record in large:
        if record.type == "volunteer.hours":
            reports[record.subject.id].append(record)
    assert any(len(r) >= 4 for r in reports.values())
    for records in reports.values():
        hours = [r.quantity or 0.0 for r in sorted(records, key=lambda r: r.occurred_on)]
        assert all(h > 0 for h in hours)
        assert hours == sorted(hours) and len(set(hours)) == len(hours)


def test_amounts_fit_their_types(large: list[Record]) -> None:
    bands = {
        "traffic.fine_le_500": (0, 500),
        "traffic.fine_500_2000": (500.01, 1999.99),
        "traffic.fine_2000_10000": (2000, 9999.99),
        "traffic.fine_gt_10000": (10000.01, math.inf),
    }
    for record in large:
        if record.type in bands:
            low, high = bands[record.type]
            assert record.amount is not None and low <= record.amount <= high
        elif record.type in ("donation.money", "lost_property.returned"):
            assert record.amount is not None and record.amount > 0


def test_negative_records_cite_the_law_and_some_carry_evidence(
    small_records: list[Record],
) -> None:
    negative = [r for r in small_records if TYPES[r.type].polarity is Polarity.NEGATIVE]
    assert all(r.legal_basis for r in negative)
    assert 0 < sum(1 for r in negative if r.evidence) < len(negative)


def test_most_people_have_no_record_and_direct_grades_are_rare(
    default_city: demo.City,
) -> None:
    records = list(default_city.records())
    persons = len(default_city.persons)
    with_records = {r.subject for r in records if r.subject.kind is SubjectKind.PERSON}
    assert len(with_records) < persons / 2
    for code in _direct_grade_codes():
        subjects = {r.subject for r in records if r.type == code}
        assert len(subjects) / persons / default_city.years < 0.005, code

    def top(polarity: Polarity) -> list[str]:
        counts = Counter(
            r.type
            for r in records
            if r.subject.kind is SubjectKind.PERSON and TYPES[r.type].polarity is polarity
        )
        return [code for code, _ in counts.most_common(2)]

    assert set(top(Polarity.NEGATIVE)) == {"traffic.warning", "traffic.fine_le_500"}
    assert set(top(Polarity.POSITIVE)) <= {"blood.donation", "donation.money", "volunteer.hours"}


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        demo.generate_city(people=-1)
    with pytest.raises(ValueError, match="years"):
        demo.generate_city(years=0)
    with pytest.raises(ValueError, match="count"):
        demo.generate_records(1, -5)


# -- writers -------------------------------------------------------------------------------


def test_jsonl_round_trips_through_the_validator(
    tmp_path: Path, small_city: demo.City, small_records: list[Record]
) -> None:
    path = tmp_path / "records.jsonl"
    assert demo.write_jsonl(small_city.records(), path) == len(small_records)
    validator = _validator(small_city.end)
    lines = path.read_bytes().splitlines()
    assert [validator.from_json(orjson.loads(line)) for line in lines] == small_records


def test_parquet_has_the_flat_columns_in_row_groups_and_round_trips(
    tmp_path: Path,
    small_city: demo.City,
    small_records: list[Record],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo, "BATCH_SIZE", 1000)
    path = tmp_path / "records.parquet"
    assert demo.write_parquet(small_city.records(), path) == len(small_records)
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_row_groups == math.ceil(len(small_records) / 1000)
    schema = parquet.schema_arrow
    assert tuple(schema.names) == FLAT_COLUMNS
    assert schema.field("occurred_on").type == pa.date32()
    assert schema.field("amount").type == pa.float64()
    assert schema.field("ref").type == pa.string()
    validator = _validator(small_city.end)
    rows = parquet.read().to_pylist()
    assert [validator.from_flat(row) for row in rows] == small_records
