"""Coefficient arrays of SEAL objects, read and written through SEAL's own serialisation.

TenSEAL's Python objects do not expose coefficient arrays in bulk, but SEAL's stream format does. A SEAL
stream is a 16-byte header, little-endian <H magic 0xA15E, B header size, B major, B minor, B compression
mode, H reserved, Q total size>, then the payload (compressed whole when the mode is not 0):
- Ciphertext (and PublicKey, a size-2 ciphertext at the key level): parms_id (4 x u64), is_ntt_form (u8),
  size, N, k (u64 each), scale (f64), correction factor (u64), then a DynArray laid out [poly][prime][coeff].
- Plaintext (and SecretKey, a plaintext in NTT form at the key level): parms_id, coeff_count (u64),
  scale (f64), then a DynArray.
- DynArray: its own uncompressed 16-byte header, a u64 count, count x u64.

This module writes uncompressed streams (mode 0) with the version bytes the installed SEAL writes, and reads
any mode SEAL writes (it compresses with zstd by default). sealapi objects only save to and load from paths,
so the bridge goes through a private temporary folder (in memory where /dev/shm exists).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tenseal.sealapi as sealapi
import zstandard

SEAL_MAGIC = 0xA15E
HEADER = struct.Struct("<HBBBBHQ")
CIPHERTEXT_META = struct.Struct("<4QB3QdQ")
PLAINTEXT_META = struct.Struct("<4QQd")
COUNT = struct.Struct("<Q")
COMPRESSION_NONE, COMPRESSION_ZLIB, COMPRESSION_ZSTD = 0, 1, 2
# Largest decompressed payload accepted: a size-16 ciphertext at N=32768 with 16 primes, and some slack.
MAX_PAYLOAD_BYTES = 1 << 27

ParmsId = tuple[int, int, int, int]


class SealFormatError(ValueError):
    """A byte string is not the SEAL stream it should be."""


@dataclass(frozen=True)
class CiphertextData:
    """A SEAL ciphertext's metadata and coefficients, shape (size, primes, N), dtype uint64."""

    parms_id: ParmsId
    is_ntt_form: bool
    scale: float
    data: np.ndarray
    correction_factor: int = 1


@dataclass(frozen=True)
class PlaintextData:
    """A SEAL plaintext's metadata and coefficients, shape (coeff_count,), dtype uint64.

    In NTT form the coefficients are laid out [prime][coeff], so coeff_count = primes * N.
    """

    parms_id: ParmsId
    scale: float
    data: np.ndarray


def _header(payload_size: int, version: tuple[int, int]) -> bytes:
    return HEADER.pack(
        SEAL_MAGIC, HEADER.size, version[0], version[1], COMPRESSION_NONE, 0, HEADER.size + payload_size
    )


def split_stream(raw: bytes | memoryview) -> tuple[tuple[int, int], memoryview]:
    """Check a SEAL stream's header and return (version, uncompressed payload)."""
    view = memoryview(raw)
    if len(view) < HEADER.size:
        raise SealFormatError(f"SEAL stream truncated: {len(view)} bytes, header needs {HEADER.size}")
    magic, header_size, major, minor, compression, _reserved, total = HEADER.unpack_from(view)
    if magic != SEAL_MAGIC or header_size != HEADER.size:
        raise SealFormatError("not a SEAL stream (bad magic or header size)")
    if total != len(view):
        raise SealFormatError(f"SEAL stream says {total} bytes but has {len(view)}")
    payload = view[HEADER.size :]
    if compression == COMPRESSION_NONE:
        return (major, minor), payload
    if compression == COMPRESSION_ZSTD:
        try:
            data = zstandard.ZstdDecompressor().decompress(payload, max_output_size=MAX_PAYLOAD_BYTES)
        except zstandard.ZstdError as exc:
            raise SealFormatError(f"SEAL stream: bad zstd payload ({exc})") from exc
        return (major, minor), memoryview(data)
    if compression == COMPRESSION_ZLIB:
        import zlib

        return (major, minor), memoryview(zlib.decompress(payload))
    raise SealFormatError(f"SEAL stream: unknown compression mode {compression}")


def _read_dynarray(payload: memoryview, offset: int) -> np.ndarray:
    _version, inner = split_stream(payload[offset:])
    if len(inner) < COUNT.size:
        raise SealFormatError("SEAL DynArray truncated")
    (count,) = COUNT.unpack_from(inner)
    if len(inner) != COUNT.size + 8 * count:
        raise SealFormatError(f"SEAL DynArray holds {len(inner) - COUNT.size} bytes for {count} coefficients")
    return np.frombuffer(inner, dtype="<u8", count=count, offset=COUNT.size)


def _dynarray_bytes(values: np.ndarray, version: tuple[int, int]) -> bytes:
    flat = np.ascontiguousarray(values, dtype="<u8").reshape(-1)
    return _header(COUNT.size + flat.nbytes, version) + COUNT.pack(flat.size) + flat.tobytes()


def parse_ciphertext(raw: bytes | memoryview) -> CiphertextData:
    """Read a Ciphertext (or PublicKey) stream. Uncompressed input is viewed without copying."""
    _version, payload = split_stream(raw)
    if len(payload) < CIPHERTEXT_META.size:
        raise SealFormatError("SEAL ciphertext truncated")
    *parms_id, is_ntt, size, n, k, scale, correction = CIPHERTEXT_META.unpack_from(payload)
    data = _read_dynarray(payload, CIPHERTEXT_META.size)
    if is_ntt not in (0, 1) or data.size != size * n * k:
        raise SealFormatError(f"SEAL ciphertext: {data.size} coefficients for size {size}, N {n}, {k} primes")
    return CiphertextData(tuple(parms_id), bool(is_ntt), scale, data.reshape(size, k, n), correction)


def ciphertext_bytes(ciphertext: CiphertextData) -> bytes:
    size, k, n = ciphertext.data.shape
    version = seal_version()
    meta = CIPHERTEXT_META.pack(
        *ciphertext.parms_id,
        int(ciphertext.is_ntt_form),
        size,
        n,
        k,
        ciphertext.scale,
        ciphertext.correction_factor,
    )
    body = meta + _dynarray_bytes(ciphertext.data, version)
    return _header(len(body), version) + body


def parse_plaintext(raw: bytes | memoryview) -> PlaintextData:
    """Read a Plaintext (or SecretKey) stream."""
    _version, payload = split_stream(raw)
    if len(payload) < PLAINTEXT_META.size:
        raise SealFormatError("SEAL plaintext truncated")
    *parms_id, coeff_count, scale = PLAINTEXT_META.unpack_from(payload)
    data = _read_dynarray(payload, PLAINTEXT_META.size)
    if data.size != coeff_count:
        raise SealFormatError(f"SEAL plaintext: {data.size} coefficients, header says {coeff_count}")
    return PlaintextData(tuple(parms_id), scale, data)


def plaintext_bytes(plaintext: PlaintextData) -> bytes:
    version = seal_version()
    body = PLAINTEXT_META.pack(*plaintext.parms_id, plaintext.data.size, plaintext.scale)
    body += _dynarray_bytes(plaintext.data, version)
    return _header(len(body), version) + body


@functools.cache
def _scratch_dir() -> Path:
    """A folder only this process's user can read; in memory where possible (secret keys pass through it)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="dh-seal-", dir=base))  # mkdtemp makes it mode 0700
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@contextmanager
def _scratch_file() -> Iterator[str]:
    fd, path = tempfile.mkstemp(dir=_scratch_dir())
    os.close(fd)
    try:
        yield path
    finally:
        os.unlink(path)


def save_bytes(seal_object: Any) -> bytes:
    """SEAL's own serialisation of a sealapi object (Ciphertext, Plaintext, keys, EncryptionParameters)."""
    with _scratch_file() as path:
        seal_object.save(path)
        return Path(path).read_bytes()


def load_into(seal_object: Any, context: sealapi.SEALContext, raw: bytes) -> Any:
    """Load a SEAL stream into a sealapi object (SEAL validates it against `context`); returns the object."""
    with _scratch_file() as path:
        Path(path).write_bytes(raw)
        try:
            seal_object.load(context, path)
        except (ValueError, RuntimeError) as exc:
            raise SealFormatError(f"SEAL refused the {type(seal_object).__name__}: {exc}") from exc
    return seal_object


@functools.cache
def seal_version() -> tuple[int, int]:
    """The (major, minor) version bytes the installed SEAL writes; others fail to load ("incompatible version")."""
    params = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    _magic, _size, major, minor, *_ = HEADER.unpack_from(save_bytes(params))
    return major, minor
