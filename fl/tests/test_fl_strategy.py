from dataclasses import replace

import numpy as np
import pytest
import torch

from fl import fixed_head
from fl.data import Dataset
from fl.fedavg import UPDATE_GRID, round_head_to_fixed_point, weighted_update
from fl.models import build_model
from fl.params import flatten, unflatten
from fl.strategy import (
    CLIENT_STRATEGIES,
    SERVER_STRATEGIES,
    FedAvg,
    FedAvgClient,
    FedProxClient,
    client_strategy_for,
    client_update,
    get_server_strategy,
    published_state,
)
from fl.training import DEFAULT_TRAIN_CONFIG, head_of, train_local

pytestmark = [pytest.mark.unit]


def tiny_images(n=43, seed=0):
    """Two separable classes: bright versus dark images."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    inputs = rng.uniform(0, 0.5, (n, 1, 28, 28)).astype(np.float32) + 0.4 * labels[:, None, None, None]
    return Dataset(inputs.astype(np.float32), labels.astype(np.int64), 2)


def global_state():
    return round_head_to_fixed_point(build_model("cnn28-d16", 2, seed=0).state_dict())


CONFIG = replace(DEFAULT_TRAIN_CONFIG, local_epochs=1, batch_size=8)


def test_fedavg_server_update_is_base_plus_snapped_sum_over_total():
    base = np.array([1.0, -2.0, 0.5, 0.0])
    # An opened CKKS sum: grid values plus decryption noise far below half a grid step.
    weighted_sum = np.array([2.0 + 1e-9, -1.0 - 2e-9, 3 * UPDATE_GRID + 4e-10, -5 * UPDATE_GRID - 1e-10])
    step = FedAvg().server_update(base, weighted_sum, 4)
    assert np.array_equal(step.vector, [1.5, -2.25, 0.5 + 3 * 2.0**-14, -5 * 2.0**-14])
    assert step.state is None
    assert np.array_equal(base, [1.0, -2.0, 0.5, 0.0])  # the global vector is not modified


def test_fedavg_server_update_refuses_bad_input():
    with pytest.raises(ValueError, match="total_samples"):
        FedAvg().server_update(np.zeros(2), np.zeros(2), 0)
    with pytest.raises(ValueError, match="shape"):
        FedAvg().server_update(np.zeros(3), np.zeros(2), 1)
    with pytest.raises(ValueError, match="no server state"):
        FedAvg().server_update(np.zeros(2), np.zeros(2), 1, {"momentum": np.zeros(2)})
    assert FedAvg().server_update(np.zeros(2), np.ones(2), 2, {}).state is None


def test_server_strategies_by_name():
    assert set(SERVER_STRATEGIES) == {"fedavg"}
    assert isinstance(get_server_strategy("fedavg"), FedAvg)
    assert all(strategy.name == name for name, strategy in SERVER_STRATEGIES.items())
    with pytest.raises(ValueError, match="unknown server strategy 'krum'; choose one of fedavg"):
        get_server_strategy("krum")


def test_client_strategy_follows_fedprox_mu():
    assert isinstance(client_strategy_for(CONFIG), FedAvgClient)
    assert isinstance(client_strategy_for(replace(CONFIG, fedprox_mu=0.01)), FedProxClient)
    assert all(strategy.name == name for name, strategy in CLIENT_STRATEGIES.items())
    state, data = global_state(), tiny_images()
    with pytest.raises(ValueError, match="proximal"):
        FedAvgClient().client_update(state, "cnn28-d16", replace(CONFIG, fedprox_mu=0.01), data, 1)
    with pytest.raises(ValueError, match="fedprox_mu > 0"):
        FedProxClient().client_update(state, "cnn28-d16", CONFIG, data, 1)


@pytest.mark.parametrize("mu", [0.0, 0.5])
def test_client_update_is_train_local_and_its_weighted_update(mu):
    config, state, data = replace(CONFIG, fedprox_mu=mu), global_state(), tiny_images()
    update = client_update(state, "cnn28-d16", config, data, seed=3)
    expected = train_local(state, "cnn28-d16", config, data, seed=3)
    assert np.array_equal(flatten(update.result.state), flatten(expected.state))
    assert update.result.metrics == expected.metrics and update.num_samples == expected.num_samples == 43
    assert len(update.result.head_trace) == len(expected.head_trace)
    delta = flatten(expected.state) - flatten(state)
    assert np.array_equal(update.weighted_update, weighted_update(delta, 43))
    assert np.array_equal(np.rint(update.weighted_update / UPDATE_GRID) * UPDATE_GRID, update.weighted_update)


def test_fedprox_client_uses_the_proximal_term():
    state, data = global_state(), tiny_images()
    plain = client_update(state, "cnn28-d16", CONFIG, data, seed=3)
    prox = client_update(state, "cnn28-d16", replace(CONFIG, fedprox_mu=0.5), data, seed=3)
    assert not np.array_equal(plain.weighted_update, prox.weighted_update)


def test_published_state_floors_the_head_or_takes_the_proven_one():
    template = build_model("cnn28-d16", 2).state_dict()
    vector = flatten(build_model("cnn28-d16", 2, seed=1).state_dict())
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            published_state(vector, template).values(),
            round_head_to_fixed_point(unflatten(vector, template)).values(),
            strict=True,
        )
    )
    weight = np.arange(2 * 16).reshape(2, 16) * 1000 - 7
    bias = np.array([fixed_head.SCALE, -3])
    published = published_state(vector, template, (weight, bias))
    assert all(np.array_equal(a, b) for a, b in zip(head_of(published), (weight, bias), strict=True))
    assert torch.equal(published["body.0.weight"], unflatten(vector, template)["body.0.weight"])
