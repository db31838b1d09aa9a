"""Every step proven: a forged step anywhere in the run is refused, every time; the provers agree.

The forger here is a node that jumps its head to values of its choosing after one step (the cheapest forgery:
it moves the model anywhere while every other step stays honest), commits to that run, and proves what it can:
every honest segment, and for the one holding the jump the true steps from the segment's committed start (a
witness of the jump violates the circuit), with or without editing the proof's declared public signals to the
leaves it committed.
"""

from __future__ import annotations

import copy

import pytest

from crypto.zk import DEFAULT_SHAPE, ProofError, derive_indices, head_hash, prove_training, verify_training
from crypto.zk.dev import final_head, rechained, synthetic_trace
from crypto.zk.merkle import MerkleTree
from crypto.zk.node import snarkjs
from crypto.zk.provers import NativeProver, ProverUnavailable, SnarkjsProver, make_prover, native_available
from crypto.zk.training_proof import (
    TraceCommitment,
    prove_steps,
    run_leaves,
    segment_batch_hash,
    segment_input,
    segments,
)
from fl.fixed_head import HeadStep, sgd_step

pytestmark = [pytest.mark.zk, pytest.mark.slow]

CONTEXT = "round 9|hospital a|every step"
T = DEFAULT_SHAPE.steps  # steps per proof
SEGMENTS = 3
STEPS = SEGMENTS * T
SPOT_CHECKS = 2


@pytest.fixture(scope="module")
def trace() -> list[HeadStep]:
    return synthetic_trace(STEPS, seed=5)


def check(bundle, trace, vkey, *, every_step=True, n_proofs=SPOT_CHECKS, final=None) -> int:
    return verify_training(
        bundle,
        CONTEXT,
        vkey,
        head_hash(trace[0].weight, trace[0].bias),
        final_head(trace) if final is None else final,
        trace[0].lr_q,
        n_proofs,
        steps_per_proof=T,
        expected_steps=len(trace),
        every_step=every_step,
    )


def forged_run(trace: list[HeadStep], position: int) -> tuple[TraceCommitment, list[HeadStep], tuple]:
    """The run with the head after step `position` jumped (+0.25 on every weight), honest before and after:
    its commitment, the steps the forger proves (the forged segment's steps honest from its committed start,
    the only witness the circuit takes) and its final head."""
    steps = list(trace[: position + 1])
    weight, bias, _ = sgd_step(trace[position])
    heads = [(step.weight, step.bias) for step in steps] + [(weight + (1 << 14), bias)]
    for step in trace[position + 1 :]:
        steps.append(HeadStep(*heads[-1], step.features, step.labels, step.lr_q))
        heads.append(sgd_step(steps[-1])[:2])
    parts = segments(steps, T)
    weight_hashes = [head_hash(*heads[c * T]) for c in range(len(parts))] + [head_hash(*heads[-1])]
    batch_hashes = [segment_batch_hash(part) for part in parts]
    tree = MerkleTree.build(run_leaves(weight_hashes, batch_hashes))
    start = position // T * T
    proven = steps[:start] + rechained(heads[start], steps[start : start + T]) + steps[start + T :]
    return TraceCommitment(tuple(weight_hashes), tuple(batch_hashes), tree, T), proven, heads[-1]


@pytest.fixture(scope="module")
def every_step_bundle(trace, proving_key):
    return prove_training(trace, CONTEXT, SPOT_CHECKS, proving_key, every_step=True)


def test_honest_run_every_step_verifies(every_step_bundle, trace, proving_key, vkey):
    assert [entry["index"] for entry in every_step_bundle["proofs"]] == list(range(SEGMENTS))
    assert len(every_step_bundle["leaves"]) == SEGMENTS + 1
    assert every_step_bundle["every_step"] is True
    weight, bias = final_head(trace)
    assert check(every_step_bundle, trace, vkey) == head_hash(weight, bias)
    # A spot-checking verifier does not take it, nor an every-step verifier a spot-checked bundle.
    with pytest.raises(ProofError, match="it proves every step, but the round spot-checks"):
        check(every_step_bundle, trace, vkey, every_step=False)
    spot = prove_training(trace, CONTEXT, SPOT_CHECKS, proving_key)
    with pytest.raises(ProofError, match="the round proves every step: the bundle must prove them all"):
        check(spot, trace, vkey)


def test_every_step_bundle_tampering_refused(every_step_bundle, trace, vkey):
    missing = copy.deepcopy(every_step_bundle)
    del missing["proofs"][2]
    with pytest.raises(ProofError, match="exactly one proof per derived segment"):
        check(missing, trace, vkey)
    edited = copy.deepcopy(every_step_bundle)
    edited["leaves"][2]["weight_hash"] = str(int(edited["leaves"][2]["weight_hash"]) + 1)
    with pytest.raises(ProofError, match="do not build the committed Merkle root"):
        check(edited, trace, vkey)


@pytest.mark.parametrize("position", range(STEPS))
def test_forged_step_at_every_position_refused(position, trace, proving_key, vkey):
    commitment, steps, final = forged_run(trace, position)
    bundle = prove_steps(commitment, steps, CONTEXT, SPOT_CHECKS, proving_key, every_step=True)
    segment = position // T
    with pytest.raises(ProofError, match=f"segment {segment} does not lead to the head committed"):
        check(bundle, steps, vkey, final=final)
    # Declaring the committed head as the proof's output only moves the refusal to the Groth16 check.
    bundle["proofs"][segment]["public_signals"][1] = bundle["leaves"][segment + 1]["weight_hash"]
    with pytest.raises(ProofError, match=f"the proof of segment {segment} does not verify"):
        check(bundle, steps, vkey, final=final)


def test_spot_checks_miss_the_same_forgery(trace, proving_key, vkey):
    """The contrast that makes every-step proving worth its cost: spot-checking one segment of this run accepts
    the forged run whenever the derived segment is not the forged one."""
    accepted = 0
    for position in range(0, STEPS, T):
        commitment, steps, final = forged_run(trace, position)
        if position // T in derive_indices(commitment.tree.root, SEGMENTS, CONTEXT, 1):
            continue  # this forgery happens to be checked: refused, as above
        bundle = prove_steps(commitment, steps, CONTEXT, 1, proving_key)
        check(bundle, steps, vkey, every_step=False, n_proofs=1, final=final)
        accepted += 1
    assert accepted >= 1


def test_native_and_snarkjs_proofs_agree(trace, proving_key, vkey):
    if not native_available():
        pytest.skip("groth16py is not installed (requirements/node.txt)")
    circuit_input = segment_input(trace[:T], CONTEXT)
    native = NativeProver(5).prove(proving_key.artifacts.wasm, proving_key.zkey, circuit_input)
    reference = SnarkjsProver().prove(proving_key.artifacts.wasm, proving_key.zkey, circuit_input)
    assert native["publicSignals"] == reference["publicSignals"]
    assert native["proof"] != reference["proof"]  # Groth16 proofs are randomised
    # snarkjs, the reference verifier, accepts the native proof, and refuses it for another statement.
    wrong = list(native["publicSignals"])
    wrong[1] = str(int(wrong[1]) + 1)
    items = [
        {"proof": native["proof"], "publicSignals": signals} for signals in (native["publicSignals"], wrong)
    ]
    assert snarkjs().request("verify", vkey=vkey, items=items) == [True, False]


def test_prover_choice(monkeypatch):
    monkeypatch.setenv("DH_PROVER", "snarkjs")
    assert make_prover().name == "snarkjs"
    monkeypatch.setenv("DH_PROVER", "rapid")
    with pytest.raises(ProverUnavailable, match="unknown prover 'rapid'"):
        make_prover()
