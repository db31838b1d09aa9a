"""A round collects updates: it opens (proving key, chain), nodes commit to their runs and upload."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from committee import protection
from hospitals.models import Hospital
from ledger import services as ledger
from ledger.connection import ChainRefused
from ledger.connection import enabled as chain_enabled
from proofs import ceremony
from proofs import services as proof_setup
from proofs import verification as proofs
from protocol import signing
from protocol.node_task import ProofChallenge
from registry import blobstore
from rounds import dispatch, locks, selectors
from rounds import metrics as portal_metrics  # `metrics` is the submission's own (a parameter)
from rounds.models import Participant, Round, Submission
from rounds.services.lifecycle import add_stage_seconds, fail_round, locked_state, record, transition
from web.errors import Conflict, InvalidUpload, NotFound, PermissionDenied, UploadTooLarge

S = Round.State


def open_round(round_id: int) -> None:
    """APPROVED -> OPEN -> COLLECTING, where the participating hospitals' nodes find it. Idempotent, and one
    run at a time (a duplicate run while another holds the round leaves)."""
    with locks.round_step("open", round_id) as held:
        if held:
            _open_round(round_id)


def _open_round(round_id: int) -> None:
    round_ = Round.objects.get(pk=round_id)
    if round_.state == S.APPROVED:
        transition(round_, S.OPEN, "portal")
    elif round_.state != S.OPEN:  # OPEN: a retry after the chain did not answer
        return
    if round_.proof_scheme != "none" and not round_.proof_setup:
        # The trusted setup of the round's circuit, made by its participating hospitals (proofs.services): until
        # it is ready this raises CeremonyWaiting, the round stays OPEN and the task tries again later.
        started = time.perf_counter()
        hospitals = [participant.hospital for participant in selectors.active_participants(round_)]
        try:
            round_.proof_setup = proof_setup.round_proving_key(
                round_.pk, ceremony.circuit_shape(round_), hospitals
            )
        except ceremony.CeremonyError as exc:
            fail_round(round_, f"proof of training: {exc}")
            return
        finally:
            add_stage_seconds(round_, "zk_setup", time.perf_counter() - started)
        round_.save(update_fields=["proof_setup", "updated_at"])
    try:
        ledger.record_open(round_)
    except ChainRefused as exc:
        fail_round(round_, f"chain: opening the round was refused: {exc}")
        return
    # The participants' nodes find the round in their work (GET /api/node/work/) and pull their task.
    transition(round_, S.COLLECTING, "portal")


def record_task_fetched(round_: Round, hospital: Hospital) -> None:
    """The hospital's node fetched its task while the round collects: from now on it is training."""
    if round_.state == S.COLLECTING:
        Participant.objects.filter(round=round_, hospital=hospital, task_fetched_at=None).update(
            task_fetched_at=timezone.now()
        )


def commit_training_run(
    round_: Round, hospital: Hospital, merkle_root: Any, num_steps: int, num_samples: int
) -> ProofChallenge:
    """Records the node's commitment to its run (Merkle root, step count S, sample count n_h) and returns the
    portal's challenge and the resulting context, which names S and n_h. A node commits once per round;
    repeating the same commitment returns the same challenge (a retried request), another one is refused."""
    if round_.proof_scheme == "none":
        raise Conflict(f"Round {round_.pk} takes no proof of training")
    if round_.state != S.COLLECTING:
        raise Conflict(f"Round {round_.pk} is {round_.state}, not COLLECTING: no commitments are accepted")
    root = proofs.parse_merkle_root(merkle_root)
    check_sample_count(round_, num_samples)
    proofs.check_committed_steps(round_, num_steps, num_samples)
    with transaction.atomic():
        participant = Participant.objects.select_for_update().filter(round=round_, hospital=hospital).first()
        if participant is None:
            raise PermissionDenied(f"{hospital.name} is not a participant of round {round_.pk}")
        if participant.opted_out:
            raise Conflict(f"{hospital.name} opted out of round {round_.pk}")
        committed = (participant.proof_root, participant.proof_steps, participant.proof_samples)
        if participant.proof_root and committed != (root, num_steps, num_samples):
            raise Conflict(
                f"{hospital.name} already committed to another training run in round {round_.pk} (root, step "
                "count and sample count are fixed together): a node commits once per round"
            )
        if Submission.objects.filter(proof_root=root).exists():
            raise InvalidUpload("This training run was already submitted: a proof counts once")
        if not participant.proof_root:
            participant.proof_root, participant.proof_challenge = root, secrets.token_hex(32)
            participant.proof_steps, participant.proof_samples = num_steps, num_samples
            participant.save(update_fields=["proof_root", "proof_challenge", "proof_steps", "proof_samples"])
            record(
                round_,
                hospital.slug,
                "proof_commitment",
                {"hospital": hospital.slug, "steps": num_steps, "samples": num_samples},
            )
    context = proofs.challenged_context(round_, participant)
    return ProofChallenge(
        challenge=participant.proof_challenge,
        context=context.text,
        round=context.round_id,
        sender=context.sender,
        model_hash=context.model_hash,
    )


def check_sample_count(round_: Round, num_samples: int) -> None:
    """n_h weighs the hospital's update in the average: the plan caps it (Round.max_samples)."""
    if num_samples < 1:
        raise InvalidUpload("num_samples must be a positive number of training samples")
    if num_samples > round_.max_samples:
        raise InvalidUpload(
            f"num_samples {num_samples} exceeds the round plan's max_samples {round_.max_samples} per hospital"
        )


def check_signature(hospital: Hospital, round_: Round, digest: str, num_samples: int, signature: str) -> None:
    """Refuses an upload not signed with the hospital's enrolled signing key. Before enrollment a hospital has
    none: its uploads are taken unsigned only in plaintext rounds, since the key parties open only signed ones."""
    round_id = round_.pk
    if not hospital.signing_address:
        if round_.protection == "ckks":
            raise InvalidUpload(
                f"{hospital.name} has no enrolled node: an encrypted round's update must be signed by the "
                "hospital's own node (enroll it with `dh-node enroll`), since the key parties open only signed "
                "uploads"
            )
        return
    if not signature:
        raise InvalidUpload(
            f"{hospital.name}'s node enrolled a signing key: the upload must carry its signature (update the node)"
        )
    statement = signing.upload_statement(
        round_id, digest, num_samples, round_.update_norm_bound, round_.dp_noise_std
    )
    signer = signing.signer_of(statement, signature)
    if signer is None or signer.lower() != hospital.signing_address.lower():
        raise InvalidUpload(
            f"The upload's signature is not {hospital.name}'s: it must sign round {round_id}, this update's "
            "SHA-256, its num_samples and the plan's update_norm_bound with the signing key its node enrolled"
        )


def submit_update(
    hospital: Hospital,
    round_id: int,
    chunks: Iterable[bytes],
    num_samples: int,
    metrics: dict[str, Any],
    proof: dict[str, Any] | None,
    head: dict[str, Any] | None = None,
    signature: str = "",
) -> Submission:
    """Checks and stores one hospital's update; anything wrong is refused and nothing stored changes. From a
    hospital whose node enrolled, the upload must carry the node's signature (protocol.signing)."""
    started = time.perf_counter()
    round_ = Round.objects.select_related("base_model__architecture").filter(pk=round_id).first()
    if round_ is None:
        raise NotFound(f"Round {round_id} does not exist")
    participant = (
        Participant.objects.select_related("hospital").filter(round=round_, hospital=hospital).first()
    )
    if participant is None:
        raise PermissionDenied(f"{hospital.name} is not a participant of round {round_id}")
    if participant.opted_out:
        raise Conflict(f"{hospital.name} opted out of round {round_id}")
    if round_.state != S.COLLECTING:
        raise Conflict(f"Round {round_id} is {round_.state}, not COLLECTING: no submissions are accepted")
    if Submission.objects.filter(round=round_, hospital=hospital).exists():
        raise Conflict(f"{hospital.name} has already submitted to round {round_id}")
    check_sample_count(round_, num_samples)
    if participant.proof_samples is not None and num_samples != participant.proof_samples:
        raise InvalidUpload(
            f"num_samples {num_samples} is not the {participant.proof_samples} this hospital committed to with "
            "its training run (n_h is fixed before the challenge)"
        )
    if participant.proof_root and Submission.objects.filter(proof_root=participant.proof_root).exists():
        raise InvalidUpload(
            "Proof of training refused: this proof was already submitted (a proof counts once)"
        )
    parameter_count = round_.base_model.architecture.parameter_count
    scheme = protection.get(round_.protection)
    needed = scheme.upload_bytes(parameter_count)
    limit = min(needed, settings.DH_MAX_UPLOAD_BYTES)
    try:
        digest, size = blobstore.put_chunks(chunks, limit)
    except UploadTooLarge:
        why = (
            f"a {scheme.name} update of {parameter_count} parameters takes at most that"
            if limit == needed
            else "the portal's DH_MAX_UPLOAD_BYTES"
        )
        raise UploadTooLarge(
            f"Upload exceeds the limit of {limit} bytes for round {round_id} ({why})"
        ) from None
    check_signature(hospital, round_, digest, num_samples, signature)
    scheme.check(
        round_.committee,
        blobstore.read_bytes(digest),
        parameter_count,
        norm_bound=round_.update_norm_bound,
    )
    checked = proofs.verify_submission(round_, participant, proof, head, num_samples)
    try:
        with transaction.atomic():
            # Checked again under the round's row lock: a round that stopped collecting meanwhile (deadline,
            # aggregation) refuses, rather than storing a submission its aggregation has not counted.
            state = locked_state(round_.pk)
            if state != S.COLLECTING:
                raise Conflict(f"Round {round_id} is {state}, not COLLECTING: no submissions are accepted")
            submission = Submission.objects.create(
                round=round_,
                hospital=hospital,
                blob_digest=digest,
                blob_size=size,
                num_samples=num_samples,
                metrics=metrics,
                proof=proof,
                proof_status=checked.status,
                proof_root=checked.root,
                head=checked.head,
                head_commitment=checked.head_commitment,
                signature=signature,
            )
            record(
                round_,
                hospital.slug,
                "submission",
                {"hospital": hospital.slug, "bytes": size, "proof": checked.status},
            )
    except IntegrityError:
        raise Conflict(f"{hospital.name} has already submitted to round {round_id}") from None
    portal_metrics.count_upload(size)
    add_stage_seconds(round_, "upload_checks", time.perf_counter() - started)
    if checked.seconds:
        add_stage_seconds(round_, "zk_verify", checked.seconds)
    if chain_enabled():
        dispatch.after_commit(dispatch.RECORD_SUBMISSION_ON_CHAIN, submission.pk, round_.pk)
    if selectors.all_active_submitted(round_):
        dispatch.after_commit(dispatch.AGGREGATE_ROUND, round_.pk)
    return submission
