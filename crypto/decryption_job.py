"""A decryption job on disk: what the portal hands the key parties, and the checks each party makes of it.

A job directory, as the portal writes it (write_job): job.json {"format", "vector_length", "sum_digest",
"public_context", "blobs"}, the public context and the blobs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from crypto import ckks

JOB_FILE = "job.json"
JOB_FORMAT = 1


class KeyPartyRefusal(Exception):
    """A key party refuses a job (bad blob, sum digest mismatch, missing key share)."""


def write_job(
    job_dir: Path | str, public_context: bytes, blobs: Sequence[bytes], vector_length: int, sum_digest: str
) -> Path:
    """Lay out a decryption job for the key parties (the portal's side). Returns the job directory."""
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / "public_context.bin").write_bytes(public_context)
    names = []
    for index, blob in enumerate(blobs):
        names.append(f"blob-{index:04d}.bin")
        (job_dir / names[-1]).write_bytes(blob)
    job = {
        "format": JOB_FORMAT,
        "vector_length": vector_length,
        "sum_digest": sum_digest,
        "public_context": "public_context.bin",
        "blobs": names,
    }
    (job_dir / JOB_FILE).write_text(json.dumps(job, indent=2) + "\n")
    return job_dir


def load_job(job_dir: Path) -> ckks.ParsedBlob:
    """Read a job, check every blob, recompute the sum and compare its digest with the portal's; returns it."""
    try:
        job = json.loads((job_dir / JOB_FILE).read_text())
        if job.get("format") != JOB_FORMAT:
            raise KeyPartyRefusal(f"unsupported job format {job.get('format')!r}")
        public_context = (job_dir / job["public_context"]).read_bytes()
        names = [str(name) for name in job["blobs"]]
        length, expected_digest = int(job["vector_length"]), str(job["sum_digest"])
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise KeyPartyRefusal(f"unreadable job in {job_dir}: {exc}") from exc
    if not names:
        raise KeyPartyRefusal("the job has no ciphertexts")
    if len(set(names)) != len(names):
        raise KeyPartyRefusal("the job lists the same ciphertext blob twice")
    max_bytes = ckks.blob_size(length)
    digests: set[str] = set()
    total = None
    for name in names:  # one blob in memory at a time
        try:
            blob = (job_dir / name).read_bytes()
            parsed = ckks.parse_blob(public_context, blob, length, max_bytes)
        except (OSError, ValueError) as exc:  # CiphertextError is a ValueError
            raise KeyPartyRefusal(f"blob {name} refused: {exc}") from exc
        digest = ckks.blob_digest(blob)
        if digest in digests:
            raise KeyPartyRefusal(f"blob {name} refused: the same ciphertext blob twice")
        digests.add(digest)
        if total is None:
            total = parsed.ciphertexts
        else:
            ckks.add_mod(total, parsed.ciphertexts)
    digest = ckks.blob_digest(ckks.blob_bytes(parsed.key_id, length, total))
    if digest != expected_digest:
        raise KeyPartyRefusal(
            f"the portal's sum digest {expected_digest} differs from the sum recomputed here "
            f"({digest}); refusing to decrypt"
        )
    return ckks.ParsedBlob(parsed.key_id, length, total)
