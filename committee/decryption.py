"""Decryption jobs: the committee opens the sum of a round's ciphertexts, and nothing else.

In this single-machine set-up (demo, tests) a job runs the parties as separate processes talking MPyC over TCP
on localhost, each reading only its own share folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from django.conf import settings

from committee.errors import CommitteeError
from committee.models import KeyCommittee
from committee.selectors import public_context
from crypto import ckks, decryption_job, keyparty


def decrypt_sum(committee: KeyCommittee, job_name: str, blobs: list[bytes], vector_length: int) -> np.ndarray:
    """Sums the ciphertexts, hands the parties the same blobs and the sum's digest (each recomputes and
    compares it), and returns only the opened sum."""
    context = public_context(committee)
    summed = ckks.sum_blobs(context, blobs, expected_length=vector_length)
    job_dir = Path(settings.DATA_DIR) / "decryption-jobs" / job_name
    decryption_job.write_job(job_dir, context, blobs, vector_length, ckks.blob_digest(summed))
    party_dirs = [party["location"] for party in committee.parties]
    try:
        return keyparty.decrypt_sum(job_dir, party_dirs, timeout=settings.DH_DECRYPTION_TIMEOUT)
    except keyparty.ThresholdDecryptionError as exc:
        raise CommitteeError(str(exc)) from None
