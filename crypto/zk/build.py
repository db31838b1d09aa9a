"""Compile the head-step circuit and run the Groth16 phase-2 ceremony, cached by content hash.

Cache layout under crypto.paths.cache_dir()/zk/<circuit key>/ (the key hashes the Circom sources, circomlib,
the compiler version and the shape):
    head_step.r1cs, head_step_js/head_step.wasm        compiled circuit
    zkeys/<chain key>.zkey                             phase-2 keys; the chain key hashes the ptau file and
                                                       every step before (setup, contributions by name, beacon)
    zkeys/<chain key>.vkey.json, .sol                  verification key and Solidity verifier of a final key
A re-run with the same ptau and participants therefore reuses every step. The Ceremony class runs every
contribution on this machine (tests, benches, the dev key of crypto.zk.dev): whoever runs it could forge proofs.
The portal's ceremony caches only the initial zkey here (setup_zkey: no secret in it); each hospital contributes
on its own machine (crypto.zk.phase2, node.ceremony) and the portal verifies the chain (proofs.services).

CLI (what circuits/build.sh runs):
    python -m crypto.zk.build [--features 16 --classes 2 --batch 8] [--ptau P --participant NAME ... --beacon HEX]
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crypto.paths import cache_dir
from crypto.zk.node import REPO_ROOT, SnarkjsProcess, node_executable, snarkjs

CIRCUITS_DIR = REPO_ROOT / "circuits"
TEMPLATE_SOURCE = CIRCUITS_DIR / "head_step.circom"
MAIN_SOURCE = CIRCUITS_DIR / "head_step_main.circom"
CIRCOMLIB_DIR = REPO_ROOT / "node_modules" / "circomlib" / "circuits"
CIRCOM_PACKAGE = REPO_ROOT / "node_modules" / "circom2"
# --O2 removes the linear constraints (Poseidon's mixing layers): 15k constraints instead of 36k.
CIRCOM_FLAGS = ("--r1cs", "--wasm", "--O2")
CIRCUIT_NAME = "head_step"
# Groth16 public signals, in order (the circuit has no outputs, so snarkjs lists its public inputs in this order).
PUBLIC_SIGNALS = ("headBefore", "headAfter", "batchHash", "lrQ", "context")


# Samples one proof covers for small heads: T = SAMPLES_PER_PROOF // B consecutive steps per proof. Measured here
# (bench/proof_of_training.py --steps-per-proof 1 2 4): the head is hashed once at each end of a proof, not at
# each step, and the prover's cost per proof is paid once per T steps; T = 4 at B = 8 proved a local epoch 2.2
# times faster than T = 1 (34.6 s against 75.5 s), and its 31,986 constraints still fit 2^15 powers of tau.
SAMPLES_PER_PROOF = 32
# Heads of at most this many weights (k x d) take T > 1; larger ones prove one step per proof, so that their
# circuit keeps the powers-of-tau size it has at T = 1.
MULTI_STEP_HEAD_WEIGHTS = 32


@dataclass(frozen=True)
class CircuitShape:
    features: int = 16  # d: the head's input width
    classes: int = 2  # k
    batch: int = 8  # B: samples per step
    steps: int = 1  # T: consecutive steps one proof covers

    def __post_init__(self) -> None:
        if min(self.features, self.classes, self.batch, self.steps) < 1 or self.classes < 2:
            raise ValueError(f"invalid circuit shape {self}")

    @classmethod
    def for_head(cls, features: int, classes: int, batch: int) -> CircuitShape:
        """The shape a round's proofs use for this head and batch size: T steps per proof as chosen above."""
        small = features * classes <= MULTI_STEP_HEAD_WEIGHTS
        steps = max(1, SAMPLES_PER_PROOF // batch) if small else 1
        return cls(features=features, classes=classes, batch=batch, steps=steps)


DEFAULT_SHAPE = CircuitShape.for_head(16, 2, 8)


@dataclass(frozen=True)
class CircuitArtifacts:
    shape: CircuitShape
    key: str
    r1cs: Path
    wasm: Path
    constraints: int

    @property
    def directory(self) -> Path:
        return self.r1cs.parent


@dataclass(frozen=True)
class ProvingKey:
    """A finished ceremony's key for one circuit: what a hospital proves with and the portal verifies with."""

    artifacts: CircuitArtifacts
    zkey: Path
    verification_key_path: Path

    def verification_key(self) -> dict:
        return json.loads(self.verification_key_path.read_text())


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_file_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) so large ptau files are read once."""
    stat = path.stat()
    memo_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _file_hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _file_hashes[memo_key] = digest.hexdigest()
    return _file_hashes[memo_key]


def _zk_cache() -> Path:
    path = cache_dir() / "zk"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock across processes (tests and a bench may build the same thing at once)."""
    lock_dir = _zk_cache() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main_source(shape: CircuitShape) -> str:
    """circuits/head_step_main.circom with HeadSteps' arguments set to the shape."""
    text = MAIN_SOURCE.read_text()
    pattern = r"HeadSteps\(\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\)"
    if len(re.findall(pattern, text)) != 1:
        raise RuntimeError(f"{MAIN_SOURCE} must instantiate HeadSteps(d, k, B, T) exactly once")
    return re.sub(
        pattern, f"HeadSteps({shape.features}, {shape.classes}, {shape.batch}, {shape.steps})", text
    )


def circuit_key(shape: CircuitShape) -> str:
    circom_version = json.loads((CIRCOM_PACKAGE / "package.json").read_text())["version"]
    material = {
        "template": _sha256_bytes(TEMPLATE_SOURCE.read_bytes()),
        "main": _sha256_bytes(main_source(shape).encode()),
        "circomlib": {p.name: _sha256_bytes(p.read_bytes()) for p in sorted(CIRCOMLIB_DIR.glob("*.circom"))},
        "circom2": circom_version,
        "flags": CIRCOM_FLAGS,
    }
    return _sha256_bytes(json.dumps(material, sort_keys=True).encode())[:24]


def circuit_directory(shape: CircuitShape) -> Path:
    """Where build_circuit puts (or finds) the shape's compiled circuit."""
    return _zk_cache() / circuit_key(shape)


def r1cs_constraint_count(path: Path) -> int:
    """Number of constraints, read from the .r1cs header section (iden3 r1cs binary format)."""
    with open(path, "rb") as handle:
        magic, _version, sections = struct.unpack("<4sII", handle.read(12))
        if magic != b"r1cs":
            raise ValueError(f"{path} is not an r1cs file")
        for _ in range(sections):
            section_type, size = struct.unpack("<IQ", handle.read(12))
            if section_type != 1:
                handle.seek(size, os.SEEK_CUR)
                continue
            (field_size,) = struct.unpack("<I", handle.read(4))
            handle.seek(field_size, os.SEEK_CUR)
            # nWires, nPubOut, nPubIn, nPrvIn (u32), nLabels (u64), nConstraints (u32)
            return struct.unpack("<IIIIQI", handle.read(28))[5]
    raise ValueError(f"{path} has no header section")


def build_circuit(shape: CircuitShape = DEFAULT_SHAPE) -> CircuitArtifacts:
    """Compile HeadSteps(d, k, B, T) with circom2 (about 20 s for the default shape), or reuse the cached build."""
    key = circuit_key(shape)
    directory = circuit_directory(shape)
    r1cs = directory / f"{CIRCUIT_NAME}.r1cs"
    wasm = directory / f"{CIRCUIT_NAME}_js" / f"{CIRCUIT_NAME}.wasm"
    with _locked(key):
        if not (r1cs.exists() and wasm.exists()):
            _compile(shape, directory)
    return CircuitArtifacts(
        shape=shape, key=key, r1cs=r1cs, wasm=wasm, constraints=r1cs_constraint_count(r1cs)
    )


def _compile(shape: CircuitShape, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        main_path = Path(scratch) / f"{CIRCUIT_NAME}.circom"
        main_path.write_text(main_source(shape))
        # circom2 (WASM) resolves include folders only inside its working directory: run it from the repository
        # root with relative -l folders; the main file and output may lie elsewhere.
        command = [
            node_executable(),
            str(CIRCOM_PACKAGE / "cli.js"),
            str(main_path),
            *CIRCOM_FLAGS,
            "-l",
            os.path.relpath(CIRCUITS_DIR, REPO_ROOT),
            "-l",
            os.path.relpath(CIRCOMLIB_DIR, REPO_ROOT),
            "-o",
            scratch,
        ]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        built_r1cs = Path(scratch) / f"{CIRCUIT_NAME}.r1cs"
        if result.returncode != 0 or not built_r1cs.exists():
            raise RuntimeError(
                f"circom2 failed for {shape}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        js_dir = directory / f"{CIRCUIT_NAME}_js"
        shutil.rmtree(js_dir, ignore_errors=True)
        os.replace(Path(scratch) / f"{CIRCUIT_NAME}_js", js_dir)
        os.replace(
            built_r1cs, directory / f"{CIRCUIT_NAME}.r1cs"
        )  # last: its presence marks a complete build


def setup_chain_key(artifacts: CircuitArtifacts, ptau: Path) -> str:
    """The cache key of the initial zkey (`groth16 setup` of the circuit from the ptau: no secret in it)."""
    return _sha256_bytes(f"setup\0{artifacts.key}\0{file_sha256(Path(ptau))}".encode())[:24]


def setup_zkey(artifacts: CircuitArtifacts, ptau: Path, process: SnarkjsProcess | None = None) -> Path:
    """The initial zkey ("_0000": `snarkjs groth16 setup` of the r1cs from the ptau, deterministic, no secret in
    it), made once per circuit and ptau (about 2 minutes for the default circuit here) and cached."""
    return Ceremony(artifacts, ptau, process).zkey


class Ceremony:
    """Groth16 phase 2 for one circuit run on one machine: setup from a prepared powers-of-tau file, one
    contribution per participant, then a beacon. For tests, benches and the dev key only (crypto.zk.dev): every
    contribution's entropy passes through this process, so whoever runs it could forge proofs. The portal's
    ceremony, where each hospital contributes on its own machine, is made of crypto.zk.phase2's steps.

        ceremony = Ceremony(build_circuit(), ptau)
        ceremony.contribute("hospital-a"); ceremony.contribute("hospital-b")
        proving_key = ceremony.finalize(beacon_hex)
    """

    def __init__(
        self, artifacts: CircuitArtifacts, ptau: Path, process: SnarkjsProcess | None = None
    ) -> None:
        self.artifacts = artifacts
        self.ptau = Path(ptau)
        self.participants: list[str] = []
        self._process = process
        self._chain_key = setup_chain_key(artifacts, self.ptau)
        self.zkey = self._cached_step(
            lambda out: self._node.request(
                "setup", r1cs=str(artifacts.r1cs), ptau=str(self.ptau), zkey=str(out)
            )
        )

    @property
    def _node(self) -> SnarkjsProcess:
        return self._process or snarkjs()

    def _zkey_path(self, chain_key: str) -> Path:
        path = self.artifacts.directory / "zkeys" / f"{chain_key}.zkey"
        path.parent.mkdir(exist_ok=True)
        return path

    def _cached_step(self, make: Callable[[Path], object]) -> Path:
        """The zkey of the current chain key, made by make(path) unless cached."""
        path = self._zkey_path(self._chain_key)
        with _locked(self._chain_key):
            if not path.exists():
                partial = path.with_suffix(".partial")
                make(partial)
                os.replace(partial, path)
        return path

    def contribute(self, name: str) -> Path:
        """Adds `name`'s contribution (fresh entropy from os.urandom) and returns the new zkey."""
        if not name or "\0" in name:
            raise ValueError("a contribution needs a participant name")
        previous = self.zkey
        self._chain_key = _sha256_bytes(f"contribute\0{self._chain_key}\0{name}".encode())[:24]
        self.zkey = self._cached_step(
            lambda out: self._node.request(
                "contribute", zkeyIn=str(previous), zkeyOut=str(out), name=name, entropy=os.urandom(32).hex()
            )
        )
        self.participants.append(name)
        return self.zkey

    def finalize(self, beacon_hex: str, iterations_exp: int = 10) -> ProvingKey:
        """Applies the beacon (a public random value nobody controlled, e.g. a future block hash) and exports
        the verification key."""
        if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", beacon_hex):
            raise ValueError("the beacon must be hex bytes")
        previous = self.zkey
        self._chain_key = _sha256_bytes(
            f"beacon\0{self._chain_key}\0{beacon_hex}\0{iterations_exp}".encode()
        )[:24]
        self.zkey = self._cached_step(
            lambda out: self._node.request(
                "beacon",
                zkeyIn=str(previous),
                zkeyOut=str(out),
                name="final beacon",
                beaconHex=beacon_hex,
                iterationsExp=iterations_exp,
            )
        )
        vkey_path = self.zkey.with_suffix(".vkey.json")
        if not vkey_path.exists():
            vkey = self._node.request("exportVkey", zkey=str(self.zkey))
            _write_atomic(vkey_path, json.dumps(vkey, indent=1))
        return ProvingKey(artifacts=self.artifacts, zkey=self.zkey, verification_key_path=vkey_path)

    def verify(self) -> bool:
        """snarkjs zkey verify: the current zkey descends from the r1cs and ptau through valid contributions
        (as slow as the setup)."""
        return bool(
            self._node.request(
                "verifyZkey", r1cs=str(self.artifacts.r1cs), ptau=str(self.ptau), zkey=str(self.zkey)
            )
        )


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def export_solidity_verifier(proving_key: ProvingKey, out: Path | None = None) -> Path:
    """The Groth16 verifier contract (snarkjs template; contract Groth16Verifier, function
    verifyProof(uint[2] pA, uint[2][2] pB, uint[2] pC, uint[5] pubSignals) with pubSignals in PUBLIC_SIGNALS order).
    Cached beside the zkey; copied to `out` if given."""
    cached = proving_key.zkey.with_suffix(".sol")
    if not cached.exists():
        _write_atomic(cached, snarkjs().request("exportSolidity", zkey=str(proving_key.zkey)))
    if out is None:
        return cached
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compile the head-step circuit; optionally run a ceremony.")
    parser.add_argument("--features", type=int, default=DEFAULT_SHAPE.features)
    parser.add_argument("--classes", type=int, default=DEFAULT_SHAPE.classes)
    parser.add_argument("--batch", type=int, default=DEFAULT_SHAPE.batch)
    parser.add_argument(
        "--steps", type=int, help="steps per proof (default: the portal's choice for the head)"
    )
    parser.add_argument("--ptau", type=Path, help="prepared powers-of-tau file (phase 1)")
    parser.add_argument(
        "--participant", action="append", default=[], help="a phase-2 contributor (repeatable)"
    )
    parser.add_argument("--beacon", help="hex beacon for the final step (with --ptau)")
    parser.add_argument("--solidity", type=Path, help="write the Solidity verifier here (with --beacon)")
    args = parser.parse_args(argv)
    shape = CircuitShape.for_head(args.features, args.classes, args.batch)
    artifacts = build_circuit(
        CircuitShape(shape.features, shape.classes, shape.batch, args.steps or shape.steps)
    )
    print(
        f"circuit {artifacts.shape}: {artifacts.constraints} constraints\n  r1cs {artifacts.r1cs}\n  wasm {artifacts.wasm}"
    )
    if not args.ptau:
        return
    ceremony = Ceremony(artifacts, args.ptau)
    for name in args.participant:
        ceremony.contribute(name)
    print(f"  zkey {ceremony.zkey} (participants: {', '.join(ceremony.participants) or 'none'})")
    if args.beacon:
        proving_key = ceremony.finalize(args.beacon)
        print(f"  final zkey {proving_key.zkey}\n  vkey {proving_key.verification_key_path}")
        if args.solidity:
            print(f"  verifier {export_solidity_verifier(proving_key, args.solidity)}")


if __name__ == "__main__":
    main()
