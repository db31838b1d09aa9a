"""CKKS encryption of model updates under the key committee's joint public key, and the ciphertext blob format.

Parameters (measured on this project's machines, bench/secure_aggregation.py): N = 8192, coefficient moduli
[60, 60, 60], scale 2^90: 4096 complex slots per ciphertext, each holding two values (its real and imaginary
parts), so 8192 values per ciphertext. The scale leaves room for the key parties' smudging
noise (crypto.threshold, std 2^67 in the coefficients, about 2^-17 per decoded value) below the 2^-12 grid the
updates are on, so the opened sum still snaps back to it exactly. A hospital encrypts n_h * delta_h; the portal only
adds ciphertexts; the key parties decrypt the sum together (crypto.threshold, crypto.keyparty). Nothing here ever holds a secret key.

Blob format (little-endian): header <4s magic b"DHCB", H format version, H parameter-set id, 32s key id,
Q vector length, I ciphertext count>, then for each ciphertext <I byte length> + an uncompressed SEAL
ciphertext stream (crypto.seal_io). The key id is a hash of the joint public key's coefficients, so a blob
made under another key is refused before any arithmetic. The blob of a sum is canonical (same inputs, same
bytes), so key parties recompute it and compare digests.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import tenseal as ts
import tenseal.sealapi as sealapi

from crypto import seal_io

POLY_MODULUS_DEGREE = 8192
COEFF_MOD_BIT_SIZES = (60, 60, 60)
SCALE = 2.0**90
SLOTS = POLY_MODULUS_DEGREE // 2
VALUES_PER_CIPHERTEXT = 2 * SLOTS
# The one parameter set above; a new set gets a new id (1 was scale 2^80; 2 scale 2^88, the real parts only).
PARAMS_ID = 3
# Bound on |value| per hospital: a slot holds two, so |z| <= sqrt(2) MAX_ABS_VALUE, and the message's coefficients
# of a sum of up to MAX_SUMMANDS hospitals stay below sqrt(2) 2^21 2^6 2^90 = 2^117.5, under q/2 ~ 2^119. A plan's
# update_norm_bound is capped at it (rounds.services.planning), so an update within the bound always encodes.
MAX_ABS_VALUE = 2.0**21
MAX_SUMMANDS = 64
# SEAL's error distribution: centred, std 3.2, clipped at 6 standard deviations.
ERROR_STD = 3.2
ERROR_BOUND = 19
POLYNOMIALS_PER_CIPHERTEXT = 16  # SEAL ciphertexts hold 2 to 16 polynomials

BLOB_MAGIC = b"DHCB"
BLOB_VERSION = 1  # ciphertexts only: a sum, made by whoever adds
# A hospital's upload: ciphertexts, a sealed share of their randomness per key party, then the last party's sealed
# share of the message's projections (crypto.wellformed; 2 had no such share).
WITNESS_VERSION = 3
WITNESS_COUNT = struct.Struct("<H")
MAX_KEY_PARTIES = 16
SEALED_OVERHEAD = 32 + 12 + 16  # a sealed share: ephemeral X25519 key, AES-GCM nonce and tag
# The last party's share of the message's projections (crypto.wellformed): PROJECTION_ROWS signed integers of
# NORM_SHARE_BYTES each per ciphertext.
PROJECTION_ROWS = 256
NORM_SHARE_BYTES = 24
NORM_SHARE_BYTES_PER_CIPHERTEXT = PROJECTION_ROWS * NORM_SHARE_BYTES
# Beside it, with proofs of training, its share of the proven head: field elements mod BN254's prime.
HEAD_SHARE_BYTES = 32
MAX_HEAD_VALUES = 4096  # 11 classes x 256 features and their biases fit
BLOB_HEADER = struct.Struct("<4sHH32sQI")
LENGTH_PREFIX = struct.Struct("<I")
KEY_ID_DOMAIN = b"decentrahealth/ckks-public-key/v1"


class CiphertextError(ValueError):
    """A ciphertext blob is refused; `reason` says why in words fit for an API error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@functools.cache
def seal_context() -> sealapi.SEALContext:
    """The SEAL context of the parameters alone (no keys), shared by every party."""
    params = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    params.set_poly_modulus_degree(POLY_MODULUS_DEGREE)
    params.set_coeff_modulus(sealapi.CoeffModulus.Create(POLY_MODULUS_DEGREE, list(COEFF_MOD_BIT_SIZES)))
    context = sealapi.SEALContext(params, True, sealapi.SEC_LEVEL_TYPE.TC128)
    if not context.parameters_set():
        raise RuntimeError(f"SEAL rejects the CKKS parameters: {context.parameters_error_message()}")
    return context


def _primes(context_data: sealapi.SEALContext.ContextData) -> np.ndarray:
    return np.array([m.value() for m in context_data.parms().coeff_modulus()], dtype=np.uint64)


@functools.cache
def data_primes() -> np.ndarray:
    """RNS primes of ciphertexts (the special prime dropped), as uint64."""
    return _primes(seal_context().first_context_data())


@functools.cache
def key_primes() -> np.ndarray:
    """RNS primes of keys, special prime included, as uint64."""
    return _primes(seal_context().key_context_data())


def ciphertext_count(length: int) -> int:
    return max(1, math.ceil(length / VALUES_PER_CIPHERTEXT))


def blob_size(length: int) -> int:
    """The largest blob a hospital uploads for a vector of `length` values, witness section included (for upload
    limits; exact for the ciphertexts)."""
    # A ciphertext stream: outer header, metadata, the DynArray's header and count, then the coefficients.
    stream = 2 * seal_io.HEADER.size + seal_io.CIPHERTEXT_META.size + seal_io.COUNT.size
    stream += 2 * len(data_primes()) * POLY_MODULUS_DEGREE * 8
    ciphertexts = ciphertext_count(length) * (LENGTH_PREFIX.size + stream)
    # The witness section: a seed for every party but one, and one party's residues of u (half a ciphertext).
    sealed_seed = LENGTH_PREFIX.size + SEALED_OVERHEAD + 1 + 32
    residues = (
        LENGTH_PREFIX.size
        + SEALED_OVERHEAD
        + 1
        + ciphertext_count(length) * len(data_primes()) * POLY_MODULUS_DEGREE * 8
    )
    witness = WITNESS_COUNT.size + (MAX_KEY_PARTIES - 1) * sealed_seed + residues
    norm_share = (
        LENGTH_PREFIX.size
        + SEALED_OVERHEAD
        + 1
        + ciphertext_count(length) * NORM_SHARE_BYTES_PER_CIPHERTEXT
        + MAX_HEAD_VALUES * HEAD_SHARE_BYTES
    )
    return BLOB_HEADER.size + ciphertexts + witness + norm_share


# --- public context ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicContext:
    """A loaded public context: the SEAL objects to encrypt with, and the key id."""

    tenseal: ts.Context
    encoder: sealapi.CKKSEncoder
    key_id: bytes
    public_key: np.ndarray  # (pk0, pk1) mod each key prime, NTT form, shape (2, primes, N)


@functools.lru_cache(maxsize=8)
def load_public_context(public_context: bytes) -> PublicContext:
    """Load and check a serialised public TenSEAL context: our parameters, a public key, no secret key."""
    try:
        context = ts.context_from(public_context)
    except Exception as exc:  # TenSEAL raises bare exceptions of several kinds on bad bytes
        raise ValueError(f"not a TenSEAL context: {exc}") from exc
    if context.has_secret_key():
        raise ValueError("the context holds a secret key; only a public context may be used here")
    if not context.has_public_key():
        raise ValueError("the context has no public key")
    parms = context.seal_context().data.key_context_data().parms()
    primes = [m.value() for m in parms.coeff_modulus()]
    if parms.poly_modulus_degree() != POLY_MODULUS_DEGREE or primes != key_primes().tolist():
        raise ValueError("the context's CKKS parameters are not DecentraHealth's")
    public_key = seal_io.parse_ciphertext(seal_io.save_bytes(context.public_key().data)).data
    return PublicContext(
        tenseal=context,
        encoder=sealapi.CKKSEncoder(seal_context()),
        key_id=_key_id(public_key),
        public_key=public_key,
    )


def _key_id(public_key_coefficients: np.ndarray) -> bytes:
    return hashlib.sha256(
        KEY_ID_DOMAIN + np.ascontiguousarray(public_key_coefficients, dtype="<u8").tobytes()
    ).digest()


def key_id(public_context: bytes) -> str:
    """Hex id of the joint public key (what blob headers carry)."""
    return load_public_context(public_context).key_id.hex()


def public_context_from_key(public_key: seal_io.CiphertextData) -> bytes:
    """A serialised public TenSEAL context around a given public key: no secret, relin or Galois keys.

    TenSEAL cannot set a public key from Python, so this takes a fresh public context of the same parameters
    and swaps the key bytes in its protobuf (TenSEALContextProto: field 1 encryption parameters, field 2 the
    public part {1 public key, 2 auto flags, 3 scale, 4 relin keys, 5 Galois keys}, field 3 the private part).
    """
    template = ts.context(
        ts.SCHEME_TYPE.CKKS, POLY_MODULUS_DEGREE, coeff_mod_bit_sizes=list(COEFF_MOD_BIT_SIZES)
    )
    template.global_scale = SCALE
    raw = template.serialize(
        save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    key_stream = seal_io.ciphertext_bytes(public_key)
    fields = []
    for number, wire, value in _protobuf_fields(raw):
        if number == 2:
            public_part = [
                (n, w, key_stream if n == 1 else v) for n, w, v in _protobuf_fields(value) if n in (1, 2, 3)
            ]
            value = _protobuf_bytes(public_part)
        if number in (1, 2):
            fields.append((number, wire, value))
    result = _protobuf_bytes(fields)
    # Loading refuses a secret key and other parameters, and SEAL validates the key on the way in.
    if load_public_context(result).key_id != _key_id(public_key.data):
        raise RuntimeError("TenSEAL did not keep the public key that was put into the context")
    return result


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, offset


def _protobuf_fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one protobuf message: varints as int, the rest as bytes."""
    fields: list[tuple[int, int, int | bytes]] = []
    offset = 0
    while offset < len(data):
        tag, offset = _varint(data, offset)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, offset = _varint(data, offset)
            fields.append((number, wire, value))
            continue
        if wire == 2:
            size, offset = _varint(data, offset)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, bytes(data[offset : offset + size])))
        offset += size
    return fields


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _protobuf_bytes(fields: Sequence[tuple[int, int, int | bytes]]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _varint_bytes(number << 3 | wire)
        if wire == 0:
            out += _varint_bytes(int(value))
        elif wire == 2:
            out += _varint_bytes(len(value)) + value
        else:
            out += value
    return bytes(out)


# --- blobs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedBlob:
    """A checked blob: key id, vector length, and coefficients of shape (count, 2, primes, N), uint64."""

    key_id: bytes
    length: int
    ciphertexts: np.ndarray
    witness: tuple[bytes, ...] | None = None  # one sealed share per key party (crypto.wellformed)
    norm_share: bytes | None = None  # the last party's sealed share of the message's projections
    commitment: str | None = None  # SHA-256 of the upload up to its norm share: what fixes the projection

    @property
    def count(self) -> int:
        return self.ciphertexts.shape[0]


def _check_values(vector: np.ndarray) -> np.ndarray:
    values = np.asarray(vector, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("cannot encrypt an empty vector")
    if not np.isfinite(values).all():
        raise ValueError("the vector holds NaN or infinity")
    largest = float(np.abs(values).max())
    if largest > MAX_ABS_VALUE:
        raise ValueError(
            f"a value of magnitude {largest:.3g} exceeds the encodable bound {MAX_ABS_VALUE:.3g}"
        )
    return values


def encrypt_vector(public_context: bytes, vector: np.ndarray) -> bytes:
    """Encrypt a flat float vector into a blob without a witness section: what the key parties refuse to open
    (crypto.wellformed.encrypt_vector makes the blobs hospitals upload); tests and benchmarks of the sum."""
    context = load_public_context(public_context)
    values = _check_values(vector)
    return blob_bytes(context.key_id, values.size, encrypt_with_randomness(context, values)[0])


def rounded_gaussians(count: int, std: float) -> np.ndarray:
    """`count` integers ~ round(N(0, std^2)), std below 2^59, from os.urandom (Box-Muller on 53-bit uniforms)."""
    pairs = (count + 1) // 2
    words = np.frombuffer(os.urandom(16 * pairs), dtype="<u8").reshape(2, pairs)
    uniform = ((words >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # in (0, 1]
    radius = np.sqrt(-2.0 * np.log(uniform[0])) * std
    angle = 2.0 * math.pi * uniform[1]
    samples = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:count]
    return np.rint(samples).astype(np.int64)


def _ternary(count: int) -> np.ndarray:
    """`count` secret integers uniform in {-1, 0, 1}, from os.urandom."""
    raw = np.frombuffer(os.urandom(2 * count + 64), dtype=np.uint8)
    raw = raw[raw < 255][:count]  # 255 = 3 * 85: uniform mod 3
    if raw.size < count:
        return _ternary(count)
    return (raw % 3).astype(np.int8) - 1


def _errors(count: int) -> np.ndarray:
    """`count` integers of SEAL's error distribution: rounded Gaussian of std 3.2, clipped at 19."""
    return np.clip(rounded_gaussians(count, ERROR_STD), -ERROR_BOUND, ERROR_BOUND).astype(np.int8)


def uniform_residues(seed: bytes, prime: int, size: int) -> np.ndarray:
    """`size` residues uniform mod `prime`, drawn from SHAKE-256(seed) by rejection (a 60-bit draw is rejected
    with probability about 2^-40); the same seed gives the same residues on every machine."""
    xof = hashlib.shake_256(seed)
    mask = np.uint64((1 << prime.bit_length()) - 1)
    draws = size + 256
    while True:
        words = np.frombuffer(xof.digest(8 * draws), dtype="<u8") & mask
        row = words[words < np.uint64(prime)][:size]
        if row.size == size:
            return row
        draws *= 2


def signed_residues(values: np.ndarray) -> np.ndarray:
    """Small signed integers of shape (count, N) as residues mod each data prime, shape (count, primes, N)."""
    primes = data_primes()[None, :, None]
    signed = values.astype(np.int64)[:, None, :]
    return np.where(signed < 0, primes - (-signed).astype(np.uint64), signed.astype(np.uint64))


def encrypt_with_randomness(context: PublicContext, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Public-key CKKS encryption with the randomness kept: c0 = pk0 u + e0 + m, c1 = pk1 u + e1 mod each data
    prime (NTT form), u ternary and e0, e1 SEAL's error. Returns the ciphertexts (count, 2, primes, N) and u
    (count, N) int8, whose shares crypto.wellformed gives the key parties."""
    values = _check_values(vector)
    count = ciphertext_count(values.size)
    primes = data_primes()
    pk0, pk1 = context.public_key[:, : len(primes)]
    u = _ternary(count * POLY_MODULUS_DEGREE).reshape(count, POLY_MODULUS_DEGREE)
    errors = _errors(2 * count * POLY_MODULUS_DEGREE).reshape(2, count, POLY_MODULUS_DEGREE)
    u_ntt = transform(signed_residues(u), to_ntt=True)
    e0_ntt, e1_ntt = (transform(signed_residues(error), to_ntt=True) for error in errors)
    column = primes[:, None]
    ciphertexts = np.empty((count, 2, len(primes), POLY_MODULUS_DEGREE), dtype=np.uint64)
    ciphertexts[:, 0] = (multiply(u_ntt, pk0) + e0_ntt + encode_values(context.encoder, values)) % column
    ciphertexts[:, 1] = (multiply(u_ntt, pk1) + e1_ntt) % column
    return ciphertexts, u


def encode_values(encoder: sealapi.CKKSEncoder, values: np.ndarray) -> np.ndarray:
    """The CKKS messages of `values` (VALUES_PER_CIPHERTEXT per ciphertext at SCALE, values 2k and 2k + 1 in slot
    k's real and imaginary parts), NTT form mod each data prime, shape (ciphertext_count, primes, N)."""
    primes = data_primes()
    count = ciphertext_count(values.size)
    padded = np.zeros(count * VALUES_PER_CIPHERTEXT, dtype=np.float64)
    padded[: values.size] = values
    slots = (padded[0::2] + 1j * padded[1::2]).reshape(count, SLOTS)
    messages = np.empty((count, len(primes), POLY_MODULUS_DEGREE), dtype=np.uint64)
    for index in range(count):
        plaintext = sealapi.Plaintext()
        encoder.encode(slots[index].tolist(), SCALE, plaintext)
        messages[index] = seal_io.parse_plaintext(seal_io.save_bytes(plaintext)).data.reshape(len(primes), -1)
    return messages


def mulmod(a: np.ndarray, b: np.ndarray, primes: np.ndarray) -> np.ndarray:
    """a * b mod q_j for uint64 arrays of shape (primes, N); 60-bit products need Python integers."""
    product = (a.astype(object) * b.astype(object)) % primes.astype(object)[:, None]
    return product.astype(np.uint64)


def as_ciphertext(data: np.ndarray, is_ntt_form: bool = True, scale: float = SCALE) -> sealapi.Ciphertext:
    """A SEAL ciphertext of the data level holding polynomials `data` (size, primes, N), 2 <= size <= 16."""
    parms_id = tuple(seal_context().first_parms_id())
    stream = seal_io.ciphertext_bytes(seal_io.CiphertextData(parms_id, is_ntt_form, scale, data))
    return seal_io.load_into(sealapi.Ciphertext(), seal_context(), stream)


def _by_ciphertext(polys: np.ndarray, is_ntt_form: bool, operation) -> np.ndarray:
    """`operation` applied by SEAL to polynomials (count, primes, N) of the data level, 16 to a ciphertext."""
    out = np.empty_like(polys)
    for start in range(0, polys.shape[0], POLYNOMIALS_PER_CIPHERTEXT):
        batch = polys[start : start + POLYNOMIALS_PER_CIPHERTEXT]
        padded = batch if batch.shape[0] >= 2 else np.concatenate([batch, batch])
        ciphertext = as_ciphertext(padded, is_ntt_form=is_ntt_form, scale=1.0)
        operation(ciphertext)
        out[start : start + batch.shape[0]] = seal_io.parse_ciphertext(seal_io.save_bytes(ciphertext)).data[
            : batch.shape[0]
        ]
    return out


def transform(polys: np.ndarray, to_ntt: bool) -> np.ndarray:
    """The NTT (or its inverse) of polynomials (count, primes, N) mod the data primes."""
    evaluator = sealapi.Evaluator(seal_context())
    operation = evaluator.transform_to_ntt_inplace if to_ntt else evaluator.transform_from_ntt_inplace
    return _by_ciphertext(polys, not to_ntt, operation)


def multiply(polys: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Each of polys (count, primes, N) times `factor` (primes, N), pointwise mod each data prime (NTT form:
    the polynomial product)."""
    parms_id = tuple(seal_context().first_parms_id())
    stream = seal_io.plaintext_bytes(
        seal_io.PlaintextData(parms_id, 1.0, np.ascontiguousarray(factor).reshape(-1))
    )
    plain = seal_io.load_into(sealapi.Plaintext(), seal_context(), stream)
    evaluator = sealapi.Evaluator(seal_context())
    return _by_ciphertext(polys, True, lambda ciphertext: evaluator.multiply_plain_inplace(ciphertext, plain))


def blob_bytes(
    key_id: bytes, length: int, ciphertexts: np.ndarray, witness: Sequence[bytes] | None = None
) -> bytes:
    """Serialise coefficients of shape (count, 2, primes, N) into the canonical blob format; with `witness`
    (one sealed share per key party, crypto.wellformed), the part of a hospital's upload (format
    WITNESS_VERSION) that its commitment covers: upload_bytes completes it."""
    parms_id = tuple(seal_context().first_parms_id())
    version = BLOB_VERSION if witness is None else WITNESS_VERSION
    parts = [BLOB_HEADER.pack(BLOB_MAGIC, version, PARAMS_ID, key_id, length, ciphertexts.shape[0])]
    for data in ciphertexts:
        stream = seal_io.ciphertext_bytes(seal_io.CiphertextData(parms_id, True, SCALE, data))
        parts += [LENGTH_PREFIX.pack(len(stream)), stream]
    if witness is not None:
        parts.append(WITNESS_COUNT.pack(len(witness)))
        for sealed in witness:
            parts += [LENGTH_PREFIX.pack(len(sealed)), sealed]
    return b"".join(parts)


def upload_bytes(committed: bytes, norm_share: bytes) -> bytes:
    """A hospital's whole upload: its committed part (blob_bytes with a witness) and the last party's sealed
    share of the message's projections, made once the commitment fixed them."""
    return committed + LENGTH_PREFIX.pack(len(norm_share)) + norm_share


def parse_blob(
    public_context: bytes, blob: bytes, expected_length: int | None = None, max_bytes: int | None = None
) -> ParsedBlob:
    """Check a blob against the public context and return its coefficients; raises CiphertextError."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CiphertextError(f"a ciphertext blob must be bytes, not {type(blob).__name__}")
    if max_bytes is not None and len(blob) > max_bytes:
        raise CiphertextError(f"oversize: {len(blob)} bytes, the limit is {max_bytes}")
    if len(blob) < BLOB_HEADER.size:
        raise CiphertextError(
            f"truncated: {len(blob)} bytes, shorter than the {BLOB_HEADER.size}-byte header"
        )
    view = memoryview(blob)
    magic, version, params_id, blob_key_id, length, count = BLOB_HEADER.unpack_from(view)
    if magic != BLOB_MAGIC:
        raise CiphertextError("not a DecentraHealth ciphertext blob (bad magic bytes)")
    if version not in (BLOB_VERSION, WITNESS_VERSION):
        raise CiphertextError(
            f"unsupported blob format version {version} (this portal reads {BLOB_VERSION} and {WITNESS_VERSION})"
        )
    if params_id != PARAMS_ID:
        raise CiphertextError(
            f"made with other CKKS parameters (parameter set {params_id}, expected {PARAMS_ID})"
        )
    context = load_public_context(public_context)
    if blob_key_id != context.key_id:
        raise CiphertextError(
            f"encrypted under another key (key id {blob_key_id.hex()[:16]}..., the round's key is "
            f"{context.key_id.hex()[:16]}...)"
        )
    if expected_length is not None and length != expected_length:
        raise CiphertextError(f"wrong vector length: {length} values, expected {expected_length}")
    if length == 0:
        raise CiphertextError("wrong vector length: 0")
    if count != ciphertext_count(length):
        raise CiphertextError(
            f"wrong ciphertext count: {count} for {length} values, expected {ciphertext_count(length)}"
        )
    offset = BLOB_HEADER.size
    ciphertexts = np.empty((count, 2, len(data_primes()), POLY_MODULUS_DEGREE), dtype=np.uint64)
    for index in range(count):
        stream, offset = _length_prefixed(view, offset, f"ciphertext {index + 1} of {count}")
        ciphertexts[index] = _check_ciphertext(stream, index)
    if version == BLOB_VERSION:
        if offset != len(view):
            raise CiphertextError(f"{len(view) - offset} unexpected bytes after the last ciphertext")
        return ParsedBlob(blob_key_id, length, ciphertexts)
    witness, offset = _witness_section(view, offset)
    commitment = hashlib.sha256(view[:offset]).hexdigest()
    norm_share, offset = _length_prefixed(view, offset, "the norm share for the last key party")
    if offset != len(view):
        raise CiphertextError(f"{len(view) - offset} unexpected bytes after the norm share")
    return ParsedBlob(blob_key_id, length, ciphertexts, witness, bytes(norm_share), commitment)


def _length_prefixed(view: memoryview, offset: int, what: str) -> tuple[memoryview, int]:
    """The length-prefixed part of the blob at `offset`, and the offset after it; `what` names it in errors."""
    if offset + LENGTH_PREFIX.size > len(view):
        raise CiphertextError(f"truncated: {what} is missing")
    (size,) = LENGTH_PREFIX.unpack_from(view, offset)
    offset += LENGTH_PREFIX.size
    if offset + size > len(view):
        raise CiphertextError(f"truncated: {what} is cut short")
    return view[offset : offset + size], offset + size


def _witness_section(view: memoryview, offset: int) -> tuple[tuple[bytes, ...], int]:
    """The sealed shares after the ciphertexts (their contents only the key parties can open and check), and
    the offset after them."""
    if offset + WITNESS_COUNT.size > len(view):
        raise CiphertextError("truncated: the witness section (sealed shares for the key parties) is missing")
    (parties,) = WITNESS_COUNT.unpack_from(view, offset)
    if not 2 <= parties <= MAX_KEY_PARTIES:
        raise CiphertextError(f"the witness section names {parties} key parties (2 to {MAX_KEY_PARTIES})")
    offset += WITNESS_COUNT.size
    sealed = []
    for party in range(parties):
        share, offset = _length_prefixed(view, offset, f"the share for key party {party}")
        sealed.append(bytes(share))
    return tuple(sealed), offset


def _check_ciphertext(stream: memoryview, index: int) -> np.ndarray:
    where = f"ciphertext {index + 1}"
    if (
        len(stream) >= seal_io.HEADER.size
        and seal_io.HEADER.unpack_from(stream)[4] != seal_io.COMPRESSION_NONE
    ):
        raise CiphertextError(f"{where}: compressed SEAL stream (blobs carry uncompressed ciphertexts)")
    try:
        ciphertext = seal_io.parse_ciphertext(stream)
    except seal_io.SealFormatError as exc:
        raise CiphertextError(f"{where}: garbage, not a SEAL ciphertext ({exc})") from exc
    size, primes, degree = ciphertext.data.shape
    if (
        ciphertext.parms_id != tuple(seal_context().first_parms_id())
        or degree != POLY_MODULUS_DEGREE
        or primes != len(data_primes())
    ):
        raise CiphertextError(f"{where}: made with other CKKS parameters (N {degree}, {primes} primes)")
    if size != 2:
        raise CiphertextError(f"{where}: has {size} polynomials, a fresh ciphertext has 2")
    if not ciphertext.is_ntt_form or ciphertext.scale != SCALE or ciphertext.correction_factor != 1:
        raise CiphertextError(f"{where}: scale {ciphertext.scale!r} or form is not this round's encoding")
    if not (ciphertext.data < data_primes()[None, :, None]).all():
        raise CiphertextError(f"{where}: garbage, coefficients out of range")
    return ciphertext.data


def check_blob(public_context: bytes, blob: bytes, expected_length: int, max_bytes: int) -> None:
    """Refuse (CiphertextError with the reason) a blob that is not `expected_length` values under this key."""
    parse_blob(public_context, blob, expected_length, max_bytes)


def add_mod(total: np.ndarray, other: np.ndarray, primes: np.ndarray | None = None) -> None:
    """total += other mod each prime, in place; shapes (..., primes, N), uint64 below the primes (< 2^60).

    `primes` defaults to the ciphertext primes.
    """
    moduli = (data_primes() if primes is None else primes)[:, None]
    total += other
    np.subtract(total, moduli, out=total, where=total >= moduli)


def sum_blobs(
    public_context: bytes,
    blobs: Iterable[bytes],
    expected_length: int | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """Homomorphic sum of blobs under one key, each checked as by check_blob: the canonical blob of the sum.

    `blobs` may be a generator, so that only one blob at a time is in memory. Without `expected_length`,
    every blob must have the first one's length.
    """
    total, length, sum_key_id = None, expected_length, b""
    for index, blob in enumerate(blobs, start=1):
        if index > MAX_SUMMANDS:
            raise CiphertextError(f"more than {MAX_SUMMANDS} blobs: their sum could overflow the modulus")
        try:
            parsed = parse_blob(public_context, blob, length, max_bytes)
        except CiphertextError as exc:
            raise CiphertextError(f"blob {index}: {exc.reason}") from exc
        if total is None:
            total, length, sum_key_id = parsed.ciphertexts, parsed.length, parsed.key_id  # a fresh array
        else:
            add_mod(total, parsed.ciphertexts)
    if total is None:
        raise ValueError("nothing to add")
    return blob_bytes(sum_key_id, length, total)


def blob_digest(blob: bytes) -> str:
    """Hex SHA-256 of a blob (the sum's digest is what the key parties compare)."""
    return hashlib.sha256(blob).hexdigest()
