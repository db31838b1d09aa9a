"""The chain ledger: registries deployed and every transaction a round sent."""

from __future__ import annotations

from django.db import models

from hospitals.models import Hospital


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
        "rounds.Round", null=True, blank=True, on_delete=models.PROTECT, related_name="chain_transactions"
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
