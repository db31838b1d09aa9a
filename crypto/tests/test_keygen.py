"""Dealer-free key generation: private shares, commit-then-reveal, and the joint public key."""

from __future__ import annotations

import hashlib
import json
import stat

import numpy as np
import pytest
import tenseal as ts

from crypto import ckks, keygen

pytestmark = [pytest.mark.unit]

SEED = hashlib.sha256(b"round 7 chain record").digest()


@pytest.fixture(scope="module")
def parties(tmp_path_factory):
    base = tmp_path_factory.mktemp("keygen")
    dirs = [base / f"party{i}" for i in range(3)]
    commitments = [keygen.generate_share(d, SEED) for d in dirs]
    contributions = [(d / keygen.CONTRIBUTION_FILE).read_bytes() for d in dirs]
    return dirs, commitments, contributions


def test_share_stays_private_on_disk(parties) -> None:
    dirs, commitments, _ = parties
    for party_dir, committed in zip(dirs, commitments, strict=True):
        share = party_dir / keygen.SECRET_SHARE_FILE
        assert stat.S_IMODE(share.stat().st_mode) == 0o600
        published = json.loads((party_dir / keygen.COMMITMENT_FILE).read_text())
        assert published == {"seed": SEED.hex(), "commitment": committed}
        assert keygen.commitment((party_dir / keygen.CONTRIBUTION_FILE).read_bytes()) == committed


def test_share_is_never_overwritten(parties) -> None:
    with pytest.raises(keygen.KeyGenError, match="already holds a key share"):
        keygen.generate_share(parties[0][0], SEED)


def test_share_readable_by_others_is_refused(tmp_path) -> None:
    keygen.generate_share(tmp_path, SEED)
    (tmp_path / keygen.SECRET_SHARE_FILE).chmod(0o644)
    with pytest.raises(keygen.KeyGenError, match="0600"):
        keygen.load_secret_share(tmp_path)


def test_parties_make_independent_shares(parties) -> None:
    dirs, commitments, contributions = parties
    assert len(set(commitments)) == 3
    shares = {(d / keygen.SECRET_SHARE_FILE).read_bytes() for d in dirs}
    assert len(shares) == 3


def test_common_polynomial_is_deterministic_and_uniform_looking() -> None:
    a = keygen.common_polynomial(SEED)
    assert a.shape == (3, ckks.POLY_MODULUS_DEGREE)
    assert np.array_equal(a, keygen.common_polynomial(SEED))
    assert not np.array_equal(a, keygen.common_polynomial(SEED + b"x"))
    assert (a < ckks.key_primes()[:, None]).all()
    assert abs(float(a[0].mean()) / float(ckks.key_primes()[0]) - 0.5) < 0.02


def test_combined_context_is_public_and_deterministic(parties) -> None:
    _, commitments, contributions = parties
    public_context = keygen.combine_public_key(SEED, commitments, contributions)
    assert not ts.context_from(public_context).has_secret_key()
    again = keygen.combine_public_key(SEED, commitments, contributions)
    assert ckks.key_id(again) == ckks.key_id(public_context)


def test_reveal_that_differs_from_commitment_is_refused(parties) -> None:
    """A party that changes its contribution after committing (say, after seeing the others') is caught."""
    _, commitments, contributions = parties
    tampered = bytearray(contributions[1])
    tampered[-1] ^= 1
    with pytest.raises(keygen.KeyGenError, match="party 1's contribution does not match its commitment"):
        keygen.combine_public_key(SEED, commitments, [contributions[0], bytes(tampered), contributions[2]])


def test_contribution_for_another_seed_is_refused(parties, tmp_path) -> None:
    _, commitments, contributions = parties
    other = keygen.generate_share(tmp_path, b"another seed")
    with pytest.raises(keygen.KeyGenError, match="party 2's contribution was made for another seed"):
        keygen.combine_public_key(
            SEED,
            [*commitments[:2], other],
            [*contributions[:2], (tmp_path / keygen.CONTRIBUTION_FILE).read_bytes()],
        )


def test_replayed_or_missing_contributions_are_refused(parties) -> None:
    _, commitments, contributions = parties
    with pytest.raises(keygen.KeyGenError, match="same contribution"):
        keygen.combine_public_key(SEED, [commitments[0]] * 2, [contributions[0]] * 2)
    with pytest.raises(keygen.KeyGenError, match="one commitment per contribution"):
        keygen.combine_public_key(SEED, commitments, contributions[:2])
