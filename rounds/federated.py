"""From the opened sum of weighted updates to the next global model's weights (Django-light glue over fl/)."""

from __future__ import annotations

import numpy as np

from fl import params as fl_params
from fl.strategy import DEFAULT_SERVER_STRATEGY, get_server_strategy, published_state
from registry.models import ModelArchitecture
from registry.weights import template_state


def next_global_vector(
    architecture: ModelArchitecture,
    base_vector: np.ndarray,
    weighted_sum: np.ndarray,
    total_samples: int,
    head: tuple[np.ndarray, np.ndarray] | None = None,
    strategy: str = DEFAULT_SERVER_STRATEGY,
) -> np.ndarray:
    """The server strategy's step from the opened sum, with the head on the fixed-point grid the next proofs
    start from. `head`: fixed-point (weight, bias) computed exactly from the proven heads, used instead."""
    step = get_server_strategy(strategy).server_update(base_vector, weighted_sum, total_samples)
    return fl_params.flatten(published_state(step.vector, template_state(architecture), head))
