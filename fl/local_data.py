"""A hospital's own data on disk: what a node is pointed at, and how the demo writes each hospital's share.

Accepted: a MedMNIST-format .npz (<split>_images, <split>_labels), a tabular .npz (<split>_features,
<split>_labels), or a folder with one subfolder of images per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fl.data import Dataset, load_image_folder, load_medmnist_npz
from fl.models import describe_input


def save_npz(path: Path, splits: dict[str, Dataset]) -> Path:
    """Writes datasets as {split: Dataset} in the format load_local_dataset reads back exactly."""
    arrays: dict[str, np.ndarray] = {}
    for split, dataset in splits.items():
        if dataset.inputs.ndim == 4:  # images in [0, 1], stored as MedMNIST's uint8, N x S x S (x 3)
            images = np.rint(np.moveaxis(dataset.inputs, 1, -1) * 255).astype(np.uint8)
            arrays[f"{split}_images"] = images[..., 0] if images.shape[-1] == 1 else images
        else:
            arrays[f"{split}_features"] = dataset.inputs.astype(np.float32)
        arrays[f"{split}_labels"] = dataset.labels[:, None].astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_local_dataset(
    path: str | Path, num_classes: int, sample_shape: tuple[int, ...], split: str = "train"
) -> Dataset:
    """The data at `path` for a model of `num_classes` classes taking samples of `sample_shape`; a ValueError
    names the file and what does not fit (and never holds a data value)."""
    path = Path(path)
    if path.is_dir():
        dataset = load_image_folder(path, sample_shape=sample_shape)
    elif not path.is_file():
        raise ValueError(f"{path} does not exist: point the node at a .npz file or an image folder")
    else:
        with np.load(path, allow_pickle=False) as archive:
            tabular = f"{split}_features" in archive.files
            if tabular:
                features = archive[f"{split}_features"].astype(np.float32)
                labels = archive[f"{split}_labels"].reshape(-1).astype(np.int64)
        if tabular:
            dataset = Dataset(features, labels, num_classes)
        else:
            dataset = load_medmnist_npz(path, split, num_classes=num_classes)
    if dataset.sample_shape != tuple(sample_shape):
        raise ValueError(
            f"{path} holds samples of {describe_input(dataset.sample_shape)}, but the round's model takes "
            f"{describe_input(tuple(sample_shape))}: point the node at data of that shape, or ask the "
            "coordinator for a model of this data's shape"
        )
    if dataset.num_classes > num_classes:
        raise ValueError(
            f"{path} has {dataset.num_classes} classes, but the round's model predicts {num_classes}: use data "
            "of this task's classes only"
        )
    return dataset
