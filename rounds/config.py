"""A round's training configuration: validated once, hashed canonically, read by every node the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def config_hash(config: dict[str, Any], architecture_hash: str) -> str:
    return hashlib.sha256(canonical_json({"architecture_hash": architecture_hash, **config})).hexdigest()
