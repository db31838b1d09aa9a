"""Proof of training (Groth16 proofs of the fixed-point head's SGD steps) on this machine.

    python bench/proof_of_training.py                       # batch 8 (default circuit, pot15) and batch 32 (pot16)
    python bench/proof_of_training.py --batch-sizes 8 --json out.json
    python bench/proof_of_training.py --batch-sizes 8 --classes 2 5 11 --features 16 32   # heads of other shapes
    python bench/proof_of_training.py --batch-sizes 8 --steps-per-proof 1 2 4           # T steps per proof
    python bench/proof_of_training.py --whole-run --batch-sizes                          # only the whole run
    python bench/proof_of_training.py --whole-run --batch-sizes --run-steps-per-proof 1 \
        --run-heads 16x2 16x5 32x2 32x5                                                    # whole runs of other heads

--whole-run: one hospital's local epoch on real data (--run-samples PneumoniaMNIST training images, 1,570 as in
the demo's three-hospital split), every head step proven, once per --run-steps-per-proof T (default 1 and 4,
side by side): local training time, proving time of the whole run with the native prover (and snarkjs' time
per proof on --snarkjs-proofs of them, with the whole run extrapolated), the portal's verification of every
proof, bundle bytes, and the gas of the chain's commitment and of the sample drawn after it on a local EVM; the
ratio proving / training. --run-heads: heads other than 16x2 prove a synthetic trace of the same number of steps.
Target: under 60 s proving and under 5 s verifying per hospital.

For each circuit HeadSteps(d, k, B, T) (d features, k classes, batches of B, T steps per proof; T as the
portal picks it, CircuitShape.for_head, unless --steps-per-proof says): constraint count (and per sample, per
step and per proof), compile and trusted-setup time (dev ceremony: setup from the dev powers of tau, two
contributions, a beacon; "cached" when an earlier run made it), then on a synthetic run of --steps exact steps
(rounded up to whole proofs): commitment time per step (Poseidon hashes + Merkle tree, Python), witness time,
prove time per step, the whole prove_training of --proofs proofs, verify_training of the bundle (one long-lived
node process, already warm), proof size, and the node process's peak resident memory while proving.
A circuit that no dev powers-of-tau file holds (32 x 11 needs 2^17) is proven and verified on a key from
groth16py's native single-party setup instead: the same circuit and arkworks prover, so the same cost, for
measuring only (whoever makes such a key can forge proofs).
Targets (default circuit): <= 2^15 constraints, 4 proofs < 60 s, verifying a submission < 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from crypto.zk import (  # noqa: E402
    CircuitShape,
    build_circuit,
    commit_trace,
    export_solidity_verifier,
    head_hash,
    prove_training,
    verify_training,
)
from crypto.zk.build import PUBLIC_SIGNALS, circuit_directory  # noqa: E402
from crypto.zk.dev import dev_proving_key, smallest_dev_ptau, synthetic_trace  # noqa: E402
from crypto.zk.node import SnarkjsProcess  # noqa: E402
from crypto.zk.provers import NativeProver, SnarkjsProver, native_available, public_signals  # noqa: E402
from crypto.zk.training_proof import segment_input  # noqa: E402
from fl.fixed_head import sgd_step  # noqa: E402

DEFAULT_PTAU_DIR = Path(__file__).resolve().parents[2] / "shared" / "zk"
CONTEXT = "bench round|bench hospital|bench head"


class TimedProcess(SnarkjsProcess):
    """A snarkjs process that records how long each request took, by operation."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def request(self, op: str, **arguments: Any) -> Any:
        started = time.perf_counter()
        result = super().request(op, **arguments)
        self.seconds[op].append(time.perf_counter() - started)
        return result

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def shape_json(shape: CircuitShape) -> dict[str, int]:
    return {"features": shape.features, "classes": shape.classes, "batch": shape.batch, "steps": shape.steps}


def bench_shape(shape: CircuitShape, ptau_dir: Path, steps: int, proofs: int) -> dict[str, Any]:
    cached = (circuit_directory(shape) / "head_step.r1cs").exists()
    started = time.perf_counter()
    artifacts = build_circuit(shape)
    compile_s = time.perf_counter() - started
    ptau = smallest_dev_ptau(ptau_dir, artifacts.constraints)
    if ptau is None:
        print(f"  {artifacts.constraints} constraints: no dev ptau in {ptau_dir} is large enough", flush=True)
        result = {"shape": shape_json(shape), "constraints": artifacts.constraints, "ptau": None}
        if native_available():
            result.update(bench_native_setup(shape, artifacts, steps, proofs))
        return result
    started = time.perf_counter()
    proving_key = dev_proving_key(ptau, shape)
    setup_s = time.perf_counter() - started
    print(
        f"  {artifacts.constraints} constraints; compile {compile_s:.1f} s, setup {setup_s:.1f} s", flush=True
    )

    T = shape.steps
    steps = -(-steps // T) * T
    trace = synthetic_trace(steps, shape, seed=1)
    started = time.perf_counter()
    commit_trace(trace, T)
    commit_s = time.perf_counter() - started
    segments = [trace[start : start + T] for start in range(0, steps, T)]

    process = TimedProcess()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for _ in range(2):  # the first call also loads the wasm and the curve
                process.request(
                    "witness",
                    wasm=str(artifacts.wasm),
                    input=segment_input(segments[0], CONTEXT),
                    wtns=f"{scratch}/w.wtns",
                )
        started = time.perf_counter()
        bundle = prove_training(trace, CONTEXT, proofs, proving_key, SnarkjsProver(process))
        prove_training_s = time.perf_counter() - started
        native_s = None
        if native_available():
            native = NativeProver(len(PUBLIC_SIGNALS), process)
            native.prove(
                artifacts.wasm, proving_key.zkey, segment_input(segments[0], CONTEXT)
            )  # imports the key
            started = time.perf_counter()
            for segment in segments[:proofs]:
                native.prove(artifacts.wasm, proving_key.zkey, segment_input(segment, CONTEXT))
            native_s = (time.perf_counter() - started) / min(proofs, len(segments)) / T
        peak_mb = process.peak_rss_mb()
        weight, bias, _ = sgd_step(trace[-1])
        arguments = (CONTEXT, proving_key.verification_key(), head_hash(trace[0].weight, trace[0].bias))
        verify_times = []
        for _ in range(3):
            started = time.perf_counter()
            verify_training(
                bundle, *arguments, (weight, bias), trace[0].lr_q, proofs, steps_per_proof=T, process=process
            )
            verify_times.append(time.perf_counter() - started)
    finally:
        process.close()

    prove_times = process.seconds["prove"]
    split = constraint_split(shape)
    result = {
        "shape": shape_json(shape),
        "constraints": artifacts.constraints,
        "constraints_per_sample": split["per_sample"],
        "constraints_per_step": split["per_step"],
        "constraints_per_proof": split["per_proof"],
        "ptau": ptau.name,
        "compile_s": round(compile_s, 2),
        "compile_cached": cached,
        "setup_s": round(setup_s, 2),
        "steps_in_run": steps,
        "commit_s_per_step": round(commit_s / steps, 4),
        "witness_s": round(process.seconds["witness"][-1], 3),
        "prove_s_per_step": round(statistics.mean(prove_times) / T, 2),
        "native_prove_s_per_step": None if native_s is None else round(native_s, 2),
        "prove_s_max": round(max(prove_times), 2),
        "proofs": len(prove_times),
        "prove_training_s": round(prove_training_s, 2),
        "verify_training_s": round(statistics.median(verify_times), 3),
        "verify_s_per_proof": round(statistics.median(process.seconds["verify"]) / len(prove_times), 3),
        "proof_bytes_json": len(json.dumps(bundle["proofs"][0]["proof"])),
        "bundle_bytes_json": len(json.dumps(bundle)),
        "node_peak_rss_mb": round(peak_mb, 1),
    }
    return result


def bench_native_setup(shape: CircuitShape, artifacts: Any, steps: int, proofs: int) -> dict[str, Any]:
    """Proving and verifying a head whose circuit no dev ptau here holds, on a key from groth16py's native
    single-party setup: the same circuit and the same arkworks prover as a ceremony's key, so the same cost, but
    whoever made the key could forge proofs (for measuring only)."""
    import groth16py

    started = time.perf_counter()
    proving_key, verifying_key = groth16py.setup(str(artifacts.r1cs))
    setup_s = time.perf_counter() - started
    T = shape.steps
    trace = synthetic_trace(-(-steps // T) * T, shape, seed=1)
    segments = [trace[start : start + T] for start in range(0, len(trace), T)][:proofs]
    verifier = groth16py.Verifier(verifying_key)
    process = TimedProcess()
    prove_times, verify_times = [], []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            wtns = Path(scratch) / "w.wtns"
            for segment in segments:
                process.request(
                    "witness", wasm=str(artifacts.wasm), input=segment_input(segment, CONTEXT), wtns=str(wtns)
                )
                started = time.perf_counter()
                proof = groth16py.prove_wtns(proving_key, str(wtns))
                prove_times.append(time.perf_counter() - started)
                signals = [int(signal) for signal in public_signals(wtns, len(PUBLIC_SIGNALS))]
                started = time.perf_counter()
                if not verifier.verify(bytes(proof), signals):
                    raise SystemExit(f"a native proof of {shape} does not verify")
                verify_times.append(time.perf_counter() - started)
    finally:
        process.close()
    result = {
        "setup": "native single-party (groth16py.setup), for measuring only",
        "setup_s": round(setup_s, 2),
        "proofs": len(prove_times),
        "native_prove_s_per_step": round(statistics.mean(prove_times) / T, 2),
        "native_verify_s_per_proof": round(statistics.median(verify_times), 3),
    }
    print(
        f"  on a native single-party setup ({result['setup_s']} s, for measuring only): prove "
        f"{result['native_prove_s_per_step']} s/step native, verify {result['native_verify_s_per_proof']} s a proof "
        f"(native), {result['proofs']} proofs",
        flush=True,
    )
    return result


def constraint_split(shape: CircuitShape) -> dict[str, int]:
    """Constraints per sample, per step and per proof of HeadSteps(d, k, B, T), from the circuits at (B, 1),
    (2B, 1) and (B, 2): the per-sample part grows with B (range checks, products, the packed batch hash), the
    per-step part is the head's range checks and divisions, the per-proof part the head's two hashes."""
    d, k, batch = shape.features, shape.classes, shape.batch
    one = build_circuit(CircuitShape(d, k, batch, 1)).constraints
    double_batch = build_circuit(CircuitShape(d, k, 2 * batch, 1)).constraints
    two_steps = build_circuit(CircuitShape(d, k, batch, 2)).constraints
    per_sample = (double_batch - one) // batch
    per_step = two_steps - one
    return {"per_sample": per_sample, "per_step": per_step - batch * per_sample, "per_proof": one - per_step}


def head_size(text: str) -> tuple[int, int]:
    """FEATURESxCLASSES, e.g. 16x5."""
    try:
        features, classes = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a head is FEATURESxCLASSES, e.g. 16x5, not {text!r}") from None
    return features, classes


def bench_whole_run(
    ptau_dir: Path,
    samples: int,
    chain_proofs: int,
    snarkjs_proofs: int,
    steps_per_proof: int,
    head: tuple[int, int] = (16, 2),
) -> dict[str, Any]:
    """One hospital's local epoch, every step proven, T = steps_per_proof steps to a proof (see the module's
    docstring). `head` (features, classes): other than PneumoniaMNIST's (16, 2), the run is a synthetic head
    trace of the same number of steps (proving does not depend on the values), and nothing is trained."""
    from contracts.client import bundle_proofs, deploy
    from contracts.localchain import LocalChain
    from contracts.registry import RoundRegistry
    from crypto.zk.merkle import ProofContext
    from crypto.zk.provers import SnarkjsProver, make_prover
    from fl.data import load_medmnist_npz
    from fl.models import architecture_for_input, build_model
    from fl.training import DEFAULT_TRAIN_CONFIG, StepRule, train_local

    data = load_medmnist_npz(ptau_dir.parent / "datasets" / "pneumoniamnist.npz", "train")
    data = data.subset(np.arange(min(samples, len(data.labels))))
    shape = CircuitShape(*head, DEFAULT_TRAIN_CONFIG.batch_size, steps_per_proof)
    if head == (16, data.num_classes):
        arch_id = architecture_for_input(data.sample_shape)
        state = build_model(arch_id, data.num_classes, seed=0).state_dict()
        started = time.perf_counter()
        local = train_local(
            state, arch_id, DEFAULT_TRAIN_CONFIG, data, seed=0, step_rule=StepRule(steps_per_proof)
        )
        training_s: float | None = time.perf_counter() - started
        trace = local.head_trace
    else:
        steps = len(data.labels) // shape.batch
        trace = synthetic_trace(-(-steps // steps_per_proof) * steps_per_proof, shape)
        training_s = None
    segments = [trace[start : start + steps_per_proof] for start in range(0, len(trace), steps_per_proof)]
    ptau = smallest_dev_ptau(ptau_dir, build_circuit(shape).constraints)
    if ptau is None:
        raise SystemExit(
            f"no dev powers-of-tau file in {ptau_dir} holds the circuit of {steps_per_proof} steps"
        )
    proving_key = dev_proving_key(ptau, shape)
    model_hash = "ab" * 32
    with LocalChain() as local_chain:
        connection = local_chain.connection()
        hospital = connection.dev_accounts[0]
        context = ProofContext("bench|whole run", 1, hospital.address, model_hash)
        prover = make_prover()
        prover.prove(
            proving_key.artifacts.wasm, proving_key.zkey, segment_input(segments[0], context)
        )  # warm
        started = time.perf_counter()
        bundle = prove_training(trace, context, chain_proofs, proving_key, prover, every_step=True)
        prove_s = time.perf_counter() - started
        reference = SnarkjsProver()
        started = time.perf_counter()
        for segment in segments[:snarkjs_proofs]:
            reference.prove(proving_key.artifacts.wasm, proving_key.zkey, segment_input(segment, context))
        snarkjs_per_step = (time.perf_counter() - started) / (snarkjs_proofs * steps_per_proof)
        weight, bias, _ = sgd_step(trace[-1])
        arguments = (context, proving_key.verification_key(), head_hash(trace[0].weight, trace[0].bias))
        started = time.perf_counter()
        verify_training(
            bundle,
            *arguments,
            (weight, bias),
            trace[0].lr_q,
            chain_proofs,
            steps_per_proof=steps_per_proof,
            every_step=True,
        )
        verify_s = time.perf_counter() - started

        deployment = deploy(connection, export_solidity_verifier(proving_key))
        registry = RoundRegistry(connection, deployment.registry)
        registry.register_hospital(hospital.address)
        registry.open_round(1, "0x" + model_hash, "0x" + "22" * 32, chain_proofs, every_step=True)
        proofs = bundle_proofs(bundle)
        committed = registry.commit(hospital, 1, "0x" + "33" * 32, bundle["run_hash"], proofs)
        sampled = registry.prove_sample(hospital, 1, proofs)
    split = constraint_split(proving_key.artifacts.shape)
    return {
        "samples": len(data.labels),
        "steps": len(trace),
        "steps_per_proof": steps_per_proof,
        "proofs": len(segments),
        "constraints": proving_key.artifacts.constraints,
        "constraints_per_sample": split["per_sample"],
        "constraints_per_step": split["per_step"],
        "constraints_per_proof": split["per_proof"],
        "prover": prover.name,
        "head": list(head),
        "training_s": None if training_s is None else round(training_s, 2),
        "prove_s": round(prove_s, 1),
        "prove_s_per_step": round(prove_s / len(trace), 3),
        "snarkjs_s_per_step": round(snarkjs_per_step, 3),
        "snarkjs_whole_run_s_extrapolated": round(snarkjs_per_step * len(trace), 1),
        "prove_over_training": None if training_s is None else round(prove_s / training_s, 1),
        "verify_s": round(verify_s, 2),
        "bundle_bytes_json": len(json.dumps(bundle)),
        "chain_sample": chain_proofs,
        "chain_gas_commit": committed.gas_used,
        "chain_gas_sample": sampled.gas_used,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[8, 32])
    parser.add_argument("--classes", type=int, nargs="+", default=[2], help="class counts k of the head")
    parser.add_argument("--features", type=int, nargs="+", default=[16], help="feature widths d of the head")
    parser.add_argument("--steps", type=int, default=20, help="steps in the synthetic run")
    parser.add_argument("--proofs", type=int, default=4, help="proofs made (spot-checks)")
    parser.add_argument(
        "--steps-per-proof", type=int, nargs="*", help="T values to compare (default: the portal's choice)"
    )
    parser.add_argument("--ptau-dir", type=Path, default=DEFAULT_PTAU_DIR)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--whole-run", action="store_true", help="also prove one hospital's whole local epoch"
    )
    parser.add_argument("--run-samples", type=int, default=1570)
    parser.add_argument("--chain-proofs", type=int, default=4, help="the chain's sample of a whole run")
    parser.add_argument(
        "--snarkjs-proofs", type=int, default=4, help="proofs made with snarkjs for comparison"
    )
    parser.add_argument(
        "--run-steps-per-proof", type=int, nargs="+", default=[1, 4], help="T values of the whole run"
    )
    parser.add_argument(
        "--run-heads",
        type=head_size,
        nargs="+",
        default=[(16, 2)],
        help="heads FEATURESxCLASSES of the whole run (other than 16x2: a synthetic trace of the same length)",
    )
    args = parser.parse_args(argv)

    results = []
    shapes = [
        CircuitShape(features, classes, batch, steps)
        if steps
        else CircuitShape.for_head(features, classes, batch)
        for batch in args.batch_sizes
        for features in args.features
        for classes in args.classes
        for steps in args.steps_per_proof or [None]
    ]
    for shape in shapes:
        print(f"HeadSteps({shape.features}, {shape.classes}, {shape.batch}, {shape.steps})", flush=True)
        result = bench_shape(shape, args.ptau_dir, args.steps, args.proofs)
        results.append(result)
        if result["ptau"] is None:
            continue
        print(
            f"  {result['constraints_per_sample']:,} constraints per sample, {result['constraints_per_step']:,} per "
            f"step, {result['constraints_per_proof']:,} per proof\n"
            f"  witness {result['witness_s']} s, prove {result['prove_s_per_step']} s/step with snarkjs, "
            f"{result['native_prove_s_per_step']} s/step native "
            f"(prove_training of {result['proofs']}: {result['prove_training_s']} s), "
            f"verify_training {result['verify_training_s']} s, node peak {result['node_peak_rss_mb']} MB, "
            f"commit {result['commit_s_per_step'] * 1000:.1f} ms/step",
            flush=True,
        )
    whole_runs = []
    for steps_per_proof in args.run_steps_per_proof if args.whole_run else []:
        for head in args.run_heads:
            features, classes = head
            print(
                f"Whole local epoch of {args.run_samples} samples, every step proven, {steps_per_proof} steps a "
                f"proof, head {features} x {classes}",
                flush=True,
            )
            whole_run = bench_whole_run(
                args.ptau_dir, args.run_samples, args.chain_proofs, args.snarkjs_proofs, steps_per_proof, head
            )
            whole_runs.append(whole_run)
            training = (
                "synthetic head trace, no training"
                if whole_run["training_s"] is None
                else f"training {whole_run['training_s']} s, proving / training {whole_run['prove_over_training']}x"
            )
            print(
                f"  {whole_run['steps']} steps in {whole_run['proofs']} proofs: {training}, proving "
                f"{whole_run['prove_s']} s ({whole_run['prover']}, {whole_run['prove_s_per_step']} s/step; snarkjs "
                f"{whole_run['snarkjs_s_per_step']} s/step, {whole_run['snarkjs_whole_run_s_extrapolated']} s for "
                f"the run, extrapolated), verifying every proof {whole_run['verify_s']} s, bundle "
                f"{whole_run['bundle_bytes_json']:,} bytes, on chain: commitment "
                f"{whole_run['chain_gas_commit']:,} gas, sample of {whole_run['chain_sample']} drawn after it "
                f"{whole_run['chain_gas_sample']:,} gas; circuit {whole_run['constraints']:,} constraints: "
                f"{whole_run['constraints_per_sample']:,} per sample, {whole_run['constraints_per_step']:,} per "
                f"step, {whole_run['constraints_per_proof']:,} per proof",
                flush=True,
            )
    for run in whole_runs:
        base = next(other for other in whole_runs if other["head"] == run["head"])
        if run is not base:
            print(
                f"head {run['head'][0]} x {run['head'][1]}, T = {run['steps_per_proof']} against T = "
                f"{base['steps_per_proof']}: proving {base['prove_s'] / run['prove_s']:.2f} times faster, verifying "
                f"{base['verify_s'] / run['verify_s']:.2f} times faster, bundle "
                f"{base['bundle_bytes_json'] / run['bundle_bytes_json']:.2f} times smaller",
                flush=True,
            )
    if args.json:
        args.json.write_text(
            json.dumps({"proof_of_training": results, "whole_runs": whole_runs}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
