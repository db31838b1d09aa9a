"""Federated rounds over simulated hospitals in one process: for tests, benchmarks, tuning the defaults.

python -m fl.simulation --npz ../shared/datasets/pneumoniamnist.npz --hospitals 3 --rounds 5 --strategy fedavg

The rounds go through fl.strategy as the portal's do: each hospital's client_update, the sum of the weighted
updates (in the clear here), the server strategy's server_update and published_state.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from fl.data import Dataset, load_medmnist_npz, partition_dirichlet, partition_iid
from fl.fedavg import clip_to_norm, round_head_to_fixed_point
from fl.models import DEFAULT_NORMALISATION, NORMALISATIONS, architecture_for_input, build_model
from fl.params import StateDict, flatten
from fl.strategy import (
    DEFAULT_SERVER_STRATEGY,
    SERVER_PARAMETERS,
    ServerState,
    ServerStrategy,
    client_strategy_for,
    get_server_strategy,
    published_state,
)
from fl.training import DEFAULT_TRAIN_CONFIG, TrainConfig, evaluate


def initial_global_state(arch_id: str, num_classes: int, seed: int) -> StateDict:
    return round_head_to_fixed_point(build_model(arch_id, num_classes, seed=seed).state_dict())


def run_simulation(
    arch_id: str,
    config: TrainConfig,
    hospitals: Sequence[Dataset],
    validation: Dataset,
    rounds: int,
    seed: int = 0,
    strategy: str | ServerStrategy = DEFAULT_SERVER_STRATEGY,
    dp: tuple[float, float] | None = None,
    round_config: Callable[[int], TrainConfig] | None = None,
) -> tuple[StateDict, list[dict]]:
    """The final global state and one report per round (validation metrics of the new global model, seconds, and
    each hospital's training seconds).

    `strategy`: the server strategy or its name; the client strategy follows from `config` (client_update).
    `dp`: (noise multiplier z, bound C): each weighted update clipped to C as the nodes clip it, and Gaussian noise
    of std z C on the sum, the distribution the key parties add inside their MPC (crypto.threshold).
    `round_config`: the training configuration of each round by its number (a schedule across rounds); default
    `config` in every round.
    """
    server = get_server_strategy(strategy) if isinstance(strategy, str) else strategy
    state = initial_global_state(arch_id, validation.num_classes, seed)
    server_state: ServerState | None = None
    reports = []
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        this_round = config if round_config is None else round_config(round_number)
        global_vector = flatten(state)
        weighted_sum = np.zeros_like(global_vector)
        total = 0
        training_seconds = []
        for hospital_index, dataset in enumerate(hospitals):
            local_seed = int(
                np.random.SeedSequence([seed, round_number, hospital_index]).generate_state(1)[0]
            )
            trained = time.perf_counter()
            update = client_strategy_for(this_round).client_update(
                state, arch_id, this_round, dataset, local_seed
            )
            training_seconds.append(time.perf_counter() - trained)
            weighted_sum += (
                update.weighted_update if dp is None else clip_to_norm(update.weighted_update, dp[1])
            )
            total += update.num_samples
        if dp is not None:
            noise = np.random.default_rng(np.random.SeedSequence([seed, round_number, len(hospitals)]))
            weighted_sum += noise.normal(0.0, dp[0] * dp[1], weighted_sum.shape)
        step = server.server_update(global_vector, weighted_sum, total, server_state)
        state, server_state = published_state(step.vector, state), step.state
        seconds = time.perf_counter() - started
        reports.append(
            {
                "round": round_number,
                **evaluate(state, arch_id, validation, this_round.loss),
                "seconds": seconds,
                "training_seconds": training_seconds,
            }
        )
    return state, reports


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", required=True, help="MedMNIST-format .npz with train and val splits")
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--alpha", type=float, help="Dirichlet label skew (default: IID)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="{}", help="JSON overrides of the default TrainConfig")
    parser.add_argument(
        "--strategy",
        choices=sorted(SERVER_PARAMETERS),
        default=DEFAULT_SERVER_STRATEGY,
        help="server strategy (the client's is FedProx when --config sets fedprox_mu > 0, else FedAvg)",
    )
    parser.add_argument(
        "--normalise",
        choices=NORMALISATIONS,
        default=DEFAULT_NORMALISATION,
        help="each image standardised by the model first (the demo's default), or the raw pixels ('none')",
    )
    args = parser.parse_args(argv)
    config = replace(DEFAULT_TRAIN_CONFIG, **json.loads(args.config))
    train = load_medmnist_npz(args.npz, "train")
    validation = load_medmnist_npz(args.npz, "val", num_classes=train.num_classes)
    if args.alpha is None:
        parts = partition_iid(train.labels, args.hospitals, args.seed)
    else:
        parts = partition_dirichlet(train.labels, args.hospitals, args.alpha, args.seed)
    hospitals = [train.subset(p) for p in parts]
    _, reports = run_simulation(
        architecture_for_input(train.sample_shape, normalisation=args.normalise),
        config,
        hospitals,
        validation,
        args.rounds,
        args.seed,
        strategy=args.strategy,
    )
    for report in reports:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
