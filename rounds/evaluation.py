"""Global validation of a new model on the coordinator's validation data (DH_VALIDATION_DATA)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from django.conf import settings

from fl.data import Dataset
from fl.local_data import load_local_dataset
from fl.models import get_architecture
from fl.training import evaluate
from registry.models import ModelArchitecture
from registry.weights import state_of


@lru_cache(maxsize=4)
def _validation_data(path: str, num_classes: int, sample_shape: tuple[int, ...]) -> Dataset:
    return load_local_dataset(path, num_classes, sample_shape, split="val")


def evaluate_vector(architecture: ModelArchitecture, vector: np.ndarray) -> dict[str, Any]:
    """{"val_accuracy", "val_auc", "val_loss"} or {} when no validation data is configured."""
    if not settings.DH_VALIDATION_DATA:
        return {}
    sample_shape = get_architecture(architecture.key).input_shape
    data = _validation_data(settings.DH_VALIDATION_DATA, architecture.num_classes, sample_shape)
    scores = evaluate(state_of(architecture, vector), architecture.key, data)
    return {f"val_{name}": value for name, value in scores.items()}
