"""Writes of rounds: planning, the state machine, submissions and aggregation. Views and tasks call these."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from dhportal.errors import Conflict, InvalidUpload, NotFound, PermissionDenied
from fl import models as fl_models
from fl import params as fl_params
from fl.fedavg import round_head_to_fixed_point
from fl.serialization import weights_to_bytes
from fl.training import TrainConfig
from hospitals.models import Hospital, User
from hospitals.services import require_coordinator, require_hospital_manager
from rounds import (
    blobstore,
    ceremony,
    chain,
    committee,
    evaluation,
    federated,
    locks,
    proofs,
    protection,
    realtime,
    selectors,
)
from rounds.config import config_hash
from rounds.models import AuditEvent, GlobalModel, ModelArchitecture, Participant, Round, Submission
from rounds.models_store import load_weights
from rounds.state_machine import NEEDS_REASON, TERMINAL, check_transition

log = logging.getLogger(__name__)
S = Round.State


def record_event(
    round_: Round | None, actor: str, kind: str, detail: dict[str, Any] | None = None, **states
) -> None:
    AuditEvent.objects.create(round=round_, actor=actor, kind=kind, detail=detail or {}, **states)


def transition(round_: Round, target: str, actor: str, reason: str = "") -> None:
    """Moves a round to `target` (locked row), logs it and pushes it to websocket clients."""
    if target in NEEDS_REASON and not reason:
        raise InvalidUpload(f"A reason is required to make a round {target}")
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        check_transition(locked.state, target)
        previous = locked.state
        locked.state = target
        locked.reason = reason
        locked.save(update_fields=["state", "reason", "updated_at"])
        record_event(
            locked, actor, "state", {"reason": reason} if reason else {}, from_state=previous, to_state=target
        )
        realtime.publish_round_event(
            locked.pk, "state", {"state": target, "previous": previous, "reason": reason}
        )
    round_.state, round_.reason = target, reason


def _locked_state(round_id: int) -> str:
    """The round's state, its row locked until the surrounding transaction ends."""
    return Round.objects.select_for_update().values_list("state", flat=True).get(pk=round_id)


def add_stage_seconds(round_: Round, stage: str, seconds: float) -> None:
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        locked.stage_seconds[stage] = round(locked.stage_seconds.get(stage, 0.0) + seconds, 4)
        locked.save(update_fields=["stage_seconds", "updated_at"])
    round_.stage_seconds = locked.stage_seconds


# --- models -------------------------------------------------------------------------------------------------


def ensure_architecture(key: str, num_classes: int) -> ModelArchitecture:
    fl_models.get_architecture(key)  # raises ValueError for an unknown key
    architecture, _ = ModelArchitecture.objects.get_or_create(
        key=key,
        num_classes=num_classes,
        defaults={
            "description": fl_models.get_architecture(key).description,
            "architecture_hash": fl_models.architecture_hash(key),
            "parameter_count": fl_params.parameter_count(
                fl_models.build_model(key, num_classes).state_dict()
            ),
        },
    )
    return architecture


def _store_model(architecture: ModelArchitecture, version: int, vector: np.ndarray, **fields) -> GlobalModel:
    digest = blobstore.put_bytes(weights_to_bytes(vector))
    head_hash = proofs.head_hash_of(architecture, vector)
    return GlobalModel.objects.create(
        architecture=architecture, version=version, weights_digest=digest, head_hash=head_hash, **fields
    )


def initialise_model(actor: User, key: str, num_classes: int, seed: int = 0) -> GlobalModel:
    """Version 0 of a model line: random weights from `seed`, head rounded to the fixed-point grid."""
    require_coordinator(actor)
    architecture = ensure_architecture(key, num_classes)
    existing = GlobalModel.objects.filter(architecture=architecture, version=0).first()
    if existing:
        return existing
    model = fl_models.build_model(key, num_classes, seed=seed)
    vector = fl_params.flatten(round_head_to_fixed_point(model.state_dict()))
    return _store_model(architecture, 0, vector)


# --- planning -----------------------------------------------------------------------------------------------


@transaction.atomic
def create_round(
    actor: User,
    base_model: GlobalModel,
    config: dict[str, Any],
    hospitals: list[Hospital],
    quorum: int,
    deadline: datetime,
    aggregation: str | None = None,
    proof_scheme: str | None = None,
) -> Round:
    require_coordinator(actor)
    try:
        train_config = TrainConfig.from_dict({k: v for k, v in config.items() if k != "proof_steps"})
    except ValueError as exc:
        raise InvalidUpload(f"Invalid training configuration: {exc}") from None
    if not hospitals:
        raise InvalidUpload("A round needs at least one participating hospital")
    if not 1 <= quorum <= len(hospitals):
        raise InvalidUpload(f"Quorum must be between 1 and the {len(hospitals)} participants")
    if deadline <= timezone.now():
        raise InvalidUpload("The deadline must be in the future")
    aggregation = aggregation or settings.DH_AGGREGATION
    protection.get(aggregation)  # raises InvalidUpload for an unknown scheme
    key_committee = committee.active_committee() if aggregation == "ckks" else None
    if aggregation == "ckks" and key_committee is None:
        raise InvalidUpload(
            "Encrypted aggregation needs a key committee: run `python manage.py keyparty setup-local` first"
        )
    full_config = {
        **train_config.as_dict(),
        "proof_steps": int(config.get("proof_steps", proofs.DEFAULT_STEPS)),
    }
    proof_scheme = proof_scheme or settings.DH_PROOFS
    proofs.check_round_plan(proof_scheme, full_config)  # InvalidUpload for a plan the circuit cannot prove
    plan_hash = config_hash(full_config, base_model.architecture.architecture_hash)
    _refuse_replayed_plan(base_model, plan_hash, aggregation, proof_scheme, quorum, deadline, hospitals)
    round_ = Round.objects.create(
        base_model=base_model,
        config=full_config,
        config_hash=plan_hash,
        aggregation=aggregation,
        committee=key_committee,
        proof_scheme=proof_scheme,
        quorum=quorum,
        deadline=deadline,
        created_by=actor,
    )
    Participant.objects.bulk_create([Participant(round=round_, hospital=h) for h in hospitals])
    record_event(
        round_, actor.username, "created", {"participants": [h.slug for h in hospitals]}, to_state=S.DRAFT
    )
    realtime.publish_round_event(round_.pk, "state", {"state": S.DRAFT, "previous": "", "reason": ""})
    return round_


def _refuse_replayed_plan(
    base_model: GlobalModel,
    plan_hash: str,
    aggregation: str,
    proof_scheme: str,
    quorum: int,
    deadline: datetime,
    hospitals: list[Hospital],
) -> None:
    """A plan identical to a round still under way (a resent request, a double click) is refused, not planned
    twice. The base model's row lock makes two identical requests at once wait for each other."""
    GlobalModel.objects.select_for_update().get(pk=base_model.pk)
    same = Round.objects.filter(
        base_model=base_model,
        config_hash=plan_hash,
        aggregation=aggregation,
        proof_scheme=proof_scheme,
        quorum=quorum,
        deadline=deadline,
    ).exclude(state__in=TERMINAL)
    participants = {h.pk for h in hospitals}
    for round_ in same:
        if set(round_.participants.values_list("hospital_id", flat=True)) == participants:
            raise Conflict(
                f"Round {round_.pk} ({round_.state}) already has this exact plan; it was not planned twice"
            )


def approve_round(actor: User, round_: Round) -> Round:
    require_coordinator(actor)
    transition(round_, S.APPROVED, actor.username)
    from rounds import tasks  # tasks import services: import here to keep the module graph acyclic

    transaction.on_commit(lambda: tasks.open_round.delay(round_.pk))
    return round_


def cancel_round(actor: User, round_: Round, reason: str) -> Round:
    require_coordinator(actor)
    transition(round_, S.CANCELLED, actor.username, reason=reason or "cancelled by the coordinator")
    _cancel_on_chain(round_)
    return round_


def fail_round(round_: Round, reason: str) -> None:
    log.warning("round %s failed: %s", round_.pk, reason)
    transition(round_, S.FAILED, "portal", reason=reason)
    _cancel_on_chain(round_)


def set_participation(actor: User, round_: Round, hospital: Hospital, opted_in: bool) -> Participant:
    require_hospital_manager(actor, hospital)
    if round_.state not in (S.DRAFT, S.APPROVED, S.OPEN, S.COLLECTING):
        raise Conflict(f"Participation cannot change once a round is {round_.state}")
    participant = Participant.objects.filter(round=round_, hospital=hospital).first()
    if participant is None:
        raise NotFound(f"{hospital.name} is not invited to round {round_.pk}")
    if Submission.objects.filter(round=round_, hospital=hospital).exists():
        raise Conflict("This hospital has already submitted to the round")
    participant.opted_out = not opted_in
    participant.save(update_fields=["opted_out"])
    record_event(round_, actor.username, "participation", {"hospital": hospital.slug, "opted_in": opted_in})
    realtime.publish_round_event(
        round_.pk, "participation", {"hospital": hospital.slug, "opted_in": opted_in}
    )
    return participant


# --- running ------------------------------------------------------------------------------------------------


def open_round(round_id: int) -> None:
    """APPROVED -> OPEN -> COLLECTING, then one training task per participating hospital. Idempotent, and one
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
    if round_.proof_scheme != "none":
        started = time.perf_counter()
        try:
            ceremony.prepare_round_key(round_)
        except ceremony.CeremonyError as exc:
            fail_round(round_, f"proof of training: {exc}")
            return
        add_stage_seconds(round_, "zk_setup", time.perf_counter() - started)
    try:
        chain.record_open(round_)
    except chain.ChainRefused as exc:
        fail_round(round_, f"chain: opening the round was refused: {exc}")
        return
    transition(round_, S.COLLECTING, "portal")
    from hospitals import tasks as hospital_tasks

    for participant in selectors.active_participants(round_):
        hospital_tasks.dispatch_node_round(round_.pk, participant.hospital.slug)


def submit_update(
    hospital: Hospital,
    round_id: int,
    chunks,
    num_samples: int,
    metrics: dict[str, Any],
    proof: dict[str, Any] | None,
    head: dict[str, Any] | None = None,
) -> Submission:
    """Checks and stores one hospital's update; anything wrong is refused and nothing stored changes."""
    started = time.perf_counter()
    round_ = Round.objects.select_related("base_model__architecture").filter(pk=round_id).first()
    if round_ is None:
        raise NotFound(f"Round {round_id} does not exist")
    participant = Participant.objects.filter(round=round_, hospital=hospital).first()
    if participant is None:
        raise PermissionDenied(f"{hospital.name} is not a participant of round {round_id}")
    if participant.opted_out:
        raise Conflict(f"{hospital.name} opted out of round {round_id}")
    if round_.state != S.COLLECTING:
        raise Conflict(f"Round {round_id} is {round_.state}, not COLLECTING: no submissions are accepted")
    if Submission.objects.filter(round=round_, hospital=hospital).exists():
        raise Conflict(f"{hospital.name} has already submitted to round {round_id}")
    if not 0 < num_samples <= 10_000_000:
        raise InvalidUpload("num_samples must be a positive number of training samples")
    digest, size = blobstore.put_chunks(chunks, settings.DH_MAX_UPLOAD_BYTES)
    scheme = protection.get(round_.aggregation)
    scheme.check(round_, blobstore.read_bytes(digest), round_.base_model.architecture.parameter_count)
    checked = proofs.verify_submission(round_, hospital, proof, head, num_samples)
    try:
        with transaction.atomic():
            # Checked again under the round's row lock: a round that stopped collecting meanwhile (deadline,
            # aggregation) refuses, rather than storing a submission its aggregation has not counted.
            state = _locked_state(round_.pk)
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
            )
            record_event(round_, hospital.slug, "submission", {"hospital": hospital.slug, "bytes": size})
            realtime.publish_round_event(
                round_.pk, "submission", {"hospital": hospital.slug, "proof": checked.status}
            )
    except IntegrityError:
        raise Conflict(f"{hospital.name} has already submitted to round {round_id}") from None
    add_stage_seconds(round_, "upload_checks", time.perf_counter() - started)
    if checked.seconds:
        add_stage_seconds(round_, "zk_verify", checked.seconds)
    if chain.enabled():
        from rounds import tasks

        transaction.on_commit(lambda: tasks.record_submission_on_chain.delay(submission.pk, round_.pk))
    if selectors.all_active_submitted(round_):
        from rounds import tasks

        transaction.on_commit(lambda: tasks.aggregate_round.delay(round_.pk))
    return submission


class KeyPartiesWaiting(Exception):
    """The key parties did not decrypt; the round waits (reason and event say so): try again in retry_in s."""

    def __init__(self, retry_in: float):
        super().__init__(f"key parties unavailable, retry in {retry_in:.0f} s")
        self.retry_in = retry_in


KEY_PARTIES_WAITING = "key_parties_waiting"
KEY_PARTY_RETRY_MAX_SECONDS = 30


def aggregate_round(round_id: int, wait_for_key_parties: bool = False) -> None:
    """COLLECTING -> AGGREGATING -> COMPLETED with the new global model. Idempotent: a rerun after a crash
    in AGGREGATING repeats the deterministic computation; a completed round is left alone; a run while another
    holds the round leaves. Key parties that fail fail the round, or with wait_for_key_parties (the task, which
    can wait) raise KeyPartiesWaiting until DH_DECRYPTION_TIMEOUT has passed since their first failure."""
    with locks.round_step("aggregate", round_id) as held:
        if held:
            _aggregate_round(round_id, wait_for_key_parties)


def _aggregate_round(round_id: int, wait_for_key_parties: bool) -> None:
    round_ = Round.objects.select_related("base_model__architecture").get(pk=round_id)
    if round_.state == S.COLLECTING:
        transition(round_, S.AGGREGATING, "portal")
        missing = selectors.active_participants(round_).exclude(hospital__submissions__round=round_)
        if missing.exists():  # the deadline passed: the audit trail says who is not in the sum
            record_event(round_, "portal", "partial", {"missing": [p.hospital.slug for p in missing]})
    elif round_.state != S.AGGREGATING:
        return
    submissions = list(round_.submissions.order_by("hospital__slug"))
    if len(submissions) < round_.quorum:
        fail_round(round_, f"quorum not met: {len(submissions)} of {round_.quorum} required submissions")
        return
    try:
        chain.record_submissions(submissions)  # any the submission tasks have not recorded yet
    except chain.ChainRefused as exc:
        fail_round(round_, f"chain: recording a submission was refused: {exc}")
        return
    architecture = round_.base_model.architecture
    started = time.perf_counter()
    try:
        weighted_sum = protection.get(round_.aggregation).sum_and_open(
            round_, [blobstore.read_bytes(s.blob_digest) for s in submissions], architecture.parameter_count
        )
    except protection.KeyPartiesUnavailable as exc:
        retry_in = _key_parties_down(round_, str(exc), wait_for_key_parties)
        if retry_in is None:
            return
        raise KeyPartiesWaiting(retry_in) from None
    except protection.AggregationError as exc:
        fail_round(round_, f"aggregation failed: {exc}")
        return
    add_stage_seconds(round_, "aggregation", time.perf_counter() - started)
    total_samples = sum(s.num_samples for s in submissions)
    base_vector = load_weights(round_.base_model)
    try:
        proven_head = proofs.proven_global_head(round_, submissions, base_vector, weighted_sum)
    except proofs.HeadMismatch as exc:
        fail_round(round_, str(exc))
        return
    new_vector = federated.next_global_vector(
        architecture, base_vector, weighted_sum, total_samples, proven_head
    )
    started = time.perf_counter()
    metrics = evaluation.evaluate_vector(architecture, new_vector)
    add_stage_seconds(round_, "evaluation", time.perf_counter() - started)
    try:
        # The digest _store_model stores the weights under (content-addressed: storing them twice is a no-op).
        chain.record_close(round_, blobstore.put_bytes(weights_to_bytes(new_vector)), submissions)
    except chain.ChainRefused as exc:
        fail_round(round_, f"chain: closing the round was refused: {exc}")
        return
    with transaction.atomic():
        if _locked_state(round_.pk) != S.AGGREGATING:
            return  # finished meanwhile by an earlier run of this task
        model = GlobalModel.objects.filter(produced_by=round_).first() or _store_model(
            architecture,
            selectors.next_version(architecture),
            new_vector,
            produced_by=round_,
            metrics={
                **metrics,
                "participants": [s.hospital.slug for s in submissions],
                "samples": total_samples,
            },
        )
        record_event(round_, "portal", "model", {"version": model.version, "digest": model.weights_digest})
        transition(round_, S.COMPLETED, "portal")


def _key_parties_down(round_: Round, error: str, wait: bool) -> float | None:
    """Reports that the key parties did not decrypt: the round fails (not waiting, or waited long enough), or
    says in its reason and the audit trail that it waits; returns the seconds until the next try, or None."""
    waits = AuditEvent.objects.filter(round=round_, kind=KEY_PARTIES_WAITING)
    first = waits.order_by("id").first()
    waited = (timezone.now() - first.created_at).total_seconds() if first else 0.0
    attempt = waits.count() + 1
    retry_in = float(min(KEY_PARTY_RETRY_MAX_SECONDS, 2**attempt))
    if not wait or waited + retry_in > settings.DH_DECRYPTION_TIMEOUT:
        after = f" after {attempt} attempts over {waited:.0f} s" if first else ""
        fail_round(round_, f"aggregation failed: the key parties did not decrypt{after}: {error}")
        return None
    reason = (
        f"waiting for the key parties: attempt {attempt} failed ({error}); next attempt in {retry_in:.0f} s, "
        f"the round fails if they have not decrypted {settings.DH_DECRYPTION_TIMEOUT} s after the first failure"
    )
    log.warning("round %s: %s", round_.pk, reason)
    with transaction.atomic():
        Round.objects.filter(pk=round_.pk).update(reason=reason, updated_at=timezone.now())
        record_event(
            round_, "portal", KEY_PARTIES_WAITING, {"attempt": attempt, "error": error, "retry_in": retry_in}
        )
        realtime.publish_round_event(round_.pk, "waiting", {"state": round_.state, "reason": reason})
    return retry_in


def sweep_deadlines(now: datetime | None = None) -> list[int]:
    """The periodic sweep (celery beat, every DH_DEADLINE_SWEEP_SECONDS). A collecting round past its deadline
    is aggregated if its quorum is met, else fails with the reason. Triggers lost while the broker was down are
    sent again: an approved round that was never opened, a round with every submission in that is not
    aggregating. Returns the ids of the rounds acted on."""
    from rounds import tasks

    now = now or timezone.now()
    stale = now - timedelta(seconds=max(60, 2 * settings.DH_DEADLINE_SWEEP_SECONDS))
    acted = []
    for round_ in Round.objects.filter(state=S.COLLECTING).order_by("id"):
        if round_.deadline <= now:
            count = round_.submissions.count()
            if count < round_.quorum:
                try:
                    fail_round(
                        round_, f"deadline passed with {count} of {round_.quorum} required submissions"
                    )
                except Conflict:  # it moved on meanwhile (the last submission came in)
                    continue
                acted.append(round_.pk)
                continue
        elif not (round_.updated_at <= stale and selectors.all_active_submitted(round_)):
            continue
        transaction.on_commit(lambda round_id=round_.pk: tasks.aggregate_round.delay(round_id))
        acted.append(round_.pk)
    for round_ in Round.objects.filter(state=S.APPROVED, updated_at__lte=stale):
        transaction.on_commit(lambda round_id=round_.pk: tasks.open_round.delay(round_id))
        acted.append(round_.pk)
    return acted


# --- chain (rounds.chain) -----------------------------------------------------------------------------------


def _cancel_on_chain(round_: Round) -> None:
    if chain.enabled():
        from rounds import tasks

        transaction.on_commit(lambda: tasks.cancel_round_on_chain.delay(round_.pk))


def record_submission_on_chain(submission_id: int) -> None:
    """Records an accepted submission on chain (a rerun sends nothing twice); a refusal fails the round."""
    submission = Submission.objects.select_related("round__base_model", "hospital").get(pk=submission_id)
    if submission.round.state not in (S.COLLECTING, S.AGGREGATING):
        return
    try:
        chain.record_submission(submission)
    except chain.ChainRefused as exc:
        fail_round_if_running(
            submission.round_id, f"chain: {submission.hospital.name}'s submission was refused: {exc}"
        )


def cancel_round_on_chain(round_id: int) -> None:
    """Cancels a failed or cancelled round on chain if it was opened there; a refusal is only logged."""
    try:
        chain.record_cancel(Round.objects.get(pk=round_id))
    except chain.ChainRefused as exc:
        log.warning("round %s could not be cancelled on chain: %s", round_id, exc)


def fail_round_if_running(round_id: int, reason: str) -> None:
    round_ = Round.objects.get(pk=round_id)
    if round_.state in (S.APPROVED, S.OPEN, S.COLLECTING, S.AGGREGATING):
        fail_round(round_, reason)
