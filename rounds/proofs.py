"""Proof of training, portal side: what a submission's proof must show before the submission counts.

With the "groth16" scheme (settings.DH_PROOFS, stored on each round as Round.proof_scheme):
1. the round opens: rounds.ceremony prepares its proving key (a contribution per hospital, then a beacon);
2. node_material tells each node the circuit shape, the learning rate, how many steps to prove, its round
   context (round id, hospital slug, base model digest and head hash) and where to download the key's files;
3. the node trains, commits to its run (the Merkle root of every head step) and receives a random challenge
   (commit): the steps to prove are derived from the root and the context with the challenge, so the node cannot
   re-draw its run until the checked steps miss the ones it faked;
4. it proves those steps and uploads the bundle with its final classifier head in the clear (16 x k + k
   integers) beside its protected update;
5. verify_submission checks the bundle against the round (crypto.zk.verify_training) before the submission is
   stored: run starts at the published global head, ends at the uploaded head, each checked step is an exact
   SGD step with the round's learning rate, bound to this round, hospital and challenge, with the step count
   the round implies; a bundle whose Merkle root was already submitted anywhere is refused;
6. at aggregation, proven_global_head checks that the opened sum's head part equals the proven heads' and
   computes the new global head exactly from them.
What a proof shows and does not show: docs/PROOFS.md.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction

from crypto.zk import ProofError, head_hash, verify_training
from crypto.zk.node import snarkjs
from crypto.zk.poseidon import FIELD_PRIME
from dhportal.errors import Conflict, InvalidUpload, NotFound, PermissionDenied
from fl import fixed_head
from fl.models import HEAD_BIAS, HEAD_WEIGHT
from fl.params import parameter_slice
from fl.training import head_of
from hospitals.models import Hospital
from rounds import ceremony, federated
from rounds.models import ModelArchitecture, Participant, Round, Submission

SCHEMES = ("groth16", "none")
DEFAULT_STEPS = 4
MAX_BUNDLE_BYTES = 256_000  # 4 proofs take about 13 kB, 32 about 100 kB; verify_training parses it whole
# The opened sum is CKKS-decrypted: its head part may differ from the exact proven heads by this much.
HEAD_SUM_TOLERANCE = 1e-3
VERIFIER_ROLE = "portal-verifier"  # one long-lived snarkjs process per portal process, apart from any prover


class HeadMismatch(Exception):
    """The opened sum of updates does not agree with the hospitals' proven heads."""


@dataclass(frozen=True)
class CheckedProof:
    status: str  # "verified" or "none"
    root: str | None  # the proven run's Merkle root
    head: dict[str, Any] | None  # the uploaded head as stored
    seconds: float


def check_scheme(name: str) -> str:
    if name not in SCHEMES:
        raise InvalidUpload(f"Unknown proof scheme {name!r}; choose one of {', '.join(SCHEMES)}")
    return name


def check_round_plan(scheme: str, config: dict[str, Any]) -> None:
    """Refuses (400) a plan that asks for proofs its training configuration cannot give."""
    if check_scheme(scheme) == "groth16":
        ceremony.check_provable(config)


def head_hash_of(architecture: ModelArchitecture, vector: np.ndarray) -> str:
    """Poseidon hash of the model's quantised head: what the first step of every proof must start from."""
    return str(head_hash(*head_of(federated.state_of(architecture, vector))))


def round_context(round_: Round, hospital: Hospital) -> str:
    model = round_.base_model
    return (
        f"decentrahealth|round {round_.pk}|hospital {hospital.slug}|model {model.weights_digest}"
        f"|head {model.head_hash}"
    )


def challenged_context(round_: Round, hospital: Hospital, challenge: str) -> str:
    """The context every proof of this hospital in this round is bound to: fixed only after its commitment."""
    return f"{round_context(round_, hospital)}|challenge {challenge}"


def node_material(round_: Round, hospital: Hospital) -> dict[str, Any]:
    if round_.proof_scheme == "none":
        return {"scheme": "none"}
    base = f"/api/node/rounds/{round_.pk}/proof"
    material: dict[str, Any] = {
        "scheme": round_.proof_scheme,
        "steps": int(round_.config["proof_steps"]),
        "lr_q": fixed_head.quantise_lr(round_.config["head_lr"]),
        "context": round_context(round_, hospital),
        "commit_url": f"{base}/commitment/",
    }
    setup = round_.proof_setup
    if setup:  # prepared when the round opens; nodes are sent to train only after that
        material["shape"] = setup["shape"]
        material["circuit_key"] = setup["circuit_key"]
        material["constraints"] = setup["constraints"]
        for kind in ceremony.ARTIFACTS:
            material[kind] = {"sha256": setup[f"{kind}_sha256"], "url": f"{base}/{kind}/"}
    return material


def artifact_digest(round_: Round, kind: str) -> str:
    """The blob digest of one of the round's proving-key files (zkey, wasm, vkey)."""
    if kind not in ceremony.ARTIFACTS or not round_.proof_setup:
        raise NotFound(f"Round {round_.pk} has no proving-key file {kind!r}")
    return round_.proof_setup[f"{kind}_sha256"]


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


def commit(round_: Round, hospital: Hospital, merkle_root: Any) -> dict[str, str]:
    """Records the node's commitment to its run and returns the portal's challenge and the resulting context.
    A node commits once per round; repeating the same root returns the same challenge (a retried request)."""
    from rounds import services  # services import this module

    if round_.proof_scheme == "none":
        raise Conflict(f"Round {round_.pk} takes no proof of training")
    if round_.state != Round.State.COLLECTING:
        raise Conflict(f"Round {round_.pk} is {round_.state}, not COLLECTING: no commitments are accepted")
    root = str(_field_element(merkle_root, "merkle_root"))
    with transaction.atomic():
        participant = Participant.objects.select_for_update().filter(round=round_, hospital=hospital).first()
        if participant is None:
            raise PermissionDenied(f"{hospital.name} is not a participant of round {round_.pk}")
        if participant.opted_out:
            raise Conflict(f"{hospital.name} opted out of round {round_.pk}")
        if participant.proof_root and participant.proof_root != root:
            raise Conflict(
                f"{hospital.name} already committed to another training run in round {round_.pk}: a node "
                "commits once per round"
            )
        if Submission.objects.filter(proof_root=root).exists():
            raise InvalidUpload("This training run was already submitted: a proof counts once")
        if not participant.proof_root:
            participant.proof_root, participant.proof_challenge = root, secrets.token_hex(32)
            participant.save(update_fields=["proof_root", "proof_challenge"])
            services.record_event(round_, hospital.slug, "proof_commitment", {"hospital": hospital.slug})
    return {
        "challenge": participant.proof_challenge,
        "context": challenged_context(round_, hospital, participant.proof_challenge),
    }


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


def base_head_hash(round_: Round) -> str:
    model = round_.base_model
    if not model.head_hash:  # a model stored before head hashes were kept
        from rounds.models_store import load_weights

        model.head_hash = head_hash_of(model.architecture, load_weights(model))
        model.save(update_fields=["head_hash"])
    return model.head_hash


def verify_submission(
    round_: Round, hospital: Hospital, proof: dict[str, Any] | None, head: Any, num_samples: int
) -> CheckedProof:
    """Checks the upload's proof and head against the round; raises InvalidUpload with the reason."""
    if round_.proof_scheme == "none":
        if proof is not None or head is not None:
            raise InvalidUpload("This round takes no proof of training (and no head)")
        return CheckedProof("none", None, None, 0.0)
    started = time.perf_counter()
    if proof is None or head is None:
        raise InvalidUpload(
            "This round requires a proof of training: upload 'proof' (the bundle) and 'head' (the final head)"
        )
    if len(json.dumps(proof)) > MAX_BUNDLE_BYTES:
        raise InvalidUpload(f"The proof bundle exceeds {MAX_BUNDLE_BYTES} bytes")
    shape = round_.proof_setup["shape"]
    weight, bias = parse_head(head, shape["classes"], shape["features"])
    participant = Participant.objects.get(round=round_, hospital=hospital)
    if not participant.proof_root:
        raise InvalidUpload(
            "Commit to the training run before uploading its proof (POST the Merkle root to the round's "
            "proof commitment endpoint)"
        )
    if str(proof.get("merkle_root")) != participant.proof_root:
        raise InvalidUpload(
            "Proof of training refused: its Merkle root is not the run this hospital committed to in this round"
        )
    if Submission.objects.filter(proof_root=participant.proof_root).exists():
        raise InvalidUpload(
            "Proof of training refused: this proof was already submitted (a proof counts once)"
        )
    config = round_.config
    try:
        verify_training(
            proof,
            challenged_context(round_, hospital, participant.proof_challenge),
            round_.proof_setup["vkey"],
            base_head_hash(round_),
            (weight, bias),
            fixed_head.quantise_lr(config["head_lr"]),
            int(config["proof_steps"]),
            expected_steps=int(config["local_epochs"]) * (num_samples // int(config["batch_size"])),
            process=snarkjs(VERIFIER_ROLE),
        )
    except ProofError as exc:
        raise InvalidUpload(f"Proof of training refused: {exc.reason}") from None
    stored_head = {"weight": weight.tolist(), "bias": bias.tolist()}
    return CheckedProof("verified", participant.proof_root, stored_head, time.perf_counter() - started)


def proven_global_head(
    round_: Round, submissions: list[Submission], base_vector: np.ndarray, weighted_sum: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The next global head, exactly floor(sum n_h * W_h / sum n_h) over the proven heads W_h, after checking
    that the opened sum's head part is sum n_h * (W_h - W_global) (raises HeadMismatch otherwise). None for a
    round without proofs."""
    if round_.proof_scheme == "none":
        return None
    architecture = round_.base_model.architecture
    template = federated.template_state(architecture)
    base_weight, base_bias = head_of(federated.state_of(architecture, base_vector))
    total = sum(s.num_samples for s in submissions)
    heads = [(s.num_samples, np.array(s.head["weight"]), np.array(s.head["bias"])) for s in submissions]
    # Python integers: n_h * W_h summed over hospitals may pass 2^63 for large hospitals.
    weighted_weight = sum(n * w.astype(object) for n, w, _ in heads)
    weighted_bias = sum(n * b.astype(object) for n, _, b in heads)
    for name, weighted, base in (
        (HEAD_WEIGHT, weighted_weight, base_weight),
        (HEAD_BIAS, weighted_bias, base_bias),
    ):
        expected = fixed_head.dequantise((weighted - total * base.astype(object)).astype(np.float64)).ravel()
        opened = np.asarray(weighted_sum)[parameter_slice(template, name)]
        difference = float(np.abs(opened - expected).max())
        if difference > HEAD_SUM_TOLERANCE:
            raise HeadMismatch(
                f"an encrypted update does not match its proven head ({name} of the summed updates differs "
                f"from the proven heads' by {difference:.3g})"
            )
    return (weighted_weight // total).astype(np.int64), (weighted_bias // total).astype(np.int64)
