"""Node tokens with an optional expiry: rotated with {"expires_in_days": N}, refused with 401 "node token
expired: rotate it" from then on; a rotation without it, or a revocation, clears the expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from hospitals import services
from hospitals.models import Hospital

pytestmark = [pytest.mark.unit]

NODE_PATH = "/api/node/rounds/999/"  # 404 for an authenticated node (no such round), 401 otherwise


def as_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_rotated_with_an_expiry_works_until_then_and_is_refused_after(north):
    admin = as_token(services.issue_api_token(north.admin, "ci"))
    url = f"/api/hospitals/{north.hospital.pk}/node-token/"
    rotated = admin.post(url, {"expires_in_days": 30}, format="json")
    assert rotated.status_code == 201, rotated.content
    token = rotated.json()["token"]
    expires_at = Hospital.objects.get(pk=north.hospital.pk).node_token_expires_at
    assert timedelta(days=29, hours=23) < expires_at - timezone.now() <= timedelta(days=30)
    shown = admin.get(f"/api/hospitals/{north.hospital.pk}/").json()
    assert shown["node_token_active"] is True and shown["node_token_expires_at"] is not None
    assert as_token(token).get(NODE_PATH).status_code == 404

    Hospital.objects.filter(pk=north.hospital.pk).update(
        node_token_expires_at=timezone.now() - timedelta(seconds=1)
    )
    refused = as_token(token).get(NODE_PATH)
    assert refused.status_code == 401
    assert refused.json() == {"error": "authentication_failed", "detail": "node token expired: rotate it"}
    assert admin.get(f"/api/hospitals/{north.hospital.pk}/").json()["node_token_active"] is False

    again = admin.post(url)  # no expiry: works until the next rotation
    assert again.status_code == 201
    assert Hospital.objects.get(pk=north.hospital.pk).node_token_expires_at is None
    assert as_token(again.json()["token"]).get(NODE_PATH).status_code == 404


@pytest.mark.parametrize("days", [0, -1, 3651, "7", 1.5, True])
def test_an_expiry_out_of_range_or_not_an_integer_is_refused(north, days):
    admin = as_token(services.issue_api_token(north.admin, "ci"))
    response = admin.post(
        f"/api/hospitals/{north.hospital.pk}/node-token/", {"expires_in_days": days}, format="json"
    )
    assert response.status_code == 400
    assert "expires_in_days" in response.json()["fields"]
    assert as_token(north.node_token).get(NODE_PATH).status_code == 404  # the old token still works


def test_revoking_clears_the_expiry(north):
    services.rotate_node_token(north.admin, north.hospital, expires_in_days=1)
    services.revoke_node_token(north.admin, north.hospital)
    assert Hospital.objects.get(pk=north.hospital.pk).node_token_expires_at is None
