"""Proof of training (Groth16 spot-checks of the fixed-point head's SGD steps) on this machine.

    python bench/proof_of_training.py                       # batch 8 (default circuit, pot15) and batch 32 (pot16)
    python bench/proof_of_training.py --batch-sizes 8 --json out.json
    python bench/proof_of_training.py --batch-sizes 8 --classes 2 5 11 --features 16 32   # heads of other shapes

For each circuit HeadStep(d, k, B) (d features, k classes, batches of B): constraint count, compile and trusted-setup time (dev ceremony: setup from
the dev powers of tau, two contributions, a beacon; "cached" when an earlier run made it), then on a synthetic
run of --steps exact steps: commitment time per step (Poseidon hashes + Merkle tree, Python), witness time,
prove time per step, the whole prove_training of --proofs steps, verify_training of the bundle (one long-lived
node process, already warm), proof size, and the node process's peak resident memory while proving.
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

from crypto.zk import (  # noqa: E402
    CircuitShape,
    build_circuit,
    commit_trace,
    head_hash,
    prove_training,
    verify_training,
)
from crypto.zk.build import circuit_directory  # noqa: E402
from crypto.zk.dev import dev_proving_key, synthetic_trace  # noqa: E402
from crypto.zk.node import SnarkjsProcess  # noqa: E402
from crypto.zk.training_proof import step_input  # noqa: E402
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


def smallest_ptau(ptau_dir: Path, constraints: int) -> Path | None:
    for power in (15, 16):
        path = ptau_dir / f"pot{power}_dev_final.ptau"
        # Groth16 needs a domain of at least constraints + public inputs + 1.
        if path.exists() and constraints + 6 <= 2**power:
            return path
    return None


def bench_shape(shape: CircuitShape, ptau_dir: Path, steps: int, proofs: int) -> dict[str, Any]:
    cached = (circuit_directory(shape) / "head_step.r1cs").exists()
    started = time.perf_counter()
    artifacts = build_circuit(shape)
    compile_s = time.perf_counter() - started
    ptau = smallest_ptau(ptau_dir, artifacts.constraints)
    if ptau is None:
        print(f"  {artifacts.constraints} constraints: no dev ptau in {ptau_dir} is large enough", flush=True)
        return {
            "shape": {"features": shape.features, "classes": shape.classes, "batch": shape.batch},
            "constraints": artifacts.constraints,
            "ptau": None,
        }
    started = time.perf_counter()
    proving_key = dev_proving_key(ptau, shape)
    setup_s = time.perf_counter() - started
    print(
        f"  {artifacts.constraints} constraints; compile {compile_s:.1f} s, setup {setup_s:.1f} s", flush=True
    )

    trace = synthetic_trace(steps, shape, seed=1)
    started = time.perf_counter()
    commit_trace(trace)
    commit_s = time.perf_counter() - started

    process = TimedProcess()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for _ in range(2):  # the first call also loads the wasm and the curve
                process.request(
                    "witness",
                    wasm=str(artifacts.wasm),
                    input=step_input(trace[0], CONTEXT),
                    wtns=f"{scratch}/w.wtns",
                )
        started = time.perf_counter()
        bundle = prove_training(trace, CONTEXT, proofs, proving_key, process=process)
        prove_training_s = time.perf_counter() - started
        peak_mb = process.peak_rss_mb()
        weight, bias, _ = sgd_step(trace[-1])
        arguments = (CONTEXT, proving_key.verification_key(), head_hash(trace[0].weight, trace[0].bias))
        verify_times = []
        for _ in range(3):
            started = time.perf_counter()
            verify_training(bundle, *arguments, (weight, bias), trace[0].lr_q, proofs, process=process)
            verify_times.append(time.perf_counter() - started)
    finally:
        process.close()

    prove_times = process.seconds["prove"]
    result = {
        "shape": {"features": shape.features, "classes": shape.classes, "batch": shape.batch},
        "constraints": artifacts.constraints,
        "ptau": ptau.name,
        "compile_s": round(compile_s, 2),
        "compile_cached": cached,
        "setup_s": round(setup_s, 2),
        "steps_in_run": steps,
        "commit_s_per_step": round(commit_s / steps, 4),
        "witness_s": round(process.seconds["witness"][-1], 3),
        "prove_s_per_step": round(statistics.mean(prove_times), 2),
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--classes", type=int, nargs="+", default=[2], help="class counts k of the head")
    parser.add_argument("--features", type=int, nargs="+", default=[16], help="feature widths d of the head")
    parser.add_argument("--steps", type=int, default=20, help="steps in the synthetic run")
    parser.add_argument("--proofs", type=int, default=4, help="steps proven (spot-checks)")
    parser.add_argument("--ptau-dir", type=Path, default=DEFAULT_PTAU_DIR)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    results = []
    shapes = [
        CircuitShape(features, classes, batch)
        for batch in args.batch_sizes
        for features in args.features
        for classes in args.classes
    ]
    for shape in shapes:
        print(f"HeadStep({shape.features}, {shape.classes}, {shape.batch})", flush=True)
        result = bench_shape(shape, args.ptau_dir, args.steps, args.proofs)
        results.append(result)
        if result["ptau"] is None:
            continue
        print(
            f"  witness {result['witness_s']} s, prove {result['prove_s_per_step']} s/step "
            f"(prove_training of {result['proofs']}: {result['prove_training_s']} s), "
            f"verify_training {result['verify_training_s']} s, node peak {result['node_peak_rss_mb']} MB, "
            f"commit {result['commit_s_per_step'] * 1000:.1f} ms/step",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps({"proof_of_training": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
