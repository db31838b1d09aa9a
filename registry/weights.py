"""A global model's weights: the flat vector in the blob store, and the state dict of its architecture."""

from __future__ import annotations

import io

import numpy as np

from crypto.zk import head_hash
from fl import models as fl_models
from fl import params as fl_params
from fl.params import StateDict
from fl.serialization import weights_from_bytes
from fl.strategy import ServerConfig, ServerState
from fl.training import head_of
from registry import blobstore
from registry.models import GlobalModel, ModelArchitecture


def load_weights(model: GlobalModel) -> np.ndarray:
    return weights_from_bytes(blobstore.read_bytes(model.weights_digest))


def server_state_bytes(state: ServerState) -> bytes:
    """A server optimiser's state (named float64 vectors) as .npz bytes for the blob store."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(values, dtype=np.float64) for name, values in state.items()})
    return buffer.getvalue()


def load_server_state(model: GlobalModel, server: ServerConfig) -> ServerState | None:
    """The state `server`'s strategy left beside `model`, to go on from; None when another strategy (or none)
    made the model: the optimiser then starts afresh."""
    if not model.server_state_digest or model.server_strategy.get("name") != server.name:
        return None
    with np.load(io.BytesIO(blobstore.read_bytes(model.server_state_digest)), allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def template_state(architecture: ModelArchitecture) -> StateDict:
    return fl_models.build_model(architecture.key, architecture.num_classes).state_dict()


def state_of(architecture: ModelArchitecture, vector: np.ndarray) -> StateDict:
    return fl_params.unflatten(vector, template_state(architecture))


def head_hash_of(architecture: ModelArchitecture, vector: np.ndarray) -> str:
    """Poseidon hash of the model's quantised head: what the first step of every proof must start from."""
    return str(head_hash(*head_of(state_of(architecture, vector))))
