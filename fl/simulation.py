"""FedAvg over simulated hospitals in one process: for tests, benchmarks and tuning the round defaults.

python -m fl.simulation --npz ../shared/datasets/pneumoniamnist.npz --hospitals 3 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from fl.data import Dataset, load_medmnist_npz, partition_dirichlet, partition_iid
from fl.fedavg import apply_update, average_from_weighted_sum, round_head_to_fixed_point, weighted_update
from fl.models import build_model
from fl.params import StateDict, flatten, unflatten
from fl.training import DEFAULT_TRAIN_CONFIG, TrainConfig, evaluate, train_local


def initial_global_state(arch_id: str, num_classes: int, seed: int) -> StateDict:
    return round_head_to_fixed_point(build_model(arch_id, num_classes, seed=seed).state_dict())


def run_fedavg(
    arch_id: str,
    config: TrainConfig,
    hospitals: Sequence[Dataset],
    validation: Dataset,
    rounds: int,
    seed: int = 0,
) -> tuple[StateDict, list[dict]]:
    """The final global state and one report per round (validation metrics of the new global model, seconds).

    Aggregates as the encrypted path does, in the clear: sum of n_h * delta_h, divided by sum n_h.
    """
    state = initial_global_state(arch_id, validation.num_classes, seed)
    reports = []
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        global_vector = flatten(state)
        weighted_sum = np.zeros_like(global_vector)
        total = 0
        for hospital_index, dataset in enumerate(hospitals):
            local_seed = int(
                np.random.SeedSequence([seed, round_number, hospital_index]).generate_state(1)[0]
            )
            result = train_local(state, arch_id, config, dataset, seed=local_seed)
            weighted_sum += weighted_update(flatten(result.state) - global_vector, result.num_samples)
            total += result.num_samples
        new_vector = apply_update(global_vector, average_from_weighted_sum(weighted_sum, total))
        state = round_head_to_fixed_point(unflatten(new_vector, state))
        seconds = time.perf_counter() - started
        reports.append(
            {"round": round_number, **evaluate(state, arch_id, validation, config.loss), "seconds": seconds}
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
    args = parser.parse_args(argv)
    config = replace(DEFAULT_TRAIN_CONFIG, **json.loads(args.config))
    train, validation = load_medmnist_npz(args.npz, "train"), load_medmnist_npz(args.npz, "val")
    if args.alpha is None:
        parts = partition_iid(train.labels, args.hospitals, args.seed)
    else:
        parts = partition_dirichlet(train.labels, args.hospitals, args.alpha, args.seed)
    _, reports = run_fedavg(
        "cnn28-d16", config, [train.subset(p) for p in parts], validation, args.rounds, args.seed
    )
    for report in reports:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
