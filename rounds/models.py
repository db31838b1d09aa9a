from __future__ import annotations

from django.conf import settings
from django.db import models

from committee.models import KeyCommittee
from hospitals.models import Hospital
from registry.models import GlobalModel

DEFAULT_UPDATE_NORM_BOUND = (
    1e5  # default bound on ||n_h * delta_h||_2 (see docs/THREAT_MODEL.md for its sizing)
)
# The key parties open only sums of at least this many hospitals (a sum of one is that hospital's update).
MIN_QUORUM = 2
DEFAULT_QUORUM = 3  # capped at the number of participants
DEFAULT_MAX_SAMPLES = 100_000  # default cap on one hospital's n_h
DEFAULT_DP_DELTA = 1e-5
MAX_DP_DELTA = 0.5  # a delta above it is no privacy guarantee at all
MAX_SAMPLES_LIMIT = 10_000_000  # the most n_h any plan may allow, or any upload declare


class Campaign(models.Model):
    """Rounds run one after another from one approval (rounds.services.campaigns): each planned like the first,
    from the model the previous one produced, until `rounds_planned` are done or the stopping rule holds (the
    global model's validation AUC at least `target_auc`)."""

    class State(models.TextChoices):
        DRAFT = "DRAFT"
        RUNNING = "RUNNING"
        COMPLETED = "COMPLETED"
        STOPPED = "STOPPED"
        FAILED = "FAILED"

    name = models.CharField(max_length=200)
    rounds_planned = models.PositiveIntegerField()
    target_auc = models.FloatField(null=True, blank=True)
    # The most epsilon its rounds may spend together (fl.privacy), or none.
    epsilon_budget = models.FloatField(null=True, blank=True)
    # Seconds each round may collect for (its deadline is set when the campaign plans it).
    round_seconds = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
    # How updates travel and are summed (committee.protection): "ckks" (encrypted) or "plaintext".
    protection = models.CharField(max_length=20)
    committee = models.ForeignKey(
        KeyCommittee, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Proof of training each submission must carry ("groth16" or "none"), and the round's trusted setup once
    # prepared (proofs.ceremony): participants, beacon, circuit shape, digests of the zkey, vkey and wasm.
    proof_scheme = models.CharField(max_length=20, default="none")
    proof_setup = models.JSONField(default=dict, blank=True)
    # Limits of the plan on each hospital's upload (rounds.services.planning): its sample count n_h, the weight
    # of its update in the average, and the L2 norm of its weighted update n_h * delta_h (checked where the
    # portal can see it, with the "plaintext" scheme; under ckks only the key parties could).
    max_samples = models.PositiveIntegerField(default=DEFAULT_MAX_SAMPLES)
    update_norm_bound = models.FloatField(default=DEFAULT_UPDATE_NORM_BOUND)
    # The server strategy applied to the opened sum (fl.strategy.ServerConfig.as_dict: name, hyperparameters).
    server_strategy = models.JSONField(default=dict, blank=True)
    # Differential privacy (fl.privacy): the key parties add Gaussian noise of std dp_noise_multiplier x
    # update_norm_bound to the opened sum, every node clipping its update to that bound; 0: none.
    dp_noise_multiplier = models.FloatField(default=0.0)
    dp_delta = models.FloatField(default=DEFAULT_DP_DELTA)
    quorum = models.PositiveSmallIntegerField()
    deadline = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The campaign that planned this round (its rounds share one plan), if any.
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="rounds"
    )
    # Seconds spent per stage (training, upload checks, aggregation, decryption, ...), filled as they end.
    stage_seconds = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]

    @property
    def dp_noise_std(self) -> float:
        """The std of the Gaussian noise the key parties add to the opened sum (0: no differential privacy)."""
        return self.dp_noise_multiplier * self.update_norm_bound


class Participant(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="participants")
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="participations")
    opted_out = models.BooleanField(default=False)
    # When the hospital's node first fetched its task while the round was collecting: it is training from then.
    task_fetched_at = models.DateTimeField(null=True, blank=True)
    # The node's commitment to its training run (Merkle root) and the portal's random challenge issued after it:
    # the steps to prove are derived from both, so the node cannot choose them. Set once.
    proof_root = models.CharField(max_length=80, blank=True)
    proof_challenge = models.CharField(max_length=64, blank=True)
    # Committed with the root, before the challenge: the run's step count S and its sample count n_h. The
    # upload's num_samples must be n_h and its proof's step count S (no choosing S after seeing the challenge).
    proof_steps = models.PositiveIntegerField(null=True, blank=True)
    proof_samples = models.PositiveIntegerField(null=True, blank=True)

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
    # the proof ends at: beside a plaintext update only (under ckks it is shared between the key parties).
    head = models.JSONField(null=True, blank=True)
    # Poseidon of the head its proof ends at (decimal): what the key parties check the shared head against.
    head_commitment = models.CharField(max_length=80, blank=True)
    # The node's signature of protocol.signing.upload_statement(round, blob_digest, num_samples, norm bound), made with the
    # signing key whose address the hospital's node registered at enrollment.
    signature = models.CharField(max_length=132, blank=True)
    # Why the submission was left out of the round's sum after it was accepted (its record on chain is not this
    # upload, for instance); empty while it counts.
    excluded_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["round", "hospital"], name="one_submission_per_hospital")
        ]
