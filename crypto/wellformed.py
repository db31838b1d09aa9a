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
- A 256 x N projection R with entries 0 (prob 1/2), +1 and -1 (1/4 each) is derived from the SHA-256 of the
  upload up to its norm section (ckks.ParsedBlob.commitment: the ciphertexts and u's sealed shares), so it is
  fixed only after c and u are (Fiat-Shamir; a new R costs the hospital a new upload).
- Each party computes, on its own share, R * u_i and R * e1_i where e1_i = [i == 0] c1 - pk1 * u_i: linear, so
  the shares of all parties add up to R * u and R * (c1 - pk1 * u). The parties open those sums (the MPC adds
  them) and refuse the whole job, naming the hospital, when ||R u|| or ||R e1|| is above the bound an honest
  encryption meets.
- The update's norm, the same way but without opening anything of the message: w0 = c0 - pk0 * u = e0 + m is
  the message polynomial (plus a tiny error), and ||m||^2 = 2 Delta^2 ||z||^2 / N for complex slot values z, two
  update values a slot (Parseval over the N roots of the canonical embedding), so ||R w0|| bounds the update's L2 norm as ||R e1|| bounds e1.
  Opening R w0 would show 256 projections of the update, so the hospital also shares v = R w0 (centred, as
  integers) additively over the integers: masks of 2^159 from the seeds of parties 0..m-2, the rest sealed to
  the last party, once the commitment (ciphertexts and u's shares) has fixed R. The parties open
  sum_i (v_i - (R w0)_i) mod each prime, which is zero for an honest hospital (so shows nothing), and then, in
  MPC over secure integers, only whether ||v||^2 is within the plan's bound: one bit per upload. Any v of the
  right residues is at least as long as the centred one, so a hospital cannot make its update look shorter.
- Modular Johnson-Lindenstrauss (Lyubashevsky, Nguyen, Plancon, CRYPTO 2022, Lemma 2.9): for any w mod Q with
  ||w|| >= b (b far below Q), ||R w mod Q|| < sqrt(30) b with probability at most 2^-128 over R. So an opened
  ||R w|| proves ||w|| <= ||R w|| / sqrt(30): a c1 that is not pk1 * u + e1 with short u, e1 cannot pass, and
  finding one that does is as hard as RLWE. The honest ||R w||^2 is about 128 ||w||^2.
- The opened projections of u and e1 are 256 linear hints on u and on e1 per ciphertext (of 8192 coefficients each); by
  the "LWE with side information" framework (Dachman-Soled, Ducas, Gong, Rossi, CRYPTO 2020) each perfect hint
  costs at most one dimension of the lattice, here 512 of 8192.
- The proven head, with proofs of training: the hospital's final head W (the proof's last Merkle leaf commits
  to Poseidon(W)) travels only as additive shares mod BN254's prime, masks from the seeds of parties 0..m-2
  and the rest sealed to the last party beside its norm share. The parties recompute Poseidon of each shared
  head in MPC and open only the digest, which must be the proof's leaf (else that hospital is refused and
  named), then the exact sum_h n_h W_h of the heads they accepted (crypto.keyparty).
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
from crypto.zk.poseidon import FIELD_PRIME

WITNESS_KEY_FILE = "witness.key"
WITNESS_KEY_BYTES = 32
PROJECTION_ROWS = ckks.PROJECTION_ROWS
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
# What a passing ||R w0||^2 proves of the update: its L2 norm is within sqrt(ACCEPT JL_MEAN / JL_LOWER) = 2.53 times
# the plan's bound (an honest update within the bound passes; one scaled x100 cannot).
PROVEN_NORM_FACTOR = math.sqrt(ACCEPT * JL_MEAN / JL_LOWER)
# The message projections' integer shares: masks uniform in [-2^159, 2^159) (40 bits above |v| < Q/2 < 2^120), the
# last share below 2^164 (checked), so |v| < 2^165 and the parties' sum of squares fits secure integers of
# norm_check_bits.
NORM_MASK_BITS = 160
NORM_SHARE_LIMIT = 1 << 164
NORM_VALUE_BITS = 165
NORM_SHARE_BYTES = ckks.NORM_SHARE_BYTES
MAX_ENCRYPTION_ATTEMPTS = 16

SEAL_DOMAIN = b"decentrahealth/witness-share/v1"
PROJECTION_DOMAIN = b"decentrahealth/witness-projection/v1"
NORM_DOMAIN = b"decentrahealth/norm-share/v1"
HEAD_DOMAIN = b"decentrahealth/head-share/v1"
# 64 bits more than the field: a head mask is uniform mod FIELD_PRIME to within 2^-64.
HEAD_MASK_BYTES = 40
SHARE_SEED, SHARE_RESIDUES, SHARE_NORM = b"S", b"R", b"N"
SEED_BYTES = 32
NONCE_BYTES = 12
# Projections in float64, a residue in two 30-bit limbs: a sum of N = 2^13 products of a limb and +-1 stays
# below 2^43, exact in float64 (2^53).
LIMB_BITS = 30


class WitnessError(ValueError):
    """A witness share cannot be opened or read (wrong key, tampered, wrong size)."""


class UpdateOverBound(ValueError):
    """The hospital's own update is above the round plan's norm bound: the key parties would refuse it."""


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


def _norm_masks(seed: bytes, count: int) -> np.ndarray:
    """A seed party's share of the message projections: integers uniform in [-2^159, 2^159), (count, ROWS)."""
    width = NORM_MASK_BITS // 8
    raw = hashlib.shake_256(NORM_DOMAIN + seed).digest(count * PROJECTION_ROWS * width)
    offset = 1 << (NORM_MASK_BITS - 1)
    values = [
        int.from_bytes(raw[start : start + width], "little") - offset for start in range(0, len(raw), width)
    ]
    return np.array(values, dtype=object).reshape(count, PROJECTION_ROWS)


def _head_masks(seed: bytes, size: int) -> np.ndarray:
    """A seed party's share of the proven head: `size` field elements uniform mod FIELD_PRIME."""
    raw = hashlib.shake_256(HEAD_DOMAIN + seed).digest(size * HEAD_MASK_BYTES)
    values = [
        int.from_bytes(raw[start : start + HEAD_MASK_BYTES], "little") % FIELD_PRIME
        for start in range(0, len(raw), HEAD_MASK_BYTES)
    ]
    return np.array(values, dtype=object)


def split_norm(v: np.ndarray, shares: Sequence[bytes], head: Sequence[int] = ()) -> bytes:
    """The last party's share of the message projections v (count, ROWS) given the others' seeds (`shares`,
    from split_randomness): v minus their masks, as signed 24-byte integers after the kind byte; then its share
    of the proven `head` (signed integers, the quantised W row-major then b) mod FIELD_PRIME, 32 bytes each."""
    last = v.astype(object)
    head_last = np.array([int(value) % FIELD_PRIME for value in head], dtype=object)
    for share in shares[:-1]:
        last = last - _norm_masks(share[1:], v.shape[0])
        head_last = (head_last - _head_masks(share[1:], len(head))) % FIELD_PRIME
    return (
        SHARE_NORM
        + b"".join(int(value).to_bytes(NORM_SHARE_BYTES, "little", signed=True) for value in last.reshape(-1))
        + b"".join(int(value).to_bytes(ckks.HEAD_SHARE_BYTES, "little") for value in head_last)
    )


@dataclass(frozen=True)
class NormShare:
    """A party's shares of one upload's message projections, (count, ROWS) integers, and of its proven head,
    (head_size,) integers mod FIELD_PRIME (empty without proofs)."""

    projections: np.ndarray
    head: np.ndarray


def read_norm_share(share: bytes, opened_norm: bytes | None, count: int, head_size: int = 0) -> NormShare:
    """A party's integer shares of the message projections and of the proven head (`head_size` values): from
    its seed (`share` of kind seed), or, for the last party, `opened_norm`, the share sealed to it after the
    commitment."""
    if share[:1] == SHARE_SEED and opened_norm is None:
        return NormShare(_norm_masks(share[1:], count), _head_masks(share[1:], head_size))
    size = count * PROJECTION_ROWS * NORM_SHARE_BYTES
    if share[:1] != SHARE_RESIDUES or opened_norm is None:
        raise WitnessError(
            "the last key party's share is not the residues of u with a norm share beside them"
        )
    if opened_norm[:1] != SHARE_NORM or len(opened_norm) != 1 + size + head_size * ckks.HEAD_SHARE_BYTES:
        raise WitnessError(
            f"the norm share is not {count} ciphertexts' projections and a head of {head_size} values"
        )
    body = opened_norm[1 : 1 + size]
    values = [
        int.from_bytes(body[start : start + NORM_SHARE_BYTES], "little", signed=True)
        for start in range(0, size, NORM_SHARE_BYTES)
    ]
    if max(abs(value) for value in values) >= NORM_SHARE_LIMIT:
        raise WitnessError("the norm share holds a value out of range")
    tail = opened_norm[1 + size :]
    head = [
        int.from_bytes(tail[start : start + ckks.HEAD_SHARE_BYTES], "little")
        for start in range(0, len(tail), ckks.HEAD_SHARE_BYTES)
    ]
    if any(value >= FIELD_PRIME for value in head):
        raise WitnessError("the head share holds a value outside the field")
    return NormShare(
        np.array(values, dtype=object).reshape(count, PROJECTION_ROWS), np.array(head, dtype=object)
    )


# --- the projection ----------------------------------------------------------------------------------------


def _projection_entries() -> np.ndarray:
    """Row b: the four entries a hash byte b stands for, two bits each from the lowest: 0, 1 -> 0; 2 -> +1;
    3 -> -1."""
    pairs = (np.arange(256, dtype=np.uint8)[:, None] >> np.array([0, 2, 4, 6], dtype=np.uint8)) & np.uint8(3)
    return np.select([pairs == 2, pairs == 3], [1.0, -1.0], 0.0)


_PROJECTION_ENTRIES = _projection_entries()


def projection(commitment: str) -> np.ndarray:
    """R for an upload of commitment `commitment` (ckks.ParsedBlob.commitment): PROJECTION_ROWS x N entries in
    {0, +1, -1} with probabilities 1/2, 1/4, 1/4, as float64."""
    entries = PROJECTION_ROWS * ckks.POLY_MODULUS_DEGREE
    raw = np.frombuffer(
        hashlib.shake_256(PROJECTION_DOMAIN + bytes.fromhex(commitment)).digest(entries // 4), np.uint8
    )
    return _PROJECTION_ENTRIES[raw].reshape(PROJECTION_ROWS, ckks.POLY_MODULUS_DEGREE)


def _project_residues(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """matrix @ row mod its prime for residues of shape (..., primes, N); returns (..., primes, ROWS) uint64."""
    primes = ckks.data_primes()
    flat = rows.reshape(-1, ckks.POLY_MODULUS_DEGREE)
    mask = np.uint64((1 << LIMB_BITS) - 1)
    low = ((flat & mask).astype(np.float64) @ matrix.T).astype(np.int64)
    high = ((flat >> np.uint64(LIMB_BITS)).astype(np.float64) @ matrix.T).astype(np.int64)
    moduli = np.tile(primes.astype(np.int64), flat.shape[0] // len(primes))[:, None]
    # high mod q times 2^30 exceeds 64 bits: that product alone in Python integers.
    shifted = ((high % moduli).astype(object) << LIMB_BITS) % moduli.astype(object)
    total = (shifted.astype(np.int64) + low % moduli) % moduli
    return total.astype(np.uint64).reshape(*rows.shape[:-1], PROJECTION_ROWS)


def _residual_projections(
    share: np.ndarray, ciphertexts: np.ndarray, public_key: np.ndarray, first_party: bool, matrix: np.ndarray
) -> np.ndarray:
    """Residues of (R u, R e1, R w0) per ciphertext for a share of u, shape (count, 3, primes, ROWS), where
    e1 = c1 - pk1 * u and w0 = c0 - pk0 * u (c counted by the first party only); `share` (count, primes, N),
    `public_key` (pk0, pk1) mod the data primes, NTT form."""
    primes = ckks.data_primes()[:, None]
    u_ntt = ckks.transform(share, to_ntt=True)
    polynomials = [share]
    for polynomial in (1, 0):
        residual = (primes - ckks.multiply(u_ntt, public_key[polynomial])) % primes
        if first_party:
            residual = (residual + ciphertexts[:, polynomial]) % primes
        polynomials.append(ckks.transform(residual, to_ntt=False))
    return _project_residues(np.stack(polynomials, axis=1), matrix)  # one product for all three


def projection_share(
    share: np.ndarray,
    ciphertexts: np.ndarray,
    public_key: np.ndarray,
    first_party: bool,
    matrix: np.ndarray,
    norm_share: np.ndarray,
) -> np.ndarray:
    """This party's share of (R u, R e1, v - R w0) per ciphertext, shape (count, 3, primes, ROWS): opened, the
    first two are checked short and the third must be zero. `norm_share` (count, ROWS) is its integer share of
    v, the message projections whose squared norm the parties then compare with the bound in MPC."""
    projections = _residual_projections(share, ciphertexts, public_key, first_party, matrix)
    primes = ckks.data_primes()
    claimed = np.stack([norm_share % int(prime) for prime in primes.tolist()], axis=1).astype(np.uint64)
    column = primes[:, None]
    projections[:, 2] = (claimed + (column - projections[:, 2])) % column
    return projections


def lift(opened: np.ndarray) -> np.ndarray:
    """Opened residues (..., primes, ROWS) as centred integers mod Q (Python ints), shape (..., ROWS)."""
    q1, q2 = (int(p) for p in ckks.data_primes())
    modulus = q1 * q2
    r1, r2 = opened[..., 0, :].astype(object), opened[..., 1, :].astype(object)
    lifted = (r1 * q2 * pow(q2, -1, q1) + r2 * q1 * pow(q1, -1, q2)) % modulus
    return np.where(lifted > modulus // 2, lifted - modulus, lifted)


@dataclass(frozen=True)
class ProjectionNorms:
    """One upload's opened projections, per ciphertext: ||R u||^2, ||R e1||^2, and whether its shares of the
    message projections add up to R w0."""

    u_squared: tuple[int, ...]
    e_squared: tuple[int, ...]
    matched: tuple[bool, ...]

    @classmethod
    def of(cls, projections: np.ndarray) -> ProjectionNorms:
        """From integer projections of shape (count, 3, ROWS)."""
        squares = [[int(sum(int(v) * int(v) for v in row)) for row in pair[:2]] for pair in projections]
        return cls(
            tuple(u for u, _ in squares),
            tuple(e for _, e in squares),
            tuple(not any(pair[2]) for pair in projections),
        )

    def refusal(self) -> str:
        """Why these projections are not an honest encryption's, or "" when they pass."""
        for index, (u, e, matched) in enumerate(
            zip(self.u_squared, self.e_squared, self.matched, strict=True)
        ):
            if u > MAX_U_PROJECTION_SQUARED or e > MAX_E_PROJECTION_SQUARED:
                return (
                    f"ciphertext {index + 1} is not a well-formed encryption: ||R u|| = {math.isqrt(u)} and "
                    f"||R e1|| = {math.isqrt(e)}, bounds {math.isqrt(int(MAX_U_PROJECTION_SQUARED))} and "
                    f"{math.isqrt(int(MAX_E_PROJECTION_SQUARED))} (a ciphertext not made by public-key "
                    "encryption with short randomness)"
                )
            if not matched:
                return (
                    f"ciphertext {index + 1}: the shares of its message's projections do not add up to them (a "
                    "norm witness that does not show the update's norm)"
                )
        return ""

    def proven_squares(self) -> list[tuple[float, float]]:
        """Per ciphertext, the bounds on ||u||^2 and ||e1||^2 the projections prove (divided by JL_LOWER)."""
        return [(u / JL_LOWER, e / JL_LOWER) for u, e in zip(self.u_squared, self.e_squared, strict=True)]


def message_norm_threshold(norm_bound: float, count: int) -> int:
    """The largest ||v||^2 (v: the message projections of all `count` ciphertexts) the parties accept for a round
    whose plan bounds the update's L2 norm by `norm_bound`: ACCEPT times the honest mean at that norm."""
    message = 2 * ckks.SCALE**2 * float(norm_bound) ** 2 / ckks.POLY_MODULUS_DEGREE
    return int(ACCEPT * JL_MEAN * (message + count * HONEST_E_SQUARED))


def norm_check_bits(count: int) -> int:
    """Bits of the secure integers that hold ||v||^2 for `count` ciphertexts without overflow (|v| < 2^165)."""
    return 2 * NORM_VALUE_BITS + (count * PROJECTION_ROWS).bit_length() + 2


# --- the hospital's side -----------------------------------------------------------------------------------


def encrypt_vector(
    public_context: bytes,
    vector: np.ndarray,
    witness_keys: Sequence[bytes],
    norm_bound: float,
    head: Sequence[int] = (),
) -> bytes:
    """Encrypt a flat vector (already multiplied by the sample count) into a hospital's upload: the ciphertexts,
    a share of the encryption randomness for each key party (witness_keys, in party order) and the last party's
    share of the message projections and of the proven `head` (the quantised head the proof of training ends
    at, W row-major then b; empty without proofs). Raises UpdateOverBound when the vector's L2 norm is above `norm_bound`
    (the round plan's), which the key parties would refuse."""
    if len(witness_keys) < 2:
        raise ValueError("a key committee has at least 2 parties, each with a witness key")
    norm = float(np.linalg.norm(np.asarray(vector, dtype=np.float64)))
    if np.isfinite(norm) and norm > norm_bound:  # NaN and infinity: ckks refuses them below
        raise UpdateOverBound(
            f"this hospital's update has L2 norm {norm:.6g}, above the round plan's update_norm_bound "
            f"{norm_bound:.6g}: the key parties would refuse it (lower the learning rate or the epochs, or ask "
            "the coordinator for a larger bound)"
        )
    context = ckks.load_public_context(public_context)
    ciphertexts, u = ckks.encrypt_with_randomness(context, vector)
    public_key = context.public_key[:, : len(ckks.data_primes())]
    threshold = message_norm_threshold(norm_bound, ciphertexts.shape[0])
    length = int(np.asarray(vector).size)
    for _ in range(
        MAX_ENCRYPTION_ATTEMPTS
    ):  # an honest encryption passes almost always; if not, new shares, R
        shares = split_randomness(u, len(witness_keys))
        sealed = [
            seal_share(share, bytes(key), context.key_id, party)
            for party, (share, key) in enumerate(zip(shares, witness_keys, strict=True))
        ]
        committed = ckks.blob_bytes(context.key_id, length, ciphertexts, witness=sealed)
        matrix = projection(hashlib.sha256(committed).hexdigest())
        u_projection, e_projection, v = lift(
            _residual_projections(ckks.signed_residues(u), ciphertexts, public_key, True, matrix)
        ).transpose(1, 0, 2)
        own = ProjectionNorms.of(np.stack([u_projection, e_projection, np.zeros_like(v)], axis=1))
        if own.refusal() or sum(int(value) * int(value) for value in v.reshape(-1)) > threshold:
            continue
        last = len(witness_keys) - 1
        norm_share = seal_share(split_norm(v, shares, head), bytes(witness_keys[last]), context.key_id, last)
        return ckks.upload_bytes(committed, norm_share)
    raise RuntimeError("no encryption of this update passed its own well-formedness check; please report it")
