"""A round plan's server strategy (fl.strategy: FedAvg, FedAvgM, FedAdam, FedYogi, FedAdagrad): checked and
filled in when the round is planned, bound into the plan's hash, applied by the aggregation with the optimiser's
state kept beside each model version (the end-to-end run under encryption is in test_encrypted_rounds.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fl.strategy import ServerConfig
from protocol.plan import config_hash
from registry.models import GlobalModel
from registry.weights import load_server_state, load_weights
from rounds.models import Round
from rounds.services import aggregating, lifecycle
from tests.conftest import plain_update, submit_signed

pytestmark = [pytest.mark.unit]

S = Round.State


def plan_body(consortium, **extra) -> dict:
    return {
        "base_model": consortium.model.pk,
        "participants": ["hospital-a", "hospital-b"],
        "quorum": 2,
        "deadline": "2999-01-01T00:00:00Z",
        "protection": "plaintext",
        "proof_scheme": "none",
        "config": {},
        **extra,
    }


def test_a_plan_names_its_server_strategy_and_it_enters_the_plan_hash(consortium):
    client = consortium.client("coordinator")
    response = client.post(
        "/api/rounds/", plan_body(consortium, server_strategy={"name": "fedadam", "eta": 0.05}), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["server_strategy"] == {
        "name": "fedadam",
        "eta": 0.05,
        "beta1": 0.9,
        "beta2": 0.99,
        "tau": 0.001,
    }
    adam = Round.objects.get(pk=response.json()["id"])
    default = consortium.plan_round()
    assert default.server_strategy == {"name": "fedavg"}
    # A FedAvg plan hashes as before strategies existed; another strategy's plan names it in the hash.
    assert default.config_hash == config_hash(
        default.config, default.base_model.architecture.architecture_hash
    )
    assert adam.config_hash == config_hash(
        {**adam.config, "server_strategy": adam.server_strategy},
        adam.base_model.architecture.architecture_hash,
    )


@pytest.mark.parametrize(
    ("strategy", "reason"),
    [
        ({"name": "krum"}, "unknown server strategy 'krum'"),
        ({"name": "fedavg", "momentum": 0.9}, "fedavg takes no hyperparameters, not momentum"),
        (
            {"name": "fedyogi", "beta1": 1.5},
            "fedyogi's beta1 must be a finite number >= 0 (below 1 for a decay)",
        ),
        ({"name": "fedadam", "eta": "fast"}, "could not convert string to float"),
    ],
)
def test_a_bad_server_strategy_is_refused_with_the_reason(consortium, strategy, reason):
    client = consortium.client("coordinator")
    response = client.post("/api/rounds/", plan_body(consortium, server_strategy=strategy), format="json")
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"]
    assert not Round.objects.exists()


def collected_round(consortium, server_strategy: dict, update_scale: float) -> Round:
    round_ = consortium.plan_round(server_strategy=server_strategy, proof_scheme="none")
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    for hospital in (consortium.hospital_a, consortium.hospital_b):
        submit_signed(hospital, round_.pk, plain_update(consortium.model, update_scale), 10)
    aggregating.aggregate_round(round_.pk)
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    return round_


def test_fedavgm_goes_on_from_the_velocity_kept_beside_the_model(consortium):
    """Two FedAvgM rounds, each aggregated from the database alone (as after a restart): the second starts from
    the velocity the first stored with its model, so its step is momentum * v1 + Delta2."""
    strategy = {"name": "fedavgm", "server_lr": 1.0, "momentum": 0.5}
    base = load_weights(consortium.model)
    first = collected_round(consortium, strategy, 0.25)  # each hospital: n_h * delta = 0.25, so Delta = 0.025
    model_1 = GlobalModel.objects.get(produced_by=first)
    velocity = load_server_state(model_1, ServerConfig.from_dict(strategy))["velocity"]
    assert model_1.server_strategy["name"] == "fedavgm"
    body = ~np.isin(np.arange(base.size), head_positions(consortium))
    assert np.allclose(velocity[body], 0.025)
    consortium.model = model_1
    second = collected_round(consortium, strategy, 0.5)  # Delta = 0.05
    model_2 = GlobalModel.objects.get(produced_by=second)
    weights_1, weights_2 = load_weights(model_1), load_weights(model_2)
    assert np.allclose((weights_2 - weights_1)[body], 0.5 * 0.025 + 0.05, atol=1e-6)


def head_positions(consortium) -> np.ndarray:
    """Indices of the head in the flat vector (published on the fixed-point grid, so not the step exactly)."""
    from fl import params as fl_params
    from fl.models import HEAD_BIAS, HEAD_WEIGHT
    from registry.weights import template_state

    template = template_state(consortium.model.architecture)
    return np.concatenate(
        [
            np.arange(
                fl_params.parameter_slice(template, n).start, fl_params.parameter_slice(template, n).stop
            )
            for n in (HEAD_WEIGHT, HEAD_BIAS)
        ]
    )
