"""Attack 4 under encryption: a hospital scales its update x100 to replace the model, in a ckks round where the
portal sees no norm. Three real key-party processes (crypto.keyparty, MPyC) compare each update's norm with the
plan's bound in MPC, from the hospital's shares of its message projections (crypto.wellformed), and refuse the
job naming the hospital before their key shares are used; a hospital that lies in those shares to look short is
refused too. Honest updates close to the bound open, and nothing of their norms is opened (only one bit each).
"""

from __future__ import annotations

import numpy as np
import pytest

from crypto import ckks, keyparty
from crypto.decryption_job import KeyLedger
from crypto.tests.signed_jobs import (
    LocalCommittee,
    fresh_round_id,
    signed_terms,
    upload_with_witness,
    write_signed_job,
)

pytestmark = [pytest.mark.mpc]

LENGTH = 3000
BOUND = 500.0  # the round plan's update_norm_bound on ||n_h * delta_h||


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


def update_of_norm(norm: float, seed: int) -> np.ndarray:
    direction = np.random.default_rng(seed).normal(size=LENGTH)
    return np.round(direction * (norm / np.linalg.norm(direction)) * 4096) / 4096  # on the update grid


@pytest.fixture(scope="module")
def honest(committee) -> tuple[list[np.ndarray], list[bytes]]:
    """Two hospitals' updates at 0.95 times the bound, as their nodes encrypt them under the plan's bound."""
    updates = [update_of_norm(0.95 * BOUND, seed) for seed in (1, 2)]
    return updates, [committee.encrypt(update, norm_bound=BOUND) for update in updates]


def refused_job(tmp_path, committee, blobs: list[bytes], match: str) -> None:
    """The parties refuse the job (exit 3) with `match` in the reason; nothing opened, no ledger charged."""
    before = [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs]
    terms = signed_terms(fresh_round_id(), blobs, norm_bound=BOUND)  # each hospital signs its own upload
    job = write_signed_job(tmp_path / "job", committee.public_context, blobs, LENGTH, terms=terms)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=match):
        keyparty.decrypt_sum(job, committee.party_dirs, timeout=120)
    assert not list(job.glob("result-party*.npy"))
    assert [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs] == before


def test_an_update_scaled_x100_is_refused_and_named(tmp_path, committee, honest) -> None:
    """Hospital-2's node ignores the plan's bound and encrypts 100 times an update at the bound: a well-formed
    encryption, refused only by its norm."""
    _, blobs = honest
    replacing = committee.encrypt(100 * update_of_norm(0.95 * BOUND, 3), norm_bound=1e9)
    refused_job(
        tmp_path,
        committee,
        [*blobs, replacing],
        r"exit 3\).*hospital-2's upload .* refused: its update's L2 norm is above the round plan's "
        r"update_norm_bound 500 \(checked by the key parties in MPC",
    )


def test_an_update_just_past_the_proven_factor_is_refused(tmp_path, committee, honest) -> None:
    """What passes is proven within 2.53 times the bound (JL's slack); 3 times is refused."""
    _, blobs = honest
    over = committee.encrypt(update_of_norm(3 * BOUND, 4), norm_bound=1e9)
    refused_job(
        tmp_path, committee, [*blobs, over], r"exit 3\).*hospital-2's upload .* update_norm_bound 500"
    )


def test_a_norm_witness_claiming_a_short_update_is_refused(tmp_path, committee, honest) -> None:
    """Hospital-2 encrypts its x100 update honestly but claims message projections of zero: the parties open the
    difference between its claimed and its real projections, which is not zero."""
    _, blobs = honest
    context = ckks.load_public_context(committee.public_context)
    ciphertexts, u = ckks.encrypt_with_randomness(context, 100 * update_of_norm(0.95 * BOUND, 5))
    lying = upload_with_witness(context.key_id, LENGTH, ciphertexts, u, committee.witness_keys)
    refused_job(
        tmp_path,
        committee,
        [*blobs, lying],
        r"exit 3\).*hospital-2's upload .* refused: ciphertext 1: the shares of its message's projections do not "
        r"add up to them",
    )


def test_honest_updates_close_to_the_bound_open_to_their_sum(tmp_path, committee, honest) -> None:
    updates, blobs = honest
    terms = signed_terms(fresh_round_id(), blobs, norm_bound=BOUND)
    job = write_signed_job(tmp_path / "job", committee.public_context, blobs, LENGTH, terms=terms)
    opened = keyparty.decrypt_sum(job, committee.party_dirs, timeout=120)
    assert np.abs(opened - (updates[0] + updates[1])).max() < 2.0**-13
