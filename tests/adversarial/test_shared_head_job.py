"""Attacks 7 and 8 under encryption: each hospital's proven head (what its proof of training ends at) leaves the
hospital only as shares sealed to the key parties inside its encrypted upload. Three real key-party processes
(crypto.keyparty, MPyC) hash every shared head in MPC, compare the digest with the commitment the proof ends at,
and open only the exact weighted sum of the heads. A hospital that shares another head than the one it proved is
refused and named before any key share is used (so the round can go on without it), and nothing of an honest
hospital's head is opened but its part of the sum."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crypto import keyparty
from crypto.decryption_job import KeyLedger, split_result
from crypto.tests.signed_jobs import LocalCommittee, fresh_round_id, signed_terms, write_signed_job

pytestmark = [pytest.mark.mpc]

LENGTH = 3000
HEAD_SIZE = 34  # 2 classes x 16 features, 2 biases
COUNTS = [120, 340, 75]


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


def head(seed: int) -> list[int]:
    return [int(v) for v in np.random.default_rng(seed).integers(-(2**23), 2**23, size=HEAD_SIZE)]


def updates() -> list[np.ndarray]:
    return [np.round(np.random.default_rng(10 + i).normal(size=LENGTH) * 4096) / 4096 for i in range(3)]


def test_the_parties_open_the_exact_weighted_sum_of_the_proven_heads(tmp_path, committee) -> None:
    heads = [head(seed) for seed in (1, 2, 3)]
    vectors = updates()
    blobs = [committee.encrypt(v, head=h) for v, h in zip(vectors, heads, strict=True)]
    terms = signed_terms(fresh_round_id(), blobs, counts=COUNTS, proven_heads=heads)
    job = write_signed_job(tmp_path / "job", committee.public_context, blobs, LENGTH, terms=terms)
    opened_sum, weighted_heads = split_result(
        keyparty.decrypt_sum(job, committee.party_dirs, timeout=120), LENGTH
    )
    assert np.abs(opened_sum - sum(vectors)).max() < 2.0**-13
    expected = [sum(n * h[i] for n, h in zip(COUNTS, heads, strict=True)) for i in range(HEAD_SIZE)]
    assert weighted_heads.tolist() == expected
    # What each party logged and reported holds no head: only the sum above was opened.
    for index in range(3):
        report = (job / f"report-party{index}.json").read_text() + (job / f"party{index}.log").read_text()
        assert not any(str(value) in report for value in heads[0] if abs(value) > 10**5)


def test_a_hospital_sharing_another_head_than_it_proved_is_refused_and_named(tmp_path, committee) -> None:
    """Hospital-1 proves one head (its commitment is that head's hash) and puts another in its upload, as one
    would to have an unproven head averaged in: the digest opened in MPC is not its commitment."""
    proven = [head(seed) for seed in (4, 5, 6)]
    shared = [proven[0], head(7), proven[2]]
    blobs = [committee.encrypt(v, head=h) for v, h in zip(updates(), shared, strict=True)]
    before = [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs]
    terms = signed_terms(fresh_round_id(), blobs, counts=COUNTS, proven_heads=proven)
    job = write_signed_job(tmp_path / "job", committee.public_context, blobs, LENGTH, terms=terms)
    with pytest.raises(
        keyparty.ThresholdDecryptionError,
        match=r"exit 3\).*hospital-1's upload .* refused: the head it shares with the key parties is not the head "
        r"its proof of training ends at",
    ):
        keyparty.decrypt_sum(job, committee.party_dirs, timeout=120)
    assert not list(job.glob("result-party*.npy"))
    assert [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs] == before
    assert json.loads((job / keyparty.refused_upload_file(0)).read_text()) == {"upload": 1}
