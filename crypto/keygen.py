"""Dealer-free generation of the committee's joint CKKS key: nobody ever holds the whole secret.

Each key party i draws its own secret s_i (SEAL's key generator: ternary coefficients from SEAL's
cryptographic PRNG) and publishes b_i = -(a*s_i + e_i) for a common polynomial a derived from a public
seed, with e_i SEAL's own error distribution. The joint public key is (sum b_i, a), a public key for
s = sum s_i in SEAL's own form, so SEAL encrypts under it and decrypting needs every share (crypto.threshold).

A party commits to its contribution (SHA-256 of the contribution bytes, which hold a fresh random nonce)
before anyone reveals; the portal accepts reveals only after all commitments are in, so no party can pick
its b_i after seeing the others' (the rogue-key attack). combine_public_key checks every reveal against its
commitment.

Getting b_i for the common a: SEAL makes a public key (pk0, pk1) = (-(a'*s_i + e_i), a') for a random a';
then b_i = pk0 + (pk1 - a) * s_i, computed pointwise in NTT form, where the secret key already is.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tenseal.sealapi as sealapi

from crypto import ckks, seal_io, wellformed

SECRET_SHARE_FILE = "secret_share.seal"
CONTRIBUTION_FILE = "contribution.bin"
COMMITMENT_FILE = "commitment.json"
COMMON_POLYNOMIAL_DOMAIN = b"decentrahealth/ckks-common-a/v1"
CONTRIBUTION_MAGIC = b"DHKC"
CONTRIBUTION_VERSION = 2  # 1 had no witness key
# magic, version, parameter set, sha256(seed), nonce, the party's witness key (crypto.wellformed)
CONTRIBUTION_HEADER = struct.Struct("<4sHH32s32s32s")


class KeyGenError(ValueError):
    """A key-generation input is refused (bad commitment, other seed, other parameters, ...)."""


def common_polynomial(seed: bytes) -> np.ndarray:
    """The public polynomial a, uniform mod each key prime, in NTT form (uniform there too), shape (3, N)."""
    return np.stack(
        [
            ckks.uniform_residues(
                COMMON_POLYNOMIAL_DOMAIN + struct.pack("<I", index) + seed, prime, ckks.POLY_MODULUS_DEGREE
            )
            for index, prime in enumerate(ckks.key_primes().tolist())
        ]
    )


@dataclass(frozen=True)
class Contribution:
    """A party's public contribution b_i (NTT form, shape (3, N)) bound to the seed and a fresh nonce, and the
    public key hospitals seal this party's share of their encryption randomness to (crypto.wellformed)."""

    seed_digest: bytes
    nonce: bytes
    b: np.ndarray
    witness_key: bytes

    def to_bytes(self) -> bytes:
        header = CONTRIBUTION_HEADER.pack(
            CONTRIBUTION_MAGIC,
            CONTRIBUTION_VERSION,
            ckks.PARAMS_ID,
            self.seed_digest,
            self.nonce,
            self.witness_key,
        )
        return header + np.ascontiguousarray(self.b, dtype="<u8").tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Contribution:
        shape = (len(ckks.key_primes()), ckks.POLY_MODULUS_DEGREE)
        if len(raw) != CONTRIBUTION_HEADER.size + 8 * shape[0] * shape[1]:
            raise KeyGenError(f"a contribution has {len(raw)} bytes, not the expected size")
        magic, version, params_id, seed_digest, nonce, witness_key = CONTRIBUTION_HEADER.unpack_from(raw)
        if magic != CONTRIBUTION_MAGIC or version != CONTRIBUTION_VERSION:
            raise KeyGenError("not a key contribution of this format")
        if params_id != ckks.PARAMS_ID:
            raise KeyGenError(f"a contribution made for other CKKS parameters (set {params_id})")
        b = np.frombuffer(raw, dtype="<u8", offset=CONTRIBUTION_HEADER.size).reshape(shape)
        if not (b < ckks.key_primes()[:, None]).all():
            raise KeyGenError("a contribution's coefficients are out of range")
        return cls(seed_digest, nonce, b, witness_key)


def commitment(contribution: bytes) -> str:
    """The commitment a party publishes before revealing its contribution."""
    return hashlib.sha256(contribution).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    """Create a file only its owner can read; never overwrite (a key share lost is a key lost)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def generate_share(party_dir: Path | str, seed: bytes) -> str:
    """Make this party's secret share and public contribution in `party_dir`; returns the commitment.

    Writes secret_share.seal and witness.key (mode 0600, never leave the directory), contribution.bin (revealed after
    every party has committed) and commitment.json (published first).
    """
    party_dir = Path(party_dir)
    party_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (party_dir / SECRET_SHARE_FILE).exists():
        raise KeyGenError(f"{party_dir} already holds a key share; use a new directory for a new key")
    context = ckks.seal_context()
    generator = sealapi.KeyGenerator(context)
    secret_key = generator.secret_key()
    secret = seal_io.parse_plaintext(seal_io.save_bytes(secret_key))
    public_key = sealapi.PublicKey()
    generator.create_public_key(public_key)
    pk0, pk1 = seal_io.parse_ciphertext(seal_io.save_bytes(public_key)).data
    primes = ckks.key_primes()
    s_ntt = secret.data.reshape(len(primes), ckks.POLY_MODULUS_DEGREE)
    a = common_polynomial(seed)
    difference = (pk1 + (primes[:, None] - a)) % primes[:, None]  # pk1 - a mod q, no uint64 underflow
    b = (pk0 + ckks.mulmod(difference, s_ntt, primes)) % primes[:, None]
    witness_key = wellformed.create_witness_key(party_dir)
    contribution = Contribution(
        hashlib.sha256(seed).digest(), secrets.token_bytes(32), b, witness_key
    ).to_bytes()
    _write_private(party_dir / SECRET_SHARE_FILE, seal_io.plaintext_bytes(secret))
    (party_dir / CONTRIBUTION_FILE).write_bytes(contribution)
    digest = commitment(contribution)
    (party_dir / COMMITMENT_FILE).write_text(json.dumps({"seed": seed.hex(), "commitment": digest}) + "\n")
    return digest


def load_secret_share(party_dir: Path | str) -> sealapi.SecretKey:
    """This party's secret share as a SEAL secret key (for its partial decryptions)."""
    path = Path(party_dir) / SECRET_SHARE_FILE
    if not path.exists():
        raise KeyGenError(f"no key share in {party_dir} (run `keyparty generate` first)")
    if path.stat().st_mode & 0o077:
        raise KeyGenError(f"{path} is readable by others; it must be mode 0600")
    return seal_io.load_into(sealapi.SecretKey(), ckks.seal_context(), path.read_bytes())


def combine_public_key(seed: bytes, commitments: Sequence[str], contributions: Sequence[bytes]) -> bytes:
    """The portal's side: check each reveal against its commitment, add them up, return the public context.

    `commitments[i]` and `contributions[i]` are party i's. Returns a serialised public TenSEAL context with
    the joint public key (sum b_i, a) and no secret key. Deterministic: anyone holding the seed and the
    contributions can recompute it and compare key ids.
    """
    if len(commitments) != len(contributions) or len(contributions) < 2:
        raise KeyGenError(
            f"need one commitment per contribution and at least 2 parties, got "
            f"{len(commitments)} commitments and {len(contributions)} contributions"
        )
    if len(set(contributions)) != len(contributions):
        raise KeyGenError("two parties revealed the same contribution")
    seed_digest = hashlib.sha256(seed).digest()
    primes = ckks.key_primes()
    joint_b = np.zeros((len(primes), ckks.POLY_MODULUS_DEGREE), dtype=np.uint64)
    for index, (committed, revealed) in enumerate(zip(commitments, contributions, strict=True)):
        if not secrets.compare_digest(commitment(revealed), committed.lower()):
            raise KeyGenError(f"party {index}'s contribution does not match its commitment")
        contribution = Contribution.from_bytes(revealed)
        if contribution.seed_digest != seed_digest:
            raise KeyGenError(f"party {index}'s contribution was made for another seed")
        ckks.add_mod(joint_b, contribution.b, primes)
    public_key = seal_io.CiphertextData(
        parms_id=tuple(ckks.seal_context().key_parms_id()),
        is_ntt_form=True,
        scale=1.0,
        data=np.stack([joint_b, common_polynomial(seed)]),
    )
    return ckks.public_context_from_key(public_key)


def create_local_committee(
    base_dir: Path | str, parties: int = 3, seed: bytes | None = None
) -> tuple[bytes, list[Path]]:
    """Library tests and benchmarks: `parties` key parties in base_dir/party{i}, all commitments, then all
    reveals, in this process. Returns (public context, party directories). The portal never does this: each
    party's service (`dh-keyparty serve`) makes its share on its own host, and the portal collects commitments
    before contributions.
    """
    seed = secrets.token_bytes(32) if seed is None else seed
    party_dirs = [Path(base_dir) / f"party{index}" for index in range(parties)]
    commitments = [generate_share(party_dir, seed) for party_dir in party_dirs]
    contributions = [(party_dir / CONTRIBUTION_FILE).read_bytes() for party_dir in party_dirs]
    return combine_public_key(seed, commitments, contributions), party_dirs
