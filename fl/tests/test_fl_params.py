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


def test_wrong_length_and_integer_tensors_are_rejected():
    state = build_model("mlp30-d16", 2).state_dict()
    with pytest.raises(ValueError, match="template needs"):
        unflatten(np.zeros(parameter_count(state) + 1), state)
    with pytest.raises(ValueError, match="floating-point"):
        flatten({"steps": torch.tensor([3])})
