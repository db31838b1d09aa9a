"""State dict <-> flat float64 vector, in one fixed order (sorted parameter names), for averaging and CKKS.

Only floating-point tensors travel in the vector. Integer buffers (a BatchNorm's num_batches_tracked, say) are
not averaged: unflatten carries them over from the template, the global model they started from."""

from __future__ import annotations

import numpy as np
import torch

StateDict = dict[str, torch.Tensor]


def _ordered_names(state: StateDict) -> list[str]:
    return sorted(name for name, tensor in state.items() if torch.is_floating_point(tensor))


def parameter_count(state: StateDict) -> int:
    return sum(int(state[name].numel()) for name in _ordered_names(state))


def flatten(state: StateDict) -> np.ndarray:
    """All parameters as one float64 vector, parameters in sorted name order, each in row-major order."""
    names = _ordered_names(state)
    if not names:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate([state[name].detach().cpu().numpy().astype(np.float64).ravel() for name in names])


def unflatten(vector: np.ndarray, template: StateDict) -> StateDict:
    """The inverse of flatten: shapes, order and dtypes from `template` (values are cast to its dtypes); its
    integer buffers are copied as they are."""
    vector = np.asarray(vector, dtype=np.float64)
    expected = parameter_count(template)
    if vector.shape != (expected,):
        raise ValueError(f"vector has shape {vector.shape}, the template needs ({expected},)")
    state: StateDict = {name: t.clone() for name, t in template.items() if not torch.is_floating_point(t)}
    offset = 0
    for name in _ordered_names(template):
        like = template[name]
        size = like.numel()
        values = torch.from_numpy(vector[offset : offset + size].reshape(tuple(like.shape)).copy())
        state[name] = values.to(like.dtype)
        offset += size
    return {name: state[name] for name in template}


def parameter_slice(template: StateDict, name: str) -> slice:
    """Where parameter `name` lies in flatten(template)'s vector."""
    offset = 0
    for other in _ordered_names(template):
        size = template[other].numel()
        if other == name:
            return slice(offset, offset + size)
        offset += size
    raise KeyError(name)
