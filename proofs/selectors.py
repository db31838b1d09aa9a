"""Reads of the trusted-setup ceremonies, as a hospital's node sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hospitals.models import Hospital
from proofs.models import Ceremony, Contribution
from proofs.services import contribution_limit, contributor_slot, get_ceremony, next_contribution
from registry import blobstore
from web.errors import NotFound


def ceremony_url(ceremony_id: int) -> str:
    return f"/api/node/ceremonies/{ceremony_id}/"


def contributions_due(hospital: Hospital) -> list[dict[str, Any]]:
    """The ceremonies waiting for this hospital's contribution now, oldest first, as JSON-ready items for the
    node's work list: {"ceremony": id, "url": where the node reads what to download and where to upload}.
    node.ceremony.contribute(client, item) does the contribution."""
    due = []
    for slot in (
        Contribution.objects.filter(
            hospital=hospital, zkey_after="", ceremony__state=Ceremony.State.CONTRIBUTING
        )
        .select_related("ceremony")
        .order_by("ceremony_id")
    ):
        turn = next_contribution(slot.ceremony)
        if turn is not None and turn.pk == slot.pk:
            due.append({"ceremony": slot.ceremony_id, "url": ceremony_url(slot.ceremony_id)})
    return due


def node_ceremony(hospital: Hospital, ceremony_id: int) -> dict[str, Any]:
    """What a contributing hospital's node needs: whose turn it is, the current zkey to download (URL, SHA-256,
    size, how many contributions it holds), the name its contribution must carry and where to upload it.
    Other hospitals are refused (403)."""
    ceremony = get_ceremony(ceremony_id)
    slot = contributor_slot(ceremony, hospital)
    contributions = list(ceremony.contributions.select_related("hospital").order_by("position"))
    turn = next_contribution(ceremony) if ceremony.state == Ceremony.State.CONTRIBUTING else None
    base = ceremony_url(ceremony.pk)
    return {
        "ceremony": ceremony.pk,
        "state": ceremony.state,
        "circuit_key": ceremony.circuit_key,
        "shape": ceremony.shape,
        "constraints": ceremony.constraints,
        "ptau_sha256": ceremony.ptau_sha256,
        "contributors": [c.hospital.slug for c in contributions],
        "position": slot.position,
        "turn": turn.hospital.slug if turn is not None else None,
        "your_turn": turn is not None and turn.pk == slot.pk,
        "contributed": slot.made,
        "name": hospital.slug,
        "zkey": {
            "sha256": ceremony.current_zkey,
            "size": ceremony.current_zkey_size,
            "contributions": sum(1 for c in contributions if c.made),
            "url": f"{base}zkey/",
        },
        "contribution_url": f"{base}contribution/",
        "max_bytes": contribution_limit(ceremony),
        "contributions": [
            {
                "hospital": c.hospital.slug,
                "position": c.position,
                "zkey_sha256": c.zkey_after,
                "contribution_hash": c.contribution_hash,
                "contributed_at": c.contributed_at.isoformat() if c.contributed_at else None,
            }
            for c in contributions
            if c.made
        ],
    }


def current_zkey(hospital: Hospital, ceremony_id: int) -> tuple[Path, str]:
    """The ceremony's current zkey file and its digest, for a contributing hospital's node."""
    ceremony = get_ceremony(ceremony_id)
    contributor_slot(ceremony, hospital)
    path = blobstore.path_of(ceremony.current_zkey)
    if not path.exists():
        raise NotFound(f"Ceremony {ceremony_id}'s current zkey is missing from the blob store")
    return path, ceremony.current_zkey
