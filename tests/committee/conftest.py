"""Key parties simulated in the test process (their token, TLS identity and share folder), enrolled and taking
part in key ceremonies through the portal's API exactly as `dh-keyparty` does, but without MPyC: for the
tests of the portal's side. tests/rounds/test_encrypted_rounds.py and tests/reliability run the real services."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from rest_framework.test import APIClient

from committee.models import KeyCommittee, KeyParty
from crypto import keygen, partytls


@dataclass
class SimulatedParty:
    party: KeyParty
    token: str
    key_pem: bytes
    cert_pem: bytes
    home: Path

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.token}")
        return client

    def share_dir(self, committee_id: int) -> Path:
        return self.home / "committees" / str(committee_id)

    def post_result(self, job_id: int, attempt: int, vector: np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, vector, allow_pickle=False)
        buffer.seek(0)
        buffer.name = "result.npy"
        return self.client().post(
            f"/api/keyparty/jobs/{job_id}/result/",
            {"attempt": str(attempt), "vector": buffer, "report": "{}"},
            format="multipart",
        )


def add_party(coordinator: APIClient, name: str) -> dict:
    response = coordinator.post("/api/keyparties/", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def enroll(code: str, cert_pem: bytes, address: str):
    return APIClient().post(
        "/api/keyparty/enroll/",
        {"code": code, "address": address, "certificate": cert_pem.decode()},
        format="json",
    )


def enrolled_party(coordinator: APIClient, name: str, home: Path, port: int) -> SimulatedParty:
    created = add_party(coordinator, name)
    key_pem, cert_pem = partytls.make_identity(name)
    response = enroll(created["enrollment_code"], cert_pem, f"127.0.0.1:{port}")
    assert response.status_code == 201, response.content
    return SimulatedParty(
        KeyParty.objects.get(pk=created["id"]), response.json()["token"], key_pem, cert_pem, home
    )


def run_ceremony(coordinator: APIClient, parties: list[SimulatedParty]) -> KeyCommittee:
    """A committee of `parties` made through the API, each committing then revealing as its work says."""
    response = coordinator.post("/api/committees/", {"parties": [p.party.pk for p in parties]}, format="json")
    assert response.status_code == 201, response.content
    committee_id = response.json()["id"]
    for step in ("commit", "reveal"):
        for party in parties:
            work = party.client().get("/api/keyparty/work/").json()
            [due] = [s for s in work["keygen"] if s["committee"] == committee_id]
            assert due["step"] == step
            folder = party.share_dir(committee_id)
            if step == "commit":
                commitment = keygen.generate_share(folder, bytes.fromhex(due["seed"]))
                answer = party.client().post(
                    f"/api/keyparty/keygen/{committee_id}/commitment/",
                    {"commitment": commitment},
                    format="json",
                )
            else:
                answer = party.client().post(
                    f"/api/keyparty/keygen/{committee_id}/contribution/",
                    (folder / keygen.CONTRIBUTION_FILE).read_bytes(),
                    content_type="application/octet-stream",
                )
            assert answer.status_code == 200, answer.content
    return KeyCommittee.objects.get(pk=committee_id)


@pytest.fixture
def coordinator_client(consortium) -> APIClient:
    return consortium.client("coordinator")


@pytest.fixture
def parties(consortium, coordinator_client, tmp_path) -> list[SimulatedParty]:
    return [
        enrolled_party(coordinator_client, f"party-{n}", tmp_path / f"party-{n}", 20000 + n) for n in range(4)
    ]


@pytest.fixture
def committee(coordinator_client, parties) -> KeyCommittee:
    """An active committee of the first three parties; the fourth stays outside it."""
    return run_ceremony(coordinator_client, parties[:3])
