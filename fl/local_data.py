"""A hospital's own data on disk: what a node is pointed at, and how the demo writes each hospital's share.

Accepted: a MedMNIST-format .npz (<split>_images, <split>_labels), a tabular .npz (<split>_features,
<split>_labels), or a folder with one subfolder of images per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fl.data import Dataset, load_image_folder, load_medmnist_npz


def save_npz(path: Path, splits: dict[str, Dataset]) -> Path:
    """Writes datasets as {split: Dataset} in the format load_local_dataset reads back exactly."""
    arrays: dict[str, np.ndarray] = {}
    for split, dataset in splits.items():
        if dataset.inputs.ndim == 4:  # images in [0, 1], stored as MedMNIST's uint8
            arrays[f"{split}_images"] = np.rint(dataset.inputs[:, 0] * 255).astype(np.uint8)
        else:
            arrays[f"{split}_features"] = dataset.inputs.astype(np.float32)
        arrays[f"{split}_labels"] = dataset.labels[:, None].astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_local_dataset(path: str | Path, num_classes: int, split: str = "train") -> Dataset:
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist: point the node at a .npz file or an image folder")
    with np.load(path, allow_pickle=False) as archive:
        tabular = f"{split}_features" in archive.files
        if tabular:
            features = archive[f"{split}_features"].astype(np.float32)
            labels = archive[f"{split}_labels"].reshape(-1).astype(np.int64)
    if tabular:
        return Dataset(features, labels, num_classes)
    return load_medmnist_npz(path, split, num_classes=num_classes)
