import numpy as np
import pytest
import torch

from fl import fixed_head
from fl.fedavg import (
    apply_update,
    average_from_weighted_sum,
    fedavg,
    round_head_to_fixed_point,
    weighted_update,
)
from fl.models import build_model

pytestmark = [pytest.mark.unit]


def test_fedavg_weights_by_sample_count():
    updates = [(np.array([1.0, 0.0]), 1), (np.array([4.0, 3.0]), 3)]
    assert np.allclose(fedavg(updates), [13 / 4, 9 / 4])


def test_encrypted_path_sum_of_weighted_updates_equals_fedavg():
    rng = np.random.default_rng(0)
    updates = [(rng.normal(size=50), int(n)) for n in (120, 7, 3000)]
    weighted_sum = sum(weighted_update(delta, n) for delta, n in updates)
    total = sum(n for _, n in updates)
    assert np.allclose(average_from_weighted_sum(weighted_sum, total), fedavg(updates))


def test_bad_updates_are_rejected():
    with pytest.raises(ValueError, match="at least one"):
        fedavg([])
    with pytest.raises(ValueError, match="different lengths"):
        fedavg([(np.zeros(2), 1), (np.zeros(3), 1)])
    with pytest.raises(ValueError, match="num_samples"):
        weighted_update(np.zeros(2), 0)
    with pytest.raises(ValueError, match="shape"):
        apply_update(np.zeros(3), np.zeros(2))
    assert np.array_equal(apply_update(np.ones(2), np.array([0.5, -1.0])), [1.5, 0.0])


def test_rounded_head_is_exactly_representable_in_fixed_point():
    state = build_model("cnn28-d16", 2, seed=0).state_dict()
    rounded = round_head_to_fixed_point(state)
    weight_q, bias_q = fixed_head.quantise_head(rounded["head.weight"].numpy(), rounded["head.bias"].numpy())
    assert np.array_equal(fixed_head.dequantise(weight_q), rounded["head.weight"].numpy().astype(np.float64))
    assert np.array_equal(fixed_head.dequantise(bias_q), rounded["head.bias"].numpy().astype(np.float64))
    # Floor: never above the original, less than one step below; the body is untouched.
    difference = state["head.weight"].double() - rounded["head.weight"].double()
    assert float(difference.min()) >= 0 and float(difference.max()) < 2**-16
    assert torch.equal(rounded["body.0.weight"], state["body.0.weight"])
    assert round_head_to_fixed_point(rounded)["head.weight"].equal(rounded["head.weight"])


def test_head_outside_the_provable_range_is_refused():
    state = build_model("mlp30-d16", 2).state_dict()
    state["head.bias"] = torch.tensor([300.0, 0.0])
    with pytest.raises(fixed_head.HeadRangeError):
        round_head_to_fixed_point(state)


def test_snapping_the_opened_sum_removes_decryption_error_exactly():
    from fl.fedavg import UPDATE_GRID, snap_to_grid

    rng = np.random.default_rng(3)
    updates = [(rng.normal(0, 0.05, 1000), int(n)) for n in rng.integers(50, 2000, 5)]
    exact_sum = sum(weighted_update(delta, n) for delta, n in updates)
    noisy_sum = exact_sum + rng.normal(0, 1e-6, exact_sum.shape)  # far more than CKKS adds
    assert np.array_equal(snap_to_grid(noisy_sum), exact_sum)
    total = sum(n for _, n in updates)
    assert np.array_equal(
        average_from_weighted_sum(noisy_sum, total), average_from_weighted_sum(exact_sum, total)
    )
    plain_average = sum(n * delta for delta, n in updates) / total
    # each hospital rounds by at most half a grid step
    bound = len(updates) * UPDATE_GRID / 2 / total
    assert np.max(np.abs(average_from_weighted_sum(exact_sum, total) - plain_average)) <= bound
