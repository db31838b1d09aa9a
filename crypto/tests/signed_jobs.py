"""Decryption jobs as a round's hospitals would sign them: one signing key per hospital (eth_account, as each
node makes at enrollment), every blob signed over (round, its SHA-256, n_h). For the tests of the key parties'
checks, here and in tests/."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account import Account

from crypto import ckks, decryption_job, keygen, wellformed
from crypto.zk.poseidon import hash_chain
from protocol import signing

# The update norm bound of the tests' jobs, far above their vectors' norms (the portal's default is 1e5).
NORM_BOUND = 1e6


@dataclass(frozen=True)
class LocalCommittee:
    """A key committee made in one process (crypto.keygen.create_local_committee), for tests."""

    public_context: bytes
    party_dirs: tuple[Path, ...]

    @classmethod
    def make(cls, base_dir: Path, parties: int = 3) -> LocalCommittee:
        public_context, party_dirs = keygen.create_local_committee(base_dir, parties)
        return cls(public_context, tuple(party_dirs))

    @property
    def witness_keys(self) -> list[bytes]:
        return [wellformed.witness_public_key(party_dir) for party_dir in self.party_dirs]

    def encrypt(self, vector: np.ndarray, norm_bound: float = NORM_BOUND, head: Sequence[int] = ()) -> bytes:
        """A hospital's upload: the ciphertexts, a witness share sealed to each party and the last party's share
        of the message projections (and of its proven `head`); a hospital that lies about the round's bound
        passes a larger `norm_bound`."""
        return wellformed.encrypt_vector(self.public_context, vector, self.witness_keys, norm_bound, head)

    def witness(self, index: int) -> decryption_job.PartyWitness:
        public_key = ckks.load_public_context(self.public_context).public_key
        return decryption_job.PartyWitness(
            index,
            len(self.party_dirs),
            wellformed.load_witness_key(self.party_dirs[index]),
            public_key[:, : len(ckks.data_primes())],
        )


def key_oracle_upload(
    public_context: bytes, witness_keys: Sequence[bytes], length: int, u: np.ndarray | None = None
) -> bytes:
    """The review's key oracle as a hospital would upload it: ciphertexts (c0, c1) = (0, Delta) (Delta a
    constant polynomial: the same value in every NTT slot), decrypting to Delta * s; with `u` (N,), shares of u
    sealed to the parties as its witness, and message projections of zero (of its maker's choosing: no u makes
    it well formed)."""
    primes = ckks.data_primes()
    ciphertexts = np.zeros(
        (ckks.ciphertext_count(length), 2, len(primes), ckks.POLY_MODULUS_DEGREE), np.uint64
    )
    for j, prime in enumerate(primes.tolist()):
        ciphertexts[:, 1, j, :] = int(ckks.SCALE) % prime
    key_id = ckks.load_public_context(public_context).key_id
    if u is None:
        return ckks.blob_bytes(key_id, length, ciphertexts)
    return upload_with_witness(
        key_id, length, ciphertexts, np.tile(u, (ciphertexts.shape[0], 1)), witness_keys
    )


def upload_with_witness(
    key_id: bytes,
    length: int,
    ciphertexts: np.ndarray,
    u: np.ndarray,
    witness_keys: Sequence[bytes],
    message_projections: np.ndarray | None = None,
) -> bytes:
    """An upload of `ciphertexts` whose witness claims the randomness `u` (count, N) and the message projections
    `message_projections` (count, ROWS; zero by default), whatever the ciphertexts really hold."""
    shares = wellformed.split_randomness(u, len(witness_keys))
    sealed = [
        wellformed.seal_share(share, key, key_id, party)
        for party, (share, key) in enumerate(zip(shares, witness_keys, strict=True))
    ]
    if message_projections is None:
        message_projections = np.zeros((ciphertexts.shape[0], wellformed.PROJECTION_ROWS), dtype=object)
    last = len(witness_keys) - 1
    norm_share = wellformed.seal_share(
        wellformed.split_norm(message_projections, shares), witness_keys[last], key_id, last
    )
    return ckks.upload_bytes(ckks.blob_bytes(key_id, length, ciphertexts, witness=sealed), norm_share)


# Key shares shared by several tests record the rounds they opened (one sum per round): every job gets its own.
_round_ids = itertools.count(secrets.randbelow(1 << 40) + 1)


def fresh_round_id() -> int:
    return next(_round_ids)


def hospital_keys(count: int) -> list:
    return [Account.create() for _ in range(count)]


def signed_terms(
    round_id: int,
    blobs: Sequence[bytes],
    keys: Sequence | None = None,
    counts: Sequence[int] | None = None,
    min_hospitals: int = 2,
    norm_bound: float = NORM_BOUND,
    proven_heads: Sequence[Sequence[int]] = (),
    dp_noise_std: float = 0.0,
) -> decryption_job.JobTerms:
    """Terms for `blobs`, blob i signed by keys[i] (fresh keys by default) as hospital-i with counts[i] samples,
    for a round whose plan bounds each update's L2 norm by `norm_bound`; with `proven_heads`, blob i's proof of
    training ends at proven_heads[i] (its commitment is that head's Poseidon hash); with `dp_noise_std`, the
    hospitals sign for differential-privacy noise of that std on the opened sum."""
    keys = list(keys) if keys is not None else hospital_keys(len(blobs))
    counts = list(counts) if counts is not None else [100] * len(blobs)
    submissions = []
    for index, (blob, key, count) in enumerate(zip(blobs, keys, counts, strict=True)):
        statement = signing.upload_statement(
            round_id, hashlib.sha256(blob).hexdigest(), count, norm_bound, dp_noise_std
        )
        submissions.append(
            decryption_job.SignedUpload(
                f"hospital-{index}",
                key.address,
                count,
                signing.sign_text(key, statement),
                str(hash_chain(list(proven_heads[index]))) if proven_heads else "",
            )
        )
    head_size = len(proven_heads[0]) if proven_heads else 0
    return decryption_job.JobTerms(
        round_id, min_hospitals, tuple(submissions), norm_bound, head_size, dp_noise_std
    )


def write_signed_job(
    job_dir: Path,
    public_context: bytes,
    blobs: Sequence[bytes],
    length: int,
    terms: decryption_job.JobTerms | None = None,
    sum_digest: str | None = None,
) -> Path:
    """A job of `blobs` signed by their hospitals for a fresh round (or `terms`), with the true sum's digest (or
    `sum_digest`)."""
    terms = terms or signed_terms(fresh_round_id(), blobs)
    if sum_digest is None:
        sum_digest = ckks.blob_digest(ckks.sum_blobs(public_context, blobs))
    return decryption_job.write_job(job_dir, public_context, blobs, length, sum_digest, terms)
