"""CKKS blobs under the committee's public key: format, sums, and every refusal with its reason."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tenseal as ts

from crypto import ckks, keygen, seal_io, threshold

pytestmark = [pytest.mark.unit]

LENGTH = 10_001  # two ciphertexts, the second one partly filled, and its last slot half


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    return keygen.create_local_committee(tmp_path_factory.mktemp("committee"), parties=3)


@pytest.fixture(scope="module")
def public_context(committee) -> bytes:
    return committee[0]


@pytest.fixture(scope="module")
def vector() -> np.ndarray:
    return np.random.default_rng(7).normal(size=LENGTH) * 40.0


@pytest.fixture(scope="module")
def blob(public_context: bytes, vector: np.ndarray) -> bytes:
    return ckks.encrypt_vector(public_context, vector)


def _joint_decrypt(committee, blob: bytes) -> np.ndarray:
    public_context, party_dirs = committee
    parsed = ckks.parse_blob(public_context, blob)
    total = None
    for index, party_dir in enumerate(party_dirs):
        share = threshold.decryption_share(keygen.load_secret_share(party_dir), parsed.ciphertexts, index, 3)
        if total is None:
            total = share
        else:
            ckks.add_mod(total, share)
    return threshold.decode(total, parsed.length)


def test_public_context_holds_no_secret_key(public_context: bytes) -> None:
    context = ts.context_from(public_context)
    assert context.is_public() and not context.has_secret_key()
    assert context.has_public_key() and not context.has_relin_keys() and not context.has_galois_keys()
    assert context.global_scale == ckks.SCALE


def test_a_context_with_a_secret_key_is_refused() -> None:
    private = ts.context(ts.SCHEME_TYPE.CKKS, ckks.POLY_MODULUS_DEGREE, coeff_mod_bit_sizes=[60, 60, 60])
    with pytest.raises(ValueError, match="secret key"):
        ckks.encrypt_vector(private.serialize(save_secret_key=True), np.ones(3))


def test_blob_layout(public_context: bytes, blob: bytes) -> None:
    # blob_size allows for the witness section a hospital's upload adds (crypto.wellformed) on top of this: one
    # party's residues of u and the last party's integer share of the message projections and of the largest head
    witness_allowance = ckks.blob_size(LENGTH) - len(blob)
    count = ckks.ciphertext_count(LENGTH)
    per_party_residues = count * len(ckks.data_primes()) * ckks.POLY_MODULUS_DEGREE * 8
    norm_share = count * ckks.NORM_SHARE_BYTES_PER_CIPHERTEXT + ckks.MAX_HEAD_VALUES * ckks.HEAD_SHARE_BYTES
    assert per_party_residues + norm_share < witness_allowance < per_party_residues + norm_share + 2000
    parsed = ckks.parse_blob(public_context, blob, LENGTH)
    assert parsed.count == 2 == ckks.ciphertext_count(LENGTH)
    assert parsed.key_id.hex() == ckks.key_id(public_context)
    ckks.check_blob(public_context, blob, LENGTH, len(blob))


def test_a_ciphertext_carries_two_values_a_slot() -> None:
    # 8192 values a ciphertext (real and imaginary parts): 32 bytes a value of ciphertext, 16 of the witness
    assert ckks.ciphertext_count(ckks.POLY_MODULUS_DEGREE) == 1
    assert ckks.ciphertext_count(ckks.POLY_MODULUS_DEGREE + 1) == 2
    assert 48 < ckks.blob_size(1_000_000) / 1_000_000 < 50


def test_sum_decrypts_to_the_sum_of_vectors(committee, public_context: bytes, vector: np.ndarray) -> None:
    other = np.linspace(-3.0, 3.0, LENGTH)
    summed = ckks.sum_blobs(public_context, [ckks.encrypt_vector(public_context, v) for v in (vector, other)])
    assert (
        np.abs(_joint_decrypt(committee, summed) - (vector + other)).max() < 2.0**-13
    )  # half the update grid


def test_sum_is_canonical(public_context: bytes, blob: bytes) -> None:
    first = ckks.sum_blobs(public_context, [blob, blob])
    assert ckks.blob_digest(first) == ckks.blob_digest(ckks.sum_blobs(public_context, [blob, blob]))
    assert ckks.blob_digest(first) != ckks.blob_digest(blob)


def test_encryption_is_randomised(public_context: bytes, vector: np.ndarray, blob: bytes) -> None:
    assert ckks.encrypt_vector(public_context, vector) != blob


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), np.array([ckks.MAX_ABS_VALUE * 2]), np.array([])])
def test_unencodable_vectors_are_refused(public_context: bytes, bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        ckks.encrypt_vector(public_context, bad)


def _with_header(blob: bytes, **changes) -> bytes:
    fields = dict(
        zip(
            ["magic", "version", "params", "key", "length", "count"],
            ckks.BLOB_HEADER.unpack_from(blob),
            strict=True,
        )
    )
    fields.update(changes)
    return ckks.BLOB_HEADER.pack(*fields.values()) + blob[ckks.BLOB_HEADER.size :]


def _foreign_parameters_stream() -> bytes:
    """An uncompressed SEAL ciphertext made with other CKKS parameters (N = 8192, moduli 60,40,40,60)."""
    other = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    ciphertext = ts.ckks_vector(other, [1.0, 2.0], scale=2.0**40).ciphertext()[0]
    return seal_io.ciphertext_bytes(seal_io.parse_ciphertext(seal_io.save_bytes(ciphertext)))


def test_ciphertext_under_another_key_is_refused(tmp_path, blob: bytes, public_context: bytes) -> None:
    other_context, _ = keygen.create_local_committee(tmp_path, parties=2)
    foreign = ckks.encrypt_vector(other_context, np.ones(LENGTH))
    with pytest.raises(ckks.CiphertextError, match="another key"):
        ckks.check_blob(public_context, foreign, LENGTH, len(foreign))


def test_other_parameters_are_refused(public_context: bytes, blob: bytes) -> None:
    with pytest.raises(ckks.CiphertextError, match="other CKKS parameters"):
        ckks.check_blob(public_context, _with_header(blob, params=1), LENGTH, len(blob))  # scale 2^80
    stream = _foreign_parameters_stream()
    crafted = _with_header(blob, length=10, count=1)[: ckks.BLOB_HEADER.size]
    crafted += ckks.LENGTH_PREFIX.pack(len(stream)) + stream
    with pytest.raises(ckks.CiphertextError, match="other CKKS parameters"):
        ckks.check_blob(public_context, crafted, 10, len(blob))


@pytest.mark.parametrize("cut", [20, ckks.BLOB_HEADER.size + 2, 300, -1, -200_000])
def test_truncated_blobs_are_refused(public_context: bytes, blob: bytes, cut: int) -> None:
    with pytest.raises(ckks.CiphertextError, match="truncated|cut short|missing|garbage"):
        ckks.check_blob(public_context, blob[:cut], LENGTH, len(blob))


def test_oversize_blob_is_refused(public_context: bytes, blob: bytes) -> None:
    with pytest.raises(ckks.CiphertextError, match="oversize"):
        ckks.check_blob(public_context, blob, LENGTH, len(blob) - 1)
    with pytest.raises(ckks.CiphertextError, match="unexpected bytes"):
        ckks.check_blob(public_context, blob + b"\0" * 8, LENGTH, len(blob) + 8)


def test_wrong_count_and_length_are_refused(public_context: bytes, blob: bytes) -> None:
    with pytest.raises(ckks.CiphertextError, match="wrong ciphertext count"):
        ckks.check_blob(public_context, _with_header(blob, count=3), LENGTH, len(blob))
    with pytest.raises(ckks.CiphertextError, match="wrong vector length"):
        ckks.check_blob(public_context, blob, LENGTH + 1, len(blob))
    with pytest.raises(ckks.CiphertextError, match="wrong ciphertext count"):
        ckks.check_blob(public_context, _with_header(blob, length=100), 100, len(blob))


def test_garbage_is_refused(public_context: bytes, blob: bytes) -> None:
    with pytest.raises(ckks.CiphertextError, match="not a DecentraHealth ciphertext blob"):
        ckks.check_blob(public_context, b"x" * len(blob), LENGTH, len(blob))
    with pytest.raises(ckks.CiphertextError, match="version"):
        ckks.check_blob(public_context, _with_header(blob, version=9), LENGTH, len(blob))
    noise = bytes(
        np.random.default_rng(1).integers(0, 256, len(blob) - ckks.BLOB_HEADER.size, dtype=np.uint8)
    )
    with pytest.raises(ckks.CiphertextError, match="garbage|truncated|cut short"):
        ckks.check_blob(public_context, blob[: ckks.BLOB_HEADER.size] + noise, LENGTH, len(blob))
    # Well-formed streams whose coefficients are not below the primes.
    offset = ckks.BLOB_HEADER.size + ckks.LENGTH_PREFIX.size + len(blob) // 4
    tampered = blob[:offset] + struct.pack("<Q", 2**64 - 1) + blob[offset + 8 :]
    with pytest.raises(ckks.CiphertextError, match="out of range"):
        ckks.check_blob(public_context, tampered, LENGTH, len(blob))
    with pytest.raises(ckks.CiphertextError, match="must be bytes"):
        ckks.check_blob(public_context, "text", LENGTH, len(blob))  # type: ignore[arg-type]


def test_sum_refuses_mismatched_blobs(public_context: bytes, blob: bytes) -> None:
    shorter = ckks.encrypt_vector(public_context, np.ones(10))
    with pytest.raises(ckks.CiphertextError, match="blob 2: wrong vector length"):
        ckks.sum_blobs(public_context, [blob, shorter])


def test_sum_takes_a_generator_and_checks_each_blob(public_context: bytes, blob: bytes) -> None:
    summed = ckks.sum_blobs(public_context, (b for b in [blob, blob]), LENGTH, len(blob))
    assert summed == ckks.sum_blobs(public_context, [blob, blob])
    with pytest.raises(ckks.CiphertextError, match="blob 2: oversize"):
        ckks.sum_blobs(public_context, iter([blob, blob + b"\0"]), LENGTH, len(blob))
