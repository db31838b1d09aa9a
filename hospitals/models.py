from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Hospital(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The node token is stored hashed; the prefix finds the row without revealing anything.
    node_token_prefix = models.CharField(max_length=32, blank=True, db_index=True)
    node_token_hash = models.CharField(max_length=64, blank=True)
    # None: the node token works until rotated or revoked; else it is refused from this moment on.
    node_token_expires_at = models.DateTimeField(null=True, blank=True)
    node_last_seen_at = models.DateTimeField(null=True, blank=True)
    # Ethereum address the hospital's node submits from: its own key, made and registered at enrollment.
    chain_address = models.CharField(max_length=42, blank=True)
    # The address of the node's signing key (secp256k1, made at enrollment): it signs the node's uploads.
    signing_address = models.CharField(max_length=42, blank=True)
    # A one-time enrollment code for the hospital's node (`dh-node enroll`): stored hashed, refused once used
    # or past its expiry.
    enrollment_code_hash = models.CharField(max_length=64, blank=True, db_index=True)
    enrollment_code_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    class Role(models.TextChoices):
        COORDINATOR = "coordinator"
        HOSPITAL_ADMIN = "hospital_admin"

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.HOSPITAL_ADMIN)
    hospital = models.ForeignKey(
        Hospital, null=True, blank=True, on_delete=models.PROTECT, related_name="admins"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="hospital_admin_has_hospital",
                condition=~models.Q(role="hospital_admin") | models.Q(hospital__isnull=False),
            )
        ]

    @property
    def is_coordinator(self) -> bool:
        return self.role == self.Role.COORDINATOR


class ApiToken(models.Model):
    """A user's token for automation (REST API); hashed like node tokens."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=32, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
