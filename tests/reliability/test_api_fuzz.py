"""The REST API fuzzed from its own OpenAPI schema (schemathesis), as the coordinator and as a hospital node:
no request, valid or not, gets a 5xx or an answer the schema does not describe."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hospitals import services as hospital_services
from rounds.models import Round
from rounds.services import collecting, lifecycle
from tests.conftest import plain_update

S = Round.State
# Per operation and mode, the same examples every run; for a longer search, DH_FUZZ_EXAMPLES=500 and
# DH_FUZZ_RANDOM=1 (new examples each run).
EXAMPLES_PER_OPERATION = int(os.environ.get("DH_FUZZ_EXAMPLES", "20"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
NODE_PATHS = ("/api/node/", "/api/models/{model_id}/weights/", "/api/committees/")


@pytest.fixture
def database_kept_open():
    """Django closes the database connection when a request ends; in this test that is the test's own
    transaction, so keep it open, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(consortium, database_kept_open, settings):
    """The schema as the portal serves it, requests going to the Django app in this thread (same database
    transaction as the test), and a round collecting from hospitals A and B with A's update in. Failed logins
    and enrollments are not throttled here: the fuzzer sends thousands on purpose (tests/hospitals covers 429)."""
    settings.DH_LOGIN_RATE = "1000000/min"
    round_ = consortium.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    collecting.submit_update(consortium.hospital_a, round_.pk, [plain_update(consortium.model)], 10, {}, None)
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def fuzz(api_schema, token: str, wanted) -> list[str]:
    """Runs every wanted operation with valid and invalid data; returns one line per failing operation."""
    problems = []
    headers = {"Authorization": f"Token {token}"}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if not wanted(operation.path):
            continue
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        if "multipart/form-data" in operation.definition.raw.get("requestBody", {}).get("content", {}):
            # schemathesis fails building a multipart body from a negative (non-object) example; invalid
            # uploads are sent by tests/rounds/test_submissions.py and test_uploads.py instead.
            modes.remove(GenerationMode.NEGATIVE)
        for mode in modes:

            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=os.environ.get("DH_FUZZ_RANDOM") is None,
                database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate],
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid: the operation takes no input
                assert mode == GenerationMode.NEGATIVE
            except (Exception, BaseExceptionGroup) as exc:  # collected: every failing operation is reported
                problems.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:3000])
    return problems


@pytest.mark.slow
@pytest.mark.django_db
def test_fuzzing_as_the_coordinator_finds_no_5xx_and_no_schema_violation(api_schema, consortium):
    token = hospital_services.issue_api_token(consortium.coordinator, "fuzz")
    problems = fuzz(api_schema, token, lambda path: not path.startswith("/api/node/"))
    assert not problems, "\n\n".join(problems)


@pytest.mark.unit
@pytest.mark.django_db
def test_fuzzing_as_a_hospital_node_finds_no_5xx_and_no_schema_violation(api_schema, consortium):
    token = consortium.node_tokens["hospital-a"]
    problems = fuzz(api_schema, token, lambda path: path.startswith(NODE_PATHS))
    assert not problems, "\n\n".join(problems)
