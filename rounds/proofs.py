"""Proof of training, portal side: what a submission's proof must show before the submission counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from dhportal.errors import InvalidUpload
from hospitals.models import Hospital
from rounds.models import ModelArchitecture, Round

DEFAULT_STEPS = 4


def head_hash_of(architecture: ModelArchitecture, vector: np.ndarray) -> str:
    return ""


def verify_submission(round_: Round, hospital: Hospital, proof: dict[str, Any] | None) -> str:
    if proof is not None:
        raise InvalidUpload("This round takes no proof")
    return "none"


def node_material(round_: Round, hospital: Hospital) -> dict[str, Any]:
    return {"scheme": "none"}
