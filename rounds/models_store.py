"""Global model weights in the blob store, content-addressed."""

from __future__ import annotations

import numpy as np

from fl.serialization import weights_from_bytes
from rounds import blobstore
from rounds.models import GlobalModel


def load_weights(model: GlobalModel) -> np.ndarray:
    return weights_from_bytes(blobstore.read_bytes(model.weights_digest))
