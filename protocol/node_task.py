"""The round task the portal serves to a hospital node (GET /api/node/rounds/<id>/) and the proof commitment.

The portal builds a NodeTask from these dataclasses and the node parses it with NodeTask.from_json, so both
sides agree on every field by construction; the portal's OpenAPI schema is generated from them too
(rounds.serializers). A node refuses a task whose `version` it does not speak, telling its admin to update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from protocol.codec import PROTOCOL_VERSION, Message, ProtocolError

PROTECTION_SCHEMES = ("ckks", "plaintext")
PROOF_SCHEMES = ("groth16", "none")
SIGNERS = ("portal", "node")


@dataclass(frozen=True)
class ArchitectureRef(Message):
    """The architecture the round trains: the node builds it itself and checks the weights fit it."""

    key: str
    num_classes: int
    hash: str


@dataclass(frozen=True)
class ModelRef(Message):
    """The global model the round starts from; the node downloads its weights from `weights_url`."""

    id: int
    version: int
    digest: str  # SHA-256 of the weights
    head_hash: str  # Poseidon hash of the fixed-point head the proofs start from ("" before one was computed)
    weights_url: str


@dataclass(frozen=True)
class RoundConfig(Message):
    """The round's training configuration exactly as planned (and hashed on chain by protocol.plan)."""

    loss: str
    optimiser: str
    lr: float
    head_lr: float
    local_epochs: int
    batch_size: int
    fedprox_mu: float
    proof_steps: int  # how many head steps each hospital proves
    augment: str = "none"  # plans made before these two were choices trained this way
    sampling: str = "proportional"
    prove_every_step: bool = False  # every head step proven (proof_steps of them then sampled for the chain)


@dataclass(frozen=True)
class ProtectionMaterial(Message):
    """How the node protects its update: "plaintext", or "ckks" under the key committee's joint public key."""

    scheme: str
    key_id: str | None = None  # ckks: the joint key's id, checked against the downloaded public context
    public_context_url: str | None = None  # ckks: where to download the public context
    # ckks: the key parties' witness keys (hex X25519, in party order), to seal each its share of the encryption
    # randomness to (crypto.wellformed); they come from the parties' contributions, like the joint key.
    witness_keys: list[str] | None = None
    # The plan's update_norm_bound on ||n_h * delta_h||: the node refuses to upload an update above it (the portal
    # would refuse it under plaintext, the key parties under ckks).
    norm_bound: float | None = None
    # ckks: the key ceremony's public record (crypto.keygen), for a node that pinned a key party's commitment and
    # recomputes the joint key and the witness keys itself (node.protecting).
    contributions_url: str | None = None
    # ckks with differential privacy: the std of the noise the key parties add to the opened sum. The node clips
    # its update to norm_bound (the noise's sensitivity) instead of refusing it, and signs this std.
    dp_noise_std: float = 0.0

    def __post_init__(self) -> None:
        if self.scheme == "ckks":
            for name in ("key_id", "public_context_url", "witness_keys", "norm_bound"):
                if getattr(self, name) is None:
                    raise ProtocolError(name, "is required by the ckks scheme")


@dataclass(frozen=True)
class FileSpec(Message):
    """A proving-key file: downloaded from `url` once, refused unless its SHA-256 is `sha256`."""

    sha256: str
    url: str


@dataclass(frozen=True)
class CircuitShapeSpec(Message):
    """The training-step circuit's shape: head input width, classes, samples per step, steps per proof."""

    features: int
    classes: int
    batch: int
    steps: int


@dataclass(frozen=True)
class ProofMaterial(Message):
    """What the node needs to prove its training ("groth16") or nothing ("none"). The proving key's fields
    (shape to vkey) come together, once the round's key is prepared when it opens."""

    scheme: str
    steps: int | None = None  # how many proofs the node makes (with every_step: the chain sample's size)
    every_step: bool = False  # prove every head step of the run
    lr_q: int | None = None  # the head's learning rate in fixed point (scale 2^16)
    context: str | None = (
        None  # round, hospital and base model the proofs are bound to (before the challenge)
    )
    commit_url: str | None = None  # where the node commits to its run (ProofCommitment -> ProofChallenge)
    shape: CircuitShapeSpec | None = None
    circuit_key: str | None = None
    constraints: int | None = None
    zkey: FileSpec | None = None
    wasm: FileSpec | None = None
    vkey: FileSpec | None = None

    KEY_FIELDS: ClassVar[tuple[str, ...]] = ("shape", "circuit_key", "constraints", "zkey", "wasm", "vkey")

    def __post_init__(self) -> None:
        if self.scheme == "groth16":
            for name in ("steps", "lr_q", "context", "commit_url"):
                if getattr(self, name) is None:
                    raise ProtocolError(name, "is required by the groth16 scheme")
        given = [name for name in self.KEY_FIELDS if getattr(self, name) is not None]
        if given and len(given) < len(self.KEY_FIELDS):
            missing = next(name for name in self.KEY_FIELDS if name not in given)
            raise ProtocolError(missing, f"is missing while {', '.join(given)} are given")

    @property
    def key_ready(self) -> bool:
        """Whether the round's proving key is prepared (its files can be downloaded)."""
        return self.shape is not None


@dataclass(frozen=True)
class ChainMaterial(Message):
    """Where the round is on chain and who signs this hospital's submission ("portal" on the local dev chain,
    else "node", with the hospital's own key, whose address must be `address`)."""

    chain_id: int
    contract: str
    round: int  # the round's id in the registry contract
    address: str
    signer: str


@dataclass(frozen=True)
class NodeTask(Message):
    """Everything a hospital node needs for its part of a round."""

    version: int = field(default=PROTOCOL_VERSION, kw_only=True)
    round: int
    state: str
    submitted: bool  # this hospital's update is already in: nothing to do
    architecture: ArchitectureRef
    model: ModelRef
    config: RoundConfig
    protection: ProtectionMaterial
    proof: ProofMaterial
    chain: ChainMaterial | None  # None when the round is not on chain

    versioned: ClassVar[bool] = True


@dataclass(frozen=True)
class ProofCommitment(Message):
    """The node's commitment to its whole run before proving: the Merkle root of its head steps (decimal), how
    many head steps the run has (S) and how many training samples it used (n_h, the weight of its update).
    All three are fixed before the challenge: the steps to prove are derived from the root, S and the
    challenged context, so a node that could still choose S after the challenge could grind S until the
    derived steps miss a faked one; the upload's num_samples must be n_h and the proof's step count S."""

    merkle_root: str
    num_steps: int
    num_samples: int


@dataclass(frozen=True)
class ProofChallenge(Message):
    """The portal's answer to a commitment: its random challenge and the context every proof is bound to
    (crypto.zk ProofContext: the text, and the round, the hospital's chain address and the model's SHA-256 that
    the chain's registry checks each proof's context signal against)."""

    challenge: str
    context: str
    round: int
    sender: str
    model_hash: str
