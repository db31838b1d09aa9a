"""From the opened sum of weighted updates to the next global model's weights (Django-light glue over fl/)."""

from __future__ import annotations

import numpy as np
import torch

from fl import fixed_head
from fl import models as fl_models
from fl import params as fl_params
from fl.fedavg import apply_update, average_from_weighted_sum, round_head_to_fixed_point
from fl.models import HEAD_BIAS, HEAD_WEIGHT
from rounds.models import ModelArchitecture


def template_state(architecture: ModelArchitecture) -> dict:
    return fl_models.build_model(architecture.key, architecture.num_classes).state_dict()


def state_of(architecture: ModelArchitecture, vector: np.ndarray) -> dict:
    return fl_params.unflatten(vector, template_state(architecture))


def next_global_vector(
    architecture: ModelArchitecture,
    base_vector: np.ndarray,
    weighted_sum: np.ndarray,
    total_samples: int,
    head: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """base + sum(n_h * delta_h) / sum(n_h), with the head on the fixed-point grid the next proofs start from.
    `head`: fixed-point (weight, bias) computed exactly from the proven heads, used instead of the sum's."""
    updated = apply_update(base_vector, average_from_weighted_sum(weighted_sum, total_samples))
    state = state_of(architecture, updated)
    if head is not None:
        for name, values in zip((HEAD_WEIGHT, HEAD_BIAS), head, strict=True):
            state[name] = torch.from_numpy(fixed_head.dequantise(values)).to(state[name].dtype)
    return fl_params.flatten(round_head_to_fixed_point(state))
