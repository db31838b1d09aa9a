"""The federated strategy seam: what a hospital does with the global model (client_update) and what the portal
does with the opened sum of updates (server_update). The round pipeline and fl.simulation both go through it.

Client side. A ClientStrategy trains locally (fl.training.train_local) and returns the LocalResult with the
weighted update n_h * delta_h on the update grid (fl.fedavg.weighted_update): what the node protects and
uploads. FedAvg trains plainly; FedProx adds the proximal term mu/2 * ||body - global body||^2, mu being
TrainConfig.fedprox_mu. client_strategy_for(config) is the one place that choice is made.

Server side. The portal never sees one hospital's update: with encryption it opens only the sum
S = sum_h n_h * delta_h (and knows sum_h n_h). A ServerStrategy is a function of that sum alone, so:

- Strategies that can run on an encrypted sum: anything that needs only the (weighted) sum of the updates,
  that is linear in the updates, possibly followed by a state update on the average. FedAvg: global + S /
  sum n_h. FedAvgM: momentum on that average. FedAdam, FedYogi and
  FedAdagrad: a server optimiser that takes the average update as its pseudo-gradient and keeps its moments
  as state (ServerStep.state, handed back the next round). Client strategies that change only local training
  (FedProx) need nothing on the server beyond FedAvg's.
- Strategies that cannot: coordinate-wise median and trimmed mean (order statistics of each coordinate over
  the individual updates) and Krum / Multi-Krum (pairwise distances between individual updates) need every
  update in the clear, which the encryption exists to prevent. The server_update signature cannot express
  them.
- What a norm bound gives instead: each node clips its own update to ||delta_h|| <= C (a bound it can be
  made to prove, as the head's training already is), so one hospital moves the average by at most
  n_h * C / sum n_h. That bounds a poisoned update's magnitude, not its direction: weaker than robust
  aggregation, but it works on the sum.

The new model is then published with published_state: its head floored to the fixed-point grid that the
next round's proofs start from, or replaced by the head the portal computed exactly from the proven heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from fl import fixed_head
from fl.data import Dataset
from fl.fedavg import apply_update, average_from_weighted_sum, round_head_to_fixed_point, weighted_update
from fl.models import HEAD_BIAS, HEAD_WEIGHT
from fl.params import StateDict, flatten, unflatten
from fl.training import LocalResult, TrainConfig, train_local

# A server optimiser's state between rounds (FedAdam's moments, say): named float64 vectors, storable as .npz.
ServerState = dict[str, np.ndarray]


@dataclass(frozen=True)
class ServerStep:
    vector: np.ndarray  # the new global vector, before published_state puts its head on the fixed-point grid
    state: ServerState | None  # hand back to the next round's server_update; None for a stateless strategy


class ServerStrategy(Protocol):
    """What the portal does with the opened sum of weighted updates (see the module docstring for which
    strategies fit: those linear in the updates)."""

    @property
    def name(self) -> str: ...

    def server_update(
        self,
        global_vector: np.ndarray,
        weighted_sum: np.ndarray,
        total_samples: int,
        state: ServerState | None = None,
    ) -> ServerStep:
        """The next global vector from this round's `global_vector`, the opened (possibly CKKS-noisy)
        sum_h n_h * delta_h and sum_h n_h, and the strategy's `state` from the previous round (None at first)."""
        ...


class FedAvg:
    """global + snap(sum_h n_h * delta_h) / sum_h n_h: the sample-weighted mean of the local models.

    Its head is, up to the update grid, the sample-weighted mean of the proven heads, so the portal may
    publish that mean computed exactly instead (published_state's `head`). A strategy whose new model is not
    the average (FedAvgM, FedAdam) has to apply its step to the proven heads' mean before such a replacement."""

    name = "fedavg"

    def server_update(
        self,
        global_vector: np.ndarray,
        weighted_sum: np.ndarray,
        total_samples: int,
        state: ServerState | None = None,
    ) -> ServerStep:
        if state:
            raise ValueError(f"{self.name} keeps no server state, got {sorted(state)}")
        average = average_from_weighted_sum(weighted_sum, total_samples)
        return ServerStep(apply_update(global_vector, average), None)


DEFAULT_SERVER_STRATEGY = "fedavg"
SERVER_STRATEGIES: dict[str, ServerStrategy] = {"fedavg": FedAvg()}


def get_server_strategy(name: str) -> ServerStrategy:
    try:
        return SERVER_STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown server strategy {name!r}; choose one of {', '.join(sorted(SERVER_STRATEGIES))}"
        ) from None


def published_state(
    vector: np.ndarray, template: StateDict, head: tuple[np.ndarray, np.ndarray] | None = None
) -> StateDict:
    """The global model to publish from a server step's vector (shapes and dtypes from `template`), its head
    floored to the fixed-point grid. `head`: fixed-point (weight, bias) computed exactly from the proven
    heads, used instead of the vector's head."""
    state = unflatten(vector, template)
    if head is not None:
        for name, values in zip((HEAD_WEIGHT, HEAD_BIAS), head, strict=True):
            state[name] = torch.from_numpy(fixed_head.dequantise(values)).to(state[name].dtype)
    return round_head_to_fixed_point(state)


@dataclass(frozen=True)
class ClientUpdate:
    result: LocalResult
    weighted_update: np.ndarray  # n_h * (local - global) on fl.fedavg.UPDATE_GRID: what the node uploads

    @property
    def num_samples(self) -> int:
        return self.result.num_samples


class ClientStrategy(Protocol):
    """Local training at a hospital, from the global state to the update it protects and uploads."""

    @property
    def name(self) -> str: ...

    def client_update(
        self, global_state: StateDict, arch_id: str, config: TrainConfig, dataset: Dataset, seed: int
    ) -> ClientUpdate: ...


def _train_and_weigh(
    global_state: StateDict, arch_id: str, config: TrainConfig, dataset: Dataset, seed: int
) -> ClientUpdate:
    result = train_local(global_state, arch_id, config, dataset, seed=seed)
    delta = flatten(result.state) - flatten(global_state)
    return ClientUpdate(result, weighted_update(delta, result.num_samples))


class FedAvgClient:
    """Plain local training (config.fedprox_mu == 0)."""

    name = "fedavg"

    def client_update(
        self, global_state: StateDict, arch_id: str, config: TrainConfig, dataset: Dataset, seed: int
    ) -> ClientUpdate:
        if config.fedprox_mu:
            raise ValueError(f"{self.name} trains without a proximal term; fedprox_mu is {config.fedprox_mu}")
        return _train_and_weigh(global_state, arch_id, config, dataset, seed)


class FedProxClient:
    """FedProx (Li et al., 2020): mu/2 * ||body - global body||^2 added to the local loss, mu =
    config.fedprox_mu > 0. train_local adds the term's gradient to the body's; the fixed-point head's proven
    steps stay plain SGD. The upload, and so the server side, is FedAvg's."""

    name = "fedprox"

    def client_update(
        self, global_state: StateDict, arch_id: str, config: TrainConfig, dataset: Dataset, seed: int
    ) -> ClientUpdate:
        if not config.fedprox_mu > 0:
            raise ValueError(f"{self.name} needs fedprox_mu > 0, got {config.fedprox_mu}")
        return _train_and_weigh(global_state, arch_id, config, dataset, seed)


CLIENT_STRATEGIES: dict[str, ClientStrategy] = {"fedavg": FedAvgClient(), "fedprox": FedProxClient()}


def client_strategy_for(config: TrainConfig) -> ClientStrategy:
    """The one place the client strategy is chosen: FedProx when config.fedprox_mu > 0, else FedAvg."""
    return CLIENT_STRATEGIES["fedprox" if config.fedprox_mu > 0 else "fedavg"]


def client_update(
    global_state: StateDict, arch_id: str, config: TrainConfig, dataset: Dataset, seed: int
) -> ClientUpdate:
    """Train from `global_state` on `dataset` with the client strategy `config` calls for (deterministic given
    `seed`); the result and the weighted update to protect and upload."""
    return client_strategy_for(config).client_update(global_state, arch_id, config, dataset, seed)
