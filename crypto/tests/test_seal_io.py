"""SEAL streams: coefficient arrays read and written through SEAL's own serialisation."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal.sealapi as sealapi

from crypto import ckks, seal_io

pytestmark = [pytest.mark.unit]


def _fresh_ciphertext() -> sealapi.Ciphertext:
    context = ckks.seal_context()
    keys = sealapi.KeyGenerator(context)
    public_key = sealapi.PublicKey()
    keys.create_public_key(public_key)
    plaintext = sealapi.Plaintext()
    sealapi.CKKSEncoder(context).encode([1.5, -2.0], ckks.SCALE, plaintext)
    ciphertext = sealapi.Ciphertext()
    sealapi.Encryptor(context, public_key).encrypt(plaintext, ciphertext)
    return ciphertext


def test_ciphertext_round_trip_through_seal() -> None:
    saved = seal_io.save_bytes(_fresh_ciphertext())
    assert seal_io.HEADER.unpack_from(saved)[4] == seal_io.COMPRESSION_ZSTD  # SEAL's default
    parsed = seal_io.parse_ciphertext(saved)
    assert parsed.data.shape == (2, 2, ckks.POLY_MODULUS_DEGREE)
    assert parsed.is_ntt_form and parsed.scale == ckks.SCALE
    assert parsed.parms_id == tuple(ckks.seal_context().first_parms_id())

    uncompressed = seal_io.ciphertext_bytes(parsed)
    reloaded = seal_io.load_into(sealapi.Ciphertext(), ckks.seal_context(), uncompressed)
    again = seal_io.parse_ciphertext(seal_io.save_bytes(reloaded))
    assert np.array_equal(again.data, parsed.data)
    assert seal_io.ciphertext_bytes(again) == uncompressed


def test_secret_key_is_a_plaintext_at_the_key_level() -> None:
    secret = sealapi.KeyGenerator(ckks.seal_context()).secret_key()
    parsed = seal_io.parse_plaintext(seal_io.save_bytes(secret))
    assert parsed.parms_id == tuple(ckks.seal_context().key_parms_id())
    assert parsed.data.size == len(ckks.key_primes()) * ckks.POLY_MODULUS_DEGREE
    rewritten = seal_io.plaintext_bytes(parsed)
    reloaded = seal_io.load_into(sealapi.SecretKey(), ckks.seal_context(), rewritten)
    assert np.array_equal(seal_io.parse_plaintext(seal_io.save_bytes(reloaded)).data, parsed.data)


def test_version_bytes_are_the_installed_seal_version() -> None:
    major, minor = seal_io.seal_version()
    assert major >= 3
    saved = seal_io.save_bytes(_fresh_ciphertext())
    assert seal_io.HEADER.unpack_from(saved)[2:4] == (major, minor)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: raw[:10], "truncated"),
        (lambda raw: b"\x00\x00" + raw[2:], "bad magic"),
        (lambda raw: raw[:-8], "says"),
    ],
)
def test_damaged_streams_are_refused(damage, message: str) -> None:
    raw = seal_io.ciphertext_bytes(seal_io.parse_ciphertext(seal_io.save_bytes(_fresh_ciphertext())))
    with pytest.raises(seal_io.SealFormatError, match=message):
        seal_io.parse_ciphertext(damage(raw))


def test_seal_refuses_out_of_range_coefficients() -> None:
    parsed = seal_io.parse_ciphertext(seal_io.save_bytes(_fresh_ciphertext()))
    data = parsed.data.copy()
    data[0, 0, 0] = np.uint64(2**63)
    stream = seal_io.ciphertext_bytes(seal_io.CiphertextData(parsed.parms_id, True, parsed.scale, data))
    with pytest.raises(seal_io.SealFormatError, match="SEAL refused"):
        seal_io.load_into(sealapi.Ciphertext(), ckks.seal_context(), stream)
