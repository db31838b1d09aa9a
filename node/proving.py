"""Node side of proof of training: what the upload carries besides the protected update.

With the "groth16" scheme the node commits to its whole run (the Merkle root of every head step of
LocalResult.head_trace, its step count S and its sample count n_h, all before the challenge), receives the
portal's challenge, proves the steps derived from the root, S and the challenged round context, or every step
when the plan says so (crypto.zk, with the prover crypto.zk.provers.make_prover picks: native arkworks where
groth16py is installed, else snarkjs; DH_PROVER chooses), and uploads the bundle. Under ckks the final head
travels only inside the encrypted update; beside a plaintext update it is uploaded in the clear.

The proving key's files (zkey, circuit wasm, verification key) are downloaded from the portal once and cached
here by their SHA-256 digest, checked on download.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

from crypto.paths import cache_dir
from crypto.zk import CircuitArtifacts, CircuitShape, ProvingKey, commit_trace, phase2
from crypto.zk.merkle import ProofContext
from crypto.zk.training_proof import check_trace, prove_steps
from fl.training import PLAIN_RUN, LocalResult, StepRule, head_of
from node import ceremony
from node.client import PortalClient
from protocol.node_task import FileSpec, ProofChallenge, ProofMaterial
from protocol.upload import Head


def _cached_file(client: PortalClient, spec: FileSpec, suffix: str) -> Path:
    """The file named by spec: from this node's cache, else downloaded and checked against its digest."""
    directory = cache_dir() / "node-zk"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{spec.sha256}{suffix}"
    if not path.exists():
        data = client.get_bytes(spec.url)
        if hashlib.sha256(data).hexdigest() != spec.sha256:
            raise ValueError(f"the portal's {suffix} file does not match its digest: refusing to use it")
        handle, partial = tempfile.mkstemp(dir=directory, prefix=".download-")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    return path


class ForeignProvingKey(ValueError):
    """The round's proving key holds none of this node's own trusted-setup contributions."""


def check_own_contribution(zkey: Path, contributions_file: Path) -> None:
    """Refuses a proving key that none of this node's recorded contributions went into: whoever made such a key
    (the portal alone, say) could know its toxic waste and forge proofs, so proving with it would prove nothing."""
    own = {entry["hash"] for entry in ceremony.own_contributions(contributions_file)}
    in_key = {entry["hash"] for entry in phase2.contribution_hashes(zkey) if entry["type"] == 0}
    if not own & in_key:
        raise ForeignProvingKey(
            "the round's proving key holds none of this node's trusted-setup contributions "
            f"({len(own)} recorded in {contributions_file}): refusing to prove with a key this hospital did not "
            "help make"
        )


def proving_key(material: ProofMaterial, client: PortalClient, contributions_file: Path) -> ProvingKey:
    if not material.key_ready:
        raise ValueError("the round's proving key is not prepared yet: run the round once it is collecting")
    shape = material.shape
    artifacts = CircuitArtifacts(
        shape=CircuitShape(
            features=shape.features, classes=shape.classes, batch=shape.batch, steps=shape.steps
        ),
        key=material.circuit_key,
        r1cs=Path(os.devnull),  # proving needs only the wasm and the zkey; the r1cs stays with the setup
        wasm=_cached_file(client, material.wasm, ".wasm"),
        constraints=material.constraints,
    )
    zkey = _cached_file(client, material.zkey, ".zkey")
    check_own_contribution(zkey, contributions_file)
    return ProvingKey(
        artifacts=artifacts,
        zkey=zkey,
        verification_key_path=_cached_file(client, material.vkey, ".vkey.json"),
    )


def step_rule(material: ProofMaterial) -> StepRule:
    """What the run's step count must fit for the round's proofs: whole proofs of the circuit's steps, at least
    the round's proof count of them (none without proofs, or before the round's key is prepared)."""
    if material.scheme == "none" or material.shape is None:
        return PLAIN_RUN
    return StepRule(material.shape.steps, material.shape.steps * (material.steps or 0))


def challenged_context(challenge: ProofChallenge) -> ProofContext:
    """The context the portal's challenge binds every proof to, chain parts included."""
    return ProofContext(challenge.context, challenge.round, challenge.sender, challenge.model_hash)


def prove(
    material: ProofMaterial, result: LocalResult, client: PortalClient, contributions_file: Path
) -> tuple[dict[str, Any], Head] | None:
    """The upload's proof bundle and the final head it proves; None for a round without proofs."""
    if material.scheme == "none":
        return None
    if material.scheme != "groth16":
        raise ValueError(
            f"this node does not support the proof scheme {material.scheme!r}: update the node software"
        )
    trace = result.head_trace
    if not trace:
        raise ValueError("the round asks for a proof of training but no head steps were recorded")
    if trace[0].lr_q != material.lr_q:
        raise ValueError(f"trained with lr_q {trace[0].lr_q}, the round's is {material.lr_q}")
    key = proving_key(material, client, contributions_file)
    check_trace(trace, key.artifacts.shape)
    commitment = commit_trace(trace, key.artifacts.shape.steps)
    challenge = client.commit_run(
        material.commit_url, commitment.tree.root, commitment.step_count, result.num_samples
    )
    segments = commitment.segment_count
    proofs = segments if material.every_step else min(material.steps, segments)
    # A bar on a terminal (dh-node run in a shell); nothing in a service's log.
    with tqdm(total=proofs, desc="proving head steps", unit="proof", disable=None) as bar:
        bundle = prove_steps(
            commitment,
            trace,
            challenged_context(challenge),
            material.steps,
            key,
            every_step=material.every_step,
            progress=lambda done, total: bar.update(1),
        )
    weight, bias = head_of(result.state)
    return bundle, Head(weight=weight.tolist(), bias=bias.tolist())
