"""The permission matrix: every endpoint against every persona.

Personas: coordinator; admin_a and admin_b (hospitals invited to the round); outsider (admin of hospital C,
not invited); anonymous; node_hospital-a (hospital A's node token).
"""

import pytest
from django.urls import URLPattern, URLResolver, resolve

from committee import services as committee_services
from committee.models import KeyCommittee
from dhportal import urls
from registry import blobstore
from rounds.models import Campaign, Round
from rounds.services import campaigns, collecting, lifecycle
from tests.conftest import plain_update
from web import api_errors

pytestmark = [pytest.mark.unit]

PERSONAS = ["coordinator", "admin_a", "admin_b", "outsider", "anonymous", "node_hospital-a"]
S = Round.State


@pytest.fixture
def world(consortium):
    """A round collecting from A and B, with one submission from each."""
    round_ = consortium.plan_round()
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    for slug in ("hospital-a", "hospital-b"):
        hospital = getattr(consortium, f"hospital_{slug[-1]}")
        collecting.submit_update(hospital, round_.pk, [plain_update(consortium.model)], 10, {}, None)
    consortium.round = round_
    consortium.committee = KeyCommittee.objects.create(
        state=KeyCommittee.State.ACTIVE,
        seed="00",
        key_id="k" * 64,
        public_context_digest=blobstore.put_bytes(b"public context"),
    )
    consortium.keyparty, _code, _expiry = committee_services.create_key_party(
        consortium.coordinator, "Party One"
    )
    return consortium


def expect(row: str) -> dict[str, int]:
    return dict(zip(PERSONAS, (int(code) for code in row.split()), strict=True))


# (method, path template, body, expected status per persona in PERSONAS order)
COORDINATOR_LOGIN = {"username": "coordinator", "password": "coordinator-password"}
COMMITMENT = {"merkle_root": "1", "num_steps": 2, "num_samples": 16}
MATRIX = [
    # Logging in and issuing a token need only the credentials, whoever sends them.
    ("post", "/api/auth/login/", COORDINATOR_LOGIN, "200 200 200 200 200 200"),
    ("post", "/api/auth/token/", {**COORDINATOR_LOGIN, "name": "matrix"}, "201 201 201 201 201 201"),
    ("post", "/api/auth/logout/", None, "204 204 204 204 204 204"),
    ("get", "/api/me/", None, "200 200 200 200 401 403"),
    ("get", "/api/hospitals/", None, "200 200 200 200 401 403"),
    ("get", "/api/hospitals/{a}/", None, "200 200 404 404 401 403"),
    ("get", "/api/hospitals/{b}/", None, "200 404 200 404 401 403"),
    (
        "post",
        "/api/hospitals/",
        {"name": "New", "admin_username": "new_admin", "admin_password": "a-long-and-good-one"},
        "201 403 403 403 401 403",
    ),
    ("post", "/api/hospitals/{a}/node-token/", None, "201 201 404 404 401 403"),
    ("delete", "/api/hospitals/{a}/node-token/", None, "204 204 404 404 401 403"),
    ("post", "/api/hospitals/{a}/enrollment-code/", None, "201 201 404 404 401 403"),
    # No token yet: the code is the credential; a made-up one is refused to everyone alike.
    (
        "post",
        "/api/node/enroll/",
        {"code": "enroll_0.x", "signing_address": "0x" + "1" * 40, "chain_address": "0x" + "2" * 40},
        "403 403 403 403 403 403",
    ),
    ("get", "/api/node/work/", None, "403 403 403 403 401 200"),
    # Trusted-setup ceremonies: nodes only (tests/proofs covers a contributor's and an outsider's node).
    ("get", "/api/node/ceremonies/{ceremony}/", None, "403 403 403 403 401 404"),
    ("get", "/api/node/ceremonies/{ceremony}/zkey/", None, "403 403 403 403 401 404"),
    ("post", "/api/node/ceremonies/{ceremony}/contribution/", {}, "403 403 403 403 401 415"),
    ("get", "/api/hospitals/{a}/submissions/", None, "200 200 404 404 401 403"),
    ("get", "/api/architectures/", None, "200 200 200 200 401 403"),
    ("get", "/api/models/", None, "200 200 200 200 401 403"),
    ("post", "/api/models/", {"architecture": "cnn28-d16", "num_classes": 3}, "201 403 403 403 401 403"),
    ("get", "/api/models/{model}/weights/", None, "200 200 200 200 401 200"),
    ("get", "/api/models/{model}/torchscript/", None, "200 200 200 200 401 403"),
    ("post", "/api/node/heartbeat/", None, "403 403 403 403 401 204"),
    ("get", "/api/committees/{committee}/public-context/", None, "200 200 200 200 401 200"),
    ("get", "/api/committees/{committee}/contributions/", None, "200 200 200 200 401 200"),
    # The key committee: the coordinator manages key parties and committees; key parties (tests/committee) use
    # /api/keyparty/..., which no persona here may (an enrollment with a made-up certificate is refused).
    ("get", "/api/committees/", None, "200 403 403 403 401 403"),
    ("post", "/api/committees/", {"parties": [1, 2, 3]}, "400 403 403 403 401 403"),
    ("get", "/api/committees/{committee}/", None, "200 403 403 403 401 403"),
    ("get", "/api/keyparties/", None, "200 403 403 403 401 403"),
    ("post", "/api/keyparties/", {"name": "Party Two"}, "201 403 403 403 401 403"),
    ("post", "/api/keyparties/{keyparty}/enrollment-code/", None, "201 403 403 403 401 403"),
    (
        "post",
        "/api/keyparty/enroll/",
        {"code": "enroll_0.x", "address": "127.0.0.1:1", "certificate": "x"},
        "400 400 400 400 400 400",
    ),
    ("get", "/api/keyparty/work/", None, "403 403 403 403 401 403"),
    (
        "post",
        "/api/keyparty/keygen/{committee}/commitment/",
        {"commitment": "0" * 64},
        "403 403 403 403 401 403",
    ),
    ("post", "/api/keyparty/keygen/{committee}/contribution/", None, "403 403 403 403 401 403"),
    ("get", "/api/keyparty/jobs/{job}/", None, "403 403 403 403 401 403"),
    ("get", "/api/keyparty/jobs/{job}/blobs/0/", None, "403 403 403 403 401 403"),
    ("get", "/api/keyparty/jobs/{job}/context/", None, "403 403 403 403 401 403"),
    ("post", "/api/keyparty/jobs/{job}/result/", None, "403 403 403 403 401 403"),
    ("post", "/api/keyparty/jobs/{job}/failed/", {"attempt": 1, "reason": "x"}, "403 403 403 403 401 403"),
    ("get", "/api/rounds/", None, "200 200 200 200 401 403"),
    ("get", "/api/rounds/plan-options/", None, "200 403 403 403 401 403"),
    (
        "post",
        "/api/rounds/",
        {
            "base_model": "{model}",
            "participants": ["hospital-a", "hospital-b"],
            "quorum": 2,
            "deadline": "2099-01-01T00:00Z",
        },
        "201 403 403 403 401 403",
    ),
    # Campaigns: the coordinator plans, approves and stops them; a hospital admin sees those of its hospital.
    ("get", "/api/campaigns/", None, "200 200 200 200 401 403"),
    (
        "post",
        "/api/campaigns/",
        {
            "name": "matrix",
            "rounds": 2,
            "round_seconds": 600,
            "base_model": "{model}",
            "participants": ["hospital-a", "hospital-b"],
        },
        "201 403 403 403 401 403",
    ),
    ("get", "/api/campaigns/{campaign}/", None, "200 200 200 404 401 403"),
    ("post", "/api/campaigns/{campaign}/approve/", None, "200 403 403 403 401 403"),
    ("post", "/api/campaigns/{campaign}/stop/", {"reason": "test"}, "200 403 403 403 401 403"),
    ("get", "/api/rounds/{round}/", None, "200 200 200 403 401 403"),
    ("get", "/api/rounds/{round}/submissions/", None, "200 200 200 403 401 403"),
    ("get", "/api/rounds/{round}/events/", None, "200 200 200 403 401 403"),
    ("get", "/api/rounds/{round}/proofs/", None, "200 200 200 403 401 403"),
    ("get", "/api/rounds/{round}/audit/", None, "409 409 409 403 401 403"),  # DH_CHAIN=off: nothing to audit
    ("get", "/api/events/", None, "200 403 403 403 401 403"),
    ("post", "/api/rounds/{round}/participation/", {"opted_in": True}, "400 409 409 403 401 403"),
    ("post", "/api/rounds/{round}/cancel/", {"reason": "test"}, "200 403 403 403 401 403"),
    ("post", "/api/rounds/{round}/aggregate/", None, "200 403 403 403 401 403"),
    ("post", "/api/rounds/{round}/approve/", None, "409 403 403 403 401 403"),
    ("get", "/api/node/rounds/{round}/", None, "403 403 403 403 401 200"),
    ("post", "/api/node/rounds/{round}/submission/", {}, "403 403 403 403 401 415"),  # JSON: not multipart
    # The round takes no proof of training: the node's commitment is refused, and there is no proving key.
    ("post", "/api/node/rounds/{round}/proof/commitment/", COMMITMENT, "403 403 403 403 401 409"),
    ("get", "/api/node/rounds/{round}/proof/zkey/", None, "403 403 403 403 401 404"),
    ("get", "/api/schema/", None, "200 200 200 200 200 200"),  # the API description is public
    ("get", "/api/docs/", None, "200 200 200 200 200 200"),  # and so is its browsable form (Swagger UI)
]


def draft_campaign(world) -> Campaign:
    return campaigns.create_campaign(
        world.coordinator, "draft", 2, 600, None, world.model, {}, [world.hospital_a, world.hospital_b]
    )


@pytest.mark.parametrize(
    ("method", "template", "body", "row"), MATRIX, ids=[m[1] + " " + m[0] for m in MATRIX]
)
@pytest.mark.parametrize("persona", PERSONAS)
def test_permission_matrix(world, method, template, body, row, persona):
    ids = {
        "a": world.hospital_a.pk,
        "b": world.hospital_b.pk,
        "model": world.model.pk,
        "round": world.round.pk,
        "committee": world.committee.pk,
        "keyparty": world.keyparty.pk,
        "job": 1,  # no job: every persona here is refused before it is looked up
        "ceremony": 1,  # no ceremony: people are refused before it is looked up, a node gets 404
        # A draft campaign of A and B, made only for its rows (its round would show in the rounds' lists).
        "campaign": draft_campaign(world).pk if "{campaign}" in template else 0,
    }
    path = template.format(**ids)
    if body:  # "{model}" in a body: the model's id
        body = {key: ids["model"] if value == "{model}" else value for key, value in body.items()}
    client = world.client(persona)
    response = (
        getattr(client, method)(path, body, format="json")
        if body is not None
        else getattr(client, method)(path)
    )
    assert response.status_code == expect(row)[persona], response.content[:300]


# Outside /api/ (not in MATRIX, as the /health/ probes): /metrics answers only the operator's Prometheus, whose
# bearer token (DH_METRICS_TOKEN) no persona holds; with no token configured it does not exist.
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("token", "status"), [("operator-token", 401), ("", 404)])
def test_metrics_answer_no_persona(world, settings, persona, token, status):
    settings.DH_METRICS_TOKEN = token
    assert world.client(persona).get("/metrics").status_code == status
    operator = world.client("anonymous")
    operator.credentials(HTTP_AUTHORIZATION="Bearer operator-token")
    assert operator.get("/metrics").status_code == (200 if token else 404)


def test_hospital_admin_sees_only_own_submissions(world):
    for persona, slug in (("admin_a", "hospital-a"), ("admin_b", "hospital-b")):
        rows = world.client(persona).get(f"/api/rounds/{world.round.pk}/submissions/").json()
        assert [row["hospital"] for row in rows] == [slug]
    rows = world.client("coordinator").get(f"/api/rounds/{world.round.pk}/submissions/").json()
    assert sorted(row["hospital"] for row in rows) == ["hospital-a", "hospital-b"]


def test_hospital_list_shows_admins_only_their_hospital(world):
    assert [h["slug"] for h in world.client("admin_a").get("/api/hospitals/").json()] == ["hospital-a"]
    assert len(world.client("coordinator").get("/api/hospitals/").json()) == 3


def test_outsider_does_not_see_rounds_it_is_not_invited_to(world):
    assert world.client("outsider").get("/api/rounds/").json() == []
    assert [r["id"] for r in world.client("admin_a").get("/api/rounds/").json()] == [world.round.pk]


def test_rotated_node_token_replaces_the_old_one(world):
    old_client = world.client("node_hospital-a")
    response = world.client("admin_a").post(f"/api/hospitals/{world.hospital_a.pk}/node-token/")
    assert response.status_code == 201
    assert old_client.get(f"/api/node/rounds/{world.round.pk}/").status_code == 401
    new_client = world.client("anonymous")
    new_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert new_client.get(f"/api/node/rounds/{world.round.pk}/").status_code == 200


def test_node_tokens_are_stored_hashed(world):
    world.hospital_a.refresh_from_db()
    token = world.node_tokens["hospital-a"]
    assert token not in world.hospital_a.node_token_hash
    assert len(world.hospital_a.node_token_hash) == 64


def endpoints(patterns=urls.urlpatterns, prefix: str = "") -> set[tuple[str, str]]:
    """(method, route) of every API view in dhportal/urls.py, e.g. ("post", "api/rounds/<int:round_id>/approve/")."""
    found = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if str(pattern.pattern) == "api/":
                found |= endpoints(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.callback is not api_errors.api_not_found:
            view = getattr(pattern.callback, "view_class", None)
            for method in ("get", "post", "put", "patch", "delete"):
                if view is not None and hasattr(view, method):
                    found.add((method, prefix + str(pattern.pattern)))
    return found


def test_every_endpoint_is_in_the_matrix():
    covered = {(method, resolve(template.format_map(IdsOfOne())).route) for method, template, *_ in MATRIX}
    missing = endpoints() - covered
    assert not missing, f"add rows to MATRIX for {sorted(missing)}"


class IdsOfOne(dict):
    def __missing__(self, key: str) -> int:
        return 1
