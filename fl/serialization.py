"""Model weights as bytes for transport and storage: a flat float64 vector in .npy format, never pickle."""

from __future__ import annotations

import io

import numpy as np


def weights_to_bytes(vector: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vector, dtype=np.float64), allow_pickle=False)
    return buffer.getvalue()


def weights_from_bytes(data: bytes) -> np.ndarray:
    vector = np.load(io.BytesIO(data), allow_pickle=False)
    if vector.ndim != 1 or vector.dtype != np.float64:
        raise ValueError("model weights must be a flat float64 vector")
    return vector
