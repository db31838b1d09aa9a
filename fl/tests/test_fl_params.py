import numpy as np
import pytest
import torch

from fl.models import build_model
from fl.params import flatten, parameter_count, parameter_slice, unflatten

pytestmark = [pytest.mark.unit]


def test_flatten_unflatten_round_trip_is_exact():
    state = build_model("cnn28-d16", 3, seed=1).state_dict()
    vector = flatten(state)
    assert vector.dtype == np.float64 and vector.shape == (parameter_count(state),)
    restored = unflatten(vector, state)
    assert list(restored) == list(state)
    for name in state:
        assert restored[name].dtype == state[name].dtype
        assert torch.equal(restored[name], state[name])


def test_order_is_by_sorted_name_whatever_the_dict_order():
    state = build_model("mlp30-d16", 2, seed=1).state_dict()
    reversed_state = dict(reversed(list(state.items())))
    assert np.array_equal(flatten(state), flatten(reversed_state))
    head = parameter_slice(state, "head.bias")
    assert np.array_equal(flatten(state)[head], state["head.bias"].numpy().astype(np.float64))


def test_wrong_length_is_rejected():
    state = build_model("mlp30-d16", 2).state_dict()
    with pytest.raises(ValueError, match="template needs"):
        unflatten(np.zeros(parameter_count(state) + 1), state)


def test_integer_buffers_stay_out_of_the_vector_and_come_back_from_the_template():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    module(torch.randn(4, 3))  # one training step: num_batches_tracked becomes 1
    state = module.state_dict()
    assert state["1.num_batches_tracked"].dtype == torch.int64
    floats = sum(t.numel() for t in state.values() if torch.is_floating_point(t))
    assert parameter_count(state) == floats == len(flatten(state))
    restored = unflatten(flatten(state) + 1.0, state)
    assert list(restored) == list(state)
    assert torch.equal(restored["1.num_batches_tracked"], torch.tensor(1))
    assert torch.equal(restored["1.running_var"], state["1.running_var"] + 1.0)
