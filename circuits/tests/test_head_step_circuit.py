"""circuits/head_step.circom against fl/fixed_head.py: constraint count, witnesses bit for bit, range checks.

A witness exists only if every constraint holds, including headAfter == Poseidon(W', b') computed in the
circuit; the tests give headAfter from the Python reference, so a successful witness means the circuit's
W', b' equal sgd_step's exactly, and the same input with W' or b' off by one must fail.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from crypto.zk.build import DEFAULT_SHAPE, CircuitArtifacts, CircuitShape, build_circuit
from crypto.zk.dev import synthetic_trace
from crypto.zk.node import SnarkjsError, snarkjs
from crypto.zk.poseidon import head_hash
from crypto.zk.training_proof import segment_input
from fl.fixed_head import FEATURE_BOUND, LR_BOUND, SCALE, WEIGHT_BOUND, HeadStep, sgd_step

pytestmark = [pytest.mark.zk, pytest.mark.slow]

# Other shapes too: the default head one step per proof; 3 classes, and a batch of 3 makes the divisors S^2 B
# and S B non-powers of two, one step per proof and two.
ONE_STEP_SHAPE = CircuitShape(features=16, classes=2, batch=8, steps=1)
SMALL_SHAPE = CircuitShape(features=4, classes=3, batch=3)
SMALL_TWO_STEP_SHAPE = CircuitShape(features=4, classes=3, batch=3, steps=2)
DEFAULT_CONSTRAINTS = 31986
CONTEXT = "round 1|hospital a|head"


@pytest.fixture(
    scope="module",
    params=[DEFAULT_SHAPE, ONE_STEP_SHAPE, SMALL_SHAPE, SMALL_TWO_STEP_SHAPE],
    ids=["d16k2b8t4", "d16k2b8", "d4k3b3", "d4k3b3t2"],
)
def circuit(request) -> CircuitArtifacts:
    return build_circuit(request.param)


def witness(circuit: CircuitArtifacts, circuit_input: dict, tmp_path) -> None:
    snarkjs().request(
        "witness", wasm=str(circuit.wasm), input=circuit_input, wtns=str(tmp_path / "step.wtns")
    )


def refused(circuit: CircuitArtifacts, circuit_input: dict, tmp_path) -> str:
    with pytest.raises(SnarkjsError, match="Assert Failed") as failure:
        witness(circuit, circuit_input, tmp_path)
    return str(failure.value)


def edge_steps(shape: CircuitShape) -> list[HeadStep]:
    """Extremes of every range, and floor division of small negative numbers (-1 // S == -1, not 0)."""
    rng = np.random.default_rng(7)
    k, d, batch = shape.classes, shape.features, shape.batch
    extreme = WEIGHT_BOUND - 1
    largest = HeadStep(
        weight=rng.choice([-extreme, extreme], size=(k, d)),
        bias=rng.choice([-extreme, extreme], size=k),
        features=rng.choice([-FEATURE_BOUND, FEATURE_BOUND], size=(batch, d)),
        labels=rng.integers(0, k, size=batch),
        lr_q=LR_BOUND,
    )
    tiny_weight = np.zeros((k, d), dtype=np.int64)
    tiny_weight[0, 0] = 1
    tiny_features = np.zeros((batch, d), dtype=np.int64)
    tiny_features[:, 0] = -1  # X @ W.T = -1: floor gives -1
    tiny_features[0, 0] = FEATURE_BOUND  # an exact multiple of S
    floor_edges = HeadStep(
        weight=tiny_weight,
        bias=np.array([-1] + [0] * (k - 1), dtype=np.int64),
        features=tiny_features,
        labels=np.arange(batch) % k,
        lr_q=1,
    )
    return [largest, floor_edges]


def test_default_circuit_fits_pot15():
    circuit = build_circuit()
    assert circuit.constraints == DEFAULT_CONSTRAINTS
    assert circuit.constraints < 2**15


def test_witness_matches_reference(circuit, tmp_path):
    shape = circuit.shape
    run = synthetic_trace(3 * shape.steps, shape, seed=11)
    segments = [run[i : i + shape.steps] for i in range(0, len(run), shape.steps)]
    if shape.steps == 1:
        # An extreme step's result is out of range for a next step: the extremes are checked one step per proof
        # (every step of a longer proof is the same SgdStep template).
        segments += [[step] for step in edge_steps(shape)]
    for segment in segments:
        circuit_input = segment_input(segment, CONTEXT)
        witness(circuit, circuit_input, tmp_path)
        new_weight, new_bias, _ = sgd_step(segment[-1])
        for off_weight, off_bias in [(1, 0), (-1, 0), (0, 1)]:
            wrong_weight = new_weight.copy()
            wrong_weight[-1, -1] += off_weight
            wrong_bias = new_bias.copy()
            wrong_bias[0] += off_bias
            refused(
                circuit, {**circuit_input, "headAfter": str(head_hash(wrong_weight, wrong_bias))}, tmp_path
            )


def test_wrong_public_inputs_refused(circuit, tmp_path):
    segment = synthetic_trace(circuit.shape.steps, circuit.shape, seed=3)
    circuit_input = segment_input(segment, CONTEXT)
    for name in ("headBefore", "headAfter", "batchHash"):
        refused(circuit, {**circuit_input, name: str(int(circuit_input[name]) + 1)}, tmp_path)
    refused(circuit, {**circuit_input, "lrQ": str(2 * segment[0].lr_q)}, tmp_path)
    # The last step's features changed without the batch hash.
    last = dataclasses.replace(segment[-1], features=segment[-1].features // 2)
    changed = segment_input([*segment[:-1], last], CONTEXT)
    refused(circuit, {**changed, "batchHash": circuit_input["batchHash"]}, tmp_path)


def test_out_of_range_inputs_refused(circuit, tmp_path):
    segment = synthetic_trace(circuit.shape.steps, circuit.shape, seed=5)
    valid = segment_input(segment, CONTEXT)
    last = circuit.shape.steps - 1

    def with_private(name: str, where: tuple[int, ...], value: int) -> dict:
        values = copy.deepcopy(valid[name])
        *outer, inner = where
        target = values
        for index in outer:
            target = target[index]
        target[inner] = str(value)
        return {**valid, name: values}

    for value in (WEIGHT_BOUND, -WEIGHT_BOUND):
        assert "SignedBelow" in refused(circuit, with_private("W", (0, 0), value), tmp_path)
        assert "SignedBelow" in refused(circuit, with_private("b", (0,), value), tmp_path)
    for value in (FEATURE_BOUND + 1, -FEATURE_BOUND - 1, 2 * FEATURE_BOUND):
        assert "SignedAtMost" in refused(circuit, with_private("X", (last, 0, 0), value), tmp_path)
    for label in (circuit.shape.classes, -1):
        refused(circuit, with_private("y", (last, 0), label), tmp_path)
    for lr_q in (0, LR_BOUND + 1, -SCALE):
        assert "Num2Bits" in refused(circuit, {**valid, "lrQ": str(lr_q)}, tmp_path)
