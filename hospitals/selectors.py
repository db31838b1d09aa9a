"""Reads of hospitals, users and tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from hospitals.models import ApiToken, Hospital, User

NODE_ONLINE_WINDOW = timedelta(minutes=5)


def hospital_by_node_token_prefix(prefix: str) -> Hospital | None:
    return Hospital.objects.filter(node_token_prefix=prefix).exclude(node_token_hash="").first()


def api_token_by_prefix(prefix: str) -> ApiToken | None:
    return ApiToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()


def hospitals_visible_to(user: User) -> QuerySet[Hospital]:
    if user.is_coordinator:
        return Hospital.objects.all()
    return Hospital.objects.filter(pk=user.hospital_id)


def node_is_online(hospital: Hospital, now: datetime | None = None) -> bool:
    seen = hospital.node_last_seen_at
    return seen is not None and (now or timezone.now()) - seen < NODE_ONLINE_WINDOW


def node_status(hospital: Hospital, now: datetime | None = None) -> str:
    """ "never_connected" (no request ever came with its node token), "online" (one came within
    NODE_ONLINE_WINDOW) or "offline"."""
    if hospital.node_last_seen_at is None:
        return "never_connected"
    return "online" if node_is_online(hospital, now) else "offline"


def node_token_expired(hospital: Hospital, now: datetime | None = None) -> bool:
    expires_at = hospital.node_token_expires_at
    return expires_at is not None and (now or timezone.now()) >= expires_at
