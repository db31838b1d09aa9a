"""Node side of update protection: turn n_h * delta_h into the blob the round's scheme expects."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from crypto import ckks, plain, wellformed
from node.client import PortalClient
from protocol.node_task import ProtectionMaterial


@lru_cache(maxsize=4)
def _public_context(client: PortalClient, url: str, key_id: str) -> bytes:
    context = client.get_bytes(url)
    if ckks.key_id(context) != key_id:
        raise ValueError("the portal's public key does not match the round's key id: refusing to encrypt")
    ckks.load_public_context(context)  # refuses a context that carries a secret key
    return context


class PlaintextRefused(ValueError):
    """The round asks for the update in the clear and this node's configuration does not allow it."""


def protect(
    material: ProtectionMaterial,
    weighted_delta: np.ndarray,
    client: PortalClient,
    allow_plaintext: bool = False,
) -> bytes:
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
        context = _public_context(client, material.public_context_url, material.key_id)
        keys = [bytes.fromhex(key) for key in material.witness_keys]
        return wellformed.encrypt_vector(context, weighted_delta, keys, material.norm_bound)
    raise ValueError(
        f"this node does not support the protection scheme {material.scheme!r}: update the node software"
    )
