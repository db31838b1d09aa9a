"""How an update travels and is summed: the portal side of each scheme.

A scheme checks one uploaded blob (shape, size, parameters, key) and, at aggregation, turns the round's blobs
into the plain sum of the hospitals' weighted updates (sum n_h * delta_h). Nodes produce blobs with the
matching node-side code (hospitals.node.protect). "ckks" is the default; "plaintext" is the benchmark baseline.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from crypto import plain
from dhportal.errors import InvalidUpload
from rounds.models import Round


class AggregationError(Exception):
    """The sum could not be computed or opened (a key party failed, a digest differed)."""


class ProtectionScheme(Protocol):
    name: str

    def node_material(self, round_: Round) -> dict: ...

    def check(self, round_: Round, blob: bytes, expected_length: int) -> None: ...

    def sum_and_open(self, round_: Round, blobs: list[bytes], expected_length: int) -> np.ndarray: ...


class PlaintextScheme:
    name = "plaintext"

    def node_material(self, round_: Round) -> dict:
        return {"scheme": self.name}

    def check(self, round_: Round, blob: bytes, expected_length: int) -> None:
        try:
            plain.decode(blob, expected_length)
        except plain.PlainUpdateError as exc:
            raise InvalidUpload(f"Update refused: {exc}") from None

    def sum_and_open(self, round_: Round, blobs: list[bytes], expected_length: int) -> np.ndarray:
        return np.sum([plain.decode(blob, expected_length) for blob in blobs], axis=0)


SCHEMES: dict[str, ProtectionScheme] = {"plaintext": PlaintextScheme()}


def get(name: str) -> ProtectionScheme:
    scheme = SCHEMES.get(name)
    if scheme is None:
        raise InvalidUpload(
            f"Unknown aggregation scheme {name!r}; choose one of {', '.join(sorted(SCHEMES))}"
        )
    return scheme
