"""Key parties: added by the coordinator, enrolled with a one-time code (stored hashed), authenticated by their
own token; committees made of enrolled parties, their dealer-free key ceremony through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from committee import services
from committee.models import KeyCommittee, KeyParty
from crypto import ckks, keygen, partytls
from events.models import AuditEvent
from tests.committee.conftest import add_party, enroll, enrolled_party, run_ceremony
from tests.rounds.test_permissions import MATRIX, IdsOfOne
from web import api_errors

pytestmark = [pytest.mark.unit]


def test_enrollment_code_is_single_use_and_stored_only_hashed(consortium, coordinator_client):
    created = add_party(coordinator_client, "Org A")
    code = created["enrollment_code"]
    party = KeyParty.objects.get(pk=created["id"])
    stored = " ".join(str(getattr(party, f.attname)) for f in KeyParty._meta.fields)
    assert code not in stored and code.split(".")[1] not in stored
    assert len(party.enrollment_code_hash) == 64
    assert not AuditEvent.objects.filter(detail__icontains=code.split(".")[1]).exists()

    _key, cert = partytls.make_identity("org-a")
    first = enroll(code, cert, "kp-a.example.org:11365")
    assert first.status_code == 201, first.content
    token = first.json()["token"]
    assert token.startswith("keyparty_") and first.json()["name"] == "Org A"
    party.refresh_from_db()
    assert party.enrolled and party.address == "kp-a.example.org:11365" and party.enrollment_code_hash == ""
    assert token not in " ".join(str(getattr(party, f.attname)) for f in KeyParty._meta.fields)

    again = enroll(code, partytls.make_identity("x")[1], "kp-a.example.org:11365")
    assert again.status_code == 403 and "already used" in again.json()["detail"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/keyparty/work/").status_code == 200


def test_an_expired_code_is_refused(consortium, coordinator_client):
    created = add_party(coordinator_client, "Org B")
    KeyParty.objects.filter(pk=created["id"]).update(
        enrollment_code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = enroll(created["enrollment_code"], partytls.make_identity("b")[1], "127.0.0.1:4000")
    assert response.status_code == 403 and "expired" in response.json()["detail"]
    assert not KeyParty.objects.get(pk=created["id"]).enrolled


def test_a_new_code_replaces_the_token_only_when_used(consortium, coordinator_client, tmp_path):
    party = enrolled_party(coordinator_client, "Org C", tmp_path, 4001)
    renewed = coordinator_client.post(f"/api/keyparties/{party.party.pk}/enrollment-code/")
    assert renewed.status_code == 201
    assert party.client().get("/api/keyparty/work/").status_code == 200  # still works
    response = enroll(renewed.json()["enrollment_code"], party.cert_pem, "127.0.0.1:4002")
    assert response.status_code == 201
    assert party.client().get("/api/keyparty/work/").status_code == 401  # replaced now
    new = APIClient()
    new.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert new.get("/api/keyparty/work/").json()["party"]["name"] == "Org C"


@pytest.mark.parametrize(
    ("address", "certificate", "detail"),
    [
        ("no-port", None, "must be host:port"),
        ("[::1]:4000", None, "must be host:port"),
        ("host:70000", None, "must be host:port"),
        ("127.0.0.1:4000", "not a certificate", "certificate refused"),
        ("127.0.0.1:4000", "leaf", "certificate refused"),
    ],
)
def test_bad_addresses_and_certificates_are_refused_and_the_code_kept(
    consortium, coordinator_client, address, certificate, detail
):
    created = add_party(coordinator_client, "Org D")
    key_pem, cert_pem = partytls.make_identity("d")
    if certificate == "leaf":  # a certificate that is not a CA: a run certificate
        certificate = partytls.issue_run_certificate(key_pem, cert_pem, 0)[1].decode().split("-----END")[0]
        certificate += "-----END CERTIFICATE-----\n"
    response = APIClient().post(
        "/api/keyparty/enroll/",
        {
            "code": created["enrollment_code"],
            "address": address,
            "certificate": certificate or cert_pem.decode(),
        },
        format="json",
    )
    assert response.status_code == 400 and detail in response.json()["detail"], response.content
    assert enroll(created["enrollment_code"], cert_pem, "127.0.0.1:4000").status_code == 201


def test_two_parties_cannot_share_a_certificate(consortium, coordinator_client, tmp_path):
    first = enrolled_party(coordinator_client, "Org E", tmp_path, 4003)
    created = add_party(coordinator_client, "Org F")
    response = enroll(created["enrollment_code"], first.cert_pem, "127.0.0.1:4004")
    assert response.status_code == 400 and "another key party" in response.json()["detail"]


def test_failed_enrollments_are_throttled(consortium, settings):
    settings.DH_LOGIN_RATE = "3/min"
    codes = [enroll("enroll_00000000.guess", partytls.make_identity("g")[1], "127.0.0.1:1").status_code]
    codes += [enroll("enroll_00000000.guess", b"x", "127.0.0.1:1").status_code for _ in range(3)]
    assert codes == [403, 400, 400, 429]


@pytest.mark.parametrize("persona", ["admin_a", "outsider", "node_hospital-a", "anonymous"])
def test_only_the_coordinator_manages_key_parties_and_committees(consortium, coordinator_client, persona):
    created = add_party(coordinator_client, "Org G")
    client = consortium.client(persona)
    expected = 401 if persona == "anonymous" else 403
    assert client.post("/api/keyparties/", {"name": "Mine"}, format="json").status_code == expected
    assert client.get("/api/keyparties/").status_code == expected
    assert client.post(f"/api/keyparties/{created['id']}/enrollment-code/").status_code == expected
    assert client.post("/api/committees/", {"parties": [1, 2, 3]}, format="json").status_code == expected
    assert client.get("/api/keyparty/work/").status_code == expected  # nor is it a key party


def test_a_key_party_token_opens_no_other_endpoint(consortium, coordinator_client, parties):
    """Every endpoint of the permission matrix, with a key party's token: only the public ones answer, and what
    any signed-in principal may read (the committee's public key and key ceremony record, the global model's weights)."""
    client = parties[0].client()
    public = {"/api/auth/login/", "/api/auth/token/", "/api/auth/logout/", "/api/schema/", "/api/docs/"}
    public |= {"/api/committees/{committee}/public-context/", "/api/committees/{committee}/contributions/"}
    public |= {"/api/models/{model}/weights/"}
    opened = []
    for method, template, body, _row in MATRIX:
        if template.startswith("/api/keyparty/") or template in public:
            continue
        path = template.format_map(IdsOfOne())  # any ids: the token is refused before a lookup
        if resolve(path).func is api_errors.api_not_found:
            continue  # a row for an endpoint that is gone (the matrix's own test says so)
        if body:
            body = {key: 1 if value == "{model}" else value for key, value in body.items()}
        response = (
            getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
        )
        if response.status_code not in (401, 403):
            opened.append(f"{method} {template} -> {response.status_code}")
    assert not opened


def test_a_committee_needs_three_enrolled_parties_with_their_own_addresses(
    consortium, coordinator_client, parties
):
    ids = [p.party.pk for p in parties]
    two = coordinator_client.post("/api/committees/", {"parties": ids[:2]}, format="json")
    assert two.status_code == 400
    twice = coordinator_client.post("/api/committees/", {"parties": [ids[0], ids[0], ids[1]]}, format="json")
    assert twice.status_code == 400 and "twice" in twice.json()["detail"]
    waiting = add_party(coordinator_client, "Not Yet")
    not_enrolled = coordinator_client.post(
        "/api/committees/", {"parties": ids[:2] + [waiting["id"]]}, format="json"
    )
    assert not_enrolled.status_code == 400 and "Not Yet" in not_enrolled.json()["detail"]
    KeyParty.objects.filter(pk=ids[2]).update(address=parties[0].party.address)
    same = coordinator_client.post("/api/committees/", {"parties": ids[:3]}, format="json")
    assert same.status_code == 400 and "same address" in same.json()["detail"]
    strings = coordinator_client.post("/api/committees/", {"parties": ["1", "2", "3"]}, format="json")
    assert strings.status_code == 400


def test_key_ceremony_through_the_api(consortium, coordinator_client, parties):
    committee = run_ceremony(coordinator_client, parties[:3])
    assert committee.state == KeyCommittee.State.ACTIVE
    record = coordinator_client.get(f"/api/committees/{committee.pk}/").json()
    assert record["state"] == "active" and all(p["committed"] and p["revealed"] for p in record["parties"])
    context = (
        consortium.client("node_hospital-a").get(f"/api/committees/{committee.pk}/public-context/").content
    )
    assert ckks.key_id(context) == committee.key_id  # refuses a context holding a secret key
    # The same joint key as combining the parties' own files: every share stayed in its party's folder.
    contributions = [(p.share_dir(committee.pk) / keygen.CONTRIBUTION_FILE).read_bytes() for p in parties[:3]]
    commitments = [keygen.commitment(c) for c in contributions]
    assert keygen.combine_public_key(bytes.fromhex(committee.seed), commitments, contributions) == context
    assert services.MIN_PARTIES == 3


def test_reveal_waits_for_every_commitment_and_must_match_it(consortium, coordinator_client, parties):
    response = coordinator_client.post(
        "/api/committees/", {"parties": [p.party.pk for p in parties[:3]]}, format="json"
    )
    committee_id, seed = response.json()["id"], bytes.fromhex(response.json()["seed"])
    first, second = parties[0], parties[1]
    commitment = keygen.generate_share(first.share_dir(committee_id), seed)
    contribution = (first.share_dir(committee_id) / keygen.CONTRIBUTION_FILE).read_bytes()
    url = f"/api/keyparty/keygen/{committee_id}/"
    assert (
        first.client().post(url + "commitment/", {"commitment": commitment}, format="json").status_code == 200
    )
    other = first.client().post(url + "commitment/", {"commitment": "0" * 64}, format="json")
    assert other.status_code == 409
    early = first.client().post(url + "contribution/", contribution, content_type="application/octet-stream")
    assert early.status_code == 409 and "committed yet" in early.json()["detail"]
    for party in parties[1:3]:
        party_commitment = keygen.generate_share(party.share_dir(committee_id), seed)
        answer = party.client().post(url + "commitment/", {"commitment": party_commitment}, format="json")
        assert answer.status_code == 200
    swapped = (second.share_dir(committee_id) / keygen.CONTRIBUTION_FILE).read_bytes()
    wrong = first.client().post(url + "contribution/", swapped, content_type="application/octet-stream")
    assert wrong.status_code == 400 and "does not match" in wrong.json()["detail"]
    garbage = first.client().post(url + "contribution/", b"\0" * 100, content_type="application/octet-stream")
    assert garbage.status_code == 400
    outsider = parties[3].client().post(url + "commitment/", {"commitment": "1" * 64}, format="json")
    assert outsider.status_code == 404
