"""hospitals/api.py: API tokens issued for credentials (a resent request leaves one live token), hospitals
registered by the coordinator, node tokens rotated and revoked through the API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from hospitals import services
from hospitals.models import ApiToken, Hospital, User

pytestmark = [pytest.mark.unit]

COORDINATOR = {"username": "coordinator", "password": "coordinator-password"}


def as_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def me(token: str) -> int:
    return as_token(token).get("/api/me/").status_code


def test_the_token_endpoint_reissues_a_named_token_so_a_resent_request_leaves_one(coordinator):
    anonymous = APIClient()
    first = anonymous.post("/api/auth/token/", {**COORDINATOR, "name": "ci"}, format="json")
    assert first.status_code == 201
    second = anonymous.post("/api/auth/token/", {**COORDINATOR, "name": "ci"}, format="json")
    assert second.status_code == 201
    assert (me(first.json()["token"]), me(second.json()["token"])) == (401, 200)
    assert ApiToken.objects.filter(user=coordinator, name="ci", revoked_at__isnull=True).count() == 1
    # Without a name the token is called "automation", and it leaves the "ci" token working.
    default = anonymous.post("/api/auth/token/", COORDINATOR, format="json")
    assert default.status_code == 201 and me(second.json()["token"]) == 200
    assert ApiToken.objects.get(prefix=default.json()["token"].partition(".")[0]).name == "automation"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "coordinator", "password": "wrong-password"},
        {"username": "nobody", "password": "coordinator-password"},
    ],
)
def test_wrong_credentials_get_no_token(coordinator, body):
    response = APIClient().post("/api/auth/token/", {**body, "name": "ci"}, format="json")
    assert response.status_code == 403 and response.json()["detail"] == "Wrong username or password"
    assert not ApiToken.objects.exists()


def test_the_coordinator_registers_a_hospital_whose_node_token_is_shown_once(coordinator):
    client = as_token(services.issue_api_token(coordinator, "ci"))
    body = {"name": "East Clinic", "admin_username": "east_admin", "admin_password": "password-123"}
    response = client.post("/api/hospitals/", body, format="json")
    assert response.status_code == 201
    created = response.json()
    assert created["hospital"]["slug"] == "east-clinic"
    assert created["hospital"]["node_token_active"] is True and created["hospital"]["node_online"] is False
    node_token = created["node_token"]
    assert as_token(node_token).get("/api/node/rounds/999/").status_code == 404  # authenticated node
    # Afterwards the token is nowhere in what the API shows.
    shown = client.get(f"/api/hospitals/{created['hospital']['id']}/").content.decode()
    assert node_token not in shown and node_token.partition(".")[2] not in shown
    # Registering it again is a conflict.
    again = client.post("/api/hospitals/", body, format="json")
    assert again.status_code == 409 and Hospital.objects.filter(slug="east-clinic").count() == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "East", "admin_username": "e", "admin_password": "short"}, "admin_password"),
        ({"name": "East", "admin_password": "password-123"}, "admin_username"),
        ({"name": "E" * 201, "admin_username": "e", "admin_password": "password-123"}, "name"),
    ],
)
def test_an_invalid_registration_names_the_field_and_creates_nothing(coordinator, body, field):
    client = as_token(services.issue_api_token(coordinator, "ci"))
    response = client.post("/api/hospitals/", body, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]
    assert not Hospital.objects.exists() and User.objects.count() == 1


def test_a_hospital_admin_rotates_and_revokes_its_node_token_through_the_api(north):
    admin = as_token(services.issue_api_token(north.admin, "ci"))
    url = f"/api/hospitals/{north.hospital.pk}/node-token/"
    rotated = admin.post(url)
    assert rotated.status_code == 201
    new_token = rotated.json()["token"]
    node = "/api/node/rounds/999/"
    assert as_token(north.node_token).get(node).status_code == 401
    assert as_token(new_token).get(node).status_code == 404
    assert admin.get(f"/api/hospitals/{north.hospital.pk}/").json()["node_token_active"] is True
    assert admin.delete(url).status_code == 204
    assert as_token(new_token).get(node).status_code == 401
    assert admin.get(f"/api/hospitals/{north.hospital.pk}/").json()["node_token_active"] is False


def test_an_admin_cannot_touch_another_hospitals_node_token(north, south):
    admin = as_token(services.issue_api_token(south.admin, "ci"))
    url = f"/api/hospitals/{north.hospital.pk}/node-token/"
    assert admin.post(url).status_code == 404  # not visible to south's admin
    assert admin.delete(url).status_code == 404
    assert as_token(north.node_token).get("/api/node/rounds/999/").status_code == 404  # still valid


def test_a_node_token_cannot_rotate_node_tokens(north):
    url = f"/api/hospitals/{north.hospital.pk}/node-token/"
    assert as_token(north.node_token).post(url).status_code == 403
    assert as_token(north.node_token).get("/api/node/rounds/999/").status_code == 404
