"""Reads of the audit trail."""

from __future__ import annotations

from django.db.models import QuerySet

from events.models import AuditEvent


def events_of(round_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(round_id=round_id).order_by("id")


def events_of_kind(round_id: int, kind: str) -> QuerySet[AuditEvent]:
    return events_of(round_id).filter(kind=kind)


def audit_trail(limit: int) -> QuerySet[AuditEvent]:
    """The newest `limit` events of the whole portal, newest first."""
    return AuditEvent.objects.order_by("-id")[:limit]
