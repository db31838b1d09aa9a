"""A hospital's own data on disk: what a node is pointed at, and how the demo writes each hospital's share.

Accepted: a MedMNIST-format .npz (<split>_images, <split>_labels), a tabular .npz (<split>_features,
<split>_labels), or a folder with one subfolder of images per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fl.data import (
    MEDMNIST_SPLITS,
    Dataset,
    image_array,
    labels_vector,
    load_image_folder,
    load_medmnist_npz,
    open_npz,
)
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
        with open_npz(path) as archive:
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


def describe_local_data(path: str | Path) -> str:
    """What the data at `path` holds, in a line for the hospital's admin (counts and shapes, never a value);
    ValueError when it is not data a node reads, saying why."""
    path = Path(path)
    if path.is_dir():
        folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ValueError(
                f"{path} has no subfolders: put each class's images in a subfolder named after it"
            )
        files = sum(
            1 for folder in folders for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
        )
        return f"image folder: {files} files in {len(folders)} class folders ({', '.join(p.name for p in folders)})"
    if not path.is_file():
        raise ValueError(f"{path} does not exist: point the node at a .npz file or an image folder")
    with open_npz(path) as archive:
        split = next((s for s in MEDMNIST_SPLITS if f"{s}_labels" in archive.files), None)
        if split is None:
            raise ValueError(f"{path} has no <split>_labels array for split in {MEDMNIST_SPLITS}")
        labels = labels_vector(archive[f"{split}_labels"], f"{path}: {split}_labels")
        classes = len(np.unique(labels))
        if f"{split}_features" in archive.files:
            rows, features = archive[f"{split}_features"].reshape(len(labels), -1).shape
            return f"{rows} rows of {features} features ({split}), {classes} classes"
        images = image_array(archive[f"{split}_images"], f"{path}: {split}_images")
    return f"{len(images)} images of {describe_input(images.shape[1:])} ({split}), {classes} classes"
