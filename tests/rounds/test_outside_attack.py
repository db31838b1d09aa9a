"""What an outside attack and a first real use found, each performed against the real code: a crash anyone could
trigger, a round that hung, a leak of other hospitals' rounds, bad plans and accounts accepted, sessions that
outlived their logout."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import requests
import torch
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework.test import APIClient

from crypto import plain
from demo.embedded import free_port, portal_server
from dhportal.asgi import application
from events.models import AuditEvent
from registry import services as registry_services
from rounds.consumers import BAD_FRAME, NOT_FOUND, UNAUTHENTICATED
from rounds.models import Round, Submission
from rounds.services import collecting, lifecycle
from tests.conftest import plain_update

pytestmark = [pytest.mark.unit]

S = Round.State
NESTED = "[" * 100_000 + "]" * 100_000
ORIGIN = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


def collecting_round(consortium, **plan) -> Round:
    round_ = consortium.plan_round(**plan)
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


@pytest.mark.django_db(transaction=True)
def test_a_deeply_nested_json_body_is_refused_and_the_server_keeps_answering(consortium):
    import eth_account  # noqa: F401  (what the portal imports for the chain; it raises the recursion limit)

    assert sys.getrecursionlimit() >= 100_000  # the condition under which the C parser overflowed its stack
    with portal_server(free_port()) as url:
        answer = requests.post(
            f"{url}/api/auth/login/", data=NESTED, headers={"Content-Type": "application/json"}, timeout=60
        )
        assert answer.status_code == 400
        assert "nested deeper than 64" in answer.json()["detail"]
        assert requests.get(f"{url}/api/me/", timeout=30).status_code in (401, 403)  # still serving


def session_of(username: str, password: str) -> tuple[APIClient, str]:
    client = APIClient()
    answer = client.post("/api/auth/login/", {"username": username, "password": password}, format="json")
    assert answer.status_code == 200, answer.content
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


def socket(path: str, session: str | None = None) -> WebsocketCommunicator:
    headers = list(ORIGIN)
    if session:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def memory_channels(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_deeply_nested_websocket_frame_closes_that_socket_only(consortium, memory_channels):
    from channels.db import database_sync_to_async

    _, session = await database_sync_to_async(session_of)("coordinator", "coordinator-password")
    attacker = socket("/ws/rounds/", session)
    assert (await attacker.connect())[0]
    await attacker.send_to(text_data=NESTED)
    closed = await attacker.receive_output(timeout=30)
    assert closed == {"type": "websocket.close", "code": BAD_FRAME}
    again = socket("/ws/rounds/", session)
    assert (await again.connect())[0]  # the server answers the next connection
    await again.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_unknown_websocket_path_is_refused_cleanly(consortium, memory_channels):
    accepted, code = await socket("/ws/no-such-thing/").connect()
    assert (accepted, code) == (False, NOT_FOUND)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_the_sessions_websockets(consortium, memory_channels):
    from channels.db import database_sync_to_async

    client, session = await database_sync_to_async(session_of)("coordinator", "coordinator-password")
    watcher = socket("/ws/rounds/", session)
    assert (await watcher.connect())[0]
    answer = await database_sync_to_async(client.post)("/api/auth/logout/")
    assert answer.status_code == 204
    assert await watcher.receive_output(timeout=10) == {"type": "websocket.close", "code": UNAUTHENTICATED}
    accepted, _ = await socket("/ws/rounds/", session).connect()
    assert not accepted


def test_logging_out_with_an_api_token_revokes_it(consortium):
    client = consortium.client("coordinator")
    assert client.get("/api/me/").status_code == 200
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/me/").status_code == 401


def test_an_update_of_huge_values_is_refused_and_nothing_is_stored(consortium):
    round_ = collecting_round(consortium)
    blob = plain.encode(np.full(consortium.model.architecture.parameter_count, 1e308))
    answer = consortium.client("node_hospital-a").post(
        f"/api/node/rounds/{round_.pk}/submission/",
        {"update": io.BytesIO(blob), "num_samples": "48"},
        format="multipart",
    )
    assert answer.status_code == 400
    assert "out of range" in answer.json()["detail"]
    assert not Submission.objects.filter(round=round_).exists()


def test_a_round_stuck_in_aggregating_can_be_cancelled(consortium):
    round_ = collecting_round(consortium)
    lifecycle.transition(round_, S.AGGREGATING, "portal")
    answer = consortium.client("coordinator").post(
        f"/api/rounds/{round_.pk}/cancel/", {"reason": "aggregation hangs"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["state"] == S.CANCELLED


def test_a_hospital_admin_sees_nothing_of_rounds_it_was_not_in(consortium):
    round_ = collecting_round(consortium)  # hospitals A and B
    registry_services.store_model(
        consortium.model.architecture,
        1,
        np.zeros(consortium.model.architecture.parameter_count),
        produced_by=round_,
        metrics={"val_accuracy": 0.9, "participants": ["hospital-a", "hospital-b"], "samples": 96},
    )
    by_outsider = consortium.client("outsider").get("/api/models/").json()[-1]
    assert by_outsider["produced_by"] is None
    assert by_outsider["metrics"] == {"val_accuracy": 0.9}
    by_participant = consortium.client("admin_a").get("/api/models/").json()[-1]
    assert by_participant["produced_by"] == round_.pk
    assert by_participant["metrics"]["samples"] == 96


def test_a_plan_naming_a_hospital_twice_is_refused(consortium):
    answer = consortium.client("coordinator").post(
        "/api/rounds/",
        {
            "base_model": consortium.model.pk,
            "participants": ["hospital-a", "hospital-a", "hospital-b"],
            "quorum": 2,
            "deadline": "2099-01-01T00:00:00Z",
        },
        format="json",
    )
    assert answer.status_code == 400
    assert "repeated: hospital-a" in str(answer.json()["fields"]["participants"])
    assert not Round.objects.exists()


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("newadmin", "password", "too common"),
        ("newadmin", "12345678", "entirely numeric"),
        ("newadmin", "newadmin1", "too similar"),
        ("\u0430dmin_a", "a-long-and-good-one", "lower-case ASCII"),  # Cyrillic "a"
        ("Admin_A", "a-long-and-good-one", "lower-case ASCII"),
        ("<script>", "a-long-and-good-one", "lower-case ASCII"),
        ("new admin", "a-long-and-good-one", "lower-case ASCII"),
    ],
)
def test_weak_passwords_and_confusable_usernames_are_refused_with_the_reason(
    consortium, username, password, reason
):
    answer = consortium.client("coordinator").post(
        "/api/hospitals/",
        {"name": "Hospital New", "admin_username": username, "admin_password": password},
        format="json",
    )
    assert answer.status_code == 400, answer.content
    assert reason in answer.json()["detail"]
    assert not consortium.coordinator.__class__.objects.filter(username=username).exists()


def test_registering_a_hospital_and_rotating_its_token_are_in_the_audit_trail(consortium):
    coordinator = consortium.client("coordinator")
    created = coordinator.post(
        "/api/hospitals/",
        {"name": "Hospital D", "admin_username": "admin_d", "admin_password": "a-long-and-good-one"},
        format="json",
    )
    assert created.status_code == 201, created.content
    hospital_id = created.json()["hospital"]["id"]
    assert coordinator.post(f"/api/hospitals/{hospital_id}/node-token/").status_code == 201
    kinds = list(AuditEvent.objects.filter(round=None).values_list("kind", "detail"))
    assert ("hospital_registered", {"hospital": "hospital-d", "admin": "admin_d"}) in kinds
    assert ("node_token_rotated", {"hospital": "hospital-d"}) in kinds


def test_the_coordinator_can_aggregate_early_once_the_quorum_is_met(
    consortium, django_capture_on_commit_callbacks
):
    round_ = collecting_round(
        consortium, hospitals=[consortium.hospital_a, consortium.hospital_b, consortium.hospital_c], quorum=2
    )
    coordinator = consortium.client("coordinator")
    collecting.submit_update(consortium.hospital_a, round_.pk, [plain_update(consortium.model)], 48, {}, None)
    refused = coordinator.post(f"/api/rounds/{round_.pk}/aggregate/")
    assert refused.status_code == 409
    assert "1 of the 2 submissions" in refused.json()["detail"]
    collecting.submit_update(consortium.hospital_b, round_.pk, [plain_update(consortium.model)], 48, {}, None)
    with django_capture_on_commit_callbacks(execute=True):
        answer = coordinator.post(f"/api/rounds/{round_.pk}/aggregate/")
    assert answer.status_code == 200, answer.content
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason  # eager tasks: aggregated at once
    assert AuditEvent.objects.filter(round=round_, kind="partial").get().detail == {"missing": ["hospital-c"]}


def test_the_model_downloads_as_torchscript_that_loads_alone(consortium, tmp_path):
    answer = consortium.client("admin_a").get(f"/api/models/{consortium.model.pk}/torchscript/")
    assert answer.status_code == 200
    assert answer["Content-Disposition"] == 'attachment; filename="model-v0.pt"'
    path = tmp_path / "model.pt"
    path.write_bytes(answer.content)
    logits = torch.jit.load(str(path))(torch.rand(2, 1, 28, 28))
    assert tuple(logits.shape) == (2, 2)


def test_node_status_is_never_connected_until_the_node_calls(consortium):
    admin = consortium.client("admin_a")
    assert admin.get(f"/api/hospitals/{consortium.hospital_a.pk}/").json()["node_status"] == "never_connected"
    assert consortium.client("node_hospital-a").post("/api/node/heartbeat/").status_code == 204
    assert admin.get(f"/api/hospitals/{consortium.hospital_a.pk}/").json()["node_status"] == "online"


def test_a_participant_is_training_only_once_its_node_fetched_the_task(consortium):
    round_ = consortium.plan_round()
    node = consortium.client("node_hospital-a")
    refused = node.get(f"/api/node/rounds/{round_.pk}/")  # DRAFT: nothing published to nodes yet
    assert refused.status_code == 409 and "DRAFT" in refused.json()["detail"]
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")

    def statuses() -> dict[str, str]:
        answer = consortium.client("coordinator").get(f"/api/rounds/{round_.pk}/").json()
        return {p["hospital"]: p["status"] for p in answer["participants"]}

    assert statuses() == {"hospital-a": "invited", "hospital-b": "invited"}
    assert node.get(f"/api/node/rounds/{round_.pk}/").status_code == 200
    assert statuses() == {"hospital-a": "training", "hospital-b": "invited"}
    lifecycle.cancel_round(consortium.coordinator, round_, "test")
    assert node.get(f"/api/node/rounds/{round_.pk}/").status_code == 409
