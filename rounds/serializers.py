"""What the rounds API reads and writes: plans, rounds, submissions, uploads, the chain audit report."""

from __future__ import annotations

import dataclasses
import json
import typing
from functools import cache
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from committee import protection
from fl.training import AUGMENTATIONS, DEFAULT_TRAIN_CONFIG, LOSSES, OPTIMISERS, SAMPLINGS
from hospitals.models import Hospital
from ledger import selectors as ledger_selectors
from proofs import verification as proofs
from protocol.codec import PROTOCOL_VERSION, SUPPORTED_VERSIONS, Message, field_types, optional_of
from protocol.node_task import NodeTask, ProofChallenge
from registry.models import GlobalModel
from registry.selectors import model_produced_by
from rounds.models import (
    DEFAULT_QUORUM,
    MAX_DP_DELTA,
    MAX_SAMPLES_LIMIT,
    MIN_QUORUM,
    Campaign,
    Participant,
    Round,
    Submission,
)
from rounds.selectors import campaign_rounds, participant_status, round_epsilon
from web.json_input import JsonInputSerializer


class TrainingConfigSerializer(JsonInputSerializer):
    loss = serializers.ChoiceField(choices=LOSSES, default=DEFAULT_TRAIN_CONFIG.loss)
    optimiser = serializers.ChoiceField(choices=OPTIMISERS, default=DEFAULT_TRAIN_CONFIG.optimiser)
    lr = serializers.FloatField(min_value=1e-6, max_value=1.0, default=DEFAULT_TRAIN_CONFIG.lr)
    head_lr = serializers.FloatField(min_value=2**-15, max_value=1.0, default=DEFAULT_TRAIN_CONFIG.head_lr)
    local_epochs = serializers.IntegerField(
        min_value=1, max_value=50, default=DEFAULT_TRAIN_CONFIG.local_epochs
    )
    batch_size = serializers.IntegerField(min_value=1, max_value=256, default=DEFAULT_TRAIN_CONFIG.batch_size)
    fedprox_mu = serializers.FloatField(
        min_value=0.0, max_value=10.0, default=DEFAULT_TRAIN_CONFIG.fedprox_mu
    )
    proof_steps = serializers.IntegerField(
        min_value=1,
        max_value=32,
        default=proofs.DEFAULT_STEPS,
        help_text="proofs (each of the circuit's T consecutive steps) each hospital makes; with prove_every_step, the "
        "sample of them the chain verifies",
    )
    prove_every_step = serializers.BooleanField(
        default=False, help_text="prove every head step of each hospital's run, not a spot-checked few"
    )
    augment = serializers.ChoiceField(
        choices=AUGMENTATIONS,
        default=DEFAULT_TRAIN_CONFIG.augment,
        help_text="shift: each image moved by up to 2 pixels each way, anew every epoch",
    )
    sampling = serializers.ChoiceField(
        choices=SAMPLINGS,
        default=DEFAULT_TRAIN_CONFIG.sampling,
        help_text="balanced: each hospital's batches drawn with every class equally likely",
    )


class RoundCreateSerializer(JsonInputSerializer):
    base_model = serializers.PrimaryKeyRelatedField(queryset=GlobalModel.objects.all())
    config = TrainingConfigSerializer(default=dict)
    participants = serializers.SlugRelatedField(slug_field="slug", queryset=Hospital.objects.all(), many=True)
    quorum = serializers.IntegerField(
        min_value=1,
        max_value=1000,
        required=False,
        help_text=f"hospitals whose uploads the sum needs, at least {MIN_QUORUM} "
        f"(default {DEFAULT_QUORUM}, or every participant when fewer)",
    )
    deadline = serializers.DateTimeField()
    protection = serializers.ChoiceField(choices=sorted(protection.SCHEMES), required=False)
    proof_scheme = serializers.ChoiceField(choices=proofs.SCHEMES, required=False)
    # Limits on each hospital's upload (defaults: rounds.models.DEFAULT_MAX_SAMPLES, DEFAULT_UPDATE_NORM_BOUND).
    max_samples = serializers.IntegerField(min_value=1, max_value=MAX_SAMPLES_LIMIT, required=False)
    update_norm_bound = serializers.FloatField(min_value=1e-9, max_value=1e12, required=False)
    # {"name": "fedadam", "eta": 0.01, ...}: fl.strategy.SERVER_PARAMETERS names each strategy's hyperparameters.
    server_strategy = serializers.DictField(
        required=False, help_text="server strategy: name and hyperparameters"
    )
    dp_noise_multiplier = serializers.FloatField(
        min_value=0.0,
        max_value=100.0,
        required=False,
        help_text="differential privacy: Gaussian noise of this many times update_norm_bound added to the opened "
        "sum by the key parties (0, the default: none; needs protection ckks)",
    )
    dp_delta = serializers.FloatField(
        min_value=1e-12,
        max_value=MAX_DP_DELTA,
        required=False,
        help_text="differential privacy's delta (default 1e-5)",
    )

    def validate_participants(self, hospitals: list[Hospital]) -> list[Hospital]:
        slugs = [hospital.slug for hospital in hospitals]
        repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if repeated:
            raise serializers.ValidationError(
                f"Each hospital may be named once; repeated: {', '.join(repeated)}"
            )
        return hospitals


class ParticipantSerializer(serializers.Serializer):
    hospital = serializers.CharField(source="hospital.slug")
    hospital_name = serializers.CharField(source="hospital.name")
    opted_out = serializers.BooleanField()
    status = serializers.SerializerMethodField()

    def get_status(self, participant: Participant) -> str:
        """invited (its node has not fetched the task), training, submitted or opted_out."""
        return participant_status(participant)


class RoundSerializer(serializers.ModelSerializer):
    architecture = serializers.CharField(source="base_model.architecture.key")
    base_version = serializers.IntegerField(source="base_model.version")
    participants = ParticipantSerializer(many=True)
    submitted = serializers.SerializerMethodField()
    result_model = serializers.SerializerMethodField()
    proof_key = serializers.SerializerMethodField()
    chain = serializers.SerializerMethodField()
    dp_epsilon = serializers.SerializerMethodField(
        help_text="the epsilon this round alone spends (null: no DP)"
    )

    class Meta:
        model = Round
        fields = [
            "id",
            "state",
            "reason",
            "architecture",
            "base_model",
            "base_version",
            "config",
            "config_hash",
            "protection",
            "proof_scheme",
            "proof_key",
            "max_samples",
            "update_norm_bound",
            "server_strategy",
            "dp_noise_multiplier",
            "dp_delta",
            "dp_epsilon",
            "quorum",
            "deadline",
            "participants",
            "submitted",
            "result_model",
            "chain",
            "stage_seconds",
            "created_at",
            "updated_at",
        ]

    def get_proof_key(self, round_: Round) -> dict | None:
        """The round's proving key: who contributed, the beacon and the files' digests (no vkey body)."""
        setup = round_.proof_setup
        return {k: v for k, v in setup.items() if k != "vkey"} if setup else None

    def get_submitted(self, round_: Round) -> list[str]:
        return sorted(round_.submissions.values_list("hospital__slug", flat=True))

    def get_chain(self, round_: Round) -> dict | None:
        """The round's chain transactions (kind, hospital, tx hash, block, gas) and their total gas."""
        return ledger_selectors.chain_record(round_)

    def get_dp_epsilon(self, round_: Round) -> float | None:
        return round_epsilon(round_)

    def get_result_model(self, round_: Round) -> dict | None:
        model = model_produced_by(round_.pk)
        return None if model is None else {"id": model.pk, "version": model.version, "metrics": model.metrics}


class ChainTxSerializer(serializers.Serializer):
    tx_hash = serializers.CharField()
    block_number = serializers.IntegerField()
    gas_used = serializers.IntegerField()


class SubmissionSerializer(serializers.ModelSerializer):
    hospital = serializers.CharField(source="hospital.slug")
    chain = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id",
            "round",
            "hospital",
            "blob_digest",
            "blob_size",
            "num_samples",
            "metrics",
            "proof_status",
            "excluded_reason",
            "chain",
            "created_at",
        ]

    @extend_schema_field(ChainTxSerializer(allow_null=True))
    def get_chain(self, submission: Submission) -> dict | None:
        """The transaction that recorded this submission on chain, once mined."""
        tx = ledger_selectors.submission_chain_tx(submission.round_id, submission.hospital_id)
        return None if tx is None else ChainTxSerializer(tx).data


class CancelSerializer(JsonInputSerializer):
    reason = serializers.CharField(max_length=1000)


class ParticipationSerializer(JsonInputSerializer):
    hospital = serializers.SlugRelatedField(
        slug_field="slug", queryset=Hospital.objects.all(), required=False
    )
    opted_in = serializers.BooleanField()


_SIMPLE_FIELDS: dict[type, type[serializers.Field]] = {
    bool: serializers.BooleanField,
    int: serializers.IntegerField,
    float: serializers.FloatField,
    str: serializers.CharField,
}


@cache
def protocol_serializer(message: type[Message]) -> type[serializers.Serializer]:
    """A serializer generated from a protocol dataclass (protocol/), so that the OpenAPI schema documents the
    node protocol field for field as the portal builds it and the node parses it. Every field is required:
    to_json() writes them all, None included."""
    fields = {name: _protocol_field(hint, required=True) for name, hint in field_types(message).items()}
    attributes = {**fields, "__doc__": message.__doc__, "__module__": __name__}
    return type(f"{message.__name__}Serializer", (serializers.Serializer,), attributes)


def _protocol_field(hint: Any, **options: Any) -> serializers.Field:
    inner = optional_of(hint)
    if inner is not None:
        return _protocol_field(inner, allow_null=True, **options)
    if dataclasses.is_dataclass(hint):
        return protocol_serializer(hint)(**options)
    if typing.get_origin(hint) is list:
        return serializers.ListField(child=_protocol_field(typing.get_args(hint)[0]), **options)
    if typing.get_origin(hint) is dict:
        return serializers.DictField(**options)
    return _SIMPLE_FIELDS[hint](**options)


NodeTaskSerializer = protocol_serializer(NodeTask)
ProofChallengeSerializer = protocol_serializer(ProofChallenge)


class UploadSerializer(serializers.Serializer):
    """A node's upload: the update file and the fields of protocol.upload.Upload."""

    version = serializers.IntegerField(
        required=False,
        default=PROTOCOL_VERSION,
        min_value=min(SUPPORTED_VERSIONS),
        max_value=max(SUPPORTED_VERSIONS),
        error_messages=dict.fromkeys(
            ("min_value", "max_value"),
            f"This portal speaks node protocol version {PROTOCOL_VERSION}: run a node release that matches it",
        ),
    )
    update = serializers.FileField()
    num_samples = serializers.IntegerField(min_value=1, max_value=MAX_SAMPLES_LIMIT)
    metrics = serializers.JSONField(required=False, default=dict)
    proof = serializers.JSONField(required=False, allow_null=True, default=None)
    # The final classifier head in the clear, fixed point: {"weight": [[...]], "bias": [...]} (with a proof, in a
    # plaintext round only: under ckks it travels shared inside the encrypted update).
    head = serializers.JSONField(required=False, allow_null=True, default=None)
    # The node's signature (0x, 65 bytes hex) of protocol.signing.upload_statement with its enrolled signing key.
    signature = serializers.RegexField(r"^0x[0-9a-fA-F]{130}$", required=False, allow_blank=True, default="")

    def validate_metrics(self, value):
        if not isinstance(value, dict) or len(json.dumps(value)) > 20_000:
            raise serializers.ValidationError("metrics must be a JSON object under 20 kB")
        return value


class ProofCommitmentSerializer(JsonInputSerializer):
    """protocol.node_task.ProofCommitment: the run's Merkle root, step count S and sample count n_h."""

    merkle_root = serializers.CharField(max_length=80)
    num_steps = serializers.IntegerField(min_value=1, max_value=MAX_SAMPLES_LIMIT)
    num_samples = serializers.IntegerField(min_value=1, max_value=MAX_SAMPLES_LIMIT)


class AuditDifferenceSerializer(serializers.Serializer):
    field = serializers.CharField()
    hospital = serializers.CharField(required=False)
    database = serializers.JSONField(allow_null=True)
    chain = serializers.JSONField(allow_null=True)


class AuditReportSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    consistent = serializers.BooleanField()
    chain_id = serializers.IntegerField(allow_null=True)
    contract = serializers.CharField(allow_null=True)
    state = serializers.DictField(child=serializers.CharField())
    differences = AuditDifferenceSerializer(many=True)
    excluded = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="hospitals left out of the sum after their upload was accepted, and why",
    )


class CampaignCreateSerializer(RoundCreateSerializer):
    """A campaign: its first round's plan (as a round's, without a deadline: each round gets round_seconds from
    when it is planned), how many rounds, and the stopping rule."""

    deadline = None
    name = serializers.CharField(max_length=200)
    rounds = serializers.IntegerField(min_value=1, max_value=1000, help_text="rounds to run at most")
    round_seconds = serializers.IntegerField(
        min_value=60, max_value=30 * 24 * 3600, help_text="how long each round may collect"
    )
    target_auc = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        help_text="stop once the model's validation AUC reaches it",
    )
    epsilon_budget = serializers.FloatField(
        min_value=0.0,
        required=False,
        help_text="the most epsilon the campaign's rounds may spend together (needs dp_noise_multiplier)",
    )


class CampaignRoundSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    round = serializers.IntegerField()
    state = serializers.CharField()
    val_accuracy = serializers.FloatField(allow_null=True)
    val_auc = serializers.FloatField(allow_null=True)
    epsilon = serializers.FloatField(
        allow_null=True, help_text="epsilon spent by the campaign up to this round"
    )


class CampaignSerializer(serializers.ModelSerializer):
    rounds = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "state",
            "reason",
            "rounds_planned",
            "round_seconds",
            "target_auc",
            "epsilon_budget",
            "rounds",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(CampaignRoundSerializer(many=True))
    def get_rounds(self, campaign: Campaign) -> list[dict[str, Any]]:
        return campaign_rounds(campaign)


class PublishedProofSerializer(serializers.Serializer):
    """A submission's proof of training as published (proofs.verification.published_proof): enough to re-verify
    it without the portal."""

    round = serializers.IntegerField()
    hospital = serializers.CharField()
    bundle = serializers.JSONField(help_text="the node's proof bundle: every proof it made, with its leaves")
    context = serializers.DictField(
        help_text="what every proof is bound to: text, round_id, sender, model_hash"
    )
    vkey = serializers.JSONField(help_text="the round's Groth16 verification key (snarkjs JSON)")
    initial_head_hash = serializers.CharField(
        help_text="Poseidon hash of the global head the run starts from"
    )
    lr_q = serializers.IntegerField(help_text="the head's learning rate at scale 2^16")
    proof_steps = serializers.IntegerField(
        help_text="proofs spot-checked, or the chain's sample with every step"
    )
    steps_per_proof = serializers.IntegerField(help_text="T: the consecutive steps each proof covers")
    steps = serializers.IntegerField(allow_null=True, help_text="the run's committed step count S")
    every_step = serializers.BooleanField()
    head_commitment = serializers.CharField(
        allow_blank=True, help_text="the run's final head hash, as stored"
    )
