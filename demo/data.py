"""The demo's data: which file, the coordinator's validation split, and each hospital's share; no Django."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from demo.options import DemoError, DemoOptions
from fl.data import (
    Dataset,
    image_folder_channels,
    load_breast_cancer,
    load_image_folder,
    load_medmnist_npz,
    partition_dirichlet,
    partition_iid,
    split_validation,
)
from fl.local_data import save_npz
from fl.models import DEFAULT_NORMALISATION, FEATURE_DIM, architecture_for_input

ModelChoice = tuple[str, int, str]  # (fl.models family, head features, normalisation)
# An image folder has no validation split of its own: this share of each class is the coordinator's.
FOLDER_VALIDATION_FRACTION = 0.2


@dataclass
class DemoData:
    description: str
    architecture: str
    train: Dataset
    validation: Dataset
    validation_file: Path


def locate_data(
    explicit: str | None,
    shared_dir: Path,
    work_dir: Path,
    model: ModelChoice = ("cnn", FEATURE_DIM, DEFAULT_NORMALISATION),
) -> DemoData:
    """--data (a MedMNIST-format .npz or an image folder), else ../shared/datasets, else medmnist's download,
    else scikit-learn's breast cancer set; images get the model of `model` (family, head features,
    normalisation) for their shape."""
    candidates = [Path(explicit)] if explicit else [shared_dir / "datasets" / "pneumoniamnist.npz"]
    for path in candidates:
        try:
            if path.is_file():
                return _medmnist_data(path, f"{path.name} (MedMNIST format)", model)
            if explicit and path.is_dir():
                return _folder_data(path, work_dir, model)
        except ValueError as exc:
            raise DemoError(f"--data {path}: {exc}") from None
        if explicit:
            raise DemoError(
                f"--data {explicit}: no such file or folder; give a MedMNIST-format .npz file or a folder with "
                "one subfolder of images per class"
            )
    downloaded = _try_medmnist_download(work_dir)
    if downloaded is not None:
        return _medmnist_data(downloaded, "PneumoniaMNIST (downloaded by medmnist)", model)
    train, validation = load_breast_cancer()
    validation_file = save_npz(work_dir / "validation.npz", {"val": validation})
    return DemoData(
        "no PneumoniaMNIST file and no network: Wisconsin breast cancer (scikit-learn, real patients, tabular)",
        "mlp30-d16",
        train,
        validation,
        validation_file,
    )


def _medmnist_data(path: Path, description: str, model: ModelChoice) -> DemoData:
    train = load_medmnist_npz(path, "train")
    validation = load_medmnist_npz(path, "val", num_classes=train.num_classes)
    return DemoData(description, architecture_for_input(train.sample_shape, *model), train, validation, path)


def _folder_data(path: Path, work_dir: Path, model: ModelChoice) -> DemoData:
    """An image folder at 28 px, in colour when any image is; a fifth of each class is the validation split."""
    images = load_image_folder(path, sample_shape=(image_folder_channels(path), 28, 28))
    train, validation = split_validation(images, FOLDER_VALIDATION_FRACTION, seed=0)
    validation_file = save_npz(work_dir / "validation.npz", {"val": validation})
    description = f"{path.name} (image folder, classes {', '.join(images.class_names)})"
    return DemoData(
        description, architecture_for_input(train.sample_shape, *model), train, validation, validation_file
    )


def _try_medmnist_download(work_dir: Path) -> Path | None:
    try:
        import medmnist  # optional: not a dependency, and needs the network
    except ImportError:
        return None
    try:
        medmnist.PneumoniaMNIST(split="train", download=True, root=str(work_dir))
    except Exception:  # noqa: BLE001 - any download failure means: fall back
        return None
    path = work_dir / "pneumoniamnist.npz"
    return path if path.is_file() else None


def split(data: DemoData, options: DemoOptions) -> list[Dataset]:
    """Each hospital's share of the training split (--partition, --alpha, --seed)."""
    if options.partition == "iid":
        parts = partition_iid(data.train.labels, options.hospitals, options.seed)
    elif options.partition == "dirichlet":
        parts = partition_dirichlet(data.train.labels, options.hospitals, options.alpha, options.seed)
    else:
        raise DemoError(f"--partition must be iid or dirichlet, not {options.partition!r}")
    return [data.train.subset(part) for part in parts]
