"""Compile the round registry and a snarkjs-generated Groth16 verifier with solc-js, cached by content hash.

The cache key covers the compiler version, the settings and every source's name and text, so a new verifier
(one per circuit and zkey) or an edited registry compiles once and is then read from
`crypto.paths.cache_dir()/solc/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.nodetools import node_binary, node_package
from crypto.paths import cache_dir

CONTRACTS_DIR = Path(__file__).resolve().parent
REGISTRY_SOURCE = CONTRACTS_DIR / "RoundRegistry.sol"
SOLC_SCRIPT = CONTRACTS_DIR / "solc_compile.js"
SOLC_SETTINGS: dict = {
    "optimizer": {"enabled": True, "runs": 200},
    # Cancun runs on every current chain (Sepolia and hardhat are on Prague, which adds no opcodes solc uses).
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


class CompileError(RuntimeError):
    """solc reported errors (the message lists them)."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list
    bytecode: str


def solc_version() -> str:
    return json.loads((node_package("solc") / "package.json").read_text())["version"]


def compile_sources(sources: Mapping[str, str]) -> dict[str, Artifact]:
    """Compile {source unit name: Solidity text}; returns every contract by name (names must be unique)."""
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sorted(sources.items())},
        "settings": SOLC_SETTINGS,
    }
    key = hashlib.sha256(json.dumps([solc_version(), standard_input], sort_keys=True).encode()).hexdigest()
    cached = cache_dir() / "solc" / f"{key}.json"
    if cached.exists():
        return _artifacts(json.loads(cached.read_text()))

    result = subprocess.run(
        [node_binary(), str(SOLC_SCRIPT)],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CompileError(f"solc-js failed: {result.stderr.strip()[-2000:]}")
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise CompileError("\n".join(errors))
    contracts = {
        name: {"abi": data["abi"], "bytecode": data["evm"]["bytecode"]["object"]}
        for unit in output["contracts"].values()
        for name, data in unit.items()
    }
    _write_atomically(cached, json.dumps(contracts))
    return _artifacts(contracts)


def compile_registry() -> Artifact:
    """The registry alone (its ABI does not depend on the verifier)."""
    return compile_sources({REGISTRY_SOURCE.name: REGISTRY_SOURCE.read_text()})["RoundRegistry"]


def compile_with_verifier(verifier_sol: Path) -> tuple[Artifact, Artifact]:
    """(registry, verifier) compiled together; the verifier is the contract in `verifier_sol` with verifyProof."""
    verifier_sol = Path(verifier_sol)
    artifacts = compile_sources(
        {
            REGISTRY_SOURCE.name: REGISTRY_SOURCE.read_text(),
            f"verifier/{verifier_sol.name}": verifier_sol.read_text(),
        }
    )
    verifiers = [a for a in artifacts.values() if _verify_proof_abi(a.abi) is not None]
    if len(verifiers) != 1:
        raise CompileError(f"{verifier_sol} must define exactly one contract with verifyProof")
    return artifacts["RoundRegistry"], verifiers[0]


def public_signal_count(verifier_abi: Sequence[Mapping]) -> int:
    """N of the verifier's `verifyProof(uint[2], uint[2][2], uint[2], uint[N])`."""
    entry = _verify_proof_abi(verifier_abi)
    if entry is None or len(entry["inputs"]) != 4:
        raise CompileError("the verifier has no verifyProof(a, b, c, publicSignals)")
    signals_type = entry["inputs"][3]["type"]  # "uint256[N]"
    if not (
        signals_type.startswith("uint256[") and signals_type.endswith("]") and signals_type[8:-1].isdigit()
    ):
        raise CompileError(f"verifyProof's public signals have type {signals_type}, not uint256[N]")
    return int(signals_type[8:-1])


def _verify_proof_abi(abi: Sequence[Mapping]) -> Mapping | None:
    return next((e for e in abi if e.get("type") == "function" and e.get("name") == "verifyProof"), None)


def _artifacts(contracts: Mapping[str, Mapping]) -> dict[str, Artifact]:
    return {name: Artifact(name, data["abi"], data["bytecode"]) for name, data in contracts.items()}


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
