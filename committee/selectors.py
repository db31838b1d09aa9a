"""Reads of the aggregation committee: key parties, committees, the active one and its joint public key."""

from __future__ import annotations

import base64
from typing import Any

from django.db.models import QuerySet

from committee.models import CommitteeMember, DecryptionJob, KeyCommittee, KeyParty
from crypto import keygen
from registry import blobstore
from web.errors import Conflict, NotFound


def active_committee() -> KeyCommittee | None:
    """The newest committee whose joint key is made: rounds planned now encrypt under it."""
    return KeyCommittee.objects.filter(state=KeyCommittee.State.ACTIVE).order_by("-id").first()


def get_committee(committee_id: int) -> KeyCommittee:
    key_committee = KeyCommittee.objects.filter(pk=committee_id).first()
    if key_committee is None:
        raise NotFound(f"Key committee {committee_id} does not exist")
    return key_committee


def public_context(committee: KeyCommittee) -> bytes:
    if not committee.public_context_digest:
        raise Conflict(
            f"Key committee {committee.pk} has no joint key yet (its key ceremony is {committee.state})"
        )
    return blobstore.read_bytes(committee.public_context_digest)


def revealed_contributions(committee: KeyCommittee) -> dict[str, Any]:
    """The key ceremony's public record: the seed, and each party's commitment and revealed contribution (base64),
    in index order; from these anyone recomputes the joint key and the witness keys (crypto.keygen)."""
    public_context(committee)  # a Conflict until the ceremony is complete
    members = sorted(committee.members.all(), key=lambda m: m.index)
    return {
        "seed": committee.seed,
        "parties": [
            {
                "index": member.index,
                "commitment": member.commitment,
                "contribution": base64.b64encode(blobstore.read_bytes(member.contribution_digest)).decode(),
            }
            for member in members
        ],
    }


def witness_keys(committee: KeyCommittee) -> list[str]:
    """The parties' witness keys (hex, in index order), from their revealed contributions: what hospitals seal
    the shares of their encryption randomness to (crypto.wellformed)."""
    members = sorted(committee.members.all(), key=lambda m: m.index)
    return [
        keygen.Contribution.from_bytes(blobstore.read_bytes(member.contribution_digest)).witness_key.hex()
        for member in members
    ]


def decryption_seconds(job_name: str) -> float | None:
    """Seconds from a decryption job's creation to its opened sum, once it is done."""
    return (
        DecryptionJob.objects.filter(name=job_name, state=DecryptionJob.State.DONE)
        .values_list("seconds", flat=True)
        .first()
    )


def key_parties() -> QuerySet[KeyParty]:
    return KeyParty.objects.all()


def get_key_party(party_id: int) -> KeyParty:
    party = KeyParty.objects.filter(pk=party_id).first()
    if party is None:
        raise NotFound(f"Key party {party_id} does not exist")
    return party


def key_party_by_token_prefix(prefix: str) -> KeyParty | None:
    return KeyParty.objects.filter(token_prefix=prefix).exclude(token_hash="").first()


def committees() -> QuerySet[KeyCommittee]:
    return KeyCommittee.objects.prefetch_related("members__party")


def committee_record(committee: KeyCommittee) -> dict[str, Any]:
    """The committee as the coordinator sees it: its state, key id and each seat's progress."""
    members = sorted(committee.members.all(), key=lambda m: m.index)
    return {
        "id": committee.pk,
        "state": committee.state,
        "seed": committee.seed,
        "key_id": committee.key_id,
        "created_at": committee.created_at,
        "activated_at": committee.activated_at,
        "parties": [
            {
                "index": m.index,
                "id": m.party_id,
                "name": m.party.name,
                "address": m.party.address,
                "certificate_sha256": m.party.certificate_fingerprint,
                "committed": bool(m.commitment),
                "revealed": bool(m.contribution_digest),
            }
            for m in members
        ],
    }


def keygen_steps(party: KeyParty) -> list[dict[str, Any]]:
    """The key ceremony steps this party must take now: commit (make its share, post the commitment), then
    reveal (post its contribution) once every party of the committee has committed."""
    steps = []
    seats = CommitteeMember.objects.filter(
        party=party, committee__state=KeyCommittee.State.KEYGEN
    ).select_related("committee")
    for seat in seats:
        step = ""
        if not seat.commitment:
            step = "commit"
        elif not seat.contribution_digest:
            others = CommitteeMember.objects.filter(committee=seat.committee, commitment="").exists()
            step = "" if others else "reveal"
        if step:
            steps.append(
                {
                    "committee": seat.committee_id,
                    "index": seat.index,
                    "seed": seat.committee.seed,
                    "step": step,
                }
            )
    return steps
