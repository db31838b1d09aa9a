"""From the opened sum of weighted updates to the next global model's weights (Django-light glue over fl/)."""

from __future__ import annotations

import numpy as np

from fl import fixed_head
from fl import params as fl_params
from fl.models import HEAD_BIAS, HEAD_WEIGHT
from fl.strategy import ServerConfig, ServerState, ServerStep, published_state
from registry.models import ModelArchitecture
from registry.weights import template_state


def next_global_vector(
    architecture: ModelArchitecture,
    base_vector: np.ndarray,
    weighted_sum: np.ndarray,
    total_samples: int,
    head: tuple[np.ndarray, np.ndarray] | None = None,
    server: ServerConfig | None = None,
    state: ServerState | None = None,
) -> ServerStep:
    """The server strategy's step from the opened sum (`state`: its state after the previous round), with the
    head on the fixed-point grid the next proofs start from. `head`: fixed-point (weight, bias), the sample-
    weighted mean of the proven heads computed exactly: FedAvg publishes it as the new head; another strategy
    takes its difference from the base head as the head's part of the average update, then steps."""
    server = server or ServerConfig()
    template = template_state(architecture)
    if head is not None and server.name != "fedavg":
        weighted_sum = np.array(weighted_sum, dtype=np.float64)
        for name, values in zip((HEAD_WEIGHT, HEAD_BIAS), head, strict=True):
            where = fl_params.parameter_slice(template, name)
            exact = fixed_head.dequantise(values).ravel() - base_vector[where]
            weighted_sum[where] = exact * total_samples
    step = server.strategy().server_update(base_vector, weighted_sum, total_samples, state)
    published = published_state(step.vector, template, head if server.name == "fedavg" else None)
    return ServerStep(fl_params.flatten(published), step.state)
