"""Writes of the model registry: architectures and global model versions."""

from __future__ import annotations

import numpy as np

from fl import models as fl_models
from fl import params as fl_params
from fl.fedavg import round_head_to_fixed_point
from fl.serialization import weights_to_bytes
from hospitals.models import User
from hospitals.services import require_coordinator
from registry import blobstore
from registry.models import GlobalModel, ModelArchitecture
from registry.weights import head_hash_of, load_weights


def ensure_architecture(key: str, num_classes: int) -> ModelArchitecture:
    architecture_spec = fl_models.get_architecture(key)  # raises ValueError for an unknown key
    architecture, _ = ModelArchitecture.objects.get_or_create(
        key=key,
        num_classes=num_classes,
        defaults={
            "description": architecture_spec.description,
            "architecture_hash": fl_models.architecture_hash(key),
            "parameter_count": fl_params.parameter_count(
                fl_models.build_model(key, num_classes).state_dict()
            ),
        },
    )
    return architecture


def store_model(architecture: ModelArchitecture, version: int, vector: np.ndarray, **fields) -> GlobalModel:
    """A new version: its weights in the blob store (content-addressed), its head hash for the proofs."""
    digest = blobstore.put_bytes(weights_to_bytes(vector))
    return GlobalModel.objects.create(
        architecture=architecture,
        version=version,
        weights_digest=digest,
        head_hash=head_hash_of(architecture, vector),
        **fields,
    )


def initialise_model(actor: User, key: str, num_classes: int, seed: int = 0) -> GlobalModel:
    """Version 0 of a model line: random weights from `seed`, head rounded to the fixed-point grid."""
    require_coordinator(actor)
    architecture = ensure_architecture(key, num_classes)
    existing = GlobalModel.objects.filter(architecture=architecture, version=0).first()
    if existing:
        return existing
    model = fl_models.build_model(key, num_classes, seed=seed)
    vector = fl_params.flatten(round_head_to_fixed_point(model.state_dict()))
    return store_model(architecture, 0, vector)


def backfill_head_hash(model: GlobalModel) -> str:
    """The model's head hash, computed and kept for a model stored before head hashes were."""
    if not model.head_hash:
        model.head_hash = head_hash_of(model.architecture, load_weights(model))
        model.save(update_fields=["head_hash"])
    return model.head_hash
