"""The demo's data: which file, the coordinator's validation split, and each hospital's share; no Django."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from demo.options import DemoError, DemoOptions
from fl.data import Dataset, load_breast_cancer, load_medmnist_npz, partition_dirichlet, partition_iid
from fl.local_data import save_npz


@dataclass
class DemoData:
    description: str
    architecture: str
    train: Dataset
    validation: Dataset
    validation_file: Path


def locate_data(explicit: str | None, shared_dir: Path, work_dir: Path) -> DemoData:
    """--data, else ../shared/datasets, else medmnist's download, else scikit-learn's breast cancer set."""
    candidates = [Path(explicit)] if explicit else [shared_dir / "datasets" / "pneumoniamnist.npz"]
    for path in candidates:
        if path.is_file():
            return _medmnist_data(path, f"{path.name} (MedMNIST format)")
        if explicit:
            raise DemoError(f"--data {explicit}: no such file; give the path of a MedMNIST-format .npz file")
    downloaded = _try_medmnist_download(work_dir)
    if downloaded is not None:
        return _medmnist_data(downloaded, "PneumoniaMNIST (downloaded by medmnist)")
    train, validation = load_breast_cancer()
    validation_file = save_npz(work_dir / "validation.npz", {"val": validation})
    return DemoData(
        "no PneumoniaMNIST file and no network: Wisconsin breast cancer (scikit-learn, real patients, tabular)",
        "mlp30-d16",
        train,
        validation,
        validation_file,
    )


def _medmnist_data(path: Path, description: str) -> DemoData:
    train = load_medmnist_npz(path, "train")
    validation = load_medmnist_npz(path, "val", num_classes=train.num_classes)
    return DemoData(description, "cnn28-d16", train, validation, path)


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
