"""Decryption jobs as a round's hospitals would sign them: one signing key per hospital (eth_account, as each
node makes at enrollment), every blob signed over (round, its SHA-256, n_h). For the tests of the key parties'
checks, here and in tests/."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Sequence
from pathlib import Path

from eth_account import Account

from crypto import ckks, decryption_job
from protocol import signing

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
) -> decryption_job.JobTerms:
    """Terms for `blobs`, blob i signed by keys[i] (fresh keys by default) as hospital-i with counts[i] samples."""
    keys = list(keys) if keys is not None else hospital_keys(len(blobs))
    counts = list(counts) if counts is not None else [100] * len(blobs)
    submissions = []
    for index, (blob, key, count) in enumerate(zip(blobs, keys, counts, strict=True)):
        statement = signing.upload_statement(round_id, hashlib.sha256(blob).hexdigest(), count)
        submissions.append(
            decryption_job.SignedUpload(
                f"hospital-{index}", key.address, count, signing.sign_text(key, statement)
            )
        )
    return decryption_job.JobTerms(round_id, min_hospitals, tuple(submissions))


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
