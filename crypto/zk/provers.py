"""Groth16 provers for the head-step circuit: snarkjs (the reference) and a native arkworks prover (groth16py).

Both take the circuit input and the ceremony's zkey and return a proof in snarkjs' JSON layout, so a bundle
verifies with snarkjs (`snarkjs groth16 verify`, the portal, `manage.py audit`) and on chain whichever prover
made it. The native prover computes the witness with the circuit's own wasm (through the long-lived snarkjs
process: the witness is the same whoever proves) and proves with arkworks from the snarkjs zkey, without a
setup of its own. Measured here (bench/proof_of_training.py --whole-run --steps-per-proof 1 2 4) on the default
circuit of 4 steps a proof: 0.177 s a step with a run's proofs on two threads, against 0.759 s a step for
snarkjs (4.3 times); 0.36 s a step one proof at a time on the bench's synthetic run.

Which prover a node uses: DH_PROVER ("native" or "snarkjs"), else native where groth16py is installed.
"""

from __future__ import annotations

import itertools
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from crypto.zk.build import PUBLIC_SIGNALS
from crypto.zk.node import SnarkjsProcess, snarkjs

PROVERS = ("native", "snarkjs")


class ProverUnavailable(RuntimeError):
    """The prover asked for cannot run here; the message says how to fix it."""


Progress = Callable[[int, int], None]  # (proofs done, proofs in all), called after each proof


class Prover:
    """A Groth16 prover of the head-step circuit; proves a run's inputs one at a time unless it knows better."""

    name: str

    def prove(self, wasm: Path, zkey: Path, circuit_input: dict[str, Any]) -> dict[str, Any]:
        """{"proof": snarkjs JSON proof, "publicSignals": decimal strings} for one witness of the circuit."""
        raise NotImplementedError

    def prove_many(
        self,
        wasm: Path,
        zkey: Path,
        circuit_inputs: Sequence[dict[str, Any]],
        progress: Progress | None = None,
    ) -> list[dict[str, Any]]:
        """prove() of each input, in order."""
        results = []
        for circuit_input in circuit_inputs:
            results.append(self.prove(wasm, zkey, circuit_input))
            if progress is not None:
                progress(len(results), len(circuit_inputs))
        return results


class SnarkjsProver(Prover):
    """snarkjs' own prover (it already spreads one proof over its worker threads)."""

    name = "snarkjs"

    def __init__(self, process: SnarkjsProcess | None = None) -> None:
        self._process = process

    def prove(self, wasm: Path, zkey: Path, circuit_input: dict[str, Any]) -> dict[str, Any]:
        result = (self._process or snarkjs()).request(
            "prove", wasm=str(wasm), zkey=str(zkey), input=circuit_input
        )
        return {"proof": result["proof"], "publicSignals": result["publicSignals"]}


def _snarkjs_proof(blob: bytes) -> dict[str, Any]:
    """The Ethereum encoding of a proof (a, b with each G2 coordinate's halves swapped, c: 8 x 32 bytes,
    big-endian) in snarkjs' JSON layout."""
    if len(blob) != 256:
        raise ValueError(f"a Groth16 proof is 256 bytes, not {len(blob)}")
    word = [str(int.from_bytes(blob[i : i + 32], "big")) for i in range(0, 256, 32)]
    return {
        "pi_a": [word[0], word[1], "1"],
        "pi_b": [[word[3], word[2]], [word[5], word[4]], ["1", "0"]],
        "pi_c": [word[6], word[7], "1"],
        "protocol": "groth16",
        "curve": "bn128",
    }


def public_signals(wtns: Path, count: int) -> list[str]:
    """Witness values 1..count of a .wtns file (iden3 format): the circuit's public signals, in order."""
    with open(wtns, "rb") as handle:
        magic, _version, sections = struct.unpack("<4sII", handle.read(12))
        if magic != b"wtns":
            raise ValueError(f"{wtns} is not a witness file")
        field_bytes = 0
        for _ in range(sections):
            section_type, size = struct.unpack("<IQ", handle.read(12))
            if section_type == 1:
                (field_bytes,) = struct.unpack("<I", handle.read(4))
                handle.seek(size - 4, os.SEEK_CUR)
            elif section_type == 2 and field_bytes:
                handle.seek(field_bytes, os.SEEK_CUR)  # witness 0 is the constant 1
                return [str(int.from_bytes(handle.read(field_bytes), "little")) for _ in range(count)]
            else:
                handle.seek(size, os.SEEK_CUR)
    raise ValueError(f"{wtns} has no witness values")


class NativeProver(Prover):
    """arkworks (groth16py) proving from the snarkjs zkey; the key is imported once per zkey file. prove_many
    proves on `threads` threads (default: one per core), each with its own witness process, so that witnesses
    and proofs overlap: 0.71 s a proof of 4 steps on this 2-core machine against 1.44 s one at a time."""

    name = "native"

    def __init__(
        self, public_count: int, process: SnarkjsProcess | None = None, threads: int | None = None
    ) -> None:
        try:
            import groth16py
        except ImportError:
            raise ProverUnavailable(
                "the native prover needs groth16py (pip install -r requirements/node.txt), or set "
                "DH_PROVER=snarkjs"
            ) from None
        self._groth16py = groth16py
        self._public_count = public_count
        self._process = process
        self._keys: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self._threads = max(1, threads or os.cpu_count() or 1)

    def _key(self, zkey: Path) -> Any:
        with self._lock:
            if zkey not in self._keys:
                self._keys[zkey], _ = self._groth16py.import_zkey(str(zkey))
            return self._keys[zkey]

    def prove(
        self, wasm: Path, zkey: Path, circuit_input: dict[str, Any], process: SnarkjsProcess | None = None
    ) -> dict[str, Any]:
        # The witness holds the hospital's private features: a private temporary folder, removed at once.
        with tempfile.TemporaryDirectory(prefix="dh-witness-") as scratch:
            wtns = Path(scratch) / "step.wtns"
            witnesses = process or self._process or snarkjs()
            witnesses.request("witness", wasm=str(wasm), input=circuit_input, wtns=str(wtns))
            blob = self._groth16py.prove_wtns(self._key(Path(zkey)), str(wtns))
            signals = public_signals(wtns, self._public_count)
        return {"proof": _snarkjs_proof(bytes(blob)), "publicSignals": signals}

    def prove_many(
        self,
        wasm: Path,
        zkey: Path,
        circuit_inputs: Sequence[dict[str, Any]],
        progress: Progress | None = None,
    ) -> list[dict[str, Any]]:
        threads = min(self._threads, len(circuit_inputs))
        if threads <= 1:
            return super().prove_many(wasm, zkey, circuit_inputs, progress)
        self._key(Path(zkey))  # imported once, before the threads share it
        results: list[dict[str, Any] | None] = [None] * len(circuit_inputs)
        done = itertools.count(1)
        extra = [SnarkjsProcess() for _ in range(threads - 1)]
        processes = [self._process or snarkjs(), *extra]

        def prove_share(worker: int) -> None:
            for index in range(worker, len(circuit_inputs), threads):
                results[index] = self.prove(wasm, zkey, circuit_inputs[index], processes[worker])
                finished = next(done)
                if progress is not None:
                    progress(finished, len(circuit_inputs))

        try:
            with ThreadPoolExecutor(threads, thread_name_prefix="prover") as pool:
                for future in [pool.submit(prove_share, worker) for worker in range(threads)]:
                    future.result()
        finally:
            for process in extra:
                process.close()
        return [result for result in results if result is not None]


def native_available() -> bool:
    try:
        import groth16py  # noqa: F401
    except ImportError:
        return False
    return True


def make_prover(name: str | None = None, process: SnarkjsProcess | None = None) -> Prover:
    """The prover named (or DH_PROVER's, else native where groth16py is installed, else snarkjs)."""
    chosen = name or os.environ.get("DH_PROVER") or ("native" if native_available() else "snarkjs")
    if chosen == "native":
        return NativeProver(len(PUBLIC_SIGNALS), process)
    if chosen == "snarkjs":
        return SnarkjsProver(process)
    raise ProverUnavailable(f"unknown prover {chosen!r} (DH_PROVER): choose one of {', '.join(PROVERS)}")
