"""A real Groth16 circuit, zkey and snarkjs Solidity verifier for the registry's tests (toy_step.circom).

Built once per circuit/driver/ptau content and cached under crypto.paths.cache_dir()/contracts-toy/<hash>/.
The setup is phase 2 with no contribution: fine for tests, never for anything real.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.client import SnarkjsProof
from contracts.nodetools import node_binary, node_package
from crypto.paths import cache_dir

TESTS_DIR = Path(__file__).resolve().parent
CIRCUIT = TESTS_DIR / "toy_step.circom"
DRIVER = TESTS_DIR / "toy_snarkjs.js"


@dataclass(frozen=True)
class ToyCircuit:
    wasm: Path
    zkey: Path
    verifier_sol: Path


def build_toy_circuit(ptau: Path) -> ToyCircuit:
    key = hashlib.sha256()
    for part in (
        CIRCUIT.read_bytes(),
        DRIVER.read_bytes(),
        _version("snarkjs"),
        _version("circom2"),
        _sha256(ptau),
    ):
        key.update(hashlib.sha256(part).digest())
    target = cache_dir() / "contracts-toy" / key.hexdigest()[:24]
    circuit = ToyCircuit(target / "toy_step.wasm", target / "toy_step.zkey", target / "Groth16Verifier.sol")
    if circuit.verifier_sol.exists():
        return circuit

    with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
        work_dir = Path(work)
        # circom2 (WASI) reads and writes only below its working directory, with relative paths.
        shutil.copy(CIRCUIT, work_dir / CIRCUIT.name)
        _run(
            [
                node_binary(),
                str(node_package("circom2") / "cli.js"),
                CIRCUIT.name,
                "--r1cs",
                "--wasm",
                "-o",
                ".",
            ],
            work_dir,
        )
        build = work_dir / "build"
        build.mkdir()
        shutil.copy(work_dir / "toy_step_js" / "toy_step.wasm", build / "toy_step.wasm")
        _run(
            [
                node_binary(),
                str(DRIVER),
                "setup",
                "toy_step.r1cs",
                str(ptau),
                "build/toy_step.zkey",
                "build/Groth16Verifier.sol",
            ],
            work_dir,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            build.rename(target)
        except OSError:  # another process finished first
            if not circuit.verifier_sol.exists():
                raise
    return circuit


def prove_toy(circuit: ToyCircuit, inputs: Sequence[Mapping[str, int]]) -> list[SnarkjsProof]:
    """One proof per input {w, x, batchTag, lr, context}; public signals [w^2, (w - lr*x)^2, batchTag, lr,
    context]."""
    output = _run(
        [node_binary(), str(DRIVER), "prove", str(circuit.wasm), str(circuit.zkey)],
        TESTS_DIR,
        stdin=json.dumps([{k: str(v) for k, v in i.items()} for i in inputs]),
    )
    return [SnarkjsProof(p["proof"], p["publicSignals"]) for p in json.loads(output)]


def _run(command: list[str], cwd: Path, stdin: str | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(command[1]).name} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _version(package: str) -> bytes:
    return json.loads((node_package(package) / "package.json").read_text())["version"].encode()


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()
