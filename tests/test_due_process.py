"""Due process over real HTTP on SQLite and PostgreSQL: notices, disputes with deadlines the
clock moves across, credit repair, deletion, human review, and every refusal on the way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from socialcredit.deadlines import add_working_days, dispute_deadline
from socialcredit.identifiers import SubjectKind
from socialcredit.rulebook import load_rulebook
from socialcredit.store import keys
from socialcredit.store.keys import Role
from socialcredit.store.registry import Registry
from socialcredit.store.schema import audit_log, notices
from tests.api_server import serving
from tests.conftest import PERSON, PERSON_2, record
from tests.test_api import assert_error

DEBTOR = record(
    provider="court.rongcheng",
    ref="D-1",
    type="court.dishonest_debtor",
    occurred_on="2026-01-10",
    legal_basis="Civil Procedure Law art. 255",
)
VOLUNTEER = record(
    provider="civil_affairs.rongcheng",
    ref="V-1",
    type="volunteer.hours",
    quantity=25,
    occurred_on="2026-10-01",
)
del VOLUNTEER["legal_basis"]
RAIL = f"/v1/checks?subject={PERSON}&measure=spc.high_speed_rail&purpose=travel_booking"


@dataclass
class Desk:
    registry: Registry
    client: httpx.Client
    tokens: dict[str, str]

    def get(self, path: str, who: str) -> httpx.Response:
        return self.client.get(path, headers=self._auth(who))

    def post(self, path: str, body: Any, who: str) -> httpx.Response:
        return self.client.post(path, json=body, headers=self._auth(who))

    def _auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def rail(self) -> dict[str, Any]:
        response = self.get(RAIL, "railway")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def desk(registry: Registry) -> Iterator[Desk]:
    validator = registry.validator()
    registry.append(
        [
            validator.from_json(r)
            for r in (record(), record(ref="T-2", subject={"kind": "person", "id": PERSON_2}))
        ]
    )
    made = {
        "admin": keys.create(registry, Role.ADMIN),
        "court": keys.create(registry, Role.PROVIDER, provider="court.rongcheng"),
        "police": keys.create(registry, Role.PROVIDER, provider="police.traffic"),
        "railway": keys.create(registry, Role.CONSUMER, measures=["spc.high_speed_rail"]),
        "subject": keys.create(registry, Role.SUBJECT, subject=(SubjectKind.PERSON, PERSON)),
        "other": keys.create(registry, Role.SUBJECT, subject=(SubjectKind.PERSON, PERSON_2)),
    }
    with serving(registry) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Desk(registry, client, {who: token for who, (_, token) in made.items()})


def set_clock(monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    monkeypatch.setenv("SCS_CLOCK", day)


# -- the walk -------------------------------------------------------------------------------
def test_a_listed_debtor_is_noticed_disputes_is_suspended_verified_and_repaired(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a court lists them as a dishonest debtor; the notice follows the answer at once
    assert desk.post("/v1/records", DEBTOR, "court").json()["accepted"] == 1
    for _ in range(100):
        with desk.registry.engine.connect() as conn:
            if conn.execute(select(notices.c.id)).first():
                break
        time.sleep(0.05)
    else:
        raise AssertionError("no notice was written after the record landed")
    # a railway check says restricted, with the legal basis; the notice was written first
    answer = desk.rail()
    assert answer["applies"] and "Supreme People's Court" in answer["legal_basis"]
    assert answer["disputed"] == []
    with desk.registry.engine.connect() as conn:
        written = conn.execute(select(notices.c.created_at)).scalars().all()
        checked = conn.execute(
            select(audit_log.c.recorded_at).where(audit_log.c.action == "check")
        ).scalar_one()
    assert written and max(written) <= checked
    # they get a notice: what, why, legal basis, how to dispute
    mine = desk.get("/v1/me/notices", "subject").json()
    listing = next(n for n in mine if n["kind"] == "adverse_record")
    assert listing["what"]["ref"] == "D-1" and listing["legal_basis"]
    assert listing["effect"]["direct_grade"] == "D" and listing["reasons"]
    assert "7 working days" in listing["how_to_dispute"]["en"]
    assert any(n["kind"] == "listed" and n["restrictions"] for n in mine)

    # they dispute: disputed at once, the court asked to verify within 7 working days
    opened = desk.post(
        f"/v1/subjects/{PERSON}/disputes",
        {"provider": "court.rongcheng", "ref": "D-1", "reason": "I paid in 2025", "evidence": None},
        "subject",
    )
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["status"], case["deadline"]) == ("open", "2026-12-02")  # Monday + 7 working
    assert [s["step"] for s in case["timeline"]] == ["opened", "provider_asked"]
    still = desk.rail()
    assert still["applies"] and still["disputed"][0]["ref"] == "D-1"

    # the court does not answer in time: the record stops counting, not restricted
    set_clock(monkeypatch, "2026-12-03")
    lapsed = desk.rail()
    assert not lapsed["applies"] and lapsed["disputed"][0]["counts"] is False
    timeline = desk.get(f"/v1/disputes/{case['id']}", "subject").json()["timeline"]
    assert timeline[-1]["step"] == "deadline_passed"

    # the court verifies: restricted again; the answer is marked late
    answered = desk.post(
        f"/v1/disputes/{case['id']}/answer",
        {"outcome": "confirmed", "reasons": "judgment 2025-17 unperformed; ledger checked"},
        "court",
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "confirmed"
    assert answered.json()["timeline"][-1]["late"] is True
    assert desk.rail()["applies"]

    # they pay and apply for repair with a credit commitment; an operator approves
    applied = desk.post(
        f"/v1/subjects/{PERSON}/repairs",
        {"provider": "court.rongcheng", "ref": "D-1", "commitment": "I paid and will keep to it"},
        "subject",
    )
    assert applied.status_code == 201, applied.text
    repair = applied.json()
    assert repair["deadline"] == "2026-12-17"  # 10 working days (no rulebook setting)
    decided = desk.post(
        f"/v1/repairs/{repair['id']}/decision",
        {"approve": True, "reasons": "payment receipt from the court checked"},
        "admin",
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    # the grade recovers as the rulebook says: -50 for two years instead of D
    assert not desk.rail()["applies"]
    result = desk.registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng")
    assert (result.score, result.grade) == (1000 - 50, "B")

    # the report shows all of it
    report = desk.get(f"/v1/subjects/{PERSON}/report", "subject").json()
    assert [d["status"] for d in report["disputes"]] == ["confirmed"]
    assert [r["status"] for r in report["repairs"]] == ["approved"]
    assert report["notices"] and report["access_log"]
    assert desk.registry.verify().ok


# -- refusals -------------------------------------------------------------------------------
def test_a_subject_cannot_dispute_or_read_another_subjects_records(desk: Desk) -> None:
    other_record = {"provider": "police.traffic", "ref": "T-2", "reason": "not mine"}
    assert_error(desk.post("/v1/disputes", other_record, "subject"), 404, "no_record")
    assert_error(
        desk.post(f"/v1/subjects/{PERSON_2}/disputes", other_record, "subject"),
        403,
        "not_your_data",
    )
    assert_error(desk.get(f"/v1/subjects/{PERSON_2}/disputes", "subject"), 403, "not_your_data")
    assert_error(desk.get(f"/v1/subjects/{PERSON_2}/notices", "subject"), 403, "not_your_data")
    for path in (f"/v1/subjects/{PERSON}/disputes", f"/v1/subjects/{PERSON}/repairs"):
        assert_error(desk.get(path, "railway"), 403, "wrong_role")
        assert_error(desk.get(path, "court"), 403, "wrong_role")
    with desk.registry.engine.connect() as conn:
        refused = conn.execute(
            select(audit_log.c.action).where(audit_log.c.result == "refused")
        ).scalars()
        assert set(refused) >= {"dispute", "disputes", "notices"}


def test_only_the_provider_of_the_record_answers_its_dispute(desk: Desk) -> None:
    case = desk.post(
        "/v1/disputes", {"provider": "police.traffic", "ref": "T-0001", "reason": "x"}, "subject"
    ).json()
    answer = {"outcome": "confirmed", "reasons": "checked"}
    assert [c["id"] for c in desk.get("/v1/disputes", "police").json()] == [case["id"]]
    assert desk.get("/v1/disputes", "court").json() == []
    assert_error(desk.get("/v1/disputes", "subject"), 403, "wrong_role")
    assert_error(desk.post(f"/v1/disputes/{case['id']}/answer", answer, "court"), 404, "no_case")
    assert_error(desk.get(f"/v1/disputes/{case['id']}", "court"), 404, "no_case")
    assert_error(desk.get(f"/v1/disputes/{case['id']}", "other"), 404, "no_case")
    assert_error(
        desk.post(f"/v1/disputes/{case['id']}/answer", answer, "subject"), 403, "wrong_role"
    )
    bad = desk.post(f"/v1/disputes/{case['id']}/answer", answer | {"outcome": "maybe"}, "police")
    assert assert_error(bad, 422, "invalid_request")["errors"][0]["field"] == "outcome"
    assert desk.post(f"/v1/disputes/{case['id']}/answer", answer, "police").status_code == 200
    again = desk.post(f"/v1/disputes/{case['id']}/answer", answer, "police")
    assert_error(again, 409, "case_closed")


def test_a_provider_revokes_or_corrects_a_disputed_record_through_the_ledger(
    desk: Desk,
) -> None:
    first = desk.post(
        "/v1/disputes", {"provider": "police.traffic", "ref": "T-0001", "reason": "x"}, "subject"
    ).json()
    reused = desk.post(
        f"/v1/disputes/{first['id']}/answer",
        {"outcome": "corrected", "reasons": "amount", "record": record(ref="T-0001")},
        "police",
    )
    assert_error(reused, 409, "amendment_refused")
    nothing = desk.post(
        f"/v1/disputes/{first['id']}/answer", {"outcome": "corrected", "reasons": "?"}, "police"
    )
    assert assert_error(nothing, 422, "invalid_request")["errors"][0]["field"] == "record"
    invalid = desk.post(
        f"/v1/disputes/{first['id']}/answer",
        {"outcome": "corrected", "reasons": "?", "record": record(ref="T-9", type="no.such")},
        "police",
    )
    assert assert_error(invalid, 422, "invalid_request")["errors"][0]["field"] == "record.type"
    fixed = record(ref="T-0001c", amount=100)
    corrected = desk.post(
        f"/v1/disputes/{first['id']}/answer",
        {"outcome": "corrected", "reasons": "amount was wrong", "record": fixed},
        "police",
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["timeline"][-1]["corrected_by"] == "T-0001c"
    second = desk.post(
        "/v1/disputes", {"provider": "police.traffic", "ref": "T-0001c", "reason": "y"}, "subject"
    ).json()
    revoked = desk.post(
        f"/v1/disputes/{second['id']}/answer", {"outcome": "revoked", "reasons": "no"}, "police"
    )
    assert revoked.status_code == 200, revoked.text
    file = desk.registry.subject_file(SubjectKind.PERSON, PERSON)
    assert [r.ref for r in file.records] == []
    assert desk.registry.verify().ok


def test_repeated_oversized_malformed_and_hostile_disputes_get_precise_errors(
    desk: Desk,
) -> None:
    url = f"/v1/subjects/{PERSON}/disputes"
    body = {"provider": "police.traffic", "ref": "T-0001", "reason": "wrong"}
    assert desk.post(url, body, "subject").status_code == 201
    assert_error(desk.post(url, body, "subject"), 409, "already_disputed")

    too_big = body | {"evidence": "x" * 20_001}
    problem = assert_error(desk.post(url, too_big, "subject"), 422, "invalid_request")
    assert problem["errors"][0]["field"] == "evidence"
    huge = desk.post(url, body | {"evidence": "x" * 70_000}, "subject")
    assert_error(huge, 413, "body_too_large")
    missing = assert_error(
        desk.post(url, {"provider": "police.traffic", "ref": "T-0001"}, "subject"),
        422,
        "invalid_request",
    )
    assert missing["errors"][0]["field"] == "reason"
    extra = assert_error(desk.post(url, body | {"admin": True}, "subject"), 422, "invalid_request")
    assert extra["errors"][0]["field"] == "admin"
    wrong_type = assert_error(desk.post(url, body | {"ref": 7}, "subject"), 422, "invalid_request")
    assert wrong_type["errors"][0]["field"] == "ref"
    raw = desk.client.post(
        url, content=b"{not json", headers={"Authorization": f"Bearer {desk.tokens['subject']}"}
    )
    assert_error(raw, 400, "malformed_json")
    hostile = body | {"ref": "T-0001' OR '1'='1"}
    assert_error(desk.post(url, hostile, "subject"), 404, "no_record")
    assert_error(
        desk.post(f"/v1/subjects/{'9' * 40}/disputes", body, "admin"), 422, "invalid_request"
    )


def test_a_closed_dispute_is_reopened_only_with_new_evidence(desk: Desk) -> None:
    url = f"/v1/subjects/{PERSON}/disputes"
    body = {"provider": "police.traffic", "ref": "T-0001", "reason": "wrong"}
    case = desk.post(url, body, "subject").json()
    desk.post(
        f"/v1/disputes/{case['id']}/answer", {"outcome": "confirmed", "reasons": "ok"}, "police"
    )
    refused = assert_error(desk.post(url, body, "subject"), 409, "repeated_dispute")
    assert refused["errors"][0]["field"] == "evidence"
    assert desk.post(url, body | {"evidence": "a photo"}, "subject").status_code == 201


# -- rulebook deadlines ---------------------------------------------------------------------
def _variant(tmp_path: Path, extra: str, version: str = "9.0.0") -> Path:
    source = load_rulebook("rongcheng").source
    text = source.replace('version = "1.0.0"', f'version = "{version}"', 1).replace(
        "dispute_deadline_working_days = 7\n", extra, 1
    )
    path = tmp_path / "variant.toml"
    path.write_text(text)
    return path


def test_an_fcra_style_rulebook_gives_the_provider_30_days(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.registry.activate_rulebook(str(_variant(tmp_path, "dispute_deadline_days = 30\n")))
    case = desk.post(
        "/v1/disputes", {"provider": "police.traffic", "ref": "T-0001", "reason": "x"}, "subject"
    ).json()
    assert case["deadline"] == "2026-12-23"
    set_clock(monkeypatch, "2026-12-23")
    assert desk.get(f"/v1/disputes/{case['id']}", "subject").json()["state"] == "open"
    set_clock(monkeypatch, "2026-12-24")
    assert desk.get(f"/v1/disputes/{case['id']}", "subject").json()["state"] == "overdue"
    result = desk.registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng")
    assert result.score == 1000  # the unverified fine no longer counts


def test_repair_is_refused_before_the_publicity_period_and_a_late_decision_is_marked(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = _variant(
        tmp_path,
        'dispute_deadline_working_days = 7\nrepair_min_publicity = "1y"\n'
        "repair_decision_working_days = 5\n",
    )
    desk.registry.activate_rulebook(str(variant))
    desk.post("/v1/records", DEBTOR, "court")
    body = {"provider": "court.rongcheng", "ref": "D-1", "commitment": "I will pay"}
    early = assert_error(
        desk.post(f"/v1/subjects/{PERSON}/repairs", body, "subject"), 409, "too_early"
    )
    assert "2027-01-10" in early["message"]
    set_clock(monkeypatch, "2027-01-11")
    case = desk.post(f"/v1/subjects/{PERSON}/repairs", body, "subject").json()
    assert case["deadline"] == "2027-01-18"
    assert_error(
        desk.post(f"/v1/subjects/{PERSON}/repairs", body, "subject"), 409, "already_applied"
    )
    no_path = body | {"provider": "police.traffic", "ref": "T-0001"}
    assert_error(
        desk.post(f"/v1/subjects/{PERSON}/repairs", no_path, "subject"), 409, "no_repair_path"
    )
    assert_error(
        desk.post(
            f"/v1/repairs/{case['id']}/decision", {"approve": True, "reasons": "x"}, "subject"
        ),
        403,
        "wrong_role",
    )
    bad = desk.post(
        f"/v1/repairs/{case['id']}/decision", {"approve": "yes", "reasons": "x"}, "admin"
    )
    assert assert_error(bad, 422, "invalid_request")["errors"][0]["field"] == "approve"
    set_clock(monkeypatch, "2027-01-19")
    refused = desk.post(
        f"/v1/repairs/{case['id']}/decision",
        {"approve": False, "reasons": "no proof of payment"},
        "admin",
    ).json()
    assert refused["status"] == "refused" and refused["timeline"][-1]["late"] is True
    assert desk.registry.evaluate(SubjectKind.PERSON, PERSON, "rongcheng").grade == "D"


# -- deletion and review --------------------------------------------------------------------
def test_a_subject_deletes_an_own_positive_record_but_not_a_negative_one(
    desk: Desk,
) -> None:
    desk.registry.append([desk.registry.validator().from_json(VOLUNTEER)])
    url = f"/v1/subjects/{PERSON}/deletions"
    negative = {"provider": "police.traffic", "ref": "T-0001"}
    assert_error(desk.post(url, negative, "subject"), 409, "not_positive")
    deleted = desk.post(url, {"provider": "civil_affairs.rongcheng", "ref": "V-1"}, "subject")
    assert deleted.status_code == 201, deleted.text
    assert deleted.json()["status"] == "deleted"
    refs = [r.ref for r in desk.registry.subject_file(SubjectKind.PERSON, PERSON).records]
    assert refs == ["T-0001"]
    assert desk.registry.verify().ok


def test_human_review_of_a_list_decision_is_tracked_like_a_dispute(desk: Desk) -> None:
    url = f"/v1/subjects/{PERSON}/reviews"
    ask = {"rulebook": "rongcheng", "list": "blacklist", "reason": "a person should look"}
    assert_error(desk.post(url, ask, "subject"), 409, "not_on_list")
    desk.post("/v1/records", DEBTOR, "court")
    opened = desk.post(url, ask, "subject")
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["list"] == "blacklist" and case["deadline"] == "2026-12-02"
    assert_error(desk.post(url, ask, "subject"), 409, "already_under_review")
    unknown = assert_error(
        desk.post(url, ask | {"rulebook": "nope"}, "subject"), 422, "invalid_request"
    )
    assert unknown["errors"][0]["field"] == "rulebook"
    decision = {"outcome": "upheld", "reasons": "the court listing is in force"}
    assert_error(
        desk.post(f"/v1/reviews/{case['id']}/decision", decision, "court"), 403, "wrong_role"
    )
    done = desk.post(f"/v1/reviews/{case['id']}/decision", decision, "admin").json()
    assert done["status"] == "upheld"
    assert [r["status"] for r in desk.get(url, "subject").json()] == ["upheld"]


# -- deadlines, pure ------------------------------------------------------------------------
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(1, 40))
def test_a_working_day_deadline_is_a_weekday_after_exactly_n_working_days(
    start: date, days: int
) -> None:
    end = add_working_days(start, days)
    assert end.weekday() < 5
    between = [start + timedelta(d) for d in range(1, (end - start).days + 1)]
    assert sum(day.weekday() < 5 for day in between) == days


def test_the_earliest_rulebook_deadline_applies_and_30_days_without_any() -> None:
    rongcheng = load_rulebook("rongcheng")
    assert dispute_deadline(date(2026, 11, 23), [rongcheng]) == date(2026, 12, 2)
    assert dispute_deadline(date(2026, 11, 23), []) == date(2026, 12, 23)


def test_a_subject_applies_for_repair_of_its_own_file_without_naming_itself(desk: Desk) -> None:
    desk.post("/v1/records", DEBTOR, "court")
    body = {"provider": "court.rongcheng", "ref": "D-1", "commitment": "I will pay"}
    assert desk.post("/v1/repairs", body, "subject").status_code == 201
    assert_error(desk.post("/v1/repairs", body, "other"), 404, "no_record")
    assert_error(desk.post("/v1/repairs", body, "admin"), 403, "wrong_role")


@pytest.mark.parametrize(
    "line",
    [
        "dispute_deadline_days = 0\n",
        'repair_min_publicity = "soon"\n',
        'dispute_deadline_working_days = "7"\n',
    ],
)
def test_the_rulebook_checker_refuses_bad_due_process_settings(tmp_path: Path, line: str) -> None:
    from socialcredit.rulebook import RulebookError

    with pytest.raises(RulebookError):
        load_rulebook(str(_variant(tmp_path, line)))


@given(
    st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 1, 1)),
    st.integers(0, 60),
    st.one_of(st.none(), st.integers(0, 90)),
    st.integers(0, 120),
)
def test_a_disputed_record_is_left_out_exactly_while_overdue_and_unanswered(
    opened: date, allowed: int, answered_after: int | None, asked_after: int
) -> None:
    from socialcredit.disputes import Case, CaseKind, counting, suspended
    from socialcredit.records import Record, SubjectRef

    deadline = opened + timedelta(days=allowed)
    answered = None if answered_after is None else opened + timedelta(days=answered_after)
    case = Case(
        id="dis_x",
        kind=CaseKind.DISPUTE,
        subject_id=1,
        provider="court.rongcheng",
        ref="D-1",
        rulebook=None,
        listing=None,
        status="open" if answered is None else "confirmed",
        opened_at=f"{opened.isoformat()}T09:00:00.000000Z",
        deadline=deadline,
        closed_at=None if answered is None else f"{answered.isoformat()}T10:00:00.000000Z",
        detail={},
    )
    day = opened + timedelta(days=asked_after)
    expected = day > deadline and (answered is None or answered > day)
    assert (suspended([case], day) == {("court.rongcheng", "D-1")}) is expected
    person = SubjectRef(SubjectKind.PERSON, "110105********002X")
    disputed = Record("court.rongcheng", "D-1", person, "court.dishonest_debtor", opened)
    undisputed = Record("police.traffic", "T-1", person, "traffic.fine_le_500", opened)
    kept = counting([disputed, undisputed], [case], day)
    assert kept == ([undisputed] if expected else [disputed, undisputed])


def test_each_due_process_endpoint_refuses_the_roles_it_is_not_for(desk: Desk) -> None:
    desk.post("/v1/records", DEBTOR, "court")
    dispute = desk.post(
        "/v1/disputes", {"provider": "court.rongcheng", "ref": "D-1", "reason": "x"}, "subject"
    ).json()
    repair = desk.post(
        "/v1/repairs", {"provider": "court.rongcheng", "ref": "D-1", "commitment": "y"}, "subject"
    ).json()
    me = f"/v1/subjects/{PERSON}"
    allowed: dict[str, set[str]] = {
        f"{me}/disputes": {"subject", "admin"},
        f"{me}/repairs": {"subject", "admin"},
        f"{me}/reviews": {"subject", "admin"},
        f"{me}/notices": {"subject", "admin"},
        f"{me}/report": {"subject", "admin"},
        "/v1/me/notices": {"subject", "other"},
        "/v1/me/report": {"subject", "other"},
        "/v1/disputes": {"court", "police", "admin"},
        f"/v1/disputes/{dispute['id']}": {"subject", "court", "admin"},
        f"/v1/repairs/{repair['id']}": {"subject", "admin"},
    }
    wrong = []
    for path, roles in allowed.items():
        for who in ("admin", "court", "police", "railway", "subject", "other", "public"):
            if who == "public":
                status = desk.client.get(path).status_code
            else:
                status = desk.get(path, who).status_code
            if who in roles:
                ok = status == 200
            elif who == "public":
                ok = status == 401
            else:  # another role: 403; another subject or provider: 403 or 404, never 200
                ok = status in (403, 404)
            if not ok:
                wrong.append((path, who, status))
    assert not wrong, wrong


def test_a_check_writes_the_missing_notice_before_it_answers(desk: Desk) -> None:
    desk.registry.append([desk.registry.validator().from_json(DEBTOR)])  # an import: no notice
    with desk.registry.engine.connect() as conn:
        assert conn.execute(select(notices.c.id)).first() is None
    assert desk.rail()["applies"]
    with desk.registry.engine.connect() as conn:
        written = conn.execute(select(notices.c.created_at)).scalars().all()
        checked = conn.execute(
            select(audit_log.c.recorded_at).where(audit_log.c.action == "check")
        ).scalar_one()
    assert written and max(written) <= checked
