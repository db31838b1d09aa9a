"""A round plan, hashed canonically: the portal binds it on chain and every node reads it the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def config_hash(config: dict[str, Any], architecture_hash: str) -> str:
    return hashlib.sha256(canonical_json({"architecture_hash": architecture_hash, **config})).hexdigest()
