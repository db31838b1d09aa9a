"""Ciphertexts proven well formed (crypto.wellformed): the parties' projections of an honest upload pass and
open nothing but the sum, and its message projections show its norm within the plan's bound; an update scaled
x100, or a norm witness that does not match the ciphertexts, does not pass. (In process, summing the parties'
shares in the clear: tests/adversarial/test_model_replacement_job.py runs the real parties and their MPC.)"""

from __future__ import annotations

import numpy as np
import pytest

from crypto import ckks, decryption_job, keygen, threshold, wellformed
from crypto.tests.signed_jobs import LocalCommittee, upload_with_witness
from crypto.zk.poseidon import FIELD_PRIME

pytestmark = [pytest.mark.unit]

LENGTH = 10_000  # two ciphertexts


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


def opened(committee: LocalCommittee, blob: bytes) -> tuple[wellformed.ProjectionNorms, int]:
    """What the parties find together for one blob: the opened projections (the sum of every party's share) and
    ||v||^2 for the message projections v (the sum of their integer shares: in MPC, only its comparison)."""
    parsed = ckks.parse_blob(committee.public_context, blob, LENGTH, ckks.blob_size(LENGTH))
    primes = ckks.data_primes()[None, None, :, None]
    total, v = 0, 0
    for index in range(len(committee.party_dirs)):
        projections, norm_share = decryption_job.witness_shares("blob", parsed, committee.witness(index))
        total, v = (total + projections) % primes, v + norm_share.projections
    return wellformed.ProjectionNorms.of(wellformed.lift(total)), int(
        sum(int(x) * int(x) for x in v.reshape(-1))
    )


def threshold_for(bound: float) -> int:
    return wellformed.message_norm_threshold(bound, ckks.ciphertext_count(LENGTH))


def test_an_honest_upload_passes_and_decrypts_to_its_values(committee) -> None:
    values = np.round(np.random.default_rng(1).normal(scale=100.0, size=LENGTH) * 4096) / 4096
    blob = committee.encrypt(values)
    norms, v_squared = opened(committee, blob)
    assert norms.refusal() == "" and norms.matched == (True, True)
    # The message projections show the update's norm: about 128 * 2 Delta^2 ||z||^2 / N.
    honest = wellformed.JL_MEAN * 2 * ckks.SCALE**2 * float(np.sum(values**2)) / ckks.POLY_MODULUS_DEGREE
    assert 0.7 < v_squared / honest < 1.3
    norm = float(np.linalg.norm(values))
    assert v_squared <= threshold_for(norm) and v_squared > threshold_for(norm / 2)
    # The opened projections are the honest ones: about 128 ||u||^2 and 128 ||e1||^2.
    for u_squared, e_squared in zip(norms.u_squared, norms.e_squared, strict=True):
        assert 0.7 < u_squared / (wellformed.JL_MEAN * wellformed.HONEST_U_SQUARED) < 1.3
        assert 0.6 < e_squared / (wellformed.JL_MEAN * wellformed.HONEST_E_SQUARED) < 1.3
    parsed = ckks.parse_blob(committee.public_context, blob, LENGTH)
    total = None
    for index, party_dir in enumerate(committee.party_dirs):
        share = threshold.partial_decryption(
            keygen.load_secret_share(party_dir), parsed.ciphertexts, index == 0
        )
        total = share if total is None else (total + share) % ckks.data_primes()[:, None]
    assert np.abs(threshold.decode(total, LENGTH) - values).max() < 1e-9


def test_an_update_scaled_x100_is_far_above_the_bound_its_honest_version_meets(committee) -> None:
    """Model replacement: the hospital's own node refuses to encrypt it under the plan's bound; a node modified
    to ignore the bound makes a well-formed upload whose message projections are above the threshold."""
    values = np.random.default_rng(2).normal(scale=10.0, size=LENGTH)
    bound = 1.05 * float(np.linalg.norm(values))
    with pytest.raises(wellformed.UpdateOverBound, match="above the round plan's update_norm_bound"):
        committee.encrypt(100 * values, norm_bound=bound)
    norms, v_squared = opened(committee, committee.encrypt(100 * values, norm_bound=1e9))
    assert norms.refusal() == ""  # a well-formed encryption: only its norm gives it away
    assert v_squared > 1000 * threshold_for(bound)
    # Proven: ||z|| <= PROVEN_NORM_FACTOR * bound for whatever passes; x100 is far outside.
    assert wellformed.PROVEN_NORM_FACTOR < 3


def test_a_norm_witness_that_does_not_match_the_ciphertexts_is_refused(committee) -> None:
    """The hospital claims message projections of zero (or a tenth of the true ones) for its update."""
    context = ckks.load_public_context(committee.public_context)
    values = 100 * np.random.default_rng(3).normal(scale=10.0, size=LENGTH)
    ciphertexts, u = ckks.encrypt_with_randomness(context, values)
    lying = upload_with_witness(context.key_id, LENGTH, ciphertexts, u, committee.witness_keys)
    norms, v_squared = opened(committee, lying)
    assert v_squared == 0
    assert "the shares of its message's projections do not add up to them" in norms.refusal()
    assert norms.matched == (False, False)


def test_a_norm_share_out_of_range_or_for_another_party_is_refused(committee) -> None:
    parsed = ckks.parse_blob(committee.public_context, committee.encrypt(np.ones(LENGTH)), LENGTH)
    last = committee.witness(2)
    share = wellformed.open_share(parsed.witness[2], last.key, parsed.key_id, 2)
    opened_norm = wellformed.open_share(parsed.norm_share, last.key, parsed.key_id, 2)
    huge = wellformed.SHARE_NORM + (1 << 170).to_bytes(24, "little", signed=True) * (len(opened_norm) // 24)
    with pytest.raises(wellformed.WitnessError, match="out of range"):
        wellformed.read_norm_share(share, huge, parsed.count)
    with pytest.raises(wellformed.WitnessError, match="not .* projections"):
        wellformed.read_norm_share(share, opened_norm[:-24], parsed.count)
    with pytest.raises(wellformed.WitnessError, match="last key party's share"):
        wellformed.read_norm_share(share, None, parsed.count)
    with pytest.raises(wellformed.WitnessError, match="does not open"):  # sealed to the last party only
        wellformed.open_share(parsed.norm_share, committee.witness(0).key, parsed.key_id, 0)


def test_the_proven_head_is_shared_so_that_only_all_parties_together_hold_it(committee) -> None:
    """The head the proof ends at travels as shares mod BN254's prime: together they are the head, and the
    last party's share does not show it; a share of another size than the job's head is refused."""
    head = [int(v) for v in np.random.default_rng(4).integers(-(2**23), 2**23, size=34)]
    parsed = ckks.parse_blob(committee.public_context, committee.encrypt(np.ones(LENGTH), head=head), LENGTH)
    shares = [
        decryption_job.witness_shares("blob", parsed, committee.witness(index), len(head))[1].head
        for index in range(3)
    ]
    total = [int(v) % FIELD_PRIME for v in sum(shares)]
    assert total == [v % FIELD_PRIME for v in head]
    assert all(abs(int(v) - h) > 2**100 for v, h in zip(shares[2], head, strict=True))
    with pytest.raises(decryption_job.KeyPartyRefusal, match="a head of 33 values"):
        decryption_job.witness_shares("blob", parsed, committee.witness(2), len(head) - 1)
