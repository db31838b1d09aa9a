"""Proof of training: commit to every step of a local run, prove a few chosen by Fiat-Shamir, or every one.

A run of S head steps W_0 -> W_1 -> ... -> W_S (fl.fixed_head.sgd_step) is cut into C = S / T segments of T
consecutive steps (T: the circuit's `steps`, CircuitShape.for_head), and committed to by a Merkle tree over
leaves (c, hash(W_cT), hash(batches of segment c)) for c < C and (C, hash(W_S), 0) (see crypto.zk.merkle). Each
proof (circuits/head_step.circom, HeadSteps) shows hash(W_cT) -> hash(W_(c+1)T) through the T steps on the
segment's batches with the round's learning rate, and binds the round context; the heads between stay private
to the proof. The verifier opens leaf c and leaf c+1 for each proof (the chain link), leaf 0 (must hold the
published global head) and leaf C (must hold the uploaded head).

Two coverages:
- spot checks: n segments derived from the root, C and the round context, so the node cannot choose them after
  seeing which ones are asked. A run with f faked segments out of C passes with probability about (1 - f/C)^n,
  and one faked step that jumps the head anywhere is the cheapest forgery (about 91% undetected with 4 of 44).
- every step (every_step=True): all C segments are proven and every link checked, so the proofs chain W_0 to
  W_S with nothing left to chance: a forged step anywhere is refused with probability 1. The bundle then
  opens every leaf (the verifier rebuilds the root from them; no paths). The chain contract verifies a few of
  the proofs itself (hundreds of verifications do not fit a block), drawn from a block hash after the node
  committed to all of them (contracts/RoundRegistry.sol, proveSample); every proof is published with the
  submission, for the round's parties to re-verify.

What this does not show: that the batches came from the hospital's real images, or anything about the CNN body
(trained in float outside the proof). The round context contains a value fixed only after the node committed
(the portal's challenge), so a node cannot re-draw its commitment until derived indices miss faked steps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crypto.zk.build import PUBLIC_SIGNALS, CircuitShape, ProvingKey
from crypto.zk.merkle import (
    MerkleTree,
    ProofContext,
    as_context,
    context_field,
    derive_indices,
    leaf_hash,
    root_from_path,
    tree_depth,
)
from crypto.zk.node import SnarkjsError, SnarkjsProcess, snarkjs
from crypto.zk.poseidon import FIELD_PRIME, batch_hash, head_hash
from crypto.zk.provers import Progress, Prover, make_prover
from fl.fixed_head import HeadStep, sgd_step

BUNDLE_VERSION = 2  # 2: every step proven is marked "every_step"; the chain draws its own sample


class ProofError(Exception):
    """A submission's proof of training is refused; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TraceCommitment:
    weight_hashes: tuple[int, ...]  # C + 1: the head before each segment, then the final head
    batch_hashes: tuple[int, ...]  # C: each segment's batches
    tree: MerkleTree
    steps_per_proof: int  # T

    @property
    def segment_count(self) -> int:
        return len(self.batch_hashes)

    @property
    def step_count(self) -> int:
        return self.segment_count * self.steps_per_proof

    def leaf(self, index: int) -> dict[str, Any]:
        batch = self.batch_hashes[index] if index < self.segment_count else 0
        return {
            "index": index,
            "weight_hash": str(self.weight_hashes[index]),
            "batch_hash": str(batch),
            "path": [str(v) for v in self.tree.path(index)],
        }


def segments(trace: Sequence[HeadStep], steps_per_proof: int) -> list[Sequence[HeadStep]]:
    """The trace cut into its proofs' segments of steps_per_proof consecutive steps."""
    if not trace:
        raise ValueError("an empty trace has nothing to prove")
    if len(trace) % steps_per_proof:
        raise ValueError(
            f"a run of {len(trace)} steps does not divide into proofs of {steps_per_proof} steps (the round's "
            "training rounds its step count up to a multiple of that)"
        )
    return [trace[start : start + steps_per_proof] for start in range(0, len(trace), steps_per_proof)]


def segment_batch_hash(segment: Sequence[HeadStep]) -> int:
    """Hash of a segment's batches: batch_hash of their rows one after another, then their labels."""
    return batch_hash(
        np.concatenate([step.features for step in segment]), np.concatenate([step.labels for step in segment])
    )


def commit_trace(trace: Sequence[HeadStep], steps_per_proof: int) -> TraceCommitment:
    """Hashes the head at the start of every segment and after the last step, and every segment's batches."""
    parts = segments(trace, steps_per_proof)
    final_weight, final_bias, _ = sgd_step(trace[-1])
    weight_hashes = [head_hash(part[0].weight, part[0].bias) for part in parts] + [
        head_hash(final_weight, final_bias)
    ]
    batch_hashes = [segment_batch_hash(part) for part in parts]
    return TraceCommitment(
        tuple(weight_hashes),
        tuple(batch_hashes),
        MerkleTree.build(run_leaves(weight_hashes, batch_hashes)),
        steps_per_proof,
    )


def run_leaves(weight_hashes: Sequence[int], batch_hashes: Sequence[int]) -> list[int]:
    """The Merkle leaves of a run: (c, W_cT, batches_c) for each segment, then (C, W_S, 0)."""
    segment_count = len(batch_hashes)
    leaves = [leaf_hash(i, weight_hashes[i], batch_hashes[i]) for i in range(segment_count)]
    leaves.append(leaf_hash(segment_count, weight_hashes[segment_count], 0))
    return leaves


def check_trace(trace: Sequence[HeadStep], shape: CircuitShape) -> None:
    """Raises ValueError unless the trace is a chain of sgd_step calls of the circuit's shape with one lr, in
    whole segments."""
    segments(trace, shape.steps)
    for i, step in enumerate(trace):
        if step.weight.shape != (shape.classes, shape.features) or step.bias.shape != (shape.classes,):
            raise ValueError(f"step {i}: head shape {step.weight.shape} does not fit the circuit {shape}")
        if step.features.shape != (shape.batch, shape.features) or step.labels.shape != (shape.batch,):
            raise ValueError(f"step {i}: batch shape {step.features.shape} does not fit the circuit {shape}")
        if step.lr_q != trace[0].lr_q:
            raise ValueError(f"step {i}: learning rate {step.lr_q} differs from step 0's {trace[0].lr_q}")
        if i + 1 < len(trace):
            new_weight, new_bias, _ = sgd_step(step)
            following = trace[i + 1]
            if not (
                np.array_equal(new_weight, following.weight) and np.array_equal(new_bias, following.bias)
            ):
                raise ValueError(f"step {i + 1}'s head is not the result of step {i}")


def _field(values: np.ndarray) -> list:
    return np.vectorize(lambda v: str(int(v) % FIELD_PRIME), otypes=[object])(np.asarray(values)).tolist()


def segment_input(segment: Sequence[HeadStep], round_context: ProofContext | str) -> dict[str, Any]:
    """The circuit input (public and private signals) for one segment's steps. Holds private data: never log
    it."""
    first = segment[0]
    new_weight, new_bias, _ = sgd_step(segment[-1])
    return {
        "headBefore": str(head_hash(first.weight, first.bias)),
        "headAfter": str(head_hash(new_weight, new_bias)),
        "batchHash": str(segment_batch_hash(segment)),
        "lrQ": str(first.lr_q),
        "context": str(context_field(round_context)),
        "W": _field(first.weight),
        "b": _field(first.bias),
        "X": _field(np.stack([step.features for step in segment])),
        "y": _field(np.stack([step.labels for step in segment])),
    }


def prove_steps(
    commitment: TraceCommitment,
    trace: Sequence[HeadStep],
    round_context: ProofContext | str,
    n_proofs: int,
    proving_key: ProvingKey,
    prover: Prover | None = None,
    *,
    every_step: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The bundle for a committed trace: the proofs of the n_proofs Fiat-Shamir segment indices and the leaves they
    need, or with every_step, the proof of every segment and every leaf (n_proofs unused).
    progress(done, total) is called after each proof."""
    prover = prover or make_prover()
    shape = proving_key.artifacts.shape
    if commitment.steps_per_proof != shape.steps:
        raise ValueError(
            f"the commitment cuts the run into {commitment.steps_per_proof} steps, the circuit's {shape}"
        )
    parts = segments(trace, shape.steps)
    segment_count = commitment.segment_count
    if every_step:
        indices = list(range(segment_count))
    else:
        indices = derive_indices(commitment.tree.root, segment_count, round_context, n_proofs)
    results = prover.prove_many(
        proving_key.artifacts.wasm,
        proving_key.zkey,
        [segment_input(parts[index], round_context) for index in indices],
        progress,
    )
    proofs = [
        {"index": index, "proof": result["proof"], "public_signals": result["publicSignals"]}
        for index, result in zip(indices, results, strict=True)
    ]
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "shape": {
            "features": shape.features,
            "classes": shape.classes,
            "batch": shape.batch,
            "steps": shape.steps,
        },
        "step_count": commitment.step_count,
        "merkle_root": str(commitment.tree.root),
        "run_hash": "0x" + as_context(round_context).run_hash.hex(),  # what the chain's registry binds
        "lr_q": trace[0].lr_q,
        "indices": indices,
        "proofs": proofs,
    }
    if every_step:
        bundle["every_step"] = True
        bundle["leaves"] = [
            {"index": i, "weight_hash": str(w), "batch_hash": str(b)}
            for i, (w, b) in enumerate(
                zip(commitment.weight_hashes, (*commitment.batch_hashes, 0), strict=True)
            )
        ]
    else:
        opened = sorted({0, segment_count, *indices, *(i + 1 for i in indices)})
        bundle["leaves"] = [commitment.leaf(i) for i in opened]
    return bundle


def prove_training(
    trace: Sequence[HeadStep],
    round_context: ProofContext | str,
    n_proofs: int,
    zkey: ProvingKey,
    prover: Prover | None = None,
    *,
    every_step: bool = False,
) -> dict[str, Any]:
    """Commits to the whole trace and proves n_proofs segments chosen from the commitment and round context (with
    every_step: every segment). round_context must name the round, the
    hospital and the global head (e.g. "round 7|hospital 3|<hash>")."""
    check_trace(trace, zkey.artifacts.shape)
    return prove_steps(
        commit_trace(trace, zkey.artifacts.shape.steps),
        trace,
        round_context,
        n_proofs,
        zkey,
        prover,
        every_step=every_step,
    )


@dataclass(frozen=True)
class _Leaf:
    weight_hash: int
    batch_hash: int


def _parse_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ProofError(f"malformed bundle: {what} is not an integer")
    try:
        number = int(value)
    except ValueError:
        raise ProofError(f"malformed bundle: {what} is not an integer") from None
    if not 0 <= number < FIELD_PRIME:
        raise ProofError(f"malformed bundle: {what} is outside the field")
    return number


def _checked_leaves(bundle: dict[str, Any], segment_count: int, root: int) -> dict[int, _Leaf]:
    depth = tree_depth(segment_count + 1)
    leaves: dict[int, _Leaf] = {}
    for entry in bundle["leaves"]:
        index = _parse_int(entry["index"], "leaf index")
        if index > segment_count or index in leaves:
            raise ProofError(f"malformed bundle: leaf {index} is out of range or repeated")
        weight = _parse_int(entry["weight_hash"], f"leaf {index} weight hash")
        batch = _parse_int(entry["batch_hash"], f"leaf {index} batch hash")
        path = [_parse_int(v, f"leaf {index} path") for v in entry["path"]]
        if len(path) != depth:
            raise ProofError(f"wrong Merkle path for leaf {index}: {len(path)} levels, the tree has {depth}")
        if root_from_path(leaf_hash(index, weight, batch), index, path) != root:
            raise ProofError(f"wrong Merkle path for leaf {index}: it does not lead to the committed root")
        leaves[index] = _Leaf(weight, batch)
    return leaves


def _all_leaves(bundle: dict[str, Any], segment_count: int, root: int) -> dict[int, _Leaf]:
    """Every leaf of the run, in order and without paths (every step proven): the tree they build must have the
    committed root."""
    entries = bundle["leaves"]
    if len(entries) != segment_count + 1:
        raise ProofError(
            f"malformed bundle: {len(entries)} leaves, a run of {segment_count} segments has {segment_count + 1}"
        )
    leaves: dict[int, _Leaf] = {}
    for expected_index, entry in enumerate(entries):
        if _parse_int(entry["index"], "leaf index") != expected_index:
            raise ProofError(f"malformed bundle: leaf {expected_index} is missing or out of order")
        leaves[expected_index] = _Leaf(
            _parse_int(entry["weight_hash"], f"leaf {expected_index} weight hash"),
            _parse_int(entry["batch_hash"], f"leaf {expected_index} batch hash"),
        )
    rebuilt = MerkleTree.build(
        run_leaves(
            [leaf.weight_hash for leaf in leaves.values()],
            [leaves[i].batch_hash for i in range(segment_count)],
        )
    )
    if rebuilt.root != root:
        raise ProofError("the run's leaves do not build the committed Merkle root")
    return leaves


def _load_vkey(vkey: dict | str | Path) -> dict:
    loaded = vkey if isinstance(vkey, dict) else json.loads(Path(vkey).read_text())
    if loaded.get("protocol") != "groth16" or loaded.get("nPublic") != len(PUBLIC_SIGNALS):
        raise ProofError("the verification key is not a Groth16 head-step key")
    return loaded


def verify_training(
    bundle: dict[str, Any],
    round_context: ProofContext | str,
    vkey: dict | str | Path,
    expected_initial_head_hash: int | str,
    final_head: tuple[np.ndarray, np.ndarray] | None,
    lr_q: int,
    n_proofs: int,
    *,
    steps_per_proof: int,
    expected_steps: int | None = None,
    every_step: bool = False,
    process: SnarkjsProcess | None = None,
) -> int:
    """Checks a proof-of-training bundle against the round; raises ProofError(reason) if anything is off.

    expected_initial_head_hash: head_hash of the published (quantised) global head (int or decimal string);
    final_head: the uploaded quantised (weight, bias), or None where the head stays secret (the caller then
    checks the returned commitment against it some other way, as the key parties do in MPC); lr_q and n_proofs:
    the round's; steps_per_proof: the steps each proof of the round's circuit covers (its shape's T: the
    verification key fixes it, the bundle's word is not taken); expected_steps: the step count the round
    implies, if the caller knows it (otherwise any whole number of segments is accepted); every_step: the round
    proves every step (n_proofs is then unused). Cap the
    bundle's size before calling (it is parsed whole). Returns the run's final head commitment: head_hash of the
    head it ends at (its last leaf)."""
    verification_key = _load_vkey(vkey)
    try:
        if bundle["version"] != BUNDLE_VERSION:
            raise ProofError(f"unsupported bundle version {bundle['version']!r}")
        step_count = bundle["step_count"]
        if isinstance(step_count, bool) or not isinstance(step_count, int) or step_count < 1:
            raise ProofError("malformed bundle: step_count must be a positive integer")
        root = _parse_int(bundle["merkle_root"], "merkle_root")
        if expected_steps is not None and step_count != expected_steps:
            raise ProofError(f"the run has {step_count} steps, the round implies {expected_steps}")
        if step_count % steps_per_proof:
            raise ProofError(
                f"the run's {step_count} steps do not divide into the circuit's segments of {steps_per_proof}"
            )
        segment_count = step_count // steps_per_proof
        if every_step != (bundle.get("every_step") is True):
            raise ProofError(
                "the round proves every step: the bundle must prove them all"
                if every_step
                else "malformed bundle: it proves every step, but the round spot-checks"
            )
        leaves = (_all_leaves if every_step else _checked_leaves)(bundle, segment_count, root)
        proofs = {_parse_int(p["index"], "proof index"): p for p in bundle["proofs"]}
        bundle_indices = list(bundle["indices"])
    except (KeyError, TypeError, AttributeError) as error:
        raise ProofError(f"malformed bundle: {error!r}") from None

    if bundle.get("lr_q") != lr_q:
        raise ProofError(
            f"learning rate mismatch: the bundle declares {bundle.get('lr_q')}, the round's is {lr_q}"
        )
    if every_step:
        indices = list(range(segment_count))
        if bundle_indices != indices:
            raise ProofError(
                f"the round proves every step: the bundle must prove segments 0 to {segment_count - 1}"
            )
    else:
        indices = derive_indices(root, segment_count, round_context, n_proofs)
        if bundle_indices != indices:
            raise ProofError(
                "the proven segments are not the ones derived from the Merkle root and this round's context"
            )
    if sorted(proofs) != indices or len(proofs) != len(bundle["proofs"]):
        raise ProofError("the bundle does not hold exactly one proof per derived segment")
    needed = {0, segment_count, *indices, *(i + 1 for i in indices)}
    if missing := needed - set(leaves):
        raise ProofError(f"malformed bundle: leaves {sorted(missing)} are not opened")
    if leaves[0].weight_hash != int(expected_initial_head_hash):
        raise ProofError("the first head of the run is not the published global head")
    if leaves[segment_count].batch_hash != 0:
        raise ProofError("malformed bundle: the last leaf must hold the final head only")
    if final_head is not None and leaves[segment_count].weight_hash != head_hash(
        np.asarray(final_head[0]), np.asarray(final_head[1])
    ):
        raise ProofError("the final head of the run is not the uploaded head")

    context = context_field(round_context)
    items = []
    for index in indices:
        entry = proofs[index]
        expected = [
            leaves[index].weight_hash,
            leaves[index + 1].weight_hash,
            leaves[index].batch_hash,
            lr_q,
            context,
        ]
        declared = entry.get("public_signals")
        if isinstance(declared, list) and len(declared) == len(PUBLIC_SIGNALS):
            # Name the first disagreement; the proof is checked against `expected` below in any case.
            if str(declared[3]) != str(lr_q):
                raise ProofError(
                    f"learning rate mismatch: segment {index} was proven with lr_q {declared[3]}"
                )
            if str(declared[4]) != str(context):
                raise ProofError(f"the proof of segment {index} is bound to another round context")
            if str(declared[0]) != str(expected[0]) or str(declared[2]) != str(expected[2]):
                raise ProofError(f"the proof of segment {index} is not for committed leaf {index}")
            if str(declared[1]) != str(expected[1]):
                raise ProofError(f"segment {index} does not lead to the head committed in leaf {index + 1}")
        items.append({"proof": entry.get("proof"), "publicSignals": [str(v) for v in expected]})
    try:
        results = (process or snarkjs()).request("verify", vkey=verification_key, items=items)
    except SnarkjsError as error:
        raise ProofError(f"a proof is malformed: {error}") from None
    for index, ok in zip(indices, results, strict=True):
        if not ok:
            raise ProofError(f"the proof of segment {index} does not verify")
    return leaves[segment_count].weight_hash


def verify_published(record: dict[str, Any], process: SnarkjsProcess | None = None) -> int:
    """Re-verifies a submission's proof of training from its published record alone (what
    proofs.verification.published_proof gives: the bundle, the round's verification key, the proofs' context,
    the global head's hash, the learning rate, the step counts and the head commitment stored for it); raises
    ProofError with the reason. Returns the run's final head commitment."""
    try:
        context = ProofContext(**record["context"])
        commitment = verify_training(
            record["bundle"],
            context,
            record["vkey"],
            record["initial_head_hash"],
            None,
            record["lr_q"],
            record["proof_steps"],
            steps_per_proof=record["steps_per_proof"],
            expected_steps=record["steps"],
            every_step=record["every_step"],
            process=process,
        )
    except (KeyError, TypeError) as error:
        raise ProofError(f"malformed proof record: {error!r}") from None
    if str(commitment) != str(record["head_commitment"]):
        raise ProofError("the run ends at another head than the one recorded with the submission")
    return commitment
