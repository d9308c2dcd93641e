"""The registry service for consumers and providers: batch checks, subject references, the
change feed and revocations, over real HTTP on SQLite and PostgreSQL (``tests.test_api``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from socialcredit.api import checks as checks_router
from socialcredit.store import keys
from socialcredit.store.keys import Role
from tests import test_api
from tests.conftest import ORG, PERSON, PERSON_2, record
from tests.test_api import World, assert_error, audit_rows

world = test_api.world  # the fixture: a served registry with five records and a key per role

NO_FILE = "110105194912310038"  # a valid resident number nobody filed a record about
FLIGHTS = {"measure": "spc.flights", "purpose": "travel_booking"}


@pytest.fixture
def feed(world: World) -> World:
    """``world`` with a second consumer (same measures) and the court's provider key."""
    for name, made in (
        ("consumer_2", keys.create(world.registry, Role.CONSUMER, measures=["spc.flights"])),
        ("court", keys.create(world.registry, Role.PROVIDER, provider="court.rongcheng")),
    ):
        world.tokens[name] = made[1]
        world.ids[name] = made[0].id
    return world


def batch(w: World, subjects: list[Any], who: str = "consumer", **over: Any) -> Any:
    return w.post("/v1/checks", FLIGHTS | {"subjects": subjects} | over, who)


def single(w: World, subject: str, who: str = "consumer") -> dict[str, Any]:
    response = w.get(
        f"/v1/checks?subject={subject}&measure=spc.flights&purpose=travel_booking", who
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def changes(w: World, since: str = "0", limit: int = 100, who: str = "consumer") -> Any:
    response = w.get(f"/v1/changes?since={since}&limit={limit}", who)
    assert response.status_code == 200, response.text
    return response.json()


# -- batch checks -----------------------------------------------------------------------------
def test_a_batch_answers_every_subject_exactly_as_single_checks_do(feed: World) -> None:
    subjects = [PERSON, PERSON_2, ORG, NO_FILE]
    response = batch(feed, subjects)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["measure"], body["rulebook"], body["as_of"]) == (
        "spc.flights",
        "rongcheng",
        "2026-11-23",
    )
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert [r["applies"] for r in body["results"]] == [True, False, False, False]
    for item, subject in zip(body["results"], subjects, strict=True):
        alone = single(feed, subject)
        assert {k: alone[k] for k in item if k != "index"} == {
            k: v for k, v in item.items() if k != "index"
        }
    assert body["results"][0]["lists"] == ["court_dishonest_debtors"]
    assert body["results"][0]["reasons"][0]["code"] == "direct_grade:court.dishonest_debtor"


def test_a_batch_answer_is_the_same_json_evaluated_or_from_the_cache(feed: World) -> None:
    """Items are assembled from each answer's JSON made once (``checks._results``): the bytes
    must be what encoding the whole answer gives, in the documented schema, both times."""
    subjects = [PERSON, "12345", NO_FILE, PERSON_2, PERSON, ORG]
    first, again = batch(feed, subjects), batch(feed, subjects)
    assert first.status_code == again.status_code == 200, first.text
    assert first.content == again.content
    body = first.json()
    assert first.content == orjson.dumps(body)
    checks_router.BatchCheckAnswer.model_validate(body)
    assert list(body["results"][0]) == [*checks_router.Verdict.model_fields, "index", "subject_ref"]
    assert body["results"][0]["subject_ref"] == body["results"][4]["subject_ref"]


def test_an_invalid_identifier_mid_batch_is_answered_on_its_own(feed: World) -> None:
    body = batch(feed, [PERSON, "12345", PERSON_2]).json()
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert body["results"][1]["error"]["field"] == "subjects.1"
    assert "wrong length" in body["results"][1]["error"]["reason"]
    assert body["results"][0]["applies"] is True and body["results"][2]["applies"] is False
    assert len(audit_rows(feed.registry)) == 2  # the invalid one reached nobody's data


def test_every_subject_of_a_batch_is_audited_in_one_transaction_and_shown_to_them(
    feed: World,
) -> None:
    batch(feed, [PERSON, PERSON_2, PERSON, NO_FILE, ORG])
    rows = audit_rows(feed.registry)
    assert len(rows) == 4  # one entry per subject read; PERSON twice is one read
    assert {(r.action, r.purpose, r.key_id) for r in rows} == {
        ("check", "travel_booking", feed.ids["consumer"])
    }
    assert len({r.recorded_at for r in rows}) == 1  # one transaction, one moment
    assert [r.result for r in rows] == ["applies"] + ["does_not_apply"] * 3
    for who in ("subject", "other_subject"):
        seen = feed.get("/v1/me/access-log", who).json()["entries"]
        assert [(e["key"], e["action"], e["purpose"]) for e in seen] == [
            (feed.ids["consumer"], "check", "travel_booking")
        ]
    assert feed.registry.verify().ok


def test_an_oversized_batch_or_body_is_refused_and_nothing_is_read(
    feed: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = assert_error(batch(feed, [PERSON] * 10_001), 413, "batch_too_large")
    assert "10,000" in body["message"]
    monkeypatch.setattr(checks_router, "MAX_BODY", 1_000)
    assert_error(batch(feed, [PERSON] * 100), 413, "body_too_large")
    assert audit_rows(feed.registry) == []


def test_a_malformed_or_incomplete_batch_is_a_json_error(feed: World) -> None:
    response = feed.client.post(
        "/v1/checks",
        content=b'{"measure": ',
        headers={**feed.auth("consumer"), "Content-Type": "application/json"},
    )
    assert_error(response, 400, "malformed_json")
    missing = assert_error(feed.post("/v1/checks", FLIGHTS, "consumer"), 422, "invalid_request")
    assert missing["errors"][0]["field"] == "subjects"
    wrong = assert_error(batch(feed, [PERSON, 7]), 422, "invalid_request")
    assert wrong["errors"][0]["field"] == "subjects.1"
    assert audit_rows(feed.registry) == []


def test_a_batch_follows_the_single_checks_rules_on_roles_measures_and_purposes(
    feed: World,
) -> None:
    assert_error(batch(feed, [PERSON], who="provider"), 403, "wrong_role")
    assert_error(
        feed.post("/v1/checks", FLIGHTS | {"subjects": [PERSON]}, None), 401, "key_required"
    )
    not_run = batch(feed, [PERSON], measure="spc.luxury_venues", who="consumer_2")
    assert_error(not_run, 403, "measure_not_allowed")
    unrelated = batch(feed, [PERSON], measure="spc.luxury_venues")
    assert_error(unrelated, 403, "purpose_unrelated")
    hiring = assert_error(
        batch(feed, [PERSON], purpose="employment_screening"), 422, "invalid_request"
    )
    assert hiring["errors"][0]["field"] == "purpose"
    assert audit_rows(feed.registry) == []  # refused before any subject's data was read


# -- subject references ---------------------------------------------------------------------------
def test_a_subject_ref_is_stable_for_one_key_and_differs_between_keys(feed: World) -> None:
    first, again = single(feed, PERSON)["subject_ref"], single(feed, PERSON)["subject_ref"]
    in_batch = batch(feed, [PERSON]).json()["results"][0]["subject_ref"]
    other_key = single(feed, PERSON, "consumer_2")["subject_ref"]
    assert first == again == in_batch != other_key
    assert single(feed, PERSON_2)["subject_ref"] != first
    assert PERSON not in first and len(first) == 24


def test_a_keys_kept_batch_item_ends_are_its_refs_and_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``access.RefItems``: the end of a batch item for each keyed hash, the very
    ``subject_ref`` a single check gives, and never more than ``REFS_KEPT`` of them kept."""
    from socialcredit.api import access

    monkeypatch.setattr(access, "REFS_KEPT", 2)
    items = access.RefItems(b"s" * 32, "k_one")
    for keyed in ("a" * 64, "b" * 64, "c" * 64):
        ref = access._subject_ref(b"s" * 32, "k_one", keyed)
        assert items[keyed] == b',"subject_ref":"' + ref.encode() + b'"}'
        assert len(items) <= 2
    assert items["c" * 64] != access.RefItems(b"s" * 32, "k_two")["c" * 64]


# -- the change feed ------------------------------------------------------------------------------
def test_the_feed_shows_each_changed_subject_with_its_current_verdicts(feed: World) -> None:
    page = changes(feed)
    assert page["more"] is False and page["next"] == "5"
    refs = {single(feed, s)["subject_ref"]: s for s in (PERSON, PERSON_2, ORG)}
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for entry in page["entries"]:
        by_subject.setdefault(refs[entry["subject_ref"]], []).append(entry)
    assert list(by_subject) == [PERSON, PERSON_2, ORG]  # in the order of their first change
    assert [e["measure"] for e in by_subject[PERSON]] == ["spc.flights", "spc.luxury_venues"]
    flights = by_subject[PERSON][0]
    assert (flights["applies"], flights["lists"], flights["since"]) == (
        True,
        ["court_dishonest_debtors"],
        "2026-01-10",
    )
    assert flights["until"] and flights["kind"] == "person" and flights["uscc"] is None
    assert by_subject[ORG][0]["uscc"] == ORG and by_subject[ORG][0]["kind"] == "organisation"
    assert PERSON not in str(page) and PERSON_2 not in str(page)

    feed_reads = [r for r in audit_rows(feed.registry) if r.action == "change_feed"]
    assert [(r.purpose, r.result) for r in feed_reads] == [
        ("list_mirroring", "applies"),
        ("list_mirroring", "does_not_apply"),
    ]  # the persons only: an organisation's standing is public
    seen = feed.get("/v1/me/access-log", "subject").json()["entries"]
    assert ("change_feed", "list_mirroring") in {(e["action"], e["purpose"]) for e in seen}

    assert changes(feed, page["next"]) == {"entries": [], "next": "5", "more": False}
    landed = feed.post("/v1/records", record(ref="T-3", subject={"kind": "person", "id": NO_FILE}))
    assert landed.json()["accepted"] == 1
    after = changes(feed, page["next"])
    assert after["next"] == "6"
    checked_before = single(feed, NO_FILE)["subject_ref"]
    assert {e["subject_ref"] for e in after["entries"]} == {checked_before}


def test_the_feed_pages_by_cursor_without_losing_or_repeating_a_subject(feed: World) -> None:
    seen: list[str] = []
    cursor, more = "0", True
    while more:
        page = changes(feed, cursor, limit=1)
        seen += dict.fromkeys(e["subject_ref"] for e in page["entries"])
        cursor, more = page["next"], page["more"]
    assert len(seen) == len(set(seen)) == 3
    assert cursor == "5"
    assert_error(feed.get("/v1/changes?since=-1", "consumer"), 422, "invalid_request")
    assert_error(feed.get("/v1/changes?since=abc", "consumer"), 422, "invalid_request")
    assert_error(feed.get("/v1/changes", "provider"), 403, "wrong_role")
    assert_error(feed.get("/v1/changes"), 401, "key_required")


# -- revocations ----------------------------------------------------------------------------------
def test_a_provider_revokes_its_own_record_once_and_the_check_changes(feed: World) -> None:
    assert single(feed, PERSON)["applies"] is True
    cursor = changes(feed)["next"]
    response = feed.post("/v1/records/D-1/revocation", {"reason": "debt paid in full"}, "court")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "provider": "court.rongcheng",
        "ref": "D-1",
        "revocation": "revocation:D-1",
        "reason": "debt paid in full",
        "seq": 6,
    }
    assert single(feed, PERSON)["applies"] is False
    again = feed.post("/v1/records/D-1/revocation", None, "court")
    assert "already amended" in assert_error(again, 409, "already_amended")["message"]

    after = changes(feed, cursor)
    assert [(e["measure"], e["applies"]) for e in after["entries"]] == [
        ("spc.flights", False),
        ("spc.luxury_venues", False),
    ]
    history = feed.get(f"/v1/subjects/{PERSON}/report", "subject").json()["history"]
    assert {h["ref"]: h["status"] for h in history}["D-1"] == "revoked"


def test_another_providers_or_an_unknown_ref_is_a_404_that_names_nothing(feed: World) -> None:
    theirs = assert_error(feed.post("/v1/records/D-1/revocation", {}, "provider"), 404, "no_record")
    unknown = assert_error(
        feed.post("/v1/records/NOPE/revocation", {}, "provider"), 404, "no_record"
    )
    assert theirs == unknown and "court" not in str(theirs)
    assert_error(
        feed.post("/v1/records/T-0001/revocation", {"reason": ""}, "provider"),
        422,
        "invalid_request",
    )
    assert_error(feed.post("/v1/records/T-0001/revocation", {}, "consumer"), 403, "wrong_role")
    assert feed.registry.counts()["revocations"] == 0
    done = feed.post("/v1/records/T-0001/revocation", {}, "provider").json()
    assert done["reason"] == "withdrawn by the provider"


def test_the_openapi_document_declares_the_new_endpoints_and_their_errors(feed: World) -> None:
    paths = feed.get("/openapi.json").json()["paths"]
    assert {"400", "413", "422"} <= set(paths["/v1/checks"]["post"]["responses"])
    assert "404" in paths["/v1/checks"]["get"]["responses"]
    assert {"401", "403", "422"} <= set(paths["/v1/changes"]["get"]["responses"])
    assert {"404", "409"} <= set(paths["/v1/records/{ref}/revocation"]["post"]["responses"])
