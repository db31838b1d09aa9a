"""Reads of the aggregation committee: the active committee and its joint public key."""

from __future__ import annotations

from committee.models import KeyCommittee
from registry import blobstore
from web.errors import NotFound


def active_committee() -> KeyCommittee | None:
    return KeyCommittee.objects.order_by("-id").first()


def get_committee(committee_id: int) -> KeyCommittee:
    key_committee = KeyCommittee.objects.filter(pk=committee_id).first()
    if key_committee is None:
        raise NotFound(f"Key committee {committee_id} does not exist")
    return key_committee


def public_context(committee: KeyCommittee) -> bytes:
    return blobstore.read_bytes(committee.public_context_digest)
