"""The aggregation committee's public record: the key parties, their committees and joint public keys, and the
decryption jobs the parties pull. No key share is ever stored here: each lives on its party's own host."""

from __future__ import annotations

from django.db import models


class KeyParty(models.Model):
    """A key party's service (`dh-keyparty`), run by one organisation on its own host.

    Enrolled with a one-time code (stored hashed, like its token): it registers the address the other parties
    reach its MPyC process at, and its TLS identity certificate (public)."""

    name = models.CharField(max_length=100, unique=True)
    token_prefix = models.CharField(max_length=32, blank=True, db_index=True)
    token_hash = models.CharField(max_length=64, blank=True)
    enrollment_code_hash = models.CharField(max_length=64, blank=True, db_index=True)
    enrollment_code_expires_at = models.DateTimeField(null=True, blank=True)
    address = models.CharField(max_length=260, blank=True, help_text="host:port of its MPyC process")
    certificate = models.TextField(
        blank=True, help_text="its TLS identity: a self-signed CA certificate (PEM)"
    )
    certificate_subject = models.CharField(max_length=200, blank=True)
    certificate_fingerprint = models.CharField(max_length=64, blank=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def enrolled(self) -> bool:
        return bool(self.token_hash)


class KeyCommittee(models.Model):
    """The key parties jointly holding a CKKS secret key; only their joint public key is stored here.

    KEYGEN: every member commits to its public contribution, then reveals it; once all have revealed, the portal
    combines them into the joint public key and the committee is ACTIVE (rounds encrypt under the newest active
    one). RETIRED: a committee of an earlier version, kept for the record."""

    class State(models.TextChoices):
        KEYGEN = "keygen"
        ACTIVE = "active"
        RETIRED = "retired"

    state = models.CharField(max_length=16, choices=State.choices, default=State.KEYGEN)
    seed = models.CharField(max_length=64, help_text="public seed of the common polynomial a (hex)")
    key_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    public_context_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]


class CommitteeMember(models.Model):
    """Party `index` of a committee: its commitment, then its revealed contribution (both public)."""

    committee = models.ForeignKey(KeyCommittee, on_delete=models.CASCADE, related_name="members")
    party = models.ForeignKey(KeyParty, on_delete=models.PROTECT, related_name="memberships")
    index = models.PositiveSmallIntegerField()
    commitment = models.CharField(max_length=64, blank=True)
    contribution_digest = models.CharField(max_length=64, blank=True, help_text="blob store digest")

    class Meta:
        ordering = ["committee_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["committee", "index"], name="committee_member_index"),
            models.UniqueConstraint(fields=["committee", "party"], name="committee_member_party"),
        ]


class DecryptionJob(models.Model):
    """The committee opens the sum of these ciphertexts, and nothing else.

    Every member fetches the job and its blobs, checks each blob's hospital signature and their number against
    `terms` (crypto.decryption_job), recomputes the sum, compares its digest with `sum_digest` and takes part in the MPC of the current attempt; the job is DONE when every member has posted the same opened
    vector for that attempt. A member reporting failure, results that differ, or an attempt past its deadline
    start the next attempt; past `expires_at` the job is FAILED."""

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    committee = models.ForeignKey(KeyCommittee, on_delete=models.PROTECT, related_name="jobs")
    name = models.CharField(max_length=100, unique=True)
    blob_digests = models.JSONField(help_text="blob store digests of the ciphertexts, in order")
    # crypto.decryption_job.JobTerms as JSON: {"round", "min_hospitals", "submissions": [signed upload, ...]}
    terms = models.JSONField(default=dict)
    vector_length = models.PositiveIntegerField()
    sum_digest = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempt = models.PositiveIntegerField(default=1)
    attempt_started_at = models.DateTimeField(help_text="when the current attempt starts (may be ahead)")
    attempt_deadline = models.DateTimeField()
    expires_at = models.DateTimeField()
    # {"<index>": attempt}: the attempt each member last fetched
    fetched = models.JSONField(default=dict)
    # {"<index>": {"attempt", "digest", "report", "at"}}: what each member posted last
    results = models.JSONField(default=dict)
    # [{"attempt", "party", "reason", "at"}], the latest last (at most MAX_FAILURES_KEPT)
    failures = models.JSONField(default=list)
    opened_digest = models.CharField(
        max_length=64, blank=True, help_text="blob store digest of the opened sum"
    )
    seconds = models.FloatField(null=True, blank=True, help_text="from creation to the opened sum")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
