"""prove_training / verify_training on real traces of fl.fixed_head.sgd_step, and the tampering they refuse."""

from __future__ import annotations

import copy
import json
import time

import pytest

from conftest import shared_file
from crypto.zk import (
    DEFAULT_SHAPE,
    PUBLIC_SIGNALS,
    ProofError,
    commit_trace,
    context_field,
    export_solidity_verifier,
    head_hash,
    prove_training,
    verify_training,
)
from crypto.zk.dev import dev_proving_key, final_head, synthetic_trace
from crypto.zk.training_proof import BUNDLE_VERSION, prove_steps
from fl.fixed_head import HeadStep, sgd_step

pytestmark = [pytest.mark.zk, pytest.mark.slow]

GLOBAL_HEAD = "head:0x1234"
CONTEXT = f"round 7|hospital a|{GLOBAL_HEAD}"
T = DEFAULT_SHAPE.steps  # steps per proof
SEGMENTS = 6
STEPS = SEGMENTS * T
N_PROOFS = 4


@pytest.fixture(scope="module")
def trace() -> list[HeadStep]:
    return synthetic_trace(STEPS, seed=21)


@pytest.fixture(scope="module")
def bundle(trace, proving_key):
    started = time.perf_counter()
    made = prove_training(trace, CONTEXT, N_PROOFS, proving_key)
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"proving {N_PROOFS} steps took {elapsed:.1f} s"
    return made


def check(
    bundle,
    trace,
    vkey,
    *,
    context=CONTEXT,
    lr_q=None,
    final=None,
    initial=None,
    n_proofs=N_PROOFS,
    steps=None,
):
    verify_training(
        bundle,
        context,
        vkey,
        head_hash(trace[0].weight, trace[0].bias) if initial is None else initial,
        final_head(trace) if final is None else final,
        trace[0].lr_q if lr_q is None else lr_q,
        n_proofs,
        steps_per_proof=T,
        expected_steps=steps,
    )


def refused(reason: str, *args, **kwargs) -> None:
    with pytest.raises(ProofError, match=reason):
        check(*args, **kwargs)


def test_honest_run_verifies_quickly(bundle, trace, vkey):
    assert json.loads(json.dumps(bundle)) == bundle
    assert len(bundle["proofs"]) == N_PROOFS and bundle["step_count"] == STEPS
    check(bundle, trace, vkey, steps=STEPS)  # starts the node process
    started = time.perf_counter()
    check(bundle, trace, vkey)
    assert time.perf_counter() - started < 2


def test_update_that_is_not_the_declared_steps_refused(bundle, trace, vkey):
    weight, bias = final_head(trace)
    refused("final head of the run is not the uploaded head", bundle, trace, vkey, final=(weight + 1, bias))
    refused("first head of the run is not the published global head", bundle, trace, vkey, initial=123)


def test_faked_step_refused(trace, proving_key, vkey):
    """A node commits to a run of 3 segments whose segment 2 starts from a head that segment 1 does not lead to
    (and then trains honestly from it); with every segment checked (n >= C), the proof of segment 1 cannot reach
    leaf 2."""
    faked = list(trace[: 2 * T])
    weight, bias = trace[2 * T].weight + 5, trace[2 * T].bias
    for step in trace[2 * T : 3 * T]:
        faked.append(HeadStep(weight, bias, step.features, step.labels, step.lr_q))
        weight, bias, _ = sgd_step(faked[-1])
    with pytest.raises(ValueError, match=f"not the result of step {2 * T - 1}"):
        prove_training(faked, CONTEXT, 3, proving_key)
    forged = prove_steps(commit_trace(faked, T), faked, CONTEXT, 3, proving_key)
    refused("segment 1 does not lead to the head committed in leaf 2", forged, faked, vkey, n_proofs=3)
    # Editing the declared public signals to match the leaves only moves the refusal to the Groth16 check.
    forged["proofs"][1]["public_signals"][1] = forged["leaves"][2]["weight_hash"]
    refused("proof of segment 1 does not verify", forged, faked, vkey, n_proofs=3)


def test_changed_learning_rate_refused(bundle, trace, vkey):
    refused("learning rate mismatch", bundle, trace, vkey, lr_q=trace[0].lr_q + 1)
    lying = copy.deepcopy(bundle)
    lying["lr_q"] = trace[0].lr_q + 1
    refused("learning rate mismatch", lying, trace, vkey, lr_q=trace[0].lr_q + 1)


def test_proof_for_another_round_or_hospital_refused(bundle, trace, vkey):
    for other in (f"round 8|hospital a|{GLOBAL_HEAD}", f"round 7|hospital b|{GLOBAL_HEAD}"):
        refused(
            "not the ones derived from the Merkle root and this round's context",
            bundle,
            trace,
            vkey,
            context=other,
        )


def test_replay_with_every_step_proven_refused(trace, proving_key, vkey):
    """With n >= C the indices are the same in every context; the proofs themselves bind the context."""
    short = trace[: 2 * T]
    replayed = prove_training(short, CONTEXT, 2, proving_key)
    check(replayed, short, vkey, n_proofs=2)
    other = f"round 7|hospital b|{GLOBAL_HEAD}"
    refused("bound to another round context", replayed, short, vkey, context=other, n_proofs=2)
    for entry in replayed["proofs"]:
        entry["public_signals"][4] = str(context_field(other))
    refused("does not verify", replayed, short, vkey, context=other, n_proofs=2)


def test_tampered_commitment_refused(bundle, trace, vkey):
    wrong_path = copy.deepcopy(bundle)
    wrong_path["leaves"][1]["path"][0] = str(int(wrong_path["leaves"][1]["path"][0]) + 1)
    refused(f"wrong Merkle path for leaf {wrong_path['leaves'][1]['index']}", wrong_path, trace, vkey)
    chosen = copy.deepcopy(bundle)
    chosen["indices"] = [0, 1, 2, 3] if bundle["indices"] != [0, 1, 2, 3] else [1, 2, 3, 4]
    refused("not the ones derived", chosen, trace, vkey)
    missing = copy.deepcopy(bundle)
    missing["proofs"].pop()
    refused("exactly one proof per derived segment", missing, trace, vkey)
    garbled = copy.deepcopy(bundle)
    garbled["proofs"][0]["proof"] = {"pi_a": ["1", "2", "1"]}
    refused("malformed|does not verify", garbled, trace, vkey)
    refused("malformed bundle", {"version": BUNDLE_VERSION}, trace, vkey)
    refused("unsupported bundle version 1", {**copy.deepcopy(bundle), "version": 1}, trace, vkey)
    refused(f"the run has {STEPS} steps, the round implies {STEPS + 1}", bundle, trace, vkey, steps=STEPS + 1)
    uneven = {**copy.deepcopy(bundle), "step_count": STEPS + 1}
    refused(f"do not divide into the circuit's segments of {T}", uneven, trace, vkey)


def test_ceremony_rerun_reuses_every_step(proving_key):
    started = time.perf_counter()
    again = dev_proving_key(shared_file("zk/pot15_dev_final.ptau"))
    assert again == proving_key
    assert time.perf_counter() - started < 5


def test_solidity_verifier_export(proving_key, tmp_path):
    path = export_solidity_verifier(proving_key, tmp_path / "Verifier.sol")
    source = path.read_text()
    assert "contract Groth16Verifier" in source
    assert f"uint[{len(PUBLIC_SIGNALS)}] calldata _pubSignals" in source
