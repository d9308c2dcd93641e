"""Notices in bulk after submissions: ``outbox.notify_subjects`` writes exactly what
``outbox.notify`` would for each subject, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from socialcredit.identifiers import SubjectKind
from socialcredit.store import outbox
from socialcredit.store.registry import Registry
from tests.conftest import PERSON, PERSON_2, record
from tests.test_due_process import DEBTOR


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCS_CLOCK", "2026-11-01")


def ids(registry: Registry, *numbers: str) -> list[int]:
    found = [registry.find_subject(SubjectKind.PERSON, n) for n in numbers]
    return [f.id for f in found if f is not None]


def test_notify_subjects_writes_what_notify_would_for_each(registry: Registry) -> None:
    validator = registry.validator()
    other = record(ref="D-2", provider="court.rongcheng", type="court.dishonest_debtor",
                   occurred_on="2026-02-01", subject={"kind": "person", "id": PERSON_2},
                   legal_basis="Civil Procedure Law art. 255")  # fmt: skip
    registry.append([validator.from_json(DEBTOR), validator.from_json(other)])
    written = outbox.notify_subjects(registry, ids(registry, PERSON, PERSON_2))
    assert written >= 4  # an adverse-record and a listing notice each
    for number in (PERSON, PERSON_2):  # nothing left that the one-subject path would write
        assert outbox.notify(registry, registry.subject_file(SubjectKind.PERSON, number)) == 0
    assert outbox.notify_subjects(registry, ids(registry, PERSON, PERSON_2)) == 0  # idempotent


def test_notify_subjects_after_notify_writes_nothing_new(registry: Registry) -> None:
    registry.append([registry.validator().from_json(DEBTOR)])
    assert outbox.notify(registry, registry.subject_file(SubjectKind.PERSON, PERSON)) > 0
    assert outbox.notify_subjects(registry, ids(registry, PERSON)) == 0


def test_unknown_and_positive_only_subjects_get_nothing(registry: Registry) -> None:
    assert outbox.notify_subjects(registry, [987654]) == 0
    volunteer = record(provider="civil_affairs.rongcheng", ref="V-1", type="volunteer.hours",
                       quantity=25, amount=None, occurred_on="2026-10-01")  # fmt: skip
    registry.append([registry.validator().from_json(volunteer)])
    assert outbox.notify_subjects(registry, ids(registry, PERSON)) == 0
