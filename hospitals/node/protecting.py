"""Node side of update protection: turn n_h * delta_h into the blob the round's scheme expects."""

from __future__ import annotations

import numpy as np

from crypto import plain
from hospitals.node.client import PortalClient


def protect(material: dict, weighted_delta: np.ndarray, client: PortalClient) -> bytes:
    scheme = material["scheme"]
    if scheme == "plaintext":
        return plain.encode(weighted_delta)
    raise ValueError(f"this node does not support the protection scheme {scheme!r}: update the node software")
