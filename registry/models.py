"""The model registry: architectures and the global model's versions (weights in the blob store)."""

from __future__ import annotations

from django.db import models


class ModelArchitecture(models.Model):
    key = models.CharField(max_length=50)
    num_classes = models.PositiveSmallIntegerField()
    description = models.TextField()
    architecture_hash = models.CharField(max_length=64)
    parameter_count = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "num_classes"], name="unique_architecture")]

    def __str__(self) -> str:
        return f"{self.key}/{self.num_classes}"


class GlobalModel(models.Model):
    """One version of the global model. Weights live in the blob store under their SHA-256 digest."""

    architecture = models.ForeignKey(ModelArchitecture, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    weights_digest = models.CharField(max_length=64)
    head_hash = models.CharField(max_length=80, blank=True)
    produced_by = models.OneToOneField(
        "rounds.Round", null=True, blank=True, on_delete=models.PROTECT, related_name="result_model"
    )
    metrics = models.JSONField(default=dict, blank=True)
    # The server optimiser's state after the step that made this version (FedAdam's moments, say: an .npz in
    # the blob store) and the strategy that made it, so that the next round goes on from it, after a restart too.
    server_state_digest = models.CharField(max_length=64, blank=True)
    server_strategy = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["architecture_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["architecture", "version"], name="unique_model_version")
        ]
