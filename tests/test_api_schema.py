"""Schemathesis against the running server: every answer is documented and keeps its schema.

The fuzzer reads ``/openapi.json`` from a real server (``tests.api_server``) and calls every
operation with generated input, once with an admin key, once with a consumer key and once
without a key, so it reaches the handlers' answers and the refusals alike. Any 5xx, any
status the document does not list, any body that breaks its schema or its content type is
a bug in the API or in its document. Examples are derandomized: CI replays the same calls.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from socialcredit.api.app import create_app
from socialcredit.store.registry import Registry
from tests.api_server import ApiWorld, api_world

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # input the document forbids is refused with a 4xx
    ignored_auth,  # an endpoint that needs a key refuses a call without one
    missing_required_header,
]


#: The document the app serves, read from the app itself: the fuzzing is planned at collection,
#: before any server runs (``test_the_server_serves_the_document_the_fuzzer_read`` proves it
#: is the one served). Schemathesis's ``from_fixture`` loader would read it from the server,
#: but 4.32.5 breaks under pytest 9 (it sets ``Function._nodeid``, which pytest 9 replaced).
_SCRATCH = Path(tempfile.mkdtemp(prefix="scs-schema-"))
DOCUMENT = create_app(
    Registry.init(f"sqlite:///{_SCRATCH / 'document.db'}", _SCRATCH / "document.key")
).openapi()
#: Input the document forbids must be refused with a 4xx; 413 is how the API refuses a batch
#: over its ``maxItems`` (schemathesis's default list lacks it).
REFUSALS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
    ),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    with api_world(tmp_path_factory.mktemp("schema")) as built:
        yield built


@pytest.fixture(scope="module", params=["admin", "consumer", "public"])
def caller(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_server_serves_the_document_the_fuzzer_read(world: ApiWorld) -> None:
    assert world.client.get("/openapi.json").json() == DOCUMENT


FUZZ = settings(
    max_examples=5,  # with the coverage phase's boundary cases: the file runs in about 60 s
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@pytest.mark.slow
@FUZZ
def test_every_answer_is_documented_and_keeps_its_schema(
    case: schemathesis.Case, world: ApiWorld, caller: str
) -> None:
    case.call_and_validate(base_url=world.url, headers=world.headers(caller), checks=CHECKS)


# The other roles fuzz only the endpoints they may use (elsewhere they meet the same 403 the
# passes above already check), so their handlers' answers are reached too.
@schema.include(path="/v1/audit").parametrize()
@pytest.mark.slow
@FUZZ
def test_the_auditors_answers_keep_their_schema(case: schemathesis.Case, world: ApiWorld) -> None:
    case.call_and_validate(base_url=world.url, headers=world.headers("auditor"), checks=CHECKS)


@schema.include(path_regex=r"^/v1/(records|disputes)").parametrize()
@pytest.mark.slow
@FUZZ
def test_a_providers_answers_keep_their_schema(case: schemathesis.Case, world: ApiWorld) -> None:
    case.call_and_validate(base_url=world.url, headers=world.headers("provider"), checks=CHECKS)


@schema.include(path_regex=r"^/v1/(me|subjects|disputes|reviews|repairs)\b").parametrize()
@pytest.mark.slow
@FUZZ
def test_a_subjects_answers_keep_their_schema(case: schemathesis.Case, world: ApiWorld) -> None:
    case.call_and_validate(base_url=world.url, headers=world.headers("subject"), checks=CHECKS)
