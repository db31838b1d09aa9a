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
    SERVER_PARAMETERS,
    FedAvg,
    FedAvgClient,
    FedAvgM,
    FedOpt,
    FedProxClient,
    ServerConfig,
    client_strategy_for,
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
    assert set(SERVER_PARAMETERS) == {"fedavg", "fedavgm", "fedadagrad", "fedadam", "fedyogi"}
    assert isinstance(get_server_strategy("fedavg"), FedAvg)
    assert all(get_server_strategy(name).name == name for name in SERVER_PARAMETERS)
    with pytest.raises(ValueError, match="unknown server strategy 'krum'; choose one of fedadagrad"):
        get_server_strategy("krum")


def test_a_plans_server_config_is_checked_and_filled_in():
    config = ServerConfig.from_dict({"name": "fedadam", "eta": 0.1})
    assert config.as_dict() == {"name": "fedadam", "beta1": 0.9, "beta2": 0.99, "eta": 0.1, "tau": 1e-3}
    assert ServerConfig.from_dict(None) == ServerConfig.from_dict({"name": "fedavg"}) == ServerConfig()
    with pytest.raises(ValueError, match="fedavg takes no hyperparameters, not eta"):
        ServerConfig.from_dict({"name": "fedavg", "eta": 0.1})
    with pytest.raises(ValueError, match=r"fedyogi's beta2 must be .* \(below 1 for a decay\), got 1.0"):
        ServerConfig.from_dict({"name": "fedyogi", "beta2": 1.0})
    with pytest.raises(ValueError, match="fedadam's eta must be above 0"):
        ServerConfig.from_dict({"name": "fedadam", "eta": 0})


# Two rounds of each server optimiser on a 2-vector, by hand. Round 1: global x0 = (1, -2), opened sum (6, -3)
# of 3 samples, so Delta1 = (2, -1). Round 2: x1 as computed, sum (-3, 3) of 3 samples, Delta2 = (-1, 1).
X0, SUM1, SUM2, N = np.array([1.0, -2.0]), np.array([6.0, -3.0]), np.array([-3.0, 3.0]), 3


def two_rounds(strategy):
    first = strategy.server_update(X0, SUM1, N)
    second = strategy.server_update(first.vector, SUM2, N, first.state)
    return first, second


def test_fedavgm_by_hand():
    # v1 = Delta1 = (2, -1); x1 = x0 + 1.0 * v1 = (3, -3); v2 = 0.5 * v1 + Delta2 = (0, 0.5); x2 = (3, -2.5)
    first, second = two_rounds(FedAvgM(server_lr=1.0, momentum=0.5))
    assert np.allclose(first.vector, [3.0, -3.0]) and np.allclose(first.state["velocity"], [2.0, -1.0])
    assert np.allclose(second.vector, [3.0, -2.5]) and np.allclose(second.state["velocity"], [0.0, 0.5])


def test_fedadam_by_hand():
    # beta1 0.9, beta2 0.99, eta 0.1, tau 0.001.
    # m1 = 0.1 * (2, -1) = (0.2, -0.1); v1 = 0.01 * (4, 1) = (0.04, 0.01); sqrt(v1) = (0.2, 0.1)
    # x1 = x0 + 0.1 * (0.2 / 0.201, -0.1 / 0.101) = (1.0995025, -2.0990099)
    # m2 = 0.9 m1 + 0.1 (-1, 1) = (0.08, 0.01); v2 = 0.99 v1 + 0.01 (1, 1) = (0.0496, 0.0199)
    # x2 = x1 + 0.1 * (0.08 / (0.2227106 + 0.001), 0.01 / (0.1410674 + 0.001)) = (1.1352610, -2.0919711)
    first, second = two_rounds(FedOpt("adam", eta=0.1, beta1=0.9, beta2=0.99, tau=0.001))
    assert np.allclose(first.vector, [1.0995025, -2.0990099])
    assert np.allclose(second.state["m"], [0.08, 0.01]) and np.allclose(second.state["v"], [0.0496, 0.0199])
    assert np.allclose(second.vector, [1.1352610, -2.0919711])


def test_fedadagrad_by_hand():
    # m1 = (0.2, -0.1); v1 = (4, 1); x1 = x0 + 0.1 * (0.2 / 2.001, -0.1 / 1.001) = (1.0099950, -2.0099900)
    # m2 = (0.08, 0.01); v2 = (5, 2); x2 = x1 + 0.1 * (0.08 / 2.2370680, 0.01 / 1.4152136) = (1.0135711, -2.0092834)
    first, second = two_rounds(FedOpt("adagrad", eta=0.1, beta1=0.9, beta2=0.99, tau=0.001))
    assert np.allclose(first.vector, [1.0099950, -2.0099900])
    assert np.allclose(second.state["v"], [5.0, 2.0])
    assert np.allclose(second.vector, [1.0135711, -2.0092834])


def test_fedyogi_by_hand():
    # v1 = 0 - 0.01 * (4, 1) * sign(0 - (4, 1)) = (0.04, 0.01): as Adam's in round 1, so x1 is Adam's.
    # v2 = v1 - 0.01 * (1, 1) * sign(v1 - (1, 1)) = (0.04 + 0.01, 0.01 + 0.01) = (0.05, 0.02)
    # x2 = x1 + 0.1 * (0.08 / (0.2236068 + 0.001), 0.01 / (0.1414214 + 0.001)) = (1.1351203, -2.0919885)
    first, second = two_rounds(FedOpt("yogi", eta=0.1, beta1=0.9, beta2=0.99, tau=0.001))
    assert np.allclose(first.vector, [1.0995025, -2.0990099])
    assert np.allclose(second.state["v"], [0.05, 0.02])
    assert np.allclose(second.vector, [1.1351203, -2.0919885])


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
    update = client_strategy_for(config).client_update(state, "cnn28-d16", config, data, seed=3)
    expected = train_local(state, "cnn28-d16", config, data, seed=3)
    assert np.array_equal(flatten(update.result.state), flatten(expected.state))
    assert update.result.metrics == expected.metrics and update.num_samples == expected.num_samples == 43
    assert len(update.result.head_trace) == len(expected.head_trace)
    delta = flatten(expected.state) - flatten(state)
    assert np.array_equal(update.weighted_update, weighted_update(delta, 43))
    assert np.array_equal(np.rint(update.weighted_update / UPDATE_GRID) * UPDATE_GRID, update.weighted_update)


def test_fedprox_client_uses_the_proximal_term():
    state, data = global_state(), tiny_images()
    plain = client_strategy_for(CONFIG).client_update(state, "cnn28-d16", CONFIG, data, seed=3)
    prox_config = replace(CONFIG, fedprox_mu=0.5)
    prox = client_strategy_for(prox_config).client_update(state, "cnn28-d16", prox_config, data, seed=3)
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
