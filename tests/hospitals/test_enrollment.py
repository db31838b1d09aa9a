"""Enrolling a hospital's node (`dh-node enroll`): a one-time code the coordinator or the hospital's admin makes,
stored hashed, spent once, expiring; it buys the node a token and registers the node's own key addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from hospitals import services
from hospitals.authentication import authenticate_token
from hospitals.models import Hospital
from hospitals.tokens import hash_token
from tests.hospitals.conftest import register

pytestmark = [pytest.mark.unit]

SIGNING, CHAIN = "0x" + "1a" * 20, "0x" + "2b" * 20


def enroll(code: str, chain: str = CHAIN, address: str = "10.0.0.7"):
    body = {"code": code, "signing_address": SIGNING, "chain_address": chain}
    return APIClient().post("/api/node/enroll/", body, format="json", REMOTE_ADDR=address)


def as_user(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {services.issue_api_token(user, 'test')}")
    return client


def test_a_code_enrolls_the_node_once_and_registers_its_own_addresses(north):
    answer = as_user(north.admin).post(f"/api/hospitals/{north.hospital.pk}/enrollment-code/")
    assert answer.status_code == 201
    code = answer.json()["code"]
    enrolled = enroll(code)
    assert enrolled.status_code == 201, enrolled.content
    body = enrolled.json()
    assert body["hospital"]["slug"] == "north-clinic" and body["poll_seconds"] > 0
    hospital = Hospital.objects.get(pk=north.hospital.pk)
    assert (hospital.signing_address, hospital.chain_address) == (SIGNING, CHAIN)
    assert authenticate_token(body["token"])[0].hospital == hospital
    with pytest.raises(Exception, match="Invalid or revoked node token"):
        authenticate_token(north.node_token)  # the token from registration stops working
    again = enroll(code)
    assert again.status_code == 403 and "already used or expired" in again.json()["detail"]


def test_the_code_is_stored_only_as_its_hash(coordinator, north):
    code, _ = services.issue_enrollment_code(coordinator, north.hospital)
    hospital = Hospital.objects.get(pk=north.hospital.pk)
    assert hospital.enrollment_code_hash == hash_token(code) and code not in hospital.enrollment_code_hash
    with connection.cursor() as cursor:  # nowhere in the hospitals table, in any column
        cursor.execute("SELECT * FROM hospitals_hospital")
        assert not any(code in str(value) for row in cursor.fetchall() for value in row)


def test_an_expired_code_and_a_replaced_code_are_refused(coordinator, north):
    old, _ = services.issue_enrollment_code(coordinator, north.hospital)
    new, expires_at = services.issue_enrollment_code(coordinator, north.hospital)
    assert enroll(old).status_code == 403  # replaced by the newer code
    Hospital.objects.filter(pk=north.hospital.pk).update(enrollment_code_expires_at=timezone.now())
    assert enroll(new).status_code == 403  # expired
    assert expires_at - timezone.now() < timedelta(hours=73)
    assert Hospital.objects.get(pk=north.hospital.pk).chain_address == ""


def test_only_the_coordinator_or_the_hospitals_admin_makes_a_code(coordinator, north, south):
    path = f"/api/hospitals/{north.hospital.pk}/enrollment-code/"
    assert as_user(coordinator).post(path).status_code == 201
    assert as_user(south.admin).post(path).status_code == 404  # another hospital's admin
    node = APIClient()
    node.credentials(HTTP_AUTHORIZATION=f"Token {north.node_token}")
    assert node.post(path).status_code == 403  # a node cannot make codes, not even its own hospital's


def test_a_bad_address_or_another_hospitals_chain_address_is_refused(coordinator, north, south):
    code, _ = services.issue_enrollment_code(coordinator, north.hospital)
    response = enroll(code, chain="0x1234")
    assert response.status_code == 400 and "chain_address" in response.json()["fields"]
    assert enroll(code).status_code == 201
    south_code, _ = services.issue_enrollment_code(coordinator, south.hospital)
    taken = enroll(south_code)
    assert taken.status_code == 409 and "another hospital" in taken.json()["detail"]
    assert Hospital.objects.get(pk=south.hospital.pk).chain_address == ""


def test_guessing_codes_is_throttled_per_address(coordinator, north):
    for _ in range(10):
        assert enroll("enroll_00000000.guess").status_code == 403
    assert enroll("enroll_00000000.guess").status_code == 429
    code, _ = services.issue_enrollment_code(coordinator, north.hospital)
    assert enroll(code).status_code == 429  # the right code too, from the guessing address
    assert enroll(code, address="10.0.0.8").status_code == 201


def test_registering_hospitals_stays_independent_of_enrollment(coordinator):
    east = register(coordinator, "East Clinic", "east_admin")
    assert east.hospital.enrollment_code_hash == "" and east.hospital.chain_address == ""
