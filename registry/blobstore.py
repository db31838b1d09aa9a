"""Content-addressed blob store: a blob lives at blobs/<aa>/<sha256>; writing the same bytes twice is a no-op."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from web.errors import NotFound, UploadTooLarge


def root() -> Path:
    path = Path(settings.DATA_DIR) / "blobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_of(digest: str) -> Path:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise NotFound("No such blob")
    return root() / digest[:2] / digest


def put_chunks(chunks: Iterable[bytes], max_bytes: int) -> tuple[str, int]:
    """Streams chunks to disk, refusing as soon as max_bytes is passed; returns (digest, size)."""
    sha = hashlib.sha256()
    size = 0
    handle, temp_name = tempfile.mkstemp(dir=root(), prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"Upload exceeds the limit of {max_bytes} bytes")
                sha.update(chunk)
                out.write(chunk)
        digest = sha.hexdigest()
        target = path_of(digest)
        target.parent.mkdir(exist_ok=True)
        os.replace(temp_name, target)
        return digest, size
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def put_bytes(data: bytes) -> str:
    digest, _ = put_chunks([data], max_bytes=len(data))
    return digest


def read_bytes(digest: str) -> bytes:
    path = path_of(digest)
    if not path.exists():
        raise NotFound("No such blob")
    return path.read_bytes()
