"""Reads of rounds, submissions, models and the audit trail, filtered by who is asking."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from committee import protection
from fl import privacy
from hospitals.models import Hospital, User
from ledger.selectors import node_chain_task
from proofs import verification as proofs
from protocol.node_task import ArchitectureRef, ModelRef, NodeTask, RoundConfig
from registry.models import GlobalModel
from rounds.models import Campaign, Participant, Round, Submission
from web.errors import Conflict, NotFound, PermissionDenied


def get_round(round_id: int) -> Round:
    round_ = Round.objects.select_related("base_model__architecture").filter(pk=round_id).first()
    if round_ is None:
        raise NotFound(f"Round {round_id} does not exist")
    return round_


def rounds_visible_to(user: User) -> QuerySet[Round]:
    rounds = Round.objects.select_related("base_model__architecture").prefetch_related(
        "participants__hospital"
    )
    if user.is_coordinator:
        return rounds
    return rounds.filter(participants__hospital_id=user.hospital_id).distinct()


def visible_round(user: User, round_id: int) -> Round:
    """The round if the user may see it; a hospital admin sees only rounds their hospital is invited to."""
    round_ = get_round(round_id)
    if not user.is_coordinator and not round_.participants.filter(hospital_id=user.hospital_id).exists():
        raise PermissionDenied(f"Round {round_id} does not involve your hospital")
    return round_


# A node has work in a round once it collects; before, nothing of the plan is published to nodes.
NOT_PUBLISHED = (Round.State.DRAFT, Round.State.APPROVED, Round.State.OPEN, Round.State.CANCELLED)


def node_round(hospital: Hospital, round_id: int) -> Round:
    """The round as its participant's node may see it: refused before it collects and once cancelled."""
    round_ = get_round(round_id)
    if not round_.participants.filter(hospital=hospital).exists():
        raise PermissionDenied(f"{hospital.name} is not a participant of round {round_id}")
    if round_.state in NOT_PUBLISHED:
        raise Conflict(f"Round {round_id} is {round_.state}: it has no task for nodes")
    return round_


def node_work(hospital: Hospital) -> list[dict]:
    """The rounds whose task this hospital's node should do now: collecting, the hospital taking part, and no
    update from it yet."""
    rounds = (
        Round.objects.filter(
            state=Round.State.COLLECTING, participants__hospital=hospital, participants__opted_out=False
        )
        .exclude(submissions__hospital=hospital)
        .order_by("pk")
    )
    return [{"id": round_.pk, "task_url": f"/api/node/rounds/{round_.pk}/"} for round_ in rounds]


def submissions_visible_to(user: User, round_: Round) -> QuerySet[Submission]:
    submissions = round_.submissions.select_related("hospital")
    if user.is_coordinator:
        return submissions
    return submissions.filter(hospital_id=user.hospital_id)


def submissions_of_hospital(user: User, hospital: Hospital) -> QuerySet[Submission]:
    if not user.is_coordinator and user.hospital_id != hospital.pk:
        raise PermissionDenied("You may only see your own hospital's submissions")
    return hospital.submissions.select_related("round").order_by("-id")


def active_participants(round_: Round) -> QuerySet[Participant]:
    return round_.participants.select_related("hospital").filter(opted_out=False).order_by("hospital__slug")


def all_active_submitted(round_: Round) -> bool:
    active = set(active_participants(round_).values_list("hospital_id", flat=True))
    submitted = set(round_.submissions.values_list("hospital_id", flat=True))
    return bool(active) and active <= submitted


def participant_status(participant: Participant) -> str:
    """Where a hospital is in a round, from what its node has actually done."""
    if participant.opted_out:
        return "opted_out"
    if Submission.objects.filter(round_id=participant.round_id, hospital_id=participant.hospital_id).exists():
        return "submitted"
    return "training" if participant.task_fetched_at else "invited"


def round_counts_by_state() -> dict[str, int]:
    """How many rounds are in each state, every state named (0 where none), for the metrics."""
    counts = dict.fromkeys(Round.State.values, 0)
    for state, count in Round.objects.values_list("state").annotate(count=Count("pk")).order_by():
        counts[state] = count
    return counts


def node_task(round_: Round, hospital: Hospital) -> NodeTask:
    """What the hospital's node needs to train for the round, as the protocol types it."""
    model = round_.base_model
    return NodeTask(
        round=round_.pk,
        state=round_.state,
        submitted=round_.submissions.filter(hospital=hospital).exists(),
        architecture=ArchitectureRef(
            key=model.architecture.key,
            num_classes=model.architecture.num_classes,
            hash=model.architecture.architecture_hash,
        ),
        model=ModelRef(
            id=model.pk,
            version=model.version,
            digest=model.weights_digest,
            head_hash=model.head_hash,
            weights_url=f"/api/models/{model.pk}/weights/",
        ),
        config=RoundConfig.from_json(round_.config, "config"),
        protection=protection.get(round_.protection).node_material(
            round_.committee, round_.update_norm_bound, round_.dp_noise_std
        ),
        proof=proofs.node_material(round_, hospital),
        chain=node_chain_task(round_, hospital),
    )


def get_campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} does not exist")
    return campaign


def campaigns_visible_to(user: User) -> QuerySet[Campaign]:
    """The coordinator's campaigns; a hospital admin sees those its hospital takes part in."""
    if user.is_coordinator:
        return Campaign.objects.all()
    return Campaign.objects.filter(rounds__participants__hospital_id=user.hospital_id).distinct()


def visible_campaign(user: User, campaign_id: int) -> Campaign:
    campaign = campaigns_visible_to(user).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} does not exist")
    return campaign


def campaign_rounds(campaign: Campaign) -> list[dict[str, Any]]:
    """Its rounds in order, with the validation accuracy and AUC of the model each produced and, with
    differential privacy, the epsilon spent once that round's sum is opened (the curves)."""
    produced = dict(
        GlobalModel.objects.filter(produced_by__campaign=campaign).values_list("produced_by", "metrics")
    )
    rows = []
    for number, round_ in enumerate(campaign.rounds.order_by("id"), start=1):
        metrics = produced.get(round_.pk, {})
        rows.append(
            {
                "number": number,
                "round": round_.pk,
                "state": round_.state,
                "val_accuracy": metrics.get("val_accuracy"),
                "val_auc": metrics.get("val_auc"),
                "epsilon": round_epsilon(round_, number),
            }
        )
    return rows


def round_epsilon(round_: Round, rounds: int = 1) -> float | None:
    """The epsilon `rounds` rounds of this round's plan spend (fl.privacy); None without differential privacy."""
    if round_.dp_noise_multiplier <= 0:
        return None
    return privacy.epsilon(round_.dp_noise_multiplier, rounds, round_.dp_delta)
