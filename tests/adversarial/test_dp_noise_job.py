"""Differential privacy, distributed, at the key parties: three real key-party processes (crypto.keyparty, MPyC)
each add their own Gaussian noise to the sum of updates inside the MPC, so the sum is never opened without it and
no party (nor the portal) learns the noise or the sum before it. The noise level is what every hospital signed:
a portal that asks for less noise than they signed for (to see the sum bare) is refused."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from crypto import keyparty, threshold
from crypto.decryption_job import KeyLedger
from crypto.tests.signed_jobs import LocalCommittee, fresh_round_id, signed_terms, write_signed_job

pytestmark = [pytest.mark.mpc]

LENGTH = 3000
STD = 40.0  # the std of the noise the opened sum must carry, as the hospitals signed it


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


@pytest.fixture(scope="module")
def uploads(committee) -> tuple[np.ndarray, list[bytes]]:
    updates = [np.round(np.random.default_rng(i).normal(size=LENGTH) * 4096) / 4096 for i in range(3)]
    return sum(updates), [committee.encrypt(update) for update in updates]


def test_the_parties_open_the_sum_only_with_their_noise_inside(tmp_path, committee, uploads) -> None:
    exact, blobs = uploads
    terms = signed_terms(fresh_round_id(), blobs, dp_noise_std=STD)
    job = write_signed_job(tmp_path / "job", committee.public_context, blobs, LENGTH, terms=terms)
    opened = keyparty.decrypt_sum(job, committee.party_dirs, timeout=120)
    noise = opened - exact
    # Each of the 3 parties adds std STD / sqrt(2), so that the 2 outside a colluding one carry STD alone.
    expected = threshold.party_noise_std(STD, 3) * np.sqrt(3)
    assert abs(noise.std() / expected - 1) < 0.1
    assert abs(noise.mean()) < 5 * expected / np.sqrt(LENGTH)
    # Nothing the parties leave holds the sum before the noise or a party's noise: the results are the noisy sum,
    # the reports figures, the logs words.
    written = sorted(
        path.name for path in job.iterdir() if path.name.startswith(("result", "report", "party"))
    )
    assert written == [f"{kind}{i}{suffix}" for kind, suffix in (("party", ".log"), ("report-party", ".json"),
                       ("result-party", ".npy")) for i in range(3)]  # fmt: skip
    for index in range(3):
        assert np.array_equal(np.load(job / f"result-party{index}.npy")[:LENGTH], opened)
        report = json.loads((job / f"report-party{index}.json").read_text())
        assert all(not isinstance(value, list) for value in report.values())
        log = (job / f"party{index}.log").read_text()
        assert not any(f"{value:.6f}" in log for value in exact[:50])


def test_a_job_asking_for_less_noise_than_the_hospitals_signed_is_refused(
    tmp_path, committee, uploads
) -> None:
    _, blobs = uploads
    before = [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs]
    signed = signed_terms(fresh_round_id(), blobs, dp_noise_std=STD)
    for lowered in (0.0, STD / 100):
        terms = replace(signed, dp_noise_std=lowered)
        job = write_signed_job(
            tmp_path / f"job-{lowered}", committee.public_context, blobs, LENGTH, terms=terms
        )
        with pytest.raises(
            keyparty.ThresholdDecryptionError, match="a bound or noise level the hospitals did not sign"
        ):
            keyparty.decrypt_sum(job, committee.party_dirs, timeout=120)
        assert not list(job.glob("result-party*.npy"))
    assert [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs] == before
