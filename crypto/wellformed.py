"""Ciphertexts proven well formed to the key parties, so that a crafted ciphertext is never decrypted.

Why: the parties open y = C0 + C1 * s + E for the summed ciphertexts (C0, C1). A ciphertext whose c1 is not
pk1 * u + e1 with u and e1 short, such as (0, Delta), makes y hold Delta * s: the joint key. What y reveals
about s is C1 * s + E whatever the c0 hold, so it suffices that every c1 = pk1 * u + e1 with u, e1 short;
then C1 * s = -pk0 * U - e_pk * U + E1 * s, the part -e_pk * U + E1 * s depends on the key only through
products the smudging noise E hides (crypto.threshold), and a bound on the norms of u and e1 is what that
noise is sized for (docs/THREAT_MODEL.md, "Well-formed ciphertexts").

How, with no secure multiplication at all:
- The hospital encrypts with randomness it knows (ckks.encrypt_with_randomness) and splits u into additive
  shares mod Q = q1 * q2 (one integer vector, so the same u modulo both primes), one per key party: a 32-byte
  seed for all parties but the last, the residues for the last, each sealed to that party's witness key
  (X25519 + HKDF + AES-GCM, the key made beside its key share by crypto.keygen) and carried in the blob's
  witness section, which the hospital's signature covers. Its total is u; fewer than all parties learn nothing.
- A 256 x N projection R with entries 0 (prob 1/2), +1 and -1 (1/4 each) is derived from the blob's SHA-256,
  so it is fixed only after u is committed (Fiat-Shamir; a new R costs the hospital a new blob).
- Each party computes, on its own share, R * u_i and R * e1_i where e1_i = [i == 0] c1 - pk1 * u_i: linear, so
  the shares of all parties add up to R * u and R * (c1 - pk1 * u). The parties open those sums (the MPC adds
  them) and refuse the whole job, naming the hospital, when ||R u|| or ||R e1|| is above the bound an honest
  encryption meets.
- Modular Johnson-Lindenstrauss (Lyubashevsky, Nguyen, Plancon, CRYPTO 2022, Lemma 2.9): for any w mod Q with
  ||w|| >= b (b far below Q), ||R w mod Q|| < sqrt(30) b with probability at most 2^-128 over R. So an opened
  ||R w|| proves ||w|| <= ||R w|| / sqrt(30): a c1 that is not pk1 * u + e1 with short u, e1 cannot pass, and
  finding one that does is as hard as RLWE. The honest ||R w||^2 is about 128 ||w||^2.
- The opened projections are 256 linear hints on u and on e1 per ciphertext (of 8192 coefficients each); by
  the "LWE with side information" framework (Dachman-Soled, Ducas, Gong, Rossi, CRYPTO 2020) each perfect hint
  costs at most one dimension of the lattice, here 512 of 8192.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import ckks

WITNESS_KEY_FILE = "witness.key"
WITNESS_KEY_BYTES = 32
PROJECTION_ROWS = 256
# ||R w||^2 >= JL_LOWER ||w||^2 except with probability 2^-128 (LNP22, Lemma 2.9); E||R w||^2 = 128 ||w||^2.
JL_LOWER = 30
JL_MEAN = PROJECTION_ROWS // 2
# An opened ||R w||^2 is accepted up to ACCEPT times its honest mean: ||R w||^2 / ||w||^2 has a relative standard
# deviation of about 0.09 (a chi-square of 256 degrees), so an honest hospital passes far more often than not and
# simply makes a new blob in the rare case it would not (it checks its own projections before uploading).
ACCEPT = 1.5
# Honest squared norms per ciphertext: u ternary (variance 2/3), e1 SEAL's error.
HONEST_U_SQUARED = 2 / 3 * ckks.POLY_MODULUS_DEGREE
HONEST_E_SQUARED = ckks.ERROR_STD**2 * ckks.POLY_MODULUS_DEGREE
MAX_U_PROJECTION_SQUARED = ACCEPT * JL_MEAN * HONEST_U_SQUARED
MAX_E_PROJECTION_SQUARED = ACCEPT * JL_MEAN * HONEST_E_SQUARED

SEAL_DOMAIN = b"decentrahealth/witness-share/v1"
PROJECTION_DOMAIN = b"decentrahealth/witness-projection/v1"
SHARE_SEED, SHARE_RESIDUES = b"S", b"R"
SEED_BYTES = 32
NONCE_BYTES = 12
LIMB_BITS = 20  # projections in float64: a sum of N products of 20-bit limbs and +-1 is exact below 2^53


class WitnessError(ValueError):
    """A witness share cannot be opened or read (wrong key, tampered, wrong size)."""


# --- the parties' witness keys ---------------------------------------------------------------------------


def create_witness_key(party_dir: Path | str) -> bytes:
    """A fresh X25519 key in party_dir/witness.key (mode 0600, never overwritten); returns its public key."""
    key = X25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    descriptor = os.open(Path(party_dir) / WITNESS_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(raw)
    return _public_bytes(key)


def load_witness_key(party_dir: Path | str) -> X25519PrivateKey:
    path = Path(party_dir) / WITNESS_KEY_FILE
    try:
        return X25519PrivateKey.from_private_bytes(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise WitnessError(f"no usable witness key in {party_dir}: {exc}") from exc


def witness_public_key(party_dir: Path | str) -> bytes:
    return _public_bytes(load_witness_key(party_dir))


def _public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _cipher(shared: bytes, key_id: bytes, party: int) -> AESGCM:
    info = SEAL_DOMAIN + key_id + struct.pack("<I", party)
    return AESGCM(HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(shared))


def seal_share(share: bytes, party_key: bytes, key_id: bytes, party: int) -> bytes:
    """`share` readable by the holder of witness key `party_key` only: ephemeral X25519, HKDF, AES-GCM."""
    ephemeral = X25519PrivateKey.generate()
    nonce = os.urandom(NONCE_BYTES)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(party_key))
    sealed = _cipher(shared, key_id, party).encrypt(nonce, share, key_id)
    return _public_bytes(ephemeral) + nonce + sealed


def open_share(sealed: bytes, key: X25519PrivateKey, key_id: bytes, party: int) -> bytes:
    head = WITNESS_KEY_BYTES + NONCE_BYTES
    if len(sealed) < head + 16:
        raise WitnessError("the sealed share is truncated")
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(sealed[:WITNESS_KEY_BYTES]))
        return _cipher(shared, key_id, party).decrypt(sealed[WITNESS_KEY_BYTES:head], sealed[head:], key_id)
    except (InvalidTag, ValueError) as exc:
        raise WitnessError("the share sealed for this party does not open with its witness key") from exc


# --- shares of u -----------------------------------------------------------------------------------------


def _uniform_residues(seed: bytes, count: int) -> np.ndarray:
    """Uniform residues mod each data prime, shape (count, primes, N), from a seed (SHAKE-256, rejection)."""
    size = count * ckks.POLY_MODULUS_DEGREE
    rows = [
        ckks.uniform_residues(SEAL_DOMAIN + struct.pack("<I", index) + seed, prime, size)
        for index, prime in enumerate(ckks.data_primes().tolist())
    ]
    return np.stack(rows).reshape(len(rows), count, ckks.POLY_MODULUS_DEGREE).transpose(1, 0, 2)


def split_randomness(u: np.ndarray, parties: int) -> list[bytes]:
    """Additive shares of u mod Q, one per party: seeds for parties 0..m-2, the residues for the last."""
    seeds = [os.urandom(SEED_BYTES) for _ in range(parties - 1)]
    primes = ckks.data_primes()[None, :, None]
    last = ckks.signed_residues(u)
    for seed in seeds:
        last = (last + (primes - _uniform_residues(seed, u.shape[0]))) % primes
    return [SHARE_SEED + seed for seed in seeds] + [
        SHARE_RESIDUES + np.ascontiguousarray(last, dtype="<u8").tobytes()
    ]


def read_share(share: bytes, count: int) -> np.ndarray:
    """A party's share of u, shape (count, primes, N), uint64."""
    kind, body = share[:1], share[1:]
    if kind == SHARE_SEED and len(body) == SEED_BYTES:
        return _uniform_residues(body, count)
    shape = (count, len(ckks.data_primes()), ckks.POLY_MODULUS_DEGREE)
    if kind == SHARE_RESIDUES and len(body) == 8 * math.prod(shape):
        residues = np.frombuffer(body, dtype="<u8").reshape(shape)
        if (residues < ckks.data_primes()[None, :, None]).all():
            return residues
    raise WitnessError(f"the share is not a seed or {count} ciphertexts' residues")


# --- the projection ----------------------------------------------------------------------------------------


def projection(blob_digest: str) -> np.ndarray:
    """R for a blob: PROJECTION_ROWS x N entries in {0, +1, -1} with probabilities 1/2, 1/4, 1/4, as float64."""
    entries = PROJECTION_ROWS * ckks.POLY_MODULUS_DEGREE
    raw = np.frombuffer(
        hashlib.shake_256(PROJECTION_DOMAIN + bytes.fromhex(blob_digest)).digest(entries // 4), np.uint8
    )
    pairs = np.stack([(raw >> np.uint8(shift)) & np.uint8(3) for shift in (0, 2, 4, 6)], axis=1).reshape(-1)
    values = np.zeros(entries, dtype=np.float64)
    values[pairs == 2] = 1.0
    values[pairs == 3] = -1.0
    return values.reshape(PROJECTION_ROWS, ckks.POLY_MODULUS_DEGREE)


def _project_residues(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """matrix @ row mod its prime for residues of shape (..., primes, N); returns (..., primes, ROWS) uint64."""
    primes = ckks.data_primes()
    flat = rows.reshape(-1, ckks.POLY_MODULUS_DEGREE)
    total = np.zeros((flat.shape[0], PROJECTION_ROWS), dtype=object)
    for limb in range(math.ceil(64 / LIMB_BITS)):
        part = ((flat >> np.uint64(limb * LIMB_BITS)) & np.uint64((1 << LIMB_BITS) - 1)).astype(np.float64)
        total = total + (part @ matrix.T).astype(np.int64).astype(object) * (1 << (limb * LIMB_BITS))
    moduli = np.tile(primes.astype(object), flat.shape[0] // len(primes))[:, None]
    return (total % moduli).astype(np.uint64).reshape(*rows.shape[:-1], PROJECTION_ROWS)


def projection_share(
    share: np.ndarray, ciphertexts: np.ndarray, pk1: np.ndarray, first_party: bool, matrix: np.ndarray
) -> np.ndarray:
    """This party's share of (R u, R e1) per ciphertext, shape (count, 2, primes, ROWS), where
    e1 = c1 - pk1 * u; `share` (count, primes, N) is its share of u, `pk1` (primes, N) NTT form."""
    primes = ckks.data_primes()[:, None]
    e1_ntt = (primes - ckks.multiply(ckks.transform(share, to_ntt=True), pk1)) % primes
    if first_party:
        e1_ntt = (e1_ntt + ciphertexts[:, 1]) % primes
    e1 = ckks.transform(e1_ntt, to_ntt=False)
    return np.stack([_project_residues(share, matrix), _project_residues(e1, matrix)], axis=1)


def lift(opened: np.ndarray) -> np.ndarray:
    """Opened residues (..., primes, ROWS) as centred integers mod Q (Python ints), shape (..., ROWS)."""
    q1, q2 = (int(p) for p in ckks.data_primes())
    modulus = q1 * q2
    r1, r2 = opened[..., 0, :].astype(object), opened[..., 1, :].astype(object)
    lifted = (r1 * q2 * pow(q2, -1, q1) + r2 * q1 * pow(q1, -1, q2)) % modulus
    return np.where(lifted > modulus // 2, lifted - modulus, lifted)


@dataclass(frozen=True)
class ProjectionNorms:
    """Squared norms of one blob's opened projections, per ciphertext: ||R u||^2 and ||R e1||^2."""

    u_squared: tuple[int, ...]
    e_squared: tuple[int, ...]

    @classmethod
    def of(cls, projections: np.ndarray) -> ProjectionNorms:
        """From integer projections of shape (count, 2, ROWS)."""
        squares = [[int(sum(int(v) * int(v) for v in row)) for row in pair] for pair in projections]
        return cls(tuple(u for u, _ in squares), tuple(e for _, e in squares))

    def refusal(self) -> str:
        """Why these projections are not an honest encryption's, or "" when they pass."""
        for index, (u, e) in enumerate(zip(self.u_squared, self.e_squared, strict=True)):
            if u > MAX_U_PROJECTION_SQUARED or e > MAX_E_PROJECTION_SQUARED:
                return (
                    f"ciphertext {index + 1} is not a well-formed encryption: ||R u|| = {math.isqrt(u)} and "
                    f"||R e1|| = {math.isqrt(e)}, bounds {math.isqrt(int(MAX_U_PROJECTION_SQUARED))} and "
                    f"{math.isqrt(int(MAX_E_PROJECTION_SQUARED))} (a ciphertext not made by public-key "
                    "encryption with short randomness)"
                )
        return ""

    def proven_squares(self) -> list[tuple[float, float]]:
        """Per ciphertext, the bounds on ||u||^2 and ||e1||^2 the projections prove (divided by JL_LOWER)."""
        return [(u / JL_LOWER, e / JL_LOWER) for u, e in zip(self.u_squared, self.e_squared, strict=True)]


# --- the hospital's side -----------------------------------------------------------------------------------


def own_norms(blob: bytes, u: np.ndarray, e1: np.ndarray) -> ProjectionNorms:
    """The projections of the hospital's own u and e1 (integers, shape (count, N)) under the blob's R."""
    matrix = projection(hashlib.sha256(blob).hexdigest())
    projected = np.stack([u.astype(np.float64) @ matrix.T, e1.astype(np.float64) @ matrix.T], axis=1)
    return ProjectionNorms.of(np.rint(projected).astype(np.int64))


def encrypt_vector(public_context: bytes, vector: np.ndarray, witness_keys: Sequence[bytes]) -> bytes:
    """Encrypt a flat vector (already multiplied by the sample count) into a blob whose witness section holds
    a share of the encryption randomness for each key party (witness_keys, in party order)."""
    if len(witness_keys) < 2:
        raise ValueError("a key committee has at least 2 parties, each with a witness key")
    context = ckks.load_public_context(public_context)
    ciphertexts, u, e1 = ckks.encrypt_with_randomness(context, vector)
    length = int(np.asarray(vector).size)
    while True:  # an honest encryption passes the parties' bound almost always; if not, new shares, new R
        shares = split_randomness(u, len(witness_keys))
        sealed = [
            seal_share(share, bytes(key), context.key_id, party)
            for party, (share, key) in enumerate(zip(shares, witness_keys, strict=True))
        ]
        blob = ckks.blob_bytes(context.key_id, length, ciphertexts, witness=sealed)
        if not own_norms(blob, u, e1).refusal():
            return blob
