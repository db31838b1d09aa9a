"""Threshold decryption arithmetic: every share is needed, and smudging is what keeps the key hidden."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from crypto import ckks, keygen, threshold

pytestmark = [pytest.mark.unit]

LENGTH = 3000
PARTIES = 3


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    return keygen.create_local_committee(tmp_path_factory.mktemp("committee"), parties=PARTIES)


@pytest.fixture(scope="module")
def hospitals(committee):
    """Two hospitals' updates, pre-multiplied by their sample counts, and their blobs."""
    public_context, _ = committee
    rng = np.random.default_rng(11)
    updates = [rng.normal(size=LENGTH) * 0.01 * n for n in (120, 340)]
    return updates, [ckks.encrypt_vector(public_context, update) for update in updates]


def _opened(committee, blob: bytes, smudge: bool) -> tuple[ckks.ParsedBlob, np.ndarray]:
    public_context, party_dirs = committee
    parsed = ckks.parse_blob(public_context, blob)
    total = None
    for index, party_dir in enumerate(party_dirs):
        secret_share = keygen.load_secret_share(party_dir)
        if smudge:
            share = threshold.decryption_share(secret_share, parsed.ciphertexts, index, PARTIES)
        else:
            share = threshold.partial_decryption(secret_share, parsed.ciphertexts, include_c0=index == 0)
        if total is None:
            total = share
        else:
            ckks.add_mod(total, share)
    return parsed, total


def test_all_shares_decrypt_the_sum_with_small_noise(committee, hospitals) -> None:
    updates, blobs = hospitals
    parsed, opened = _opened(committee, ckks.sum_blobs(committee[0], blobs), smudge=True)
    error = np.abs(threshold.decode(opened, LENGTH) - (updates[0] + updates[1])).max()
    assert (
        1e-7 < error < 2.0**-13
    )  # the smudging noise is there, and below half the 2^-12 grid of the updates


@pytest.mark.parametrize("subset", [s for r in (1, 2) for s in itertools.combinations(range(PARTIES), r)])
def test_fewer_than_all_shares_yield_noise(committee, hospitals, subset) -> None:
    """No file a party (or two of three) holds decrypts a hospital's ciphertext."""
    public_context, party_dirs = committee
    updates, blobs = hospitals
    parsed = ckks.parse_blob(public_context, blobs[0])
    total = None
    for rank, index in enumerate(subset):
        share = threshold.partial_decryption(
            keygen.load_secret_share(party_dirs[index]), parsed.ciphertexts, include_c0=rank == 0
        )
        if total is None:
            total = share
        else:
            ckks.add_mod(total, share)
    garbage = threshold.decode(total, LENGTH)
    assert np.abs(garbage - updates[0]).max() > 1e6


def _recover_key(parsed: ckks.ParsedBlob, opened: np.ndarray) -> np.ndarray:
    """What an observer computes from an opened y: s = (y - c0) / c1 pointwise (mod q, NTT form)."""
    primes = ckks.data_primes()
    c0, c1 = parsed.ciphertexts[0]
    difference = (opened[0] + (primes[:, None] - c0)) % primes[:, None]
    inverse = np.array(
        [[pow(int(v), -1, int(q)) for v in row] for row, q in zip(c1, primes, strict=True)], dtype=np.uint64
    )
    return ckks.mulmod(difference, inverse, primes)


def _decrypt_with_recovered(key: np.ndarray, parsed: ckks.ParsedBlob) -> np.ndarray:
    primes = ckks.data_primes()
    opened = np.stack(
        [(c0 + ckks.mulmod(c1, key, primes)) % primes[:, None] for c0, c1 in parsed.ciphertexts]
    )
    return threshold.decode(opened, parsed.length)


def test_opening_without_smudging_reveals_the_key_and_smudging_prevents_it(committee, hospitals) -> None:
    public_context, _ = committee
    updates, blobs = hospitals
    summed = ckks.sum_blobs(public_context, blobs)
    victim = ckks.parse_blob(public_context, blobs[0])

    parsed, unsmudged = _opened(committee, summed, smudge=False)
    stolen = _decrypt_with_recovered(_recover_key(parsed, unsmudged), victim)
    assert np.abs(stolen - updates[0]).max() < 1e-6  # one hospital's update, in the clear

    parsed, smudged = _opened(committee, summed, smudge=True)
    attempt = _decrypt_with_recovered(_recover_key(parsed, smudged), victim)
    assert np.abs(attempt - updates[0]).max() > 1e6


def test_gaussian_integers_have_the_asked_spread_and_random_low_bits() -> None:
    """The smudging std (2^67 / sqrt(m)) is beyond int64 and float precision: the samples are Python integers
    whose spread is the asked one and whose low bits vary (a float Gaussian's would be multiples of ~2^12)."""
    std = threshold.SMUDGING_STD_TOTAL / np.sqrt(3)
    samples = threshold.gaussian_integers(20_001, std)
    assert samples.shape == (20_001,) and samples.dtype == object
    as_float = samples.astype(np.float64)
    assert abs(as_float.std() / std - 1.0) < 0.05
    assert abs(as_float.mean()) < 0.05 * std
    low_bits = np.array([int(value) & 0xFFF for value in samples[:4000]])
    assert len(np.unique(low_bits)) > 2300  # uniform draws would give about 2550 distinct values; floats 1
    assert abs(low_bits.mean() / 4095 - 0.5) < 0.05


def test_dp_noise_lies_on_the_update_grid_with_the_asked_spread() -> None:
    """The differential-privacy noise is a discrete Gaussian on the 2^-12 grid, not float Gaussians."""
    std = 37.5
    values = threshold.dp_noise_values(50_000, std)
    steps = values / threshold.DP_NOISE_GRID
    assert np.array_equal(steps, np.rint(steps))
    assert abs(values.std() / std - 1.0) < 0.02 and abs(values.mean()) < 0.02 * std
    # The low bits vary as a discrete Gaussian's do: steps mod 4096 spread over (almost) every residue.
    assert len(np.unique(steps.astype(np.int64) % 4096)) > 4000
    with pytest.raises(ValueError, match="outside"):
        threshold.dp_noise_values(3, 2.0**48)
