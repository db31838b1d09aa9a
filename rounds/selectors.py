"""Reads of rounds, submissions, models and the audit trail, filtered by who is asking."""

from __future__ import annotations

from django.db.models import QuerySet

from dhportal.errors import InvalidUpload as InvalidInput
from dhportal.errors import NotFound, PermissionDenied
from hospitals.models import Hospital, User
from rounds.models import (
    AuditEvent,
    ChainTransaction,
    GlobalModel,
    KeyCommittee,
    ModelArchitecture,
    Participant,
    Round,
    Submission,
)


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


def node_round(hospital: Hospital, round_id: int) -> Round:
    round_ = get_round(round_id)
    if not round_.participants.filter(hospital=hospital).exists():
        raise PermissionDenied(f"{hospital.name} is not a participant of round {round_id}")
    return round_


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


def events_of(round_: Round) -> QuerySet[AuditEvent]:
    return round_.events.order_by("id")


def audit_trail(limit: int) -> QuerySet[AuditEvent]:
    """The newest `limit` events of the whole portal, newest first."""
    return AuditEvent.objects.order_by("-id")[:limit]


def next_version(architecture: ModelArchitecture) -> int:
    latest = GlobalModel.objects.filter(architecture=architecture).order_by("-version").first()
    return 0 if latest is None else latest.version + 1


def latest_model(architecture: ModelArchitecture) -> GlobalModel | None:
    return GlobalModel.objects.filter(architecture=architecture).order_by("-version").first()


def get_model(model_id: int) -> GlobalModel:
    model = GlobalModel.objects.select_related("architecture").filter(pk=model_id).first()
    if model is None:
        raise NotFound(f"Model {model_id} does not exist")
    return model


def models_in_order() -> QuerySet[GlobalModel]:
    return GlobalModel.objects.select_related("architecture", "produced_by").order_by(
        "architecture_id", "version"
    )


def model_for_export(version: str, architecture_key: str | None) -> GlobalModel:
    """The model a user names by version ('latest' or a number) and, when ambiguous, architecture key."""
    models = GlobalModel.objects.select_related("architecture")
    if architecture_key:
        models = models.filter(architecture__key=architecture_key)
    keys = set(models.values_list("architecture__key", flat=True))
    if not keys:
        raise NotFound("No global model exists yet: run a round (or the demo) first")
    if len(keys) > 1:
        raise InvalidInput(f"Several model lines exist ({', '.join(sorted(keys))}): pass --architecture")
    if version == "latest":
        return models.order_by("-version").first()
    if not version.isdigit():
        raise InvalidInput(f"--version must be a number or 'latest', not {version!r}")
    model = models.filter(version=int(version)).first()
    if model is None:
        raise NotFound(f"No model version {version}")
    return model


def get_committee(committee_id: int) -> KeyCommittee:
    key_committee = KeyCommittee.objects.filter(pk=committee_id).first()
    if key_committee is None:
        raise NotFound(f"Key committee {committee_id} does not exist")
    return key_committee


def submission_chain_tx(submission: Submission) -> ChainTransaction | None:
    return ChainTransaction.objects.filter(
        round_id=submission.round_id, hospital_id=submission.hospital_id, kind=ChainTransaction.Kind.SUBMIT
    ).first()
