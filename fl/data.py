"""Local datasets of a hospital node and partitions of one dataset across simulated hospitals.

Errors name the problem and the fix but never echo data values: data never leaves the node, not even in logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fl.dicom import is_dicom, read_dicom_image

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# MedMNIST's image sizes (28 px, and MedMNIST+'s 64, 128 and 224 px); 1 channel (grayscale) or 3 (RGB).
IMAGE_SIZES = (28, 64, 128, 224)
IMAGE_CHANNELS = (1, 3)
MEDMNIST_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """inputs: float32, N x C x S x S in [0, 1] for images (C 1 or 3, S one of IMAGE_SIZES) or N x F for tabular
    data; labels: int64, N."""

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

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.inputs.shape[1:])


def image_array(images: np.ndarray, key: str) -> np.ndarray:
    """MedMNIST's image layouts, N x S x S (grayscale) or N x S x S x 3 (RGB), as N x C x S x S."""
    if images.ndim == 4 and images.shape[-1] in IMAGE_CHANNELS:
        images = np.moveaxis(images, -1, 1)
    elif images.ndim == 3:
        images = images[:, None]
    else:
        raise ValueError(
            f"{key} has shape {images.shape}; MedMNIST images are N x S x S (grayscale) or N x S x S x 3 (RGB)"
        )
    size = images.shape[-1]
    if images.shape[-2] != size or size not in IMAGE_SIZES:
        raise ValueError(
            f"{key} holds {images.shape[-2]}x{images.shape[-1]} images; the models take square images of "
            f"{', '.join(map(str, IMAGE_SIZES))} px (MedMNIST's sizes): resize them to one of those"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"{key} has dtype {images.dtype}; MedMNIST images are uint8 (0..255)")
    return images


def labels_vector(labels: np.ndarray, key: str) -> np.ndarray:
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


def open_npz(path: Path) -> np.lib.npyio.NpzFile:
    """An .npz file opened for reading (a context manager); ValueError when it is not a readable one."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: an empty file
        raise ValueError(f"{path} is not a readable .npz file ({exc or type(exc).__name__})") from None


def load_medmnist_npz(path: str | Path, split: str = "train", num_classes: int | None = None) -> Dataset:
    """One split of a MedMNIST-format .npz (keys <split>_images, <split>_labels; uint8 images, grayscale or RGB,
    of one of MedMNIST's sizes).

    num_classes defaults to 1 + the largest label in any split of the file, so that every split of the same
    file agrees.
    """
    if split not in MEDMNIST_SPLITS:
        raise ValueError(f"split must be one of {MEDMNIST_SPLITS}, got {split!r}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist: give the path of a MedMNIST .npz file")
    with open_npz(path) as archive:
        images_key, labels_key = f"{split}_images", f"{split}_labels"
        missing = [key for key in (images_key, labels_key) if key not in archive.files]
        if missing:
            raise ValueError(
                f"{path} lacks {', '.join(missing)} (it has {', '.join(archive.files) or 'no arrays'}); "
                f"a MedMNIST .npz holds <split>_images and <split>_labels for split in {MEDMNIST_SPLITS}"
            )
        images = archive[images_key]
        labels = labels_vector(archive[labels_key], f"{path}: {labels_key}")
        if num_classes is None:
            label_keys = [f"{s}_labels" for s in MEDMNIST_SPLITS if f"{s}_labels" in archive.files]
            num_classes = 1 + max(
                int(labels_vector(archive[key], f"{path}: {key}").max(initial=0)) for key in label_keys
            )
    images = image_array(images, f"{path}: {images_key}")
    if len(images) != len(labels):
        raise ValueError(
            f"{path}: {images_key} has {len(images)} images but {labels_key} has {len(labels)} labels"
        )
    if len(labels) and labels.max() >= num_classes:
        raise ValueError(
            f"{path}: {labels_key} has labels up to {labels.max()}, but the model predicts {num_classes} classes "
            f"(labels 0..{num_classes - 1}): use data of this task's classes"
        )
    inputs = images.astype(np.float32) / 255.0
    return Dataset(inputs, labels, max(num_classes, 2))


def load_image_folder(
    path: str | Path, class_names: Sequence[str] | None = None, sample_shape: tuple[int, ...] = (1, 28, 28)
) -> Dataset:
    """Images in one subfolder per class (any format Pillow reads, and DICOM files, windowed: fl.dicom), converted
    to `sample_shape` (channels: 1 grayscale or 3 RGB, then the square size) with values in [0, 1].

    Classes are the subfolder names in sorted order, or `class_names` (in that order) when the hospital does
    not hold every class of the consortium's task; then each subfolder must be one of them.
    """
    from PIL import Image

    channels, size = _image_sample_shape(sample_shape)
    mode = "L" if channels == 1 else "RGB"
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
            with _open_image(file) as image:
                resized = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
                images.append(np.asarray(resized, dtype=np.uint8).reshape(size, size, channels))
            labels.append(names.index(folder.name))
    inputs = np.moveaxis(np.stack(images), -1, 1).astype(np.float32) / 255.0
    return Dataset(inputs, np.asarray(labels, dtype=np.int64), max(len(names), 2), names)


def _open_image(file: Path) -> PILImage:
    """A Pillow image of a file in any format Pillow reads, or of a DICOM file; ValueError names the file."""
    from PIL import Image, UnidentifiedImageError

    if is_dicom(file):
        return read_dicom_image(file)
    try:
        return Image.open(file)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(
            f"{file} is not an image Pillow can read, nor a DICOM file ({type(exc).__name__}): remove it"
        ) from None


def image_folder_channels(path: str | Path) -> int:
    """3 when any image of the folder (one subfolder per class) is in colour, else 1."""
    for file in sorted(Path(path).glob("*/*")):
        if file.is_file() and not file.name.startswith("."):
            try:
                with _open_image(file) as image:
                    if image.mode not in ("1", "L", "LA", "I", "I;16", "F"):
                        return 3
            except ValueError:
                continue  # load_image_folder names unreadable files
    return 1


def split_validation(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """(train, validation): a random `fraction` of each class held out (at least one sample of each class
    that has two)."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for label in np.unique(dataset.labels):
        members = rng.permutation(np.flatnonzero(dataset.labels == label))
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held.extend(members[:count].tolist())
    mask = np.zeros(len(dataset), dtype=bool)
    mask[held] = True
    return dataset.subset(np.flatnonzero(~mask)), dataset.subset(np.flatnonzero(mask))


def _image_sample_shape(sample_shape: tuple[int, ...]) -> tuple[int, int]:
    if (
        len(sample_shape) != 3
        or sample_shape[0] not in IMAGE_CHANNELS
        or sample_shape[1] != sample_shape[2]
        or sample_shape[1] not in IMAGE_SIZES
    ):
        raise ValueError(
            f"images cannot be made of shape {sample_shape}: give (channels, size, size) with channels 1 or 3 and "
            f"size one of {IMAGE_SIZES}"
        )
    return sample_shape[0], sample_shape[1]


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
