"""Proof of training, portal side: what a submission's proof must show before the submission counts.

With the "groth16" scheme (settings.DH_PROOFS, stored on each round as Round.proof_scheme):
1. the round opens once its proving key is ready: the trusted setup made by its hospitals (proofs.services: a
   contribution by each hospital's own node, a beacon from a later chain block, the whole chain verified);
2. node_material tells each node the circuit shape, the learning rate, how many steps to prove, its round
   context (round id, hospital slug, base model digest and head hash) and where to download the key's files;
3. the node trains, commits to its run (the Merkle root of every head step, the step count S and the sample
   count n_h, S being what the plan implies for n_h) and receives a random challenge
   (rounds.services.collecting.commit_training_run): the steps to prove are derived from the root, S and the
   context with the challenge (which names S and n_h), so the node can neither re-draw its run nor choose S
   after the challenge until the checked steps miss the ones it faked;
4. it proves those steps and uploads the bundle beside its protected update; its final classifier head (16 x k
   + k integers) travels inside the encrypted upload, shared between the key parties (crypto.wellformed), or in
   the clear beside an update in the clear (protection "plaintext");
5. verify_submission checks the bundle against the round (crypto.zk.verify_training) before the submission is
   stored (with the plan's prove_every_step, every step's proof, chained from the global head to the final head): run starts at the published global head, ends at the head it commits to in its last leaf (the
   uploaded head, in the clear), each checked step is an exact SGD step with the round's learning rate, bound to
   this round, hospital and challenge, with the committed step count, and the upload's num_samples is the
   committed n_h (a bundle whose Merkle root was already submitted anywhere is refused by the caller); the
   head's commitment is stored with the submission;
6. at aggregation, under ckks the key parties hash each shared head in MPC and refuse (naming the hospital) one
   that is not the head its proof commits to, then open the exact sum_h n_h W_h (crypto.keyparty);
   proven_global_head divides it into the new global head. The update's own head part is never used, so a
   hospital whose encrypted update disagrees with its proof changes nothing and fails no one else.
What a proof shows and does not show: docs/PROOFS.md.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from crypto.zk import ProofError, verify_training
from crypto.zk.merkle import ZERO_ADDRESS, ProofContext
from crypto.zk.node import snarkjs
from crypto.zk.poseidon import FIELD_PRIME, head_values
from crypto.zk.training_proof import verify_published
from fl import fixed_head
from fl.training import StepRule, local_steps
from hospitals.models import Hospital
from proofs import ceremony
from protocol.node_task import CircuitShapeSpec, FileSpec, ProofMaterial
from registry.services import backfill_head_hash
from web.errors import InvalidInput, InvalidUpload, NotFound

if TYPE_CHECKING:
    from rounds.models import Participant, Round, Submission

SCHEMES = ("groth16", "none")
DEFAULT_STEPS = 4
MAX_BUNDLE_BYTES = 256_000  # 4 proofs take about 13 kB, 32 about 100 kB; verify_training parses it whole
# With every step proven, each step adds a proof (about 1.1 kB of JSON) and a leaf without path (about 0.2 kB).
BUNDLE_BYTES_PER_STEP = 1_600
VERIFIER_ROLE = "portal-verifier"  # one long-lived snarkjs process per portal process, apart from any prover


@dataclass(frozen=True)
class CheckedProof:
    status: str  # "verified" or "none"
    root: str | None  # the proven run's Merkle root
    head: dict[str, Any] | None  # the head uploaded in the clear (plaintext rounds), as stored
    head_commitment: str  # Poseidon of the head the run ends at (decimal), "" without proofs
    seconds: float


def head_is_shared(round_: Round) -> bool:
    """Whether the round's proven heads travel only inside the encrypted uploads, shared between the key
    parties (ckks with proofs), rather than in the clear beside a plaintext update."""
    return round_.proof_scheme != "none" and round_.protection == "ckks"


def head_size(round_: Round) -> int:
    """The number of values of a proven head (k x d weights, k biases); 0 for a round without proofs."""
    if round_.proof_scheme == "none":
        return 0
    shape = round_.proof_setup["shape"]
    return shape["classes"] * (shape["features"] + 1)


def proves_every_step(round_: Round) -> bool:
    return round_.proof_scheme != "none" and bool(round_.config.get("prove_every_step"))


def max_bundle_bytes(round_: Round, committed_steps: int) -> int:
    """The largest proof bundle the round takes from a run of committed_steps steps."""
    return MAX_BUNDLE_BYTES + (BUNDLE_BYTES_PER_STEP * committed_steps if proves_every_step(round_) else 0)


def check_scheme(name: str) -> str:
    if name not in SCHEMES:
        raise InvalidInput(f"Unknown proof scheme {name!r}; choose one of {', '.join(SCHEMES)}")
    return name


def check_round_plan(scheme: str, config: dict[str, Any]) -> None:
    """Refuses (400) a plan that asks for proofs its training configuration cannot give."""
    if check_scheme(scheme) == "groth16":
        ceremony.check_provable(config)


def round_context(round_: Round, hospital: Hospital) -> str:
    model = round_.base_model
    return (
        f"decentrahealth|round {round_.pk}|hospital {hospital.slug}|model {model.weights_digest}"
        f"|head {model.head_hash}"
    )


def challenged_context(round_: Round, participant: Participant) -> ProofContext:
    """The context every proof of this hospital in this round is bound to: fixed only after its commitment,
    and naming what the commitment fixed besides the root (step count S, sample count n_h). Its chain parts are
    the round, the hospital's chain address (the zero address before its node enrolled) and the base model's
    SHA-256, which the RoundRegistry contract checks each proof against."""
    return ProofContext(
        text=(
            f"{round_context(round_, participant.hospital)}|steps {participant.proof_steps}"
            f"|samples {participant.proof_samples}|challenge {participant.proof_challenge}"
        ),
        round_id=round_.pk,
        sender=participant.hospital.chain_address or ZERO_ADDRESS,
        model_hash=round_.base_model.weights_digest,
    )


def implied_steps(round_: Round, num_samples: int) -> int:
    """The head steps a run on num_samples samples takes under the round's plan (epochs x full batches, rounded
    up to whole proofs of the round's circuit, at least as many proofs as the round checks)."""
    config = round_.config
    steps_per_proof = ceremony.circuit_shape(round_).steps
    rule = StepRule(steps_per_proof, steps_per_proof * int(config["proof_steps"]))
    return local_steps(num_samples, int(config["local_epochs"]), int(config["batch_size"]), rule)


def check_committed_steps(round_: Round, num_steps: Any, num_samples: int) -> None:
    """A commitment's step count S must be what the plan implies for its n_h (refused with both figures)."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise InvalidUpload("num_steps must be the positive number of head steps of the committed run")
    expected = implied_steps(round_, num_samples)
    if num_steps != expected:
        steps_per_proof = ceremony.circuit_shape(round_).steps
        raise InvalidUpload(
            f"num_steps {num_steps} is not what the round plan implies for num_samples {num_samples} "
            f"({expected} = local_epochs x full batches, rounded up to proofs of {steps_per_proof} steps, at "
            f"least proof_steps of them)"
        )


def node_material(round_: Round, hospital: Hospital) -> ProofMaterial:
    if round_.proof_scheme == "none":
        return ProofMaterial(scheme="none")
    base = f"/api/node/rounds/{round_.pk}/proof"
    material = ProofMaterial(
        scheme=round_.proof_scheme,
        steps=int(round_.config["proof_steps"]),
        every_step=proves_every_step(round_),
        lr_q=fixed_head.quantise_lr(round_.config["head_lr"]),
        context=round_context(round_, hospital),
        commit_url=f"{base}/commitment/",
    )
    setup = round_.proof_setup
    if not setup:  # prepared when the round opens; nodes are sent to train only after that
        return material

    def file(kind: str) -> FileSpec:
        return FileSpec(sha256=setup[f"{kind}_sha256"], url=f"{base}/{kind}/")

    return replace(
        material,
        shape=CircuitShapeSpec.from_json(setup["shape"], "proof_setup.shape"),
        circuit_key=setup["circuit_key"],
        constraints=setup["constraints"],
        zkey=file("zkey"),
        wasm=file("wasm"),
        vkey=file("vkey"),
    )


def artifact_digest(round_: Round, kind: str) -> str:
    """The blob digest of one of the round's proving-key files (zkey, wasm, vkey)."""
    if kind not in ceremony.ARTIFACTS or not round_.proof_setup:
        raise NotFound(f"Round {round_.pk} has no proving-key file {kind!r}")
    return round_.proof_setup[f"{kind}_sha256"]


def parse_merkle_root(value: Any) -> str:
    """A node's commitment to its run, as the decimal field element it must be."""
    return str(_field_element(value, "merkle_root"))


def _field_element(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidUpload(f"{what} must be a decimal field element")
    try:
        number = int(value)
    except ValueError:
        raise InvalidUpload(f"{what} must be a decimal field element") from None
    if not 0 <= number < FIELD_PRIME:
        raise InvalidUpload(f"{what} is outside the BN254 scalar field")
    return number


def parse_head(head: Any, classes: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """The uploaded head {"weight": k x d integers, "bias": k integers} as int64 arrays, range-checked."""

    def integers(values: Any, length: int, what: str) -> list[int]:
        if not isinstance(values, list) or len(values) != length:
            raise InvalidUpload(f"head {what} must be a list of {length} integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise InvalidUpload(f"head {what} must hold integers (fixed point, scale 2^16)")
        if any(abs(v) >= fixed_head.WEIGHT_BOUND for v in values):
            raise InvalidUpload(f"head {what} has a value outside the provable range (|v| < 2^24)")
        return values

    if not isinstance(head, dict) or set(head) != {"weight", "bias"}:
        raise InvalidUpload('head must be {"weight": [[...]], "bias": [...]}')
    rows = head["weight"]
    if not isinstance(rows, list) or len(rows) != classes:
        raise InvalidUpload(f"head weight must have {classes} rows")
    weight = [integers(row, features, f"weight row {i}") for i, row in enumerate(rows)]
    bias = integers(head["bias"], classes, "bias")
    return np.array(weight, dtype=np.int64), np.array(bias, dtype=np.int64)


def verify_submission(
    round_: Round, participant: Participant, proof: dict[str, Any] | None, head: Any, num_samples: int
) -> CheckedProof:
    """Checks the upload's proof and head against the round; raises InvalidUpload with the reason."""
    if round_.proof_scheme == "none":
        if proof is not None or head is not None:
            raise InvalidUpload("This round takes no proof of training (and no head)")
        return CheckedProof("none", None, None, "", 0.0)
    started = time.perf_counter()
    shared = head_is_shared(round_)
    if shared and head is not None:
        raise InvalidUpload(
            "This round keeps every hospital's head encrypted: it travels inside the encrypted update, shared "
            "between the key parties, never in the clear (upload no 'head'; update the node software)"
        )
    if proof is None or (head is None and not shared):
        raise InvalidUpload(
            "This round requires a proof of training: upload 'proof' (the bundle) and 'head' (the final head)"
        )
    limit = max_bundle_bytes(round_, participant.proof_steps or 0)
    if len(json.dumps(proof)) > limit:
        raise InvalidUpload(f"The proof bundle exceeds {limit} bytes")
    shape = round_.proof_setup["shape"]
    final_head = None if shared else parse_head(head, shape["classes"], shape["features"])
    if not participant.proof_root:
        raise InvalidUpload(
            "Commit to the training run before uploading its proof (POST the Merkle root to the round's "
            "proof commitment endpoint)"
        )
    if str(proof.get("merkle_root")) != participant.proof_root:
        raise InvalidUpload(
            "Proof of training refused: its Merkle root is not the run this hospital committed to in this round"
        )
    if proof.get("step_count") != participant.proof_steps:
        raise InvalidUpload(
            f"Proof of training refused: its step count {proof.get('step_count')!r} is not the "
            f"{participant.proof_steps} steps this hospital committed to with its run"
        )
    if num_samples != participant.proof_samples:  # the caller checks it first; kept here for any other caller
        raise InvalidUpload(
            f"num_samples {num_samples} is not the {participant.proof_samples} this hospital committed to"
        )
    config = round_.config
    try:
        commitment = verify_training(
            proof,
            challenged_context(round_, participant),
            round_.proof_setup["vkey"],
            backfill_head_hash(round_.base_model),
            final_head,
            fixed_head.quantise_lr(config["head_lr"]),
            int(config["proof_steps"]),
            steps_per_proof=int(shape["steps"]),
            expected_steps=participant.proof_steps,
            every_step=proves_every_step(round_),
            process=snarkjs(VERIFIER_ROLE),
        )
    except ProofError as exc:
        raise InvalidUpload(f"Proof of training refused: {exc.reason}") from None
    stored_head = (
        None if final_head is None else {"weight": final_head[0].tolist(), "bias": final_head[1].tolist()}
    )
    return CheckedProof(
        "verified", participant.proof_root, stored_head, str(commitment), time.perf_counter() - started
    )


def proven_global_head(
    round_: Round, submissions: list[Submission], weighted_heads: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The next global head, exactly floor(sum n_h * W_h / sum n_h) over the proven heads W_h; None for a round
    without proofs. `weighted_heads`: sum n_h W_h as the key parties opened it (head_is_shared), or None to
    compute it from the heads uploaded in the clear."""
    if round_.proof_scheme == "none":
        return None
    shape = round_.proof_setup["shape"]
    classes, features = shape["classes"], shape["features"]
    total = sum(s.num_samples for s in submissions)
    if weighted_heads is None:
        # Python integers: n_h * W_h summed over hospitals may pass 2^63 for large hospitals.
        weighted = sum(
            s.num_samples * np.array(head_values(s.head["weight"], s.head["bias"]), dtype=object)
            for s in submissions
        )
    else:
        weighted = np.asarray(weighted_heads).astype(object)
    if len(weighted) != classes * (features + 1):
        raise ValueError(
            f"the heads' weighted sum has {len(weighted)} values, not {classes * (features + 1)}"
        )
    weight = (weighted[: classes * features] // total).reshape(classes, features)
    return weight.astype(np.int64), (weighted[classes * features :] // total).astype(np.int64)


def published_proof(submission: Submission) -> dict[str, Any]:
    """Everything anyone needs to re-verify a submission's proof of training without the portal's database
    (crypto.zk.training_proof.verify_published): the bundle with every proof made, and the round's terms."""
    round_ = submission.round
    participant = round_.participants.select_related("hospital").get(hospital=submission.hospital)
    context = challenged_context(round_, participant)
    return {
        "round": round_.pk,
        "hospital": submission.hospital.slug,
        "bundle": submission.proof,
        "context": {
            "text": context.text,
            "round_id": context.round_id,
            "sender": context.sender,
            "model_hash": context.model_hash,
        },
        "vkey": round_.proof_setup["vkey"],
        "initial_head_hash": str(backfill_head_hash(round_.base_model)),
        "lr_q": fixed_head.quantise_lr(round_.config["head_lr"]),
        "proof_steps": int(round_.config["proof_steps"]),
        "steps_per_proof": int(round_.proof_setup["shape"]["steps"]),
        "steps": participant.proof_steps,
        "every_step": proves_every_step(round_),
        "head_commitment": submission.head_commitment,
    }


def published_proofs(round_: Round) -> list[dict[str, Any]]:
    """published_proof of each proven submission of the round, by hospital."""
    return [
        published_proof(submission)
        for submission in round_.submissions.select_related("hospital").order_by("hospital__slug")
        if submission.proof
    ]


def reverify_round(round_: Round) -> list[dict[str, Any]]:
    """Each proven submission of the round re-verified from its published record: {"hospital", "verified",
    "proofs", "reason"}."""
    results = []
    for record in published_proofs(round_):
        try:
            verify_published(record, process=snarkjs(VERIFIER_ROLE))
            outcome = {"verified": True, "reason": ""}
        except ProofError as exc:
            outcome = {"verified": False, "reason": exc.reason}
        results.append(
            {"hospital": record["hospital"], "proofs": len(record["bundle"].get("proofs", [])), **outcome}
        )
    return results
