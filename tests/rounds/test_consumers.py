"""The round websocket through the full ASGI stack: origin check, session authentication, who may join which
group, and the events the portal pushes, in the order the audit trail records them."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework.test import APIClient

from dhportal.asgi import application
from events import realtime
from rounds.consumers import FORBIDDEN, UNAUTHENTICATED
from rounds.models import Round
from rounds.services import collecting, lifecycle
from tests.conftest import plain_update

pytestmark = [pytest.mark.unit, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = b"http://127.0.0.1:8000"
# Persona: (username, password), as tests/conftest.py's consortium creates them.
CREDENTIALS = {
    "coordinator": ("coordinator", "coordinator-password"),
    "admin_a": ("admin_a", "password-a-123"),
    "outsider": ("admin_c", "password-c-123"),
}
S = Round.State


@pytest.fixture(autouse=True)
def in_memory_channel_layer(settings):
    """A fresh in-memory layer per test, also in CI where REDIS_URL selects Redis."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def session_cookie(persona: str) -> str:
    """Logs in through the API, as the browser does, and returns the session id."""
    username, password = CREDENTIALS[persona]
    client = APIClient()
    answer = client.post("/api/auth/login/", {"username": username, "password": password}, format="json")
    assert answer.status_code == 200, answer.content
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def socket(path: str, session: str | None = None, origin: bytes = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    if session:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def connected(path: str, session: str) -> WebsocketCommunicator:
    communicator = socket(path, session)
    accepted, code = await communicator.connect()
    assert accepted, f"{path} refused with {code}"
    return communicator


async def refused_with(path: str, session: str | None, origin: bytes = ORIGIN) -> int | None:
    communicator = socket(path, session, origin)
    accepted, code = await communicator.connect()
    assert not accepted
    return code


@pytest.fixture
def sessions(consortium) -> dict[str, str]:
    return {name: session_cookie(name) for name in CREDENTIALS}


@pytest.fixture
def rounds(consortium) -> tuple[Round, Round]:
    """Round A+B (admin_a invited, outsider not) and round C (only the outsider's hospital)."""
    return consortium.plan_round(), consortium.plan_round([consortium.hospital_b, consortium.hospital_c])


async def test_anonymous_connection_is_closed_as_unauthenticated(consortium, rounds):
    assert await refused_with("/ws/rounds/", None) == UNAUTHENTICATED
    assert await refused_with(f"/ws/rounds/{rounds[0].pk}/", None) == UNAUTHENTICATED
    assert await refused_with("/ws/rounds/", "not-a-session") == UNAUTHENTICATED


async def test_foreign_origin_is_refused_even_with_a_valid_session(sessions):
    # A page on another site cannot ride the user's session cookie (cross-site websocket hijacking).
    await refused_with("/ws/rounds/", sessions["coordinator"], origin=b"http://evil.example")


async def test_only_the_coordinator_may_follow_all_rounds(sessions):
    communicator = await connected("/ws/rounds/", sessions["coordinator"])
    await communicator.disconnect()
    assert await refused_with("/ws/rounds/", sessions["admin_a"]) == FORBIDDEN


async def test_a_hospital_admin_may_follow_only_rounds_of_their_hospital(sessions, rounds):
    invited, other = rounds
    communicator = await connected(f"/ws/rounds/{invited.pk}/", sessions["admin_a"])
    await communicator.disconnect()
    assert await refused_with(f"/ws/rounds/{other.pk}/", sessions["admin_a"]) == FORBIDDEN
    assert await refused_with(f"/ws/rounds/{invited.pk}/", sessions["outsider"]) == FORBIDDEN
    assert await refused_with("/ws/rounds/99999/", sessions["coordinator"]) == FORBIDDEN


async def test_a_logged_out_session_no_longer_connects(consortium, rounds):
    session = await database_sync_to_async(session_cookie)("admin_a")
    communicator = await connected(f"/ws/rounds/{rounds[0].pk}/", session)
    await communicator.disconnect()

    def log_out() -> None:
        client = APIClient()
        client.cookies[settings.SESSION_COOKIE_NAME] = session
        client.post("/api/auth/logout/")

    await database_sync_to_async(log_out)()
    assert await refused_with(f"/ws/rounds/{rounds[0].pk}/", session) == UNAUTHENTICATED


async def test_sockets_join_their_group_and_leave_it_on_disconnect(sessions, rounds):
    invited, _ = rounds
    layer = get_channel_layer()
    admin = await connected(f"/ws/rounds/{invited.pk}/", sessions["admin_a"])
    coordinator = await connected("/ws/rounds/", sessions["coordinator"])
    assert len(layer.groups[realtime.round_group(invited.pk)]) == 1
    assert len(layer.groups[realtime.ROUNDS_GROUP]) == 1
    await admin.disconnect()
    await coordinator.disconnect()
    assert not layer.groups.get(realtime.round_group(invited.pk))
    assert not layer.groups.get(realtime.ROUNDS_GROUP)


async def test_each_socket_gets_the_events_of_its_rounds_only(sessions, rounds):
    invited, other = rounds
    admin = await connected(f"/ws/rounds/{invited.pk}/", sessions["admin_a"])
    coordinator = await connected("/ws/rounds/", sessions["coordinator"])

    await database_sync_to_async(lifecycle.transition)(other, S.APPROVED, "coordinator")
    await database_sync_to_async(lifecycle.transition)(invited, S.APPROVED, "coordinator")

    seen_by_coordinator = [await coordinator.receive_json_from(timeout=5) for _ in range(2)]
    assert [(e["round"], e["state"]) for e in seen_by_coordinator] == [
        (other.pk, "APPROVED"),
        (invited.pk, "APPROVED"),
    ]
    event = await admin.receive_json_from(timeout=5)
    assert (event["kind"], event["round"], event["state"], event["previous"]) == (
        "state",
        invited.pk,
        "APPROVED",
        "DRAFT",
    )
    assert await admin.receive_nothing(timeout=0.2)
    await admin.disconnect()
    await coordinator.disconnect()


async def test_a_whole_round_arrives_in_order_matching_the_audit_trail(consortium, sessions, rounds):
    round_, _ = rounds
    watcher = await connected(f"/ws/rounds/{round_.pk}/", sessions["admin_a"])
    coordinator = await connected("/ws/rounds/", sessions["coordinator"])

    def run_round() -> None:
        for state in (S.APPROVED, S.OPEN, S.COLLECTING):
            lifecycle.transition(round_, state, "portal")
        lifecycle.set_participation(consortium.admin_a, round_, consortium.hospital_a, opted_in=True)
        for hospital in (consortium.hospital_a, consortium.hospital_b):
            # The last submission triggers aggregation (Celery runs eagerly here): AGGREGATING, COMPLETED.
            collecting.submit_update(
                hospital, round_.pk, [plain_update(consortium.model, 0.01)], 48, {}, None
            )

    await database_sync_to_async(run_round)()
    expected = [
        ("state", "APPROVED"),
        ("state", "OPEN"),
        ("state", "COLLECTING"),
        ("participation", consortium.hospital_a.slug),
        ("submission", consortium.hospital_a.slug),
        ("submission", consortium.hospital_b.slug),
        ("state", "AGGREGATING"),
        ("state", "COMPLETED"),
    ]
    for communicator in (watcher, coordinator):
        events = [await communicator.receive_json_from(timeout=10) for _ in expected]
        assert [(e["kind"], e.get("state", e.get("hospital"))) for e in events] == expected
        assert all(e["round"] == round_.pk for e in events)
        sequence = [e["seq"] for e in events]
        assert sequence == list(range(sequence[0], sequence[0] + len(expected)))
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    def audit_trail() -> list[tuple[str, str]]:
        client = APIClient()
        client.force_authenticate(consortium.coordinator)
        rows = client.get(f"/api/rounds/{round_.pk}/events/").json()
        return [(row["kind"], row["to_state"] or row["detail"].get("hospital")) for row in rows]

    pushed = [(kind, value) for kind, value in expected]
    recorded = [
        row
        for row in await database_sync_to_async(audit_trail)()
        if row[0] in {"state", "participation", "submission"}
    ]
    assert recorded == pushed
