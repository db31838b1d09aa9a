"""Local datasets of a hospital node and partitions of one dataset across simulated hospitals.

Errors name the problem and the fix but never echo data values: data never leaves the node, not even in logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SIZE = 28
MEDMNIST_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """inputs: float32, N x 1 x 28 x 28 in [0, 1] for images or N x F for tabular data; labels: int64, N."""

    inputs: np.ndarray
    labels: np.ndarray
    num_classes: int
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.labels):
            raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise ValueError(f"labels must lie in 0..{self.num_classes - 1}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> Dataset:
        return Dataset(self.inputs[indices], self.labels[indices], self.num_classes, self.class_names)


def _labels_vector(labels: np.ndarray, key: str) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"{key} has shape {labels.shape}; only single-label classification (N or N x 1) is supported, "
            "not multi-label MedMNIST sets such as ChestMNIST"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{key} has dtype {labels.dtype}; class labels must be integers")
    return labels.astype(np.int64)


def load_medmnist_npz(path: str | Path, split: str = "train", num_classes: int | None = None) -> Dataset:
    """One split of a MedMNIST-format .npz (keys <split>_images, <split>_labels; 28 x 28 grayscale uint8).

    num_classes defaults to 1 + the largest label in any split of the file, so that every split of the same
    file agrees.
    """
    if split not in MEDMNIST_SPLITS:
        raise ValueError(f"split must be one of {MEDMNIST_SPLITS}, got {split!r}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist: give the path of a MedMNIST .npz file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({exc})") from None
    with archive:
        images_key, labels_key = f"{split}_images", f"{split}_labels"
        missing = [key for key in (images_key, labels_key) if key not in archive.files]
        if missing:
            raise ValueError(
                f"{path} lacks {', '.join(missing)} (it has {', '.join(archive.files) or 'no arrays'}); "
                f"a MedMNIST .npz holds <split>_images and <split>_labels for split in {MEDMNIST_SPLITS}"
            )
        images = archive[images_key]
        labels = _labels_vector(archive[labels_key], labels_key)
        if num_classes is None:
            label_keys = [f"{s}_labels" for s in MEDMNIST_SPLITS if f"{s}_labels" in archive.files]
            num_classes = 1 + max(int(_labels_vector(archive[key], key).max(initial=0)) for key in label_keys)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"{images_key} has shape {images.shape}; expected N x 28 x 28 grayscale (the 28 px MedMNIST "
            "files; colour or larger MedMNIST+ sets need converting first)"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"{images_key} has dtype {images.dtype}; MedMNIST images are uint8 (0..255)")
    if len(images) != len(labels):
        raise ValueError(f"{images_key} has {len(images)} images but {labels_key} has {len(labels)} labels")
    inputs = (images.astype(np.float32) / 255.0)[:, None, :, :]
    return Dataset(inputs, labels, max(num_classes, 2))


def load_image_folder(path: str | Path, class_names: Sequence[str] | None = None) -> Dataset:
    """Images in one subfolder per class (any format Pillow reads), as grayscale 28 x 28 in [0, 1].

    Classes are the subfolder names in sorted order, or `class_names` (in that order) when the hospital does
    not hold every class of the consortium's task; then each subfolder must be one of them.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder: give a folder with one subfolder of images per class")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"{root} has no subfolders: put each class's images in a subfolder named after it")
    names = tuple(class_names) if class_names is not None else tuple(p.name for p in folders)
    unknown = [p.name for p in folders if p.name not in names]
    if unknown:
        raise ValueError(
            f"subfolders {unknown} are not among the classes {list(names)}: rename or remove them"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"class folder {folder} is empty: add its images or remove the folder")
        for file in files:
            try:
                with Image.open(file) as image:
                    gray = image.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
                    images.append(np.asarray(gray, dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as exc:
                raise ValueError(
                    f"{file} is not an image Pillow can read ({type(exc).__name__}): remove it"
                ) from None
            labels.append(names.index(folder.name))
    inputs = (np.stack(images).astype(np.float32) / 255.0)[:, None, :, :]
    return Dataset(inputs, np.asarray(labels, dtype=np.int64), max(len(names), 2), names)


def load_breast_cancer(val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """sklearn's Wisconsin breast cancer set (bundled, no network): stratified (train, val), standardised with
    the train split's mean and standard deviation. Labels: 0 malignant, 1 benign."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer
    from sklearn.model_selection import train_test_split

    bunch = sklearn_breast_cancer()
    x_train, x_val, y_train, y_val = train_test_split(
        bunch.data, bunch.target, test_size=val_fraction, random_state=seed, stratify=bunch.target
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    names = tuple(str(name) for name in bunch.target_names)

    def standardised(x: np.ndarray, y: np.ndarray) -> Dataset:
        return Dataset(((x - mean) / std).astype(np.float32), y.astype(np.int64), 2, names)

    return standardised(x_train, y_train), standardised(x_val, y_val)


def _check_partition_args(labels: np.ndarray, n_parts: int) -> np.ndarray:
    labels = np.asarray(labels)
    if n_parts < 1:
        raise ValueError(f"n_parts must be at least 1, got {n_parts}")
    if len(labels) < n_parts:
        raise ValueError(f"cannot split {len(labels)} samples into {n_parts} non-empty parts")
    return labels


def partition_iid(labels: np.ndarray, n_parts: int, seed: int) -> list[np.ndarray]:
    """A random split into n_parts whose sizes differ by at most one; each part's indices sorted."""
    labels = _check_partition_args(labels, n_parts)
    order = np.random.default_rng(seed).permutation(len(labels))
    return [np.sort(part) for part in np.array_split(order, n_parts)]


def partition_dirichlet(labels: np.ndarray, n_parts: int, alpha: float, seed: int) -> list[np.ndarray]:
    """Label skew: each class is spread over the parts in proportions drawn from Dirichlet(alpha) (small alpha,
    strong skew). A part left empty takes one sample from the largest part, so every part is non-empty."""
    labels = _check_partition_args(labels, n_parts)
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(n_parts)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cuts = (np.cumsum(rng.dirichlet(np.full(n_parts, alpha)))[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts), strict=True):
            part.extend(chunk.tolist())
    for part in parts:
        if not part:
            largest = max(parts, key=len)
            part.append(largest.pop(int(rng.integers(len(largest)))))
    return [np.sort(np.asarray(part, dtype=np.int64)) for part in parts]
