"""The Groth16 trusted setup (phase 2) made by the hospitals themselves, one ceremony per circuit, powers-of-tau
file and ordered list of contributing hospitals (proofs.services; docs/PROOFS.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from hospitals.models import Hospital


class Ceremony(models.Model):
    """Phase 2 of one proving key: the portal's initial zkey (no secret in it), one contribution per hospital in
    order, each made on the hospital's own machine and verified by the portal, then a beacon nobody knew while
    contributing, and the whole chain verified again before the key is used. Rounds with the same circuit and
    contributors reuse a ready ceremony."""

    class State(models.TextChoices):
        CONTRIBUTING = "contributing"  # waiting for the next hospital's contribution
        FINALIZING = "finalizing"  # every hospital contributed: the beacon and the final check are due
        READY = "ready"  # the final key is verified: rounds prove and verify with it
        FAILED = "failed"  # see reason; a new round starts a new ceremony

    state = models.CharField(max_length=20, choices=State.choices, default=State.CONTRIBUTING)
    reason = models.TextField(blank=True)
    # What the key is for: the circuit (crypto.zk circuit key and shape) and phase 1 (the ptau file).
    circuit_key = models.CharField(max_length=64)
    shape = models.JSONField()  # {"features", "classes", "batch"}
    constraints = models.PositiveIntegerField()
    ptau_name = models.CharField(max_length=255)
    ptau_sha256 = models.CharField(max_length=64)
    ptau_contributions = models.PositiveIntegerField()
    # SHA-256 of the ordered contributing hospitals' ids: with the circuit and ptau, what identifies a ceremony.
    contributors_key = models.CharField(max_length=64)
    # Blob digests (registry.blobstore): the initial zkey, the latest accepted one, and the final key's files.
    initial_zkey = models.CharField(max_length=64)
    current_zkey = models.CharField(max_length=64)
    current_zkey_size = models.PositiveBigIntegerField()
    final_zkey = models.CharField(max_length=64, blank=True)
    wasm_sha256 = models.CharField(max_length=64, blank=True)
    vkey_sha256 = models.CharField(max_length=64, blank=True)
    verification_key = models.JSONField(null=True, blank=True)
    # The beacon (hex), where it came from, and the chain block recorded when the last contribution was
    # accepted (the beacon is the hash of a later block).
    beacon = models.CharField(max_length=128, blank=True)
    beacon_source = models.TextField(blank=True)
    last_contribution_block = models.PositiveBigIntegerField(null=True, blank=True)
    # Rounds waiting for this ceremony to be ready: {"<round id>": ISO time it started waiting}.
    waiting_rounds = models.JSONField(default=dict, blank=True)
    # Seconds the portal spent: {"setup", "verify" (all contributions), "finalize"}.
    seconds = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One live ceremony per circuit, ptau and contributors; a failed one makes way for a new one.
            models.UniqueConstraint(
                fields=["circuit_key", "ptau_sha256", "contributors_key"],
                condition=~Q(state="failed"),
                name="one_live_ceremony_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"ceremony {self.pk} ({self.state})"


class Contribution(models.Model):
    """One hospital's place in a ceremony, and its contribution once made (zkey_after set)."""

    ceremony = models.ForeignKey(Ceremony, on_delete=models.CASCADE, related_name="contributions")
    position = models.PositiveSmallIntegerField()  # 1-based turn
    hospital = models.ForeignKey(Hospital, on_delete=models.PROTECT, related_name="+")
    zkey_before = models.CharField(max_length=64, blank=True)
    zkey_after = models.CharField(max_length=64, blank=True)
    # blake2b-512 of the contributor's public key and transcript: what `snarkjs zkey contribute` printed to it.
    contribution_hash = models.CharField(max_length=128, blank=True)
    verify_seconds = models.FloatField(null=True, blank=True)
    contributed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ceremony", "position"]
        constraints = [
            models.UniqueConstraint(fields=["ceremony", "position"], name="one_contributor_per_turn"),
            models.UniqueConstraint(fields=["ceremony", "hospital"], name="one_turn_per_contributor"),
        ]

    @property
    def made(self) -> bool:
        return bool(self.zkey_after)
