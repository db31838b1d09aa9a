"""Ciphertexts proven well formed (crypto.wellformed): the parties' projections of an honest upload pass and
open nothing but the sum; a crafted ciphertext, the key oracle of the security review, cannot pass whatever
witness its maker attaches."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from crypto import ckks, keygen, threshold, wellformed
from crypto.tests.signed_jobs import LocalCommittee

pytestmark = [pytest.mark.unit]

LENGTH = 5000  # two ciphertexts


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


def opened_norms(committee: LocalCommittee, blob: bytes) -> wellformed.ProjectionNorms:
    """What the parties open together for one blob: the sum of every party's projection share."""
    parsed = ckks.parse_blob(committee.public_context, blob, LENGTH, ckks.blob_size(LENGTH))
    matrix = wellformed.projection(hashlib.sha256(blob).hexdigest())
    primes = ckks.data_primes()[None, None, :, None]
    total = 0
    for index in range(len(committee.party_dirs)):
        witness = committee.witness(index)
        share = wellformed.read_share(
            wellformed.open_share(parsed.witness[index], witness.key, parsed.key_id, index), parsed.count
        )
        total = (
            total + wellformed.projection_share(share, parsed.ciphertexts, witness.pk1, index == 0, matrix)
        ) % primes
    return wellformed.ProjectionNorms.of(wellformed.lift(total))


def test_an_honest_upload_passes_and_decrypts_to_its_values(committee) -> None:
    values = np.round(np.random.default_rng(1).normal(scale=100.0, size=LENGTH) * 4096) / 4096
    blob = committee.encrypt(values)
    norms = opened_norms(committee, blob)
    assert norms.refusal() == ""
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
