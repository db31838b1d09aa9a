from dataclasses import replace

import numpy as np
import pytest
import torch

from fl import fixed_head
from fl.data import Dataset, load_breast_cancer
from fl.fedavg import round_head_to_fixed_point
from fl.models import build_model
from fl.params import flatten
from fl.training import (
    DEFAULT_TRAIN_CONFIG,
    StepRule,
    TrainConfig,
    _shifted,
    evaluate,
    head_of,
    local_steps,
    train_local,
)

pytestmark = [pytest.mark.unit]


def tiny_images(n=43, seed=0):
    """Two separable classes: bright versus dark images."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    inputs = rng.uniform(0, 0.5, (n, 1, 28, 28)).astype(np.float32) + 0.4 * labels[:, None, None, None]
    return Dataset(inputs.astype(np.float32), labels.astype(np.int64), 2)


def global_state(arch_id="cnn28-d16", num_classes=2):
    return round_head_to_fixed_point(build_model(arch_id, num_classes, seed=0).state_dict())


CONFIG = replace(DEFAULT_TRAIN_CONFIG, local_epochs=2, batch_size=8)


def test_head_trace_replays_exactly_to_the_trained_head():
    state = global_state()
    result = train_local(state, "cnn28-d16", CONFIG, tiny_images(), seed=5)
    assert len(result.head_trace) == result.metrics["steps"] == 2 * (43 // 8)
    weight, bias = head_of(state)
    for step in result.head_trace:
        assert step.features.shape == (8, 16) and step.labels.shape == (8,)
        assert np.abs(step.features).max() <= fixed_head.SCALE
        assert step.lr_q == fixed_head.quantise_lr(CONFIG.head_lr)
        assert np.array_equal(step.weight, weight) and np.array_equal(step.bias, bias)
        weight, bias, _ = fixed_head.sgd_step(step)
    final_weight, final_bias = head_of(result.state)
    assert np.array_equal(final_weight, weight) and np.array_equal(final_bias, bias)
    assert not np.array_equal(final_weight, head_of(state)[0])
    assert result.num_samples == 43


def test_a_run_rounds_its_steps_up_to_whole_proofs_and_enough_of_them():
    """2 epochs x 5 full batches = 10 steps; proofs of 4 steps need 12: two batches of a third shuffle, the run
    still one exact chain and the same as the plain run for its first 10 steps. A round checking 4 proofs of 4
    steps needs 16 (a small hospital's run is lengthened, not refused)."""
    assert [local_steps(43, 2, 8, StepRule(multiple)) for multiple in (1, 2, 3, 4, 7)] == [10, 10, 12, 12, 14]
    assert local_steps(43, 2, 8, StepRule(4, 16)) == 16 and local_steps(43, 1, 8, StepRule(4, 16)) == 16
    state = global_state()
    plain = train_local(state, "cnn28-d16", CONFIG, tiny_images(), seed=5)
    rounded = train_local(state, "cnn28-d16", CONFIG, tiny_images(), seed=5, step_rule=StepRule(4))
    assert len(rounded.head_trace) == rounded.metrics["steps"] == 12
    lengthened = train_local(state, "cnn28-d16", CONFIG, tiny_images(), seed=5, step_rule=StepRule(4, 16))
    assert len(lengthened.head_trace) == 16
    for ours, theirs in zip(rounded.head_trace[:10], plain.head_trace, strict=False):
        assert np.array_equal(ours.features, theirs.features) and np.array_equal(ours.weight, theirs.weight)
    weight, bias = head_of(state)
    for step in rounded.head_trace:
        assert np.array_equal(step.weight, weight) and np.array_equal(step.bias, bias)
        weight, bias, _ = fixed_head.sgd_step(step)
    assert np.array_equal(head_of(rounded.state)[0], weight)


def test_dequantised_head_quantises_back_exactly():
    rng = np.random.default_rng(0)
    weight_q = rng.integers(-fixed_head.WEIGHT_BOUND + 1, fixed_head.WEIGHT_BOUND, (5, 16))
    bias_q = rng.integers(-fixed_head.WEIGHT_BOUND + 1, fixed_head.WEIGHT_BOUND, 5)
    # Through float32 tensors, as in a state dict.
    weight = torch.from_numpy(fixed_head.dequantise(weight_q)).float().numpy()
    bias = torch.from_numpy(fixed_head.dequantise(bias_q)).float().numpy()
    again_weight, again_bias = fixed_head.quantise_head(weight, bias)
    assert np.array_equal(again_weight, weight_q) and np.array_equal(again_bias, bias_q)


def test_training_is_deterministic_given_the_seed():
    state, data = global_state(), tiny_images()
    a = train_local(state, "cnn28-d16", CONFIG, data, seed=1)
    b = train_local(state, "cnn28-d16", CONFIG, data, seed=1)
    c = train_local(state, "cnn28-d16", CONFIG, data, seed=2)
    assert np.array_equal(flatten(a.state), flatten(b.state))
    assert not np.array_equal(flatten(a.state), flatten(c.state))
    assert all(
        np.array_equal(x.features, y.features) for x, y in zip(a.head_trace, b.head_trace, strict=True)
    )


def test_training_leaves_the_global_state_untouched():
    state = global_state()
    before = flatten(state)
    train_local(state, "cnn28-d16", CONFIG, tiny_images(), seed=1)
    assert np.array_equal(flatten(state), before)


def test_cross_entropy_trains_everything_in_float_without_a_trace():
    config = replace(CONFIG, loss="cross_entropy", optimiser="sgd", lr=0.1)
    state = global_state()
    result = train_local(state, "cnn28-d16", config, tiny_images(), seed=1)
    assert result.head_trace == []
    assert not torch.equal(result.state["head.weight"], state["head.weight"])


def test_fedprox_keeps_the_body_near_the_global_body():
    state, data = global_state(), tiny_images()
    distances = {}
    for mu in (0.0, 100.0):
        config = replace(CONFIG, optimiser="sgd", lr=0.005, fedprox_mu=mu)
        trained = train_local(state, "cnn28-d16", config, data, seed=1).state
        distances[mu] = sum(
            float((trained[n] - state[n]).norm() ** 2) for n in state if n.startswith("body.")
        )
    assert distances[100.0] < 0.5 * distances[0.0]


def test_mlp_on_breast_cancer_learns():
    train, val = load_breast_cancer()
    config = replace(DEFAULT_TRAIN_CONFIG, local_epochs=5, batch_size=8)
    result = train_local(global_state("mlp30-d16"), "mlp30-d16", config, train, seed=0)
    metrics = evaluate(result.state, "mlp30-d16", val, loss="mse_onehot")
    assert metrics["accuracy"] >= 0.93 and metrics["auc"] >= 0.97


def test_evaluate_reports_accuracy_auc_and_loss():
    state = global_state("cnn28-d16", num_classes=3)
    data = tiny_images()
    three_classes = Dataset(data.inputs, np.arange(len(data)) % 3, 3)
    metrics = evaluate(state, "cnn28-d16", three_classes)
    assert set(metrics) == {"accuracy", "auc", "loss"}
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["auc"] <= 1 and metrics["loss"] > 0
    one_class = Dataset(data.inputs, np.zeros(len(data), dtype=np.int64), 2)
    assert evaluate(global_state(), "cnn28-d16", one_class)["auc"] is None


def test_balanced_sampling_draws_every_class_about_equally():
    data = tiny_images(n=360)
    rare = np.flatnonzero(data.labels == 1)[:20]  # 180 of class 0, 20 of class 1
    skewed = data.subset(np.sort(np.concatenate([np.flatnonzero(data.labels == 0), rare])))
    config = replace(CONFIG, local_epochs=1)

    def share_of_rare(sampling: str) -> float:
        result = train_local(global_state(), "cnn28-d16", replace(config, sampling=sampling), skewed, seed=3)
        labels = np.concatenate([step.labels for step in result.head_trace])
        return float(labels.mean())

    assert share_of_rare("proportional") == 0.1  # 20 of 200, in 25 whole batches
    assert 0.4 <= share_of_rare("balanced") <= 0.6


def test_shift_augmentation_moves_images_by_at_most_two_pixels_and_is_reproducible():
    images = torch.zeros(50, 1, 28, 28)
    images[:, 0, 14, 14] = 1.0
    moved = _shifted(images, torch.Generator().manual_seed(0))
    assert moved.shape == images.shape
    rows, columns = np.nonzero(moved[:, 0].numpy().sum(axis=0))
    assert set(rows.tolist()) == set(range(12, 17)) == set(columns.tolist())  # every shift of -2..2 was drawn
    assert torch.equal(moved, _shifted(images, torch.Generator().manual_seed(0)))
    config = replace(CONFIG, augment="shift")
    a = train_local(global_state(), "cnn28-d16", config, tiny_images(), seed=1)
    b = train_local(global_state(), "cnn28-d16", config, tiny_images(), seed=1)
    plain = train_local(global_state(), "cnn28-d16", replace(CONFIG, augment="none"), tiny_images(), seed=1)
    assert np.array_equal(flatten(a.state), flatten(b.state))
    assert not np.array_equal(flatten(a.state), flatten(plain.state))


def test_bad_configs_and_inputs_are_value_errors():
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="optimiser"):
        TrainConfig(optimiser="rmsprop")
    with pytest.raises(ValueError, match="learning rate"):
        TrainConfig(head_lr=2.0)
    with pytest.raises(ValueError, match="augment must be one of"):
        TrainConfig(augment="rotate")
    with pytest.raises(ValueError, match="sampling must be one of"):
        TrainConfig(sampling="oversample")
    with pytest.raises(ValueError, match="unknown training options"):
        TrainConfig.from_dict({"lr": 0.1, "momentum": 0.9})
    assert TrainConfig.from_dict(DEFAULT_TRAIN_CONFIG.as_dict()) == DEFAULT_TRAIN_CONFIG
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_local(global_state(), "cnn28-d16", CONFIG, tiny_images(n=7), seed=0)
    train, _ = load_breast_cancer()
    with pytest.raises(ValueError, match="do not fit"):
        train_local(global_state(), "cnn28-d16", CONFIG, train, seed=0)
