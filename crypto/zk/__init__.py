"""Proof of training for the classifier head: Poseidon commitments, Merkle spot-checks, Groth16 via snarkjs.

artifacts = build_circuit()                         # circuits/head_step.circom, cached
ceremony = Ceremony(artifacts, ptau)                # phase 2 on one machine (tests, benches, the dev key)
ceremony.contribute("hospital-a")
key = ceremony.finalize(beacon_hex)                 # ProvingKey: zkey + verification key
# A ceremony whose hospitals contribute on their own machines: crypto.zk.phase2 (setup_zkey, contribute,
# verify_chain, apply_beacon); the ptau's and zkeys' contributions: crypto.zk.ptau.
bundle = prove_training(trace, context, n_proofs, key)
verify_training(bundle, context, key.verification_key(), head_hash(W0, b0), (W, b), lr_q, n_proofs,
                steps_per_proof=key.artifacts.shape.steps)
"""

from crypto.zk.build import (
    DEFAULT_SHAPE,
    PUBLIC_SIGNALS,
    Ceremony,
    CircuitArtifacts,
    CircuitShape,
    ProvingKey,
    build_circuit,
    export_solidity_verifier,
)
from crypto.zk.merkle import context_field, derive_indices
from crypto.zk.poseidon import batch_hash, head_hash, poseidon
from crypto.zk.training_proof import ProofError, commit_trace, prove_training, verify_training

__all__ = [
    "DEFAULT_SHAPE",
    "PUBLIC_SIGNALS",
    "Ceremony",
    "CircuitArtifacts",
    "CircuitShape",
    "ProofError",
    "ProvingKey",
    "batch_hash",
    "build_circuit",
    "commit_trace",
    "context_field",
    "derive_indices",
    "export_solidity_verifier",
    "head_hash",
    "poseidon",
    "prove_training",
    "verify_training",
]
