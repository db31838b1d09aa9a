"""What a key party checks of a job before its share goes anywhere (crypto.decryption_job): each blob signed
for the round by a distinct hospital, enough hospitals, one sum per round per key, and the smudging budget."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from crypto import ckks, decryption_job, threshold, wellformed
from crypto.decryption_job import JobTerms, KeyLedger, KeyPartyRefusal, SignedUpload
from crypto.tests.signed_jobs import (
    NORM_BOUND,
    LocalCommittee,
    fresh_round_id,
    hospital_keys,
    signed_terms,
    write_signed_job,
)

pytestmark = [pytest.mark.unit]

LENGTH = 50


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


@pytest.fixture(scope="module")
def public_context(committee) -> bytes:
    return committee.public_context


@pytest.fixture(scope="module")
def blobs(committee) -> list[bytes]:
    return [committee.encrypt(np.full(LENGTH, float(h))) for h in range(3)]


@pytest.fixture(scope="module")
def load_job(committee):
    """crypto.decryption_job.load_job as key party 0 of the committee."""
    return lambda job_dir, trusted=None: decryption_job.load_job(job_dir, committee.witness(0), trusted)


def test_a_signed_job_of_three_hospitals_is_accepted(tmp_path, public_context, blobs, load_job) -> None:
    job = load_job(write_signed_job(tmp_path / "job", public_context, blobs, LENGTH))
    assert job.hospitals == 3 and job.total.count == 1
    assert job.sum_digest == ckks.blob_digest(ckks.sum_blobs(public_context, blobs))


def test_one_hospital_alone_is_refused_whatever_the_job_says(
    tmp_path, public_context, blobs, load_job
) -> None:
    round_id = fresh_round_id()
    terms = signed_terms(round_id, blobs[:1], min_hospitals=1)
    job_dir = write_signed_job(tmp_path / "job", public_context, blobs[:1], LENGTH, terms=terms)
    with pytest.raises(KeyPartyRefusal, match="sums 1 hospital upload.*at least 2 hospitals"):
        load_job(job_dir)


def test_the_rounds_quorum_binds_too(tmp_path, public_context, blobs, load_job) -> None:
    terms = signed_terms(fresh_round_id(), blobs[:2], min_hospitals=3)
    job_dir = write_signed_job(tmp_path / "job", public_context, blobs[:2], LENGTH, terms=terms)
    with pytest.raises(KeyPartyRefusal, match="at least 3 hospitals"):
        load_job(job_dir)


def test_an_encryption_of_zero_beside_one_upload_needs_another_hospitals_signature(
    tmp_path, public_context, blobs, load_job, committee
) -> None:
    """The review's attack 2: one hospital's blob plus an encryption of zero of the portal's making. Signed by
    the same hospital's key it is a second upload of one hospital; signed by no hospital it is refused."""
    round_id = fresh_round_id()
    zero = committee.encrypt(np.zeros(LENGTH))
    victim_key, portal_key = hospital_keys(2)
    honest = signed_terms(round_id, [blobs[0]], keys=[victim_key]).submissions[0]
    # The portal signs the zero with its own key but names the victim's key as the signer.
    forged = signed_terms(round_id, [zero], keys=[portal_key]).submissions[0]
    forged = SignedUpload("hospital-9", victim_key.address, forged.num_samples, forged.signature)
    terms = JobTerms(round_id, 2, (honest, forged), NORM_BOUND)
    job_dir = write_signed_job(tmp_path / "forged", public_context, [blobs[0], zero], LENGTH, terms=terms)
    with pytest.raises(KeyPartyRefusal, match="ciphertext 1 is not signed by hospital-9's key"):
        load_job(job_dir)
    # The victim's key really signing both (a node tricked into it) is still one hospital twice.
    twice = signed_terms(round_id, [blobs[0], zero], keys=[victim_key, victim_key])
    job_dir = write_signed_job(tmp_path / "twice", public_context, [blobs[0], zero], LENGTH, terms=twice)
    with pytest.raises(KeyPartyRefusal, match="signed two ciphertexts"):
        load_job(job_dir)


def test_an_upload_signed_for_another_round_is_refused(tmp_path, public_context, blobs, load_job) -> None:
    keys = hospital_keys(3)
    old = signed_terms(fresh_round_id(), blobs, keys=keys)
    replayed = JobTerms(fresh_round_id(), 2, old.submissions, NORM_BOUND)
    job_dir = write_signed_job(tmp_path / "job", public_context, blobs, LENGTH, terms=replayed)
    with pytest.raises(KeyPartyRefusal, match="ciphertext 0 is not signed .* for round"):
        load_job(job_dir)


def test_a_blob_changed_after_signing_is_refused(
    tmp_path, public_context, blobs, load_job, committee
) -> None:
    round_id = fresh_round_id()
    terms = signed_terms(round_id, blobs)
    other = committee.encrypt(np.full(LENGTH, 7.0))
    job_dir = write_signed_job(
        tmp_path / "job", public_context, [blobs[0], blobs[1], other], LENGTH, terms=terms
    )
    with pytest.raises(KeyPartyRefusal, match="ciphertext 2 is not signed"):
        load_job(job_dir)


def test_a_job_of_the_old_format_without_signatures_is_refused(
    tmp_path, public_context, blobs, load_job
) -> None:
    job_dir = write_signed_job(tmp_path / "job", public_context, blobs, LENGTH)
    description = json.loads((job_dir / decryption_job.JOB_FILE).read_text())
    del description["submissions"]
    (job_dir / decryption_job.JOB_FILE).write_text(json.dumps(description))
    with pytest.raises(KeyPartyRefusal, match="unreadable job"):
        load_job(job_dir)


def test_a_key_opens_one_sum_per_round(tmp_path, public_context, blobs, load_job) -> None:
    """The difference attack: open the sum of 3 hospitals, then of 2 of them, and subtract. The ledger beside the
    share refuses the second sum of the round; the same sum again (a new attempt) is allowed."""
    keys = hospital_keys(3)
    round_id = fresh_round_id()
    ledger = KeyLedger(tmp_path / "share")
    ledger.path.parent.mkdir()
    three = load_job(
        write_signed_job(
            tmp_path / "three", public_context, blobs, LENGTH, terms=signed_terms(round_id, blobs, keys)
        )
    )
    two = load_job(
        write_signed_job(
            tmp_path / "two",
            public_context,
            blobs[:2],
            LENGTH,
            terms=signed_terms(round_id, blobs[:2], keys[:2]),
        )
    )
    ledger.charge(three, 1e-30)
    ledger.charge(three, 1e-30)  # the next attempt of the same job
    with pytest.raises(KeyPartyRefusal, match=f"already opened another sum of round {round_id}"):
        ledger.check_round(two)
    with pytest.raises(KeyPartyRefusal, match=f"already opened another sum of round {round_id}"):
        ledger.charge(two, 1e-30)
    assert [entry["round"] for entry in ledger.entries()] == [round_id, round_id]


def test_the_smudging_budget_is_enforced(tmp_path, public_context, blobs, load_job) -> None:
    ledger = KeyLedger(tmp_path)
    job = load_job(write_signed_job(tmp_path / "job", public_context, blobs, LENGTH))
    per_job = threshold.decryption_leakage(honest_proven(job.hospitals, job.total.count), 3)
    allowed = int(threshold.KEY_LEAKAGE_BUDGET // per_job)
    assert allowed > 100  # a one-ciphertext job is cheap; a 100k-parameter one is not (see below)
    ledger.path.write_text(
        json.dumps(
            {"decryptions": [{"round": -1, "sum_digest": "", "hospitals": 3, "leakage": per_job * allowed}]}
        )
    )
    with pytest.raises(KeyPartyRefusal, match="smudging budget is spent.*make a new key committee"):
        ledger.charge(job, per_job)


def honest_proven(hospitals: int, ciphertexts: int) -> list[list[tuple[float, float]]]:
    """The bounds honest uploads prove on average: E||R w||^2 / 30 = (128 / 30) ||w||^2."""
    factor = wellformed.JL_MEAN / wellformed.JL_LOWER
    per_ciphertext = (factor * wellformed.HONEST_U_SQUARED, factor * wellformed.HONEST_E_SQUARED)
    return [[per_ciphertext] * ciphertexts for _ in range(hospitals)]


def test_the_budget_in_figures() -> None:
    """docs/THREAT_MODEL.md's table: how many decryptions of 100k parameters (13 ciphertexts) a key serves, with
    the norms honest uploads prove (about 4.3 times their own; a crafted upload cannot prove less)."""
    assert ckks.ciphertext_count(100_000) == 13

    def decryptions(hospitals: int) -> float:
        return threshold.KEY_LEAKAGE_BUDGET / threshold.decryption_leakage(honest_proven(hospitals, 13), 3)

    assert 497 <= decryptions(3) < 498
    assert 298 <= decryptions(5) < 299
    assert 74 <= decryptions(20) < 75
    # the full-width ResNet-18 (11.2M parameters, 1365 ciphertexts) with 3 hospitals: a fifth of a key per round
    assert 0.2 < threshold.decryption_leakage(honest_proven(3, 1365), 3) / threshold.KEY_LEAKAGE_BUDGET < 0.22


def test_a_key_party_that_pins_its_hospitals_opens_only_their_uploads(
    tmp_path, public_context, blobs, load_job
) -> None:
    """The Sybil portal: it enrolls a hospital of its own and signs for it. A key party that keeps its own list
    of the hospitals' signing keys (learnt from them, not from the portal) refuses that signer."""
    keys = hospital_keys(3)
    trusted = {key.address.lower(): f"hospital-{index}" for index, key in enumerate(keys[:2])}
    made_up = signed_terms(fresh_round_id(), blobs, keys)
    job_dir = write_signed_job(tmp_path / "made-up", public_context, blobs, LENGTH, terms=made_up)
    with pytest.raises(KeyPartyRefusal, match="ciphertext 2: hospital-2's key .* is not among the hospitals"):
        load_job(job_dir, trusted)
    honest = signed_terms(fresh_round_id(), blobs[:2], keys[:2])
    job_dir = write_signed_job(tmp_path / "honest", public_context, blobs[:2], LENGTH, terms=honest)
    assert load_job(job_dir, trusted).hospitals == 2
    (tmp_path / "trusted.json").write_text(json.dumps({"hospitals": {k: v for k, v in trusted.items()}}))
    assert decryption_job.read_trusted_hospitals(tmp_path / "trusted.json") == trusted


def test_a_norm_bound_above_the_one_the_hospitals_signed_is_refused(
    tmp_path, public_context, blobs, load_job
) -> None:
    """A portal colluding with a hospital states a larger update norm bound in the job than the plan's: every
    hospital signed the plan's bound with its upload, so the job's bound is not what they signed."""
    terms = signed_terms(fresh_round_id(), blobs, norm_bound=1e5)
    raised = dataclasses.replace(terms, norm_bound=1e9)
    job_dir = write_signed_job(tmp_path / "job", public_context, blobs, LENGTH, terms=raised)
    with pytest.raises(KeyPartyRefusal, match="ciphertext 0 is not signed .* update norm bound 1e\\+09"):
        load_job(job_dir)
    assert (
        load_job(write_signed_job(tmp_path / "signed", public_context, blobs, LENGTH, terms=terms)).hospitals
        == 3
    )
