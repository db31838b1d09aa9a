"""Node side of update protection: turn n_h * delta_h into the blob the round's scheme expects.

Under ckks the node encrypts under the committee's joint key and seals the shares of its randomness to the key
parties' witness keys. Both come from the portal, so a node whose admin pinned key parties' commitments (learnt
from their operators, `dh-keyparty status`; `dh-node pin-key-party`) recomputes them from the key ceremony's
public record instead (crypto.keygen.combine_public_key checks every contribution against its commitment) and
encrypts only when every pinned party's contribution is in it: the portal then cannot hand the node a key whose
secret it knows, nor witness keys of its own for every party (one pinned honest party keeps u's sharing secret).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from crypto import ckks, keygen, plain, wellformed
from crypto.zk.poseidon import head_values
from fl.fedavg import clip_to_norm
from node.client import PortalClient
from protocol.node_task import ProtectionMaterial
from protocol.upload import Head


@lru_cache(maxsize=4)
def _public_context(client: PortalClient, url: str, key_id: str) -> bytes:
    context = client.get_bytes(url)
    if ckks.key_id(context) != key_id:
        raise ValueError("the portal's public key does not match the round's key id: refusing to encrypt")
    ckks.load_public_context(context)  # refuses a context that carries a secret key
    return context


class CommitteeNotPinned(ValueError):
    """The round's key committee is not the one the key ceremony's record gives, or lacks a pinned key party."""


def pinned_committee(
    client: PortalClient, material: ProtectionMaterial, pins: Sequence[str]
) -> tuple[bytes, list[bytes]]:
    """The public context and witness keys recomputed from the committee's key ceremony, checked to hold every
    pinned party's contribution and to be the key id and witness keys the round names; CommitteeNotPinned if not."""
    if not material.contributions_url:
        raise CommitteeNotPinned(
            "the round does not say where its key ceremony's record is, so this node cannot check the key "
            "committee against the key parties it pinned: update the portal"
        )
    try:
        record = client.get_json(material.contributions_url)
        seed = bytes.fromhex(record["seed"])
        parties = sorted(record["parties"], key=lambda party: int(party["index"]))
        commitments = [str(party["commitment"]).lower() for party in parties]
        contributions = [base64.b64decode(party["contribution"], validate=True) for party in parties]
        context = keygen.combine_public_key(seed, commitments, contributions)
        witness_keys = [keygen.Contribution.from_bytes(item).witness_key for item in contributions]
    except (KeyError, TypeError, ValueError, binascii.Error, keygen.KeyGenError) as exc:
        raise CommitteeNotPinned(
            f"the key ceremony's record from the portal does not check out: {exc}"
        ) from None
    missing = [pin for pin in pins if pin.lower() not in commitments]
    if missing:
        raise CommitteeNotPinned(
            f"the round's key committee does not hold the key party this node pinned (commitment {missing[0]}): "
            "the portal may be handing out a key of its own; refusing to encrypt"
        )
    if (
        ckks.key_id(context) != material.key_id
        or [key.hex() for key in witness_keys] != material.witness_keys
    ):
        raise CommitteeNotPinned(
            "the key id or witness keys of the round are not those of its key ceremony's record: the portal may "
            "be handing out keys of its own; refusing to encrypt"
        )
    return context, witness_keys


class PlaintextRefused(ValueError):
    """The round asks for the update in the clear and this node's configuration does not allow it."""


def protect(
    material: ProtectionMaterial,
    weighted_delta: np.ndarray,
    client: PortalClient,
    allow_plaintext: bool = False,
    pinned_key_parties: Sequence[str] = (),
    head: Head | None = None,
) -> bytes:
    """The upload blob of a weighted update. `head`: the head the proof of training ends at; under ckks it
    travels only as shares sealed to the key parties inside the blob (crypto.wellformed)."""
    if material.scheme == "plaintext":
        if not allow_plaintext:
            raise PlaintextRefused(
                "the round asks for this hospital's update in the clear (protection 'plaintext') and this node "
                "does not allow it: set allow_plaintext in the node configuration only for a benchmark or test "
                "consortium"
            )
        if material.norm_bound is not None:
            plain.check_norm(weighted_delta, material.norm_bound)  # the portal would refuse it
        return plain.encode(weighted_delta)
    if material.scheme == "ckks":
        if pinned_key_parties:
            context, keys = pinned_committee(client, material, pinned_key_parties)
        else:
            context = _public_context(client, material.public_context_url, material.key_id)
            keys = [bytes.fromhex(key) for key in material.witness_keys]
        shared_head = [] if head is None else head_values(head.weight, head.bias)
        if material.dp_noise_std > 0:  # differential privacy: the noise is sized for updates within the bound
            weighted_delta = clip_to_norm(weighted_delta, material.norm_bound)
        return wellformed.encrypt_vector(context, weighted_delta, keys, material.norm_bound, shared_head)
    raise ValueError(
        f"this node does not support the protection scheme {material.scheme!r}: update the node software"
    )
