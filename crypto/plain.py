"""The plaintext update format: the explicit benchmark baseline against which CKKS is measured.

Layout: magic b"DHPLAIN1", u64 little-endian vector length, then that many float64 little-endian values.
"""

from __future__ import annotations

import struct

import numpy as np

MAGIC = b"DHPLAIN1"
HEADER = struct.Struct("<8sQ")
# Far above any real n_h * delta_h (10M samples times a step of 1e4), far below what a sum of many could overflow.
MAX_ABS_VALUE = 2.0**40


class PlainUpdateError(ValueError):
    """The blob is not a well-formed plaintext update of the expected length."""


def encode(vector: np.ndarray) -> bytes:
    values = np.ascontiguousarray(vector, dtype="<f8")
    return HEADER.pack(MAGIC, values.size) + values.tobytes()


def decode(blob: bytes, expected_length: int) -> np.ndarray:
    if len(blob) < HEADER.size:
        raise PlainUpdateError("blob is shorter than its header")
    magic, length = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise PlainUpdateError("not a plaintext update (bad magic); was it encrypted under another scheme?")
    if length != expected_length:
        raise PlainUpdateError(f"update has {length} parameters, the model has {expected_length}")
    if len(blob) != HEADER.size + 8 * length:
        raise PlainUpdateError(f"blob is {len(blob)} bytes, expected {HEADER.size + 8 * length}")
    values = np.frombuffer(blob, dtype="<f8", offset=HEADER.size).astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise PlainUpdateError("update contains NaN or infinite values")
    largest = float(np.abs(values).max(initial=0.0))
    if largest > MAX_ABS_VALUE:
        raise PlainUpdateError(f"update value {largest:.3g} is out of range (|value| <= 2^40)")
    return values


def check_norm(vector: np.ndarray, bound: float) -> float:
    """The update's L2 norm, if within bound; else PlainUpdateError naming both (a scaled, model-replacing
    update is refused here, where the portal can see it)."""
    norm = float(np.linalg.norm(vector))
    if norm > bound:
        raise PlainUpdateError(
            f"update L2 norm {norm:.6g} exceeds the round plan's update_norm_bound {bound:.6g}"
        )
    return norm
