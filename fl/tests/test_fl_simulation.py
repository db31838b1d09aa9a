"""The round defaults must train a useful model: the full PneumoniaMNIST setting of the demo. And the
simulation goes through the strategy seam (fl.strategy) with any server strategy, stateful or not."""

import json
import time
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from fl.data import Dataset, load_medmnist_npz, partition_dirichlet, partition_iid
from fl.local_data import save_npz
from fl.models import HEAD_WEIGHT
from fl.params import flatten
from fl.simulation import main, run_simulation
from fl.strategy import FedAvg, ServerState, ServerStep
from fl.training import DEFAULT_TRAIN_CONFIG, predict_logits


@pytest.mark.slow
def test_fedavg_with_fixed_point_head_reaches_90_percent_on_pneumonia_val(pneumonia_npz):
    train, validation = load_medmnist_npz(pneumonia_npz, "train"), load_medmnist_npz(pneumonia_npz, "val")
    hospitals = [train.subset(part) for part in partition_iid(train.labels, 3, seed=0)]
    config = DEFAULT_TRAIN_CONFIG
    assert (config.loss, config.local_epochs, config.batch_size) == ("mse_onehot", 1, 8)
    started = time.perf_counter()
    _, reports = run_simulation("cnn28-d16", config, hospitals, validation, rounds=5, seed=0)
    elapsed = time.perf_counter() - started
    for report in reports:
        print(report)
    print(f"5 rounds in {elapsed:.1f} s")
    assert [r["round"] for r in reports] == [1, 2, 3, 4, 5]
    assert reports[-1]["accuracy"] >= 0.90
    assert reports[-1]["auc"] >= 0.95


@pytest.mark.slow
def test_small_skewed_hospitals_do_not_end_predicting_the_majority_class(pneumonia_npz):
    """Nine hospitals of 44 to 986 images with strong label skew (Dirichlet 0.3 over 3,000 images). Sampling in
    proportion, every hospital's batches are mostly pneumonia and the model calls every image pneumonia; the
    default, balanced sampling, does not."""
    train, validation = load_medmnist_npz(pneumonia_npz, "train"), load_medmnist_npz(pneumonia_npz, "val")
    small = train.subset(np.sort(np.random.default_rng(0).permutation(len(train))[:3000]))
    parts = [part for part in partition_dirichlet(small.labels, 10, 0.3, seed=0) if len(part) >= 16]
    hospitals = [small.subset(part) for part in parts]
    assert len(hospitals) == 9 and min(map(len, hospitals)) == 44

    def balanced_accuracy(sampling: str) -> float:
        config = replace(DEFAULT_TRAIN_CONFIG, sampling=sampling)
        state, _ = run_simulation("cnn28-d16", config, hospitals, validation, rounds=2, seed=0)
        predicted = predict_logits(state, "cnn28-d16", validation.inputs).argmax(axis=1)
        return float(balanced_accuracy_score(validation.labels, predicted))

    assert DEFAULT_TRAIN_CONFIG.sampling == "balanced"
    assert balanced_accuracy("proportional") == 0.5  # every image called pneumonia
    assert balanced_accuracy("balanced") >= 0.75


def tiny_images(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    inputs = rng.uniform(0, 0.5, (n, 1, 28, 28)).astype(np.float32) + 0.4 * labels[:, None, None, None]
    return Dataset(inputs.astype(np.float32), labels.astype(np.int64), 2)


class CountingFedAvg:
    """FedAvg that also counts rounds in its state: stands in for a server optimiser such as FedAdam."""

    name = "counting"

    def __init__(self) -> None:
        self.seen: list[ServerState | None] = []

    def server_update(self, global_vector, weighted_sum, total_samples, state=None) -> ServerStep:
        self.seen.append(state)
        step = FedAvg().server_update(global_vector, weighted_sum, total_samples)
        rounds = 0 if state is None else int(state["rounds"][0])
        return ServerStep(step.vector, {"rounds": np.array([rounds + 1])})


@pytest.mark.unit
def test_the_server_strategy_is_pluggable_and_keeps_its_state_across_rounds():
    hospitals, validation = [tiny_images(24, 1), tiny_images(17, 2)], tiny_images(20, 3)
    strategy = CountingFedAvg()
    state, reports = run_simulation(
        "cnn28-d16", DEFAULT_TRAIN_CONFIG, hospitals, validation, rounds=3, seed=1, strategy=strategy
    )
    assert [None if s is None else int(s["rounds"][0]) for s in strategy.seen] == [None, 1, 2]
    plain, plain_reports = run_simulation(
        "cnn28-d16", DEFAULT_TRAIN_CONFIG, hospitals, validation, rounds=3, seed=1, strategy="fedavg"
    )
    assert np.array_equal(flatten(state), flatten(plain))
    assert [r["accuracy"] for r in reports] == [r["accuracy"] for r in plain_reports]


@pytest.mark.unit
def test_a_schedule_gives_each_round_its_own_training_configuration():
    hospitals, validation = [tiny_images(24, 1), tiny_images(17, 2)], tiny_images(20, 3)
    asked = []

    def slower_after_the_first(round_number: int):
        asked.append(round_number)
        return DEFAULT_TRAIN_CONFIG if round_number == 1 else replace(DEFAULT_TRAIN_CONFIG, head_lr=2**-10)

    scheduled, _ = run_simulation(
        "cnn28-d16", DEFAULT_TRAIN_CONFIG, hospitals, validation, 2, 1, round_config=slower_after_the_first
    )
    assert asked == [1, 2]
    constant, _ = run_simulation("cnn28-d16", DEFAULT_TRAIN_CONFIG, hospitals, validation, 2, 1)
    first_only, _ = run_simulation("cnn28-d16", DEFAULT_TRAIN_CONFIG, hospitals, validation, 1, 1)
    assert not np.array_equal(flatten(scheduled), flatten(constant))
    # Round 2 ran at the lower rate: the head moved less from round 1's than it did at the constant rate.
    moved = np.abs(scheduled[HEAD_WEIGHT] - first_only[HEAD_WEIGHT]).sum()
    assert 0 < moved < np.abs(constant[HEAD_WEIGHT] - first_only[HEAD_WEIGHT]).sum()


@pytest.mark.unit
def test_unknown_strategy_is_refused(tmp_path, capsys):
    with pytest.raises(
        ValueError,
        match="unknown server strategy .median.; choose one of fedadagrad, fedadam, fedavg, fedavgm, fedyogi",
    ):
        run_simulation(
            "cnn28-d16", DEFAULT_TRAIN_CONFIG, [tiny_images(16, 0)], tiny_images(8, 1), 1, 0, "median"
        )
    npz = save_npz(tmp_path / "tiny.npz", {"train": tiny_images(32, 0), "val": tiny_images(16, 1)})
    with pytest.raises(SystemExit):
        main(["--npz", str(npz), "--strategy", "median"])
    assert "invalid choice: 'median'" in capsys.readouterr().err


@pytest.mark.unit
def test_command_line_runs_rounds_with_the_chosen_strategies(tmp_path, capsys):
    npz = save_npz(tmp_path / "tiny.npz", {"train": tiny_images(48, 0), "val": tiny_images(16, 1)})
    config = json.dumps({"fedprox_mu": 0.01})
    main(["--npz", str(npz), "--hospitals", "2", "--rounds", "2", "--strategy", "fedavg", "--config", config])
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["round"] for r in reports] == [1, 2]
