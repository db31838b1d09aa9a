"""The aggregation committee's public record: its joint public key and who holds the shares."""

from __future__ import annotations

from django.db import models


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
