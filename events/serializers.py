"""How the audit trail reads in the API."""

from __future__ import annotations

from rest_framework import serializers

from events.models import AuditEvent


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "round", "actor", "kind", "from_state", "to_state", "detail", "created_at"]
