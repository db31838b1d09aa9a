"""Decryption jobs, the portal's side: the parties pull them, post the opened vector or a failure; the job is done
when every party of the committee has posted the same vector for the same attempt. The parties are simulated
here (their results are made up): the MPC itself runs in tests/rounds/test_encrypted_rounds.py."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from committee import decryption
from committee.errors import CommitteeError, DecryptionInProgress, DecryptionJobConflict
from committee.models import DecryptionJob
from committee.selectors import public_context
from crypto import ckks
from crypto.tests.signed_jobs import fresh_round_id, signed_terms
from events.models import AuditEvent
from rounds.models import Round
from rounds.services import aggregating, lifecycle
from tests.conftest import encrypt_for, submit_signed

pytestmark = [pytest.mark.unit]

LENGTH = 100
S = Round.State


@pytest.fixture
def blobs(committee):
    return [encrypt_for(committee, np.full(LENGTH, 0.25)) for _ in range(2)]


@pytest.fixture
def terms(blobs):
    return signed_terms(fresh_round_id(), blobs)


@pytest.fixture
def job(committee, blobs, terms) -> DecryptionJob:
    with pytest.raises(DecryptionInProgress, match="attempt 1 with the key parties, waiting for key party 0"):
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, terms)
    return DecryptionJob.objects.get(name="round-x")


def opened(value: float = 0.5) -> np.ndarray:
    return np.full(LENGTH, value)


def test_the_job_is_done_when_every_party_posts_the_same_vector(committee, parties, blobs, job, terms):
    assert job.sum_digest == ckks.blob_digest(ckks.sum_blobs(public_context(committee), blobs))
    for party in parties[:3]:
        work = party.client().get("/api/keyparty/work/").json()
        assert work["decryptions"] == [
            {"job": job.pk, "name": "round-x", "committee": committee.pk, "attempt": 1}
        ]
        description = party.client().get(f"/api/keyparty/jobs/{job.pk}/").json()
        assert description["index"] == parties.index(party) and description["blobs"] == job.blob_digests
        assert [peer["address"] for peer in description["peers"]] == [p.party.address for p in parties[:3]]
        assert description["peers"][0]["certificate"] == parties[0].cert_pem.decode()
        for number, blob in enumerate(blobs):
            assert party.client().get(f"/api/keyparty/jobs/{job.pk}/blobs/{number}/").getvalue() == blob
        context = party.client().get(f"/api/keyparty/jobs/{job.pk}/context/").content
        assert ckks.key_id(context) == committee.key_id
    for party in parties[:2]:
        assert party.post_result(job.pk, 1, opened()).json()["state"] == "pending"
        assert party.client().get("/api/keyparty/work/").json()["decryptions"] == []  # its part is done
    with pytest.raises(DecryptionInProgress, match=r"waiting for key party 2 \(party-2\)"):
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, terms)
    assert parties[2].post_result(job.pk, 1, opened()).json()["state"] == "done"
    np.testing.assert_array_equal(
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, terms), opened()
    )
    assert parties[2].post_result(job.pk, 1, opened()).status_code == 200  # sent twice: no change


def test_results_that_differ_are_refused_and_the_attempt_fails(committee, parties, blobs, job, terms):
    assert parties[0].post_result(job.pk, 1, opened()).status_code == 200
    different = opened()
    different[7] = np.nextafter(different[7], 1.0)  # one ulp: compared exactly
    response = parties[1].post_result(job.pk, 1, different)
    assert response.status_code == 409 and "opened different results" in response.json()["detail"]
    job.refresh_from_db()
    assert job.attempt == 2 and job.state == "pending" and job.failures[-1]["party"] == 1
    stale = parties[2].post_result(job.pk, 1, opened())
    assert stale.status_code == 409 and "is over" in stale.json()["detail"]
    with pytest.raises(CommitteeError, match="attempt 1 failed: key parties opened different results"):
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, terms)


def test_a_party_outside_the_committee_sees_no_job(committee, parties, job):
    outsider = parties[3].client()
    assert outsider.get("/api/keyparty/work/").json()["decryptions"] == []
    assert outsider.get(f"/api/keyparty/jobs/{job.pk}/").status_code == 404
    assert outsider.get(f"/api/keyparty/jobs/{job.pk}/blobs/0/").status_code == 404
    assert outsider.get(f"/api/keyparty/jobs/{job.pk}/context/").status_code == 404
    assert parties[3].post_result(job.pk, 1, opened()).status_code == 404
    assert (
        outsider.post(
            f"/api/keyparty/jobs/{job.pk}/failed/", {"attempt": 1, "reason": "x"}, format="json"
        ).status_code
        == 404
    )
    job.refresh_from_db()
    assert job.results == {} and job.attempt == 1


def npy(array) -> io.BytesIO:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    buffer.seek(0)
    buffer.name = "result.npy"
    return buffer


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"vector": io.BytesIO(b"not an npy file")}, "not a .npy"),
        ({"vector": npy(np.zeros(LENGTH + 1))}, "shape"),
        ({"vector": npy(np.zeros((LENGTH, 1)))}, "shape"),
        ({"vector": npy(np.zeros(LENGTH, dtype=np.float32))}, "float64"),
        ({"vector": npy(np.full(LENGTH, np.nan))}, "not finite"),
        ({"vector": npy(np.array([{"a": 1}] * LENGTH, dtype=object))}, "not a .npy"),  # no pickles
        ({"vector": npy(np.zeros(LENGTH * 100))}, "at most"),
        ({"vector": npy(np.zeros(LENGTH)), "report": "[1]"}, "JSON object"),
        ({"vector": npy(np.zeros(LENGTH)), "attempt": "x"}, "invalid fields"),
        ({}, "invalid fields"),
    ],
    ids=["garbage", "length", "2d", "float32", "nan", "pickle", "oversize", "report", "attempt", "missing"],
)
def test_malformed_results_are_refused(committee, parties, job, fields, detail):
    body = {"attempt": "1", **fields}
    response = parties[0].client().post(f"/api/keyparty/jobs/{job.pk}/result/", body, format="multipart")
    assert response.status_code == 400 and detail in response.json()["detail"], response.content
    job.refresh_from_db()
    assert job.results == {} and job.attempt == 1


def test_a_failure_starts_the_next_attempt_a_little_later(committee, parties, blobs, job):
    client = parties[1].client()
    response = client.post(
        f"/api/keyparty/jobs/{job.pk}/failed/", {"attempt": 1, "reason": "no key share"}, format="json"
    )
    assert response.status_code == 200 and response.json()["attempt"] == 2
    job.refresh_from_db()
    reason = job.failures[-1]["reason"]
    assert reason.startswith("key party 1 (party-1) reported: no key share")
    assert "key party 0 (party-0) never fetched it" in reason
    assert parties[0].client().get("/api/keyparty/work/").json()["decryptions"] == []  # starts in 2 s
    assert parties[0].client().get(f"/api/keyparty/jobs/{job.pk}/").json()["starts_in"] > 0
    twice = client.post(
        f"/api/keyparty/jobs/{job.pk}/failed/", {"attempt": 1, "reason": "again"}, format="json"
    )
    assert twice.status_code == 409
    bad = client.post(f"/api/keyparty/jobs/{job.pk}/failed/", {"attempt": "2", "reason": "x"}, format="json")
    assert bad.status_code == 400
    DecryptionJob.objects.filter(pk=job.pk).update(attempt_started_at=timezone.now())
    assert [d["attempt"] for d in parties[0].client().get("/api/keyparty/work/").json()["decryptions"]] == [2]


def test_an_attempt_past_its_deadline_names_who_was_silent_and_the_job_expires(
    committee, parties, blobs, job, terms
):
    parties[0].client().get(f"/api/keyparty/jobs/{job.pk}/")  # party 0 fetched attempt 1, then went quiet
    DecryptionJob.objects.filter(pk=job.pk).update(attempt_deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(CommitteeError) as failed:
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, terms)
    message = str(failed.value)
    assert "attempt 1 failed: no result within" in message and "attempt 2 under way" in message
    assert "key party 0 (party-0) fetched it but posted no result" in message
    assert "key party 2 (party-2) never fetched it" in message
    DecryptionJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(CommitteeError, match="failed: no opened sum after 2 attempts, given up"):
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, terms)
    assert parties[0].client().get("/api/keyparty/work/").json()["decryptions"] == []
    assert parties[0].post_result(job.pk, 2, opened()).status_code == 409


def test_a_job_name_is_bound_to_its_ciphertexts(committee, blobs, job, terms):
    with pytest.raises(DecryptionJobConflict):
        decryption.decrypt_sum(committee, "round-x", blobs[::-1], LENGTH, terms)
    with pytest.raises(DecryptionJobConflict):
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH + 1, terms)
    with pytest.raises(DecryptionJobConflict, match="other ciphertexts, another committee, length or terms"):
        decryption.decrypt_sum(committee, "round-x", blobs, LENGTH, signed_terms(fresh_round_id(), blobs))
    assert DecryptionJob.objects.count() == 1


def test_the_portal_makes_no_job_the_key_parties_would_refuse(committee, blobs):
    """One hospital's upload alone, or one the job's signer did not sign: refused before any job exists."""
    with pytest.raises(DecryptionJobConflict, match="would refuse this job.*at least 2 hospitals"):
        decryption.decrypt_sum(
            committee, "alone", blobs[:1], LENGTH, signed_terms(fresh_round_id(), blobs[:1])
        )
    swapped = signed_terms(fresh_round_id(), blobs[::-1])
    with pytest.raises(DecryptionJobConflict, match="would refuse this job.*ciphertext 0 is not signed"):
        decryption.decrypt_sum(committee, "swapped", blobs, LENGTH, swapped)
    assert not DecryptionJob.objects.exists()


# --- the aggregation: waiting on a job neither blocks nor eats DH_DECRYPTION_TIMEOUT --------------------------


@pytest.fixture
def collected_round(consortium, committee):
    """A ckks round with both updates in (this test's transaction is never committed, so the submission's
    aggregation task is not sent: each test runs the aggregation itself)."""
    round_ = consortium.plan_round(protection_scheme="ckks")
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    length = consortium.model.architecture.parameter_count
    for hospital in (consortium.hospital_a, consortium.hospital_b):
        blob = encrypt_for(committee, np.full(length, 0.25))
        submit_signed(hospital, round_.pk, blob, 10)
    return round_


def test_eager_aggregation_cannot_wait_for_the_parties(collected_round):
    """An eager task (no worker) cannot wait: the round fails, saying the job is with the key parties."""
    aggregating.aggregate_round(collected_round.pk)
    collected_round.refresh_from_db()
    assert collected_round.state == S.FAILED
    assert "the key parties did not decrypt" in collected_round.reason
    assert f"decryption job round-{collected_round.pk}: attempt 1" in collected_round.reason


def test_waiting_for_the_parties_is_not_a_failure_until_one_fails(collected_round, parties, settings):
    round_ = collected_round
    with pytest.raises(aggregating.KeyPartiesWaiting) as waiting:  # nothing failed: look again soon, no event
        aggregating.aggregate_round(round_.pk, wait_for_key_parties=True)
    assert waiting.value.retry_in <= 5
    round_.refresh_from_db()
    assert round_.state == S.AGGREGATING and round_.reason == ""
    assert not AuditEvent.objects.filter(round=round_, kind=aggregating.KEY_PARTIES_WAITING).exists()
    job = DecryptionJob.objects.get(name=f"round-{round_.pk}")
    failed = (
        parties[2]
        .client()
        .post(
            f"/api/keyparty/jobs/{job.pk}/failed/",
            {"attempt": 1, "reason": "holds no key share"},
            format="json",
        )
    )
    assert failed.status_code == 200
    with pytest.raises(aggregating.KeyPartiesWaiting):
        aggregating.aggregate_round(round_.pk, wait_for_key_parties=True)
    round_.refresh_from_db()
    assert round_.reason.startswith("waiting for the key parties: attempt 1 failed (decryption job round-")
    assert "key party 2 (party-2) reported: holds no key share" in round_.reason
    assert AuditEvent.objects.filter(round=round_, kind=aggregating.KEY_PARTIES_WAITING).count() == 1
    settings.DH_DECRYPTION_TIMEOUT = 0  # the party stays down: the round fails, naming it
    aggregating.aggregate_round(round_.pk, wait_for_key_parties=True)
    round_.refresh_from_db()
    assert round_.state == S.FAILED and "key party 2 (party-2) reported: holds no key share" in round_.reason
