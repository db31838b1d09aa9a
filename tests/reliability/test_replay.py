"""Every write endpoint sent twice (a client retrying after a lost answer, a double click): the second request
does nothing new, or is refused with 409; nothing is stored twice."""

from __future__ import annotations

import io
import re

import pytest

from events.models import AuditEvent
from hospitals import services as hospital_services
from hospitals.models import ApiToken, Hospital, User
from registry.models import GlobalModel
from rounds.models import Campaign, Participant, Round, Submission
from rounds.services import campaigns, collecting, lifecycle
from tests.committee.test_committee_replay import KEY_PARTY_WRITES
from tests.conftest import TINY_CONFIG, plain_update
from tests.rounds.test_permissions import endpoints

pytestmark = [pytest.mark.unit]

S = Round.State
LOGIN = {"username": "coordinator", "password": "coordinator-password"}
# What a replay must leave unchanged: the number of rows of each of these, and of live tokens.
COUNTED = (Hospital, User, GlobalModel, Round, Participant, Submission, Campaign)


def counts() -> dict[str, int]:
    rows = {model.__name__: model.objects.count() for model in COUNTED}
    rows["live api tokens"] = ApiToken.objects.filter(revoked_at__isnull=True).count()
    rows["live node tokens"] = Hospital.objects.exclude(node_token_hash="").count()
    rows["live enrollment codes"] = Hospital.objects.exclude(enrollment_code_hash="").count()
    return rows


@pytest.fixture
def world(consortium):
    """A draft round, two rounds collecting from A and B where nobody has submitted yet, the second taking
    proofs of training (only its commitments are used here), and one whose quorum of 2 is met."""
    consortium.draft = consortium.plan_round(config={"local_epochs": 2})
    consortium.collecting = consortium.plan_round()
    consortium.proving = consortium.plan_round(config={"local_epochs": 3})
    for round_ in (consortium.collecting, consortium.proving):
        for target in (S.APPROVED, S.OPEN, S.COLLECTING):
            lifecycle.transition(round_, target, "test")
    Round.objects.filter(pk=consortium.proving.pk).update(proof_scheme="groth16")
    consortium.quorate = consortium.plan_round(
        [consortium.hospital_a, consortium.hospital_b, consortium.hospital_c],
        config={"local_epochs": 4},
        quorum=2,
    )
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(consortium.quorate, target, "test")
    for hospital in (consortium.hospital_a, consortium.hospital_b):
        collecting.submit_update(
            hospital, consortium.quorate.pk, [plain_update(consortium.model)], 10, {}, None
        )
    consortium.campaign = campaigns.create_campaign(
        consortium.coordinator,
        "draft campaign",
        3,
        600,
        None,
        consortium.model,
        {**TINY_CONFIG, "local_epochs": 5},
        [consortium.hospital_a, consortium.hospital_b],
    )
    return consortium


def upload(world) -> dict:
    return {"update": io.BytesIO(plain_update(world.model)), "num_samples": 10, "metrics": "{}"}


# (method, route in dhportal/urls.py, persona, body or a function of the world making it, second answer):
# "same": the second answer is the first one's status and nothing is stored twice; 409: refused.
WRITES = [
    ("post", "api/auth/login/", "anonymous", LOGIN, "same"),
    # Logging out with an API token revokes it: the replay is refused as unauthenticated.
    ("post", "api/auth/logout/", "coordinator", None, 401),
    ("post", "api/node/heartbeat/", "node_hospital-a", None, "same"),
    # Aggregating early twice starts the same (idempotent) aggregation; the trail records the request once.
    ("post", "api/rounds/<int:round_id>/aggregate/", "coordinator", None, "same"),
    # A token of the same name replaces the first: one live token named "ci", not two.
    ("post", "api/auth/token/", "anonymous", {**LOGIN, "name": "ci"}, "same"),
    (
        "post",
        "api/hospitals/",
        "coordinator",
        {"name": "Hospital D", "admin_username": "admin_d", "admin_password": "password-d-123"},
        409,
    ),
    # Rotation: each call replaces the node token; still one live token.
    ("post", "api/hospitals/<int:hospital_id>/node-token/", "admin_a", None, "same"),
    ("delete", "api/hospitals/<int:hospital_id>/node-token/", "admin_a", None, "same"),
    # A new enrollment code replaces the unused one: still one live code.
    ("post", "api/hospitals/<int:hospital_id>/enrollment-code/", "admin_a", None, "same"),
    # An enrollment spends its code: the replay is refused and enrolls nothing.
    ("post", "api/node/enroll/", "anonymous", lambda world: enrollment(world), 403),
    ("post", "api/models/", "coordinator", {"architecture": "cnn28-d16", "num_classes": 2}, "same"),
    (
        "post",
        "api/rounds/",
        "coordinator",
        lambda world: {
            "base_model": world.model.pk,
            "participants": ["hospital-a", "hospital-b"],
            "quorum": 2,
            "deadline": "2099-01-01T00:00:00Z",
            "config": TINY_CONFIG,
        },
        409,
    ),
    ("post", "api/rounds/<int:round_id>/approve/", "coordinator", None, 409),
    (
        "post",
        "api/campaigns/",
        "coordinator",
        lambda world: {
            "name": "replayed campaign",
            "rounds": 3,
            "round_seconds": 600,
            "base_model": world.model.pk,
            "participants": ["hospital-a", "hospital-b"],
            "config": TINY_CONFIG,
        },
        409,
    ),
    ("post", "api/campaigns/<int:campaign_id>/approve/", "coordinator", None, 409),
    ("post", "api/campaigns/<int:campaign_id>/stop/", "coordinator", {"reason": "replayed"}, 409),
    ("post", "api/rounds/<int:round_id>/cancel/", "coordinator", {"reason": "replayed"}, 409),
    ("post", "api/rounds/<int:round_id>/participation/", "admin_b", {"opted_in": False}, "same"),
    ("post", "api/node/rounds/<int:round_id>/submission/", "node_hospital-a", upload, 409),
    # The same commitment again gets the same challenge (S = 8: 3 local epochs x 2 batches of 8 on n_h = 16,
    # rounded up to whole proofs of 4 steps).
    (
        "post",
        "api/node/rounds/<int:round_id>/proof/commitment/",
        "node_hospital-a",
        {"merkle_root": "12", "num_steps": 8, "num_samples": 16},
        "same",
    ),
]
# The round each route acts on, if not the plain collecting one.
ROUND_OF_ROUTE = {
    "api/rounds/<int:round_id>/approve/": "draft",
    "api/rounds/<int:round_id>/cancel/": "draft",
    "api/node/rounds/<int:round_id>/proof/commitment/": "proving",
    "api/rounds/<int:round_id>/aggregate/": "quorate",
}


def enrollment(world) -> dict:
    """A node's enrollment with a code made once per world (the replay resends the same code)."""
    if not hasattr(world, "enrollment_code"):
        world.enrollment_code, _ = hospital_services.issue_enrollment_code(
            world.coordinator, world.hospital_a
        )
    return {
        "code": world.enrollment_code,
        "signing_address": "0x" + "1" * 40,
        "chain_address": "0x" + "2" * 40,
    }


def path_of(route: str, world) -> str:
    ids = {
        "hospital_id": world.hospital_a.pk,
        "round_id": getattr(world, ROUND_OF_ROUTE.get(route, "collecting")).pk,
        "campaign_id": world.campaign.pk,
    }
    return "/" + re.sub(r"<int:(\w+)>", lambda match: str(ids[match.group(1)]), route)


@pytest.mark.parametrize(("method", "route", "persona", "body", "second"), WRITES, ids=[w[1] for w in WRITES])
def test_a_replayed_write_stores_nothing_twice(world, method, route, persona, body, second):
    client = world.client(persona)
    send_format = "multipart" if body is upload else "json"

    def send():
        data = body(world) if callable(body) else body
        return getattr(client, method)(path_of(route, world), data, format=send_format)

    first = send()
    assert first.status_code < 300, first.content[:500]
    before, events_before = counts(), AuditEvent.objects.count()
    replay = send()
    if second == "same":
        assert replay.status_code == first.status_code, replay.content[:500]
        if route.endswith("/commitment/"):
            assert replay.json() == first.json()
    else:
        assert replay.status_code == second, replay.content[:500]
        assert AuditEvent.objects.count() == events_before  # a refusal leaves no trace either
    assert counts() == before


def test_every_write_endpoint_is_replayed():
    writes = {(method, route) for method, route in endpoints() if method != "get"}
    # The key committee's writes are replayed in tests/committee/test_committee_replay.py (key-party personas);
    # a ceremony contribution, which needs a real zkey, in tests/proofs/test_ceremony.py (200, stored once).
    replayed_elsewhere = {("post", "api/node/ceremonies/<int:ceremony_id>/contribution/")}
    missing = (
        writes - {(method, route) for method, route, *_ in WRITES + KEY_PARTY_WRITES} - replayed_elsewhere
    )
    assert not missing, f"add to WRITES: {sorted(missing)}"
