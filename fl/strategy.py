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
  as state (ServerStep.state, handed back the next round; the portal keeps it beside each global model). Client strategies that change only local training
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
from fl.training import PLAIN_RUN, LocalResult, StepRule, TrainConfig, train_local

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


@dataclass(frozen=True)
class FedAvgM:
    """Server momentum (Hsu, Qi, Brown 2019, as Flower's FedAvgM): with the average update Delta,
    v = momentum * v + Delta, global + server_lr * v. momentum 0 and server_lr 1 is FedAvg."""

    server_lr: float = 1.0
    momentum: float = 0.9
    name = "fedavgm"

    def server_update(
        self,
        global_vector: np.ndarray,
        weighted_sum: np.ndarray,
        total_samples: int,
        state: ServerState | None = None,
    ) -> ServerStep:
        average = average_from_weighted_sum(weighted_sum, total_samples)
        velocity = average if not state else self.momentum * state["velocity"] + average
        return ServerStep(apply_update(global_vector, self.server_lr * velocity), {"velocity": velocity})


@dataclass(frozen=True)
class FedOpt:
    """The adaptive server optimisers of Reddi et al., "Adaptive Federated Optimization" (ICLR 2021),
    Algorithm 2, with the average update Delta as the pseudo-gradient and m, v starting at 0:
    m = beta1 m + (1 - beta1) Delta, then v by the variant, then global + eta * m / (sqrt(v) + tau):
    adagrad: v = v + Delta^2; adam: v = beta2 v + (1 - beta2) Delta^2;
    yogi: v = v - (1 - beta2) Delta^2 sign(v - Delta^2)."""

    variant: str  # "adagrad", "adam" or "yogi"
    eta: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3

    @property
    def name(self) -> str:
        return f"fed{self.variant}"

    def server_update(
        self,
        global_vector: np.ndarray,
        weighted_sum: np.ndarray,
        total_samples: int,
        state: ServerState | None = None,
    ) -> ServerStep:
        delta = average_from_weighted_sum(weighted_sum, total_samples)
        zeros = np.zeros_like(delta)
        m, v = (state["m"], state["v"]) if state else (zeros, zeros)
        m = self.beta1 * m + (1 - self.beta1) * delta
        square = delta * delta
        if self.variant == "adagrad":
            v = v + square
        elif self.variant == "adam":
            v = self.beta2 * v + (1 - self.beta2) * square
        elif self.variant == "yogi":
            v = v - (1 - self.beta2) * square * np.sign(v - square)
        else:
            raise ValueError(f"unknown adaptive optimiser {self.variant!r}")
        step = self.eta * m / (np.sqrt(v) + self.tau)
        return ServerStep(apply_update(global_vector, step), {"m": m, "v": v})


DEFAULT_SERVER_STRATEGY = "fedavg"
# Each strategy's hyperparameters, with their defaults (those of its paper or of Flower); a round plan names a
# strategy and may set any of these (ServerConfig).
SERVER_PARAMETERS: dict[str, dict[str, float]] = {
    "fedavg": {},
    "fedavgm": {"server_lr": 1.0, "momentum": 0.9},
    **{
        f"fed{variant}": {"eta": 0.01, "beta1": 0.9, "beta2": 0.99, "tau": 1e-3}
        for variant in ("adagrad", "adam", "yogi")
    },
}


@dataclass(frozen=True)
class ServerConfig:
    """A round plan's server strategy: its name and hyperparameters (the defaults filled in)."""

    name: str = DEFAULT_SERVER_STRATEGY
    parameters: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_dict(cls, value: dict | None) -> ServerConfig:
        """From {"name": ..., <hyperparameter>: value, ...}; raises ValueError naming what is wrong."""
        value = dict(value or {})
        name = str(value.pop("name", DEFAULT_SERVER_STRATEGY))
        if name not in SERVER_PARAMETERS:
            raise ValueError(
                f"unknown server strategy {name!r}; choose one of {', '.join(sorted(SERVER_PARAMETERS))}"
            )
        known = SERVER_PARAMETERS[name]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(
                f"{name} takes {', '.join(sorted(known)) or 'no hyperparameters'}, not {', '.join(unknown)}"
            )
        parameters = {**known}
        for key, raw in value.items():
            number = float(raw)
            if (
                not np.isfinite(number)
                or number < 0
                or (key in ("beta1", "beta2", "momentum") and number >= 1)
            ):
                raise ValueError(
                    f"{name}'s {key} must be a finite number >= 0 (below 1 for a decay), got {raw!r}"
                )
            if key in ("eta", "server_lr", "tau") and number == 0:
                raise ValueError(f"{name}'s {key} must be above 0")
            parameters[key] = number
        return cls(name, tuple(sorted(parameters.items())))

    def as_dict(self) -> dict[str, float | str]:
        return {"name": self.name, **dict(self.parameters)}

    def strategy(self) -> ServerStrategy:
        parameters = dict(self.parameters)
        if self.name == "fedavg":
            return FedAvg()
        if self.name == "fedavgm":
            return FedAvgM(**parameters)
        return FedOpt(self.name.removeprefix("fed"), **parameters)


def get_server_strategy(name: str) -> ServerStrategy:
    """A strategy by name, with its default hyperparameters."""
    return ServerConfig.from_dict({"name": name}).strategy()


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


class ClientStrategy:
    """Local training at a hospital, from the global state to the update it protects and uploads: train_local,
    then the update weighted by n_h. Each strategy checks the configuration is its own."""

    name: str

    def check(self, config: TrainConfig) -> None:
        raise NotImplementedError

    def client_update(
        self,
        global_state: StateDict,
        arch_id: str,
        config: TrainConfig,
        dataset: Dataset,
        seed: int,
        *,
        step_rule: StepRule = PLAIN_RUN,
    ) -> ClientUpdate:
        self.check(config)
        result = train_local(global_state, arch_id, config, dataset, seed=seed, step_rule=step_rule)
        delta = flatten(result.state) - flatten(global_state)
        return ClientUpdate(result, weighted_update(delta, result.num_samples))


class FedAvgClient(ClientStrategy):
    """Plain local training (config.fedprox_mu == 0)."""

    name = "fedavg"

    def check(self, config: TrainConfig) -> None:
        if config.fedprox_mu:
            raise ValueError(f"{self.name} trains without a proximal term; fedprox_mu is {config.fedprox_mu}")


class FedProxClient(ClientStrategy):
    """FedProx (Li et al., 2020): mu/2 * ||body - global body||^2 added to the local loss, mu =
    config.fedprox_mu > 0. train_local adds the term's gradient to the body's; the fixed-point head's proven
    steps stay plain SGD. The upload, and so the server side, is FedAvg's."""

    name = "fedprox"

    def check(self, config: TrainConfig) -> None:
        if not config.fedprox_mu > 0:
            raise ValueError(f"{self.name} needs fedprox_mu > 0, got {config.fedprox_mu}")


CLIENT_STRATEGIES: dict[str, ClientStrategy] = {"fedavg": FedAvgClient(), "fedprox": FedProxClient()}


def client_strategy_for(config: TrainConfig) -> ClientStrategy:
    """The one place the client strategy is chosen: FedProx when config.fedprox_mu > 0, else FedAvg."""
    return CLIENT_STRATEGIES["fedprox" if config.fedprox_mu > 0 else "fedavg"]
