"""Federated averaging of flat update vectors (fl.params.flatten), weighted by sample count.

With encryption the aggregator never sees one hospital's update: node h uploads weighted_update(delta_h, n_h)
= n_h * delta_h under CKKS, the ciphertexts are summed, and only the sum is decrypted; the new global model is
apply_update(global, average_from_weighted_sum(sum, sum n_h)). fedavg() is the same average in the clear.
These are the primitives of fl.strategy (FedAvg's server_update, the clients' weighted updates), which the
round pipeline and fl.simulation call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fl import fixed_head
from fl.models import HEAD_BIAS, HEAD_WEIGHT
from fl.params import StateDict

# Uploaded updates lie on a grid of 2^-12. CKKS decryption adds an error far below half a step (the key parties'
# smudging noise: about 2^-17 per value, at most about 2^-15 over 100k values, measured), so snapping the opened
# sum back to the grid gives exactly the sum a plaintext aggregation computes: encrypted
# and plaintext rounds then produce the same model bit for bit. The grid costs at most 2^-13 / sum(n_h) per
# parameter of the average update.
UPDATE_GRID = 2.0**-12


def snap_to_grid(values: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) / UPDATE_GRID) * UPDATE_GRID


def weighted_update(delta: np.ndarray, num_samples: int) -> np.ndarray:
    """What a node encrypts and uploads: n_h * delta_h, on the update grid."""
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    return snap_to_grid(num_samples * np.asarray(delta, dtype=np.float64))


def average_from_weighted_sum(weighted_sum: np.ndarray, total_samples: int) -> np.ndarray:
    """sum_h n_h * delta_h / sum_h n_h, the sum first snapped back to the update grid (removes CKKS error)."""
    if total_samples < 1:
        raise ValueError(f"total_samples must be at least 1, got {total_samples}")
    return snap_to_grid(weighted_sum) / total_samples


def fedavg(updates: Sequence[tuple[np.ndarray, int]]) -> np.ndarray:
    """The sample-weighted mean of (delta vector, num_samples) pairs."""
    if not updates:
        raise ValueError("fedavg needs at least one update")
    lengths = {len(delta) for delta, _ in updates}
    if len(lengths) != 1:
        raise ValueError(f"updates have different lengths {sorted(lengths)}")
    weighted_sum = np.sum([weighted_update(delta, n) for delta, n in updates], axis=0)
    return average_from_weighted_sum(weighted_sum, sum(n for _, n in updates))


def apply_update(global_vector: np.ndarray, average_delta: np.ndarray) -> np.ndarray:
    global_vector, average_delta = (
        np.asarray(global_vector, np.float64),
        np.asarray(average_delta, np.float64),
    )
    if global_vector.shape != average_delta.shape:
        raise ValueError(f"update of shape {average_delta.shape} for a model of shape {global_vector.shape}")
    return global_vector + average_delta


def round_head_to_fixed_point(state: StateDict) -> StateDict:
    """The state with its head floored to multiples of 2^-16, so quantising the new global head is exact and
    every node starts its proven steps from the same integers. Apply to every published global model."""
    rounded = dict(state)
    for name in (HEAD_WEIGHT, HEAD_BIAS):
        tensor = state[name]
        values = fixed_head.dequantise(
            np.floor(tensor.detach().cpu().numpy().astype(np.float64) * fixed_head.SCALE)
        )
        rounded[name] = torch.from_numpy(values).to(tensor.dtype)
    # Raises HeadRangeError when a weight left (-256, 256); inside it, float32 holds these values exactly.
    fixed_head.quantise_head(rounded[HEAD_WEIGHT].numpy(), rounded[HEAD_BIAS].numpy())
    return rounded


def clip_to_norm(values: np.ndarray, bound: float) -> np.ndarray:
    """`values` scaled down to L2 norm at most `bound` if longer, kept on UPDATE_GRID (truncated toward zero, so
    the norm stays within the bound): differential privacy's clipping, whose noise is sized for the bound."""
    values = np.asarray(values, dtype=np.float64)
    norm = float(np.linalg.norm(values))
    if norm <= bound:
        return values
    return np.trunc(values * (bound / norm) / UPDATE_GRID) * UPDATE_GRID
