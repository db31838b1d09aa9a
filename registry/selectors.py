"""Reads of the model registry."""

from __future__ import annotations

from django.db.models import QuerySet

from hospitals.models import User
from registry.models import GlobalModel, ModelArchitecture
from web.errors import InvalidInput, NotFound


def next_version(architecture: ModelArchitecture) -> int:
    latest = latest_model(architecture)
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


def rounds_hidden_from(user: User) -> set[int]:
    """Ids of the rounds behind published models that the user's hospital was not in (none for the
    coordinator)."""
    if user.is_coordinator:
        return set()
    produced = GlobalModel.objects.exclude(produced_by=None)
    seen = produced.filter(produced_by__participants__hospital_id=user.hospital_id)
    return set(produced.values_list("produced_by_id", flat=True)) - set(
        seen.values_list("produced_by_id", flat=True)
    )


def model_produced_by(round_id: int) -> GlobalModel | None:
    return GlobalModel.objects.filter(produced_by_id=round_id).first()


def model_for_export(version: str, architecture_key: str | None) -> GlobalModel:
    """The model a user names by version ('latest', 'best' or a number) and, when ambiguous, architecture key.

    'best' is model selection by the coordinator's validation data: the version with the highest validation AUC
    (the later one on a tie), the round's accuracy aside (it depends on a threshold, the AUC does not)."""
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
    if version == "best":
        scored = [model for model in models if model.metrics.get("val_auc") is not None]
        if not scored:
            raise InvalidInput(
                "No version has a validation AUC (the portal evaluates on DH_VALIDATION_DATA): give a version "
                "number or 'latest'"
            )
        return max(scored, key=lambda model: (model.metrics["val_auc"], model.version))
    if not version.isdigit():
        raise InvalidInput(f"--version must be a number, 'latest' or 'best', not {version!r}")
    model = models.filter(version=int(version)).first()
    if model is None:
        raise NotFound(f"No model version {version}")
    return model
