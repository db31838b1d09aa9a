from __future__ import annotations

from django.conf import settings
from django.db import models

from hospitals.models import Hospital


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
        "Round", null=True, blank=True, on_delete=models.PROTECT, related_name="result_model"
    )
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["architecture_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["architecture", "version"], name="unique_model_version")
        ]


class KeyCommittee(models.Model):
    """The key parties jointly holding a CKKS secret key; only their joint public key is stored here."""

    seed = models.CharField(max_length=64, help_text="public seed of the common polynomial a (hex)")
    key_id = models.CharField(max_length=64, unique=True)
    public_context_digest = models.CharField(max_length=64)
    # [{"index", "commitment", "location"}]: location is the party's share folder (local) or host:port.
    parties = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class Round(models.Model):
    class State(models.TextChoices):
        DRAFT = "DRAFT"
        APPROVED = "APPROVED"
        OPEN = "OPEN"
        COLLECTING = "COLLECTING"
        AGGREGATING = "AGGREGATING"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"
        CANCELLED = "CANCELLED"

    base_model = models.ForeignKey(GlobalModel, on_delete=models.PROTECT, related_name="rounds")
    # Training configuration the nodes follow (loss, optimiser, lr, local_epochs, batch_size, fedprox_mu, ...).
    config = models.JSONField()
    config_hash = models.CharField(max_length=64)
    aggregation = models.CharField(max_length=20)
    committee = models.ForeignKey(
        KeyCommittee, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Proof of training each submission must carry ("groth16" or "none"), and the round's trusted setup once
    # prepared (rounds.ceremony): participants, beacon, circuit shape, digests of the zkey, vkey and wasm.
    proof_scheme = models.CharField(max_length=20, default="none")
    proof_setup = models.JSONField(default=dict, blank=True)
    quorum = models.PositiveSmallIntegerField()
    deadline = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Seconds spent per stage (training, upload checks, aggregation, decryption, ...), filled as they end.
    stage_seconds = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]


class Participant(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="participants")
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="participations")
    opted_out = models.BooleanField(default=False)
    # The node's commitment to its training run (Merkle root) and the portal's random challenge issued after it:
    # the steps to prove are derived from both, so the node cannot choose them. Set once.
    proof_root = models.CharField(max_length=80, blank=True)
    proof_challenge = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "hospital"], name="unique_participant")]


class Submission(models.Model):
    """One hospital's accepted update for a round; its blob lives in the blob store."""

    round = models.ForeignKey(Round, on_delete=models.PROTECT, related_name="submissions")
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="submissions")
    blob_digest = models.CharField(max_length=64)
    blob_size = models.PositiveBigIntegerField()
    num_samples = models.PositiveIntegerField()
    metrics = models.JSONField(default=dict, blank=True)
    proof = models.JSONField(null=True, blank=True)
    proof_status = models.CharField(max_length=20, default="none")
    # The proven run's Merkle root: unique, so no proof bundle counts twice anywhere.
    proof_root = models.CharField(max_length=80, null=True, blank=True, unique=True)
    # The node's final classifier head in the clear (fixed-point integers {"weight": [[..]], "bias": [..]}), what
    # the proof ends at; the rest of the update stays protected.
    head = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["round", "hospital"], name="one_submission_per_hospital")
        ]


class AuditEvent(models.Model):
    """Append-only log of every state change; rows are never updated or deleted by the portal."""

    round = models.ForeignKey(Round, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    actor = models.CharField(max_length=150)
    kind = models.CharField(max_length=50)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class ChainDeployment(models.Model):
    """A RoundRegistry on one chain, deployed once per Groth16 verification key with that key's verifier;
    verification_key_digest "" is the registry without a verifier, for rounds that carry no proofs."""

    chain_id = models.PositiveBigIntegerField()
    verification_key_digest = models.CharField(max_length=64, blank=True)
    registry_address = models.CharField(max_length=42)
    verifier_address = models.CharField(max_length=42)
    coordinator_address = models.CharField(max_length=42)
    num_public_signals = models.PositiveSmallIntegerField()
    # Gas of the verifier's and the registry's deployment together.
    deploy_gas_used = models.PositiveBigIntegerField()
    registry_tx_hash = models.CharField(max_length=66)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["chain_id", "registry_address"], name="unique_chain_registry")
        ]


class ChainTransaction(models.Model):
    """A mined transaction of a round (open, submit, close, cancel) or a hospital's registration on a registry."""

    class Kind(models.TextChoices):
        REGISTER = "register"
        OPEN = "open"
        SUBMIT = "submit"
        CLOSE = "close"
        CANCEL = "cancel"

    deployment = models.ForeignKey(ChainDeployment, on_delete=models.PROTECT, related_name="transactions")
    # The round it belongs to; for a registration, the round that needed it.
    round = models.ForeignKey(
        Round, null=True, blank=True, on_delete=models.PROTECT, related_name="chain_transactions"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.PROTECT, related_name="chain_transactions"
    )
    tx_hash = models.CharField(max_length=66, unique=True)
    block_number = models.PositiveBigIntegerField()
    gas_used = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # What makes a rerun of a task find the transaction it already sent instead of sending another.
        constraints = [
            models.UniqueConstraint(
                fields=["round", "kind"],
                condition=models.Q(kind__in=["open", "close", "cancel"]),
                name="one_round_transaction_per_kind",
            ),
            models.UniqueConstraint(
                fields=["round", "hospital"], condition=models.Q(kind="submit"), name="one_submission_tx"
            ),
            models.UniqueConstraint(
                fields=["deployment", "hospital"],
                condition=models.Q(kind="register"),
                name="one_registration_per_registry",
            ),
        ]
