"""Node side of proof of training: the proof bundle the round asks for, or None."""

from __future__ import annotations

from typing import Any

from fl.training import LocalResult
from hospitals.node.client import PortalClient


def prove(material: dict, result: LocalResult, client: PortalClient) -> dict[str, Any] | None:
    if material["scheme"] == "none":
        return None
    raise ValueError(f"this node does not support the proof scheme {material['scheme']!r}")
