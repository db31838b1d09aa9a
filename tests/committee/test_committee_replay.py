"""Every write of the key committee's API sent twice (a retry after a lost answer, a double click): the second
does nothing new, or is refused; nothing is stored twice. tests/reliability/test_replay.py checks that every
write endpoint is replayed there or here (KEY_PARTY_WRITES)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from committee import decryption
from committee.errors import DecryptionInProgress
from committee.models import CommitteeMember, DecryptionJob, KeyCommittee, KeyParty
from crypto import keygen, partytls
from crypto.tests.signed_jobs import fresh_round_id, signed_terms
from events.models import AuditEvent
from tests.conftest import encrypt_for

pytestmark = [pytest.mark.unit]

LENGTH = 50


def counts() -> dict[str, int]:
    rows = {model.__name__: model.objects.count() for model in (KeyParty, KeyCommittee, CommitteeMember)}
    rows["live enrollment codes"] = KeyParty.objects.exclude(enrollment_code_hash="").count()
    rows["live tokens"] = KeyParty.objects.exclude(token_hash="").count()
    rows["jobs"] = DecryptionJob.objects.count()
    rows["attempts"] = sum(DecryptionJob.objects.values_list("attempt", flat=True))
    rows["commitments"] = CommitteeMember.objects.exclude(commitment="").count()
    rows["contributions"] = CommitteeMember.objects.exclude(contribution_digest="").count()
    return rows


@pytest.fixture
def world(consortium, parties, committee):
    """The active committee of parties 0-2 with a decryption job, and a committee of parties 1-3 in its key
    ceremony where every party has committed except party 1 (whose writes are replayed)."""
    blobs = [encrypt_for(committee, np.full(LENGTH, 0.5)) for _ in range(2)]
    with pytest.raises(DecryptionInProgress):
        decryption.decrypt_sum(committee, "replayed", blobs, LENGTH, signed_terms(fresh_round_id(), blobs))
    consortium.job = DecryptionJob.objects.get(name="replayed")
    consortium.parties = parties
    consortium.committee = committee
    response = consortium.client("coordinator").post(
        "/api/committees/", {"parties": [p.party.pk for p in parties[1:]]}, format="json"
    )
    consortium.keygen = KeyCommittee.objects.get(pk=response.json()["id"])
    seed = bytes.fromhex(consortium.keygen.seed)
    for party in parties[2:]:
        commitment = keygen.generate_share(party.share_dir(consortium.keygen.pk), seed)
        party.client().post(
            f"/api/keyparty/keygen/{consortium.keygen.pk}/commitment/",
            {"commitment": commitment},
            format="json",
        )
    consortium.commitment = keygen.generate_share(parties[1].share_dir(consortium.keygen.pk), seed)
    return consortium


def commitment(world) -> dict:
    return {"commitment": world.commitment}


def contribution(world) -> bytes:
    url = f"/api/keyparty/keygen/{world.keygen.pk}/commitment/"  # committed first: the reveal is what is replayed
    world.parties[1].client().post(url, {"commitment": world.commitment}, format="json")
    return (world.parties[1].share_dir(world.keygen.pk) / keygen.CONTRIBUTION_FILE).read_bytes()


def result(world) -> dict:
    buffer = io.BytesIO()
    np.save(buffer, np.full(LENGTH, 0.5))
    buffer.seek(0)
    buffer.name = "result.npy"
    return {"attempt": "1", "vector": buffer}


def enrollment(world) -> dict:
    if not hasattr(world, "code"):
        world.code = (
            world.client("coordinator")
            .post("/api/keyparties/", {"name": "Late"}, format="json")
            .json()["enrollment_code"]
        )
    return {
        "code": world.code,
        "address": "127.0.0.1:30000",
        "certificate": partytls.make_identity("late")[1].decode(),
    }


# (method, route, persona, body or a function of the world making it, second answer): as in test_replay.py.
KEY_PARTY_WRITES = [
    ("post", "api/keyparties/", "coordinator", {"name": "Replayed"}, 409),
    # A new code replaces the unused one: still one live code.
    ("post", "api/keyparties/<int:party_id>/enrollment-code/", "coordinator", None, "same"),
    # An enrollment spends its code: the replay is refused and enrolls nothing.
    ("post", "api/keyparty/enroll/", "anonymous", enrollment, 403),
    # The same committee again while the first is in its key ceremony: refused.
    (
        "post",
        "api/committees/",
        "coordinator",
        lambda world: {"parties": [p.party.pk for p in world.parties[:3]]},
        409,
    ),
    ("post", "api/keyparty/keygen/<int:committee_id>/commitment/", "keyparty", commitment, "same"),
    ("post", "api/keyparty/keygen/<int:committee_id>/contribution/", "keyparty", contribution, "same"),
    ("post", "api/keyparty/jobs/<int:job_id>/result/", "keyparty", result, "same"),
    # A failure ends the attempt: the replay names an attempt that is over.
    ("post", "api/keyparty/jobs/<int:job_id>/failed/", "keyparty", {"attempt": 1, "reason": "replayed"}, 409),
]


def path_of(route: str, world) -> str:
    ids = {"party_id": world.parties[3].party.pk, "committee_id": world.keygen.pk, "job_id": world.job.pk}
    return "/" + re.sub(r"<int:(\w+)>", lambda match: str(ids[match.group(1)]), route)


@pytest.mark.parametrize(
    ("method", "route", "persona", "body", "second"), KEY_PARTY_WRITES, ids=[w[1] for w in KEY_PARTY_WRITES]
)
def test_a_replayed_key_committee_write_stores_nothing_twice(world, method, route, persona, body, second):
    client = world.parties[1].client() if persona == "keyparty" else world.client(persona)
    data = body(world) if callable(body) else body

    def send():
        if route.endswith("/contribution/"):
            return client.post(path_of(route, world), data, content_type="application/octet-stream")
        if route.endswith("/result/"):
            data["vector"].seek(0)
            return client.post(path_of(route, world), data, format="multipart")
        return getattr(client, method)(path_of(route, world), data, format="json")

    first = send()
    assert first.status_code < 300, first.content[:500]
    before, events_before = counts(), AuditEvent.objects.count()
    replay = send()
    if second == "same":
        assert replay.status_code == first.status_code, replay.content[:500]
    else:
        assert replay.status_code == second, replay.content[:500]
        assert AuditEvent.objects.count() == events_before
    assert counts() == before
