"""What a hospital node uploads with its protected update (POST /api/node/rounds/<id>/submission/).

The update blob travels as the multipart file UPDATE_FIELD; the Upload's fields travel beside it as form fields
(Upload.form_fields), which the portal's UploadSerializer reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from protocol.codec import PROTOCOL_VERSION, Message

UPDATE_FIELD = "update"


@dataclass(frozen=True)
class Head(Message):
    """The final classifier head, fixed point (scale 2^16): k rows of d integers, k biases. Uploaded in the clear
    only beside an update in the clear; under ckks it travels shared between the key parties."""

    weight: list[list[int]]
    bias: list[int]


@dataclass(frozen=True)
class Upload(Message):
    """The form fields of a submission, beside the update blob."""

    version: int = field(default=PROTOCOL_VERSION, kw_only=True)
    num_samples: int
    metrics: dict[str, Any] = field(default_factory=dict)  # free-form: training and local validation figures
    proof: dict[str, Any] | None = None  # the proof bundle of crypto.zk (with a proof of training)
    head: Head | None = None  # the head the proof ends at (with a proof of training, plaintext rounds only)
    # The node's signature of protocol.signing.upload_statement (with its enrolled signing key).
    signature: str | None = None

    def form_fields(self) -> dict[str, str]:
        """The multipart form fields: integers and strings as text, the rest as JSON; absent (None) fields left
        out."""
        return {
            name: str(value) if isinstance(value, int | str) else json.dumps(value)
            for name, value in self.to_json().items()
            if value is not None
        }
