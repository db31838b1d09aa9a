"""Secure rounds end to end (CKKS under the key parties, proofs of training, the local chain) on images other than
PneumoniaMNIST's 28 px grayscale: the demo as a user runs it (`python -m demo --data ...`), on small sets this
test makes, each demo in its own process with its own portal, chain, key parties and nodes. The four run side by
side: most of their time is waiting (a ceremony's turns, blocks, polling), so together they take about as long as
the slowest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from fl.tests.dicom_files import write_dicom

pytestmark = [pytest.mark.slow, pytest.mark.mpc, pytest.mark.zk, pytest.mark.chain]

DEMO = """
import subprocess, sys
subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], check=True)
from demo.launcher import main
sys.exit(main(sys.argv[1:]))
"""
TRAIN_PER_CLASS, VAL_PER_CLASS = 40, 10


def class_images(classes: int, per_class: int, size: int, channels: int, seed: int) -> tuple[np.ndarray, ...]:
    """Images whose class is visible: a bright square at a place (and, in colour, a tint) of its own, on noise.
    Returns (images N x S x S or N x S x S x 3, uint8; labels N)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    images = rng.integers(0, 60, (len(labels), size, size, channels))
    square = size // 4
    for label in range(classes):
        at = label * (size - square) // max(classes - 1, 1)
        images[labels == label, at : at + square, at : at + square] += 150
        if channels == 3:
            images[labels == label, ..., label % 3] += 40
    images = np.clip(images, 0, 255).astype(np.uint8)
    return (images if channels == 3 else images[..., 0]), labels


def medmnist_file(path: Path, classes: int, size: int, channels: int) -> Path:
    train, train_labels = class_images(classes, TRAIN_PER_CLASS, size, channels, seed=1)
    val, val_labels = class_images(classes, VAL_PER_CLASS, size, channels, seed=2)
    np.savez(
        path,
        train_images=train,
        train_labels=train_labels[:, None].astype(np.uint8),
        val_images=val,
        val_labels=val_labels[:, None].astype(np.uint8),
    )
    return path


def png_folder(root: Path, classes: int) -> Path:
    """Colour PNG files of 40 x 40 px (resized to the model's 28 by the loader), one subfolder per class."""
    images, labels = class_images(classes, TRAIN_PER_CLASS + VAL_PER_CLASS, 40, 3, seed=3)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / f"class-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:03d}.png")
    return root


def dicom_folder(root: Path) -> Path:
    """CT-like DICOM slices of 48 x 48 px (stored values + 1024 = Hounsfield units), windowed by each file's own
    soft-tissue window; the 'lesion' class has a dense square."""
    images, labels = class_images(2, TRAIN_PER_CLASS + VAL_PER_CLASS, 48, 1, seed=4)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        hounsfield = image.astype(np.int64) * 2 - 160  # 0..255 -> -160..350 HU
        name = ("normal", "lesion")[label]
        write_dicom(root / name / f"slice{index:03d}.dcm", (hounsfield + 1024).astype(np.uint16))
    return root


def start_demo(data: Path, work: Path, shared: Path, extra: list[str]) -> subprocess.Popen:
    """The demo on `data` with `extra` arguments; it picks the powers-of-tau file for the data's classes from
    shared/zk itself."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DH_DATA_DIR", "DH_PTAU_PATH")  # the demo's own defaults
    }
    env.update(
        DH_DATA_DIR=str(work / "portal"),
        DH_SHARED_DIR=str(shared),
        DH_PROTECTION="ckks",
        DH_PROOFS="groth16",
        DH_CHAIN="local",
        DJANGO_SETTINGS_MODULE="dhportal.settings",
    )
    arguments = [
        "--hospitals",
        "2",
        "--rounds",
        "1",
        "--data",
        str(data),
        "--json",
        str(work / "summary.json"),
    ]
    with open(work / "demo.log", "wb") as log:  # the process has its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-c", DEMO, *arguments, "--local-epochs", "1", *extra],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.timeout(1200)
def test_secure_rounds_on_colour_64px_png_and_dicom_images(tmp_path, dev_ptau):
    cases = {
        # name: (data, architecture the demo must pick, classes)
        "rgb-5-classes": (medmnist_file(tmp_path / "rgb5.npz", 5, 28, 3), "cnn28c3-d16-std", 5),
        "grayscale-64px": (medmnist_file(tmp_path / "gray64.npz", 2, 64, 1), "cnn64-d16", 2),
        "png-folder": (png_folder(tmp_path / "png", 5), "cnn28c3-d16-std", 5),
        "dicom-folder": (dicom_folder(tmp_path / "dicom"), "cnn28-d16-std", 2),
    }
    extra = {
        "png-folder": ["--campaign"],  # its round planned by a campaign of one
        "grayscale-64px": ["--normalise", "none"],  # the raw pixels, as the demo takes them when asked
    }
    running = {}
    for name, (data, _, _) in cases.items():
        work = tmp_path / name
        work.mkdir()
        running[name] = (start_demo(data, work, dev_ptau.parent.parent, extra.get(name, [])), work)
    failures = []
    for name, (process, work) in running.items():
        try:
            process.wait(timeout=1100)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode != 0:
            failures.append(f"{name}: rc {process.returncode}\n{(work / 'demo.log').read_text()[-3000:]}")
    assert not failures, "\n\n".join(failures)
    for name, (_, architecture, classes) in cases.items():
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert (summary["architecture"], summary["classes"]) == (architecture, classes), name
        assert (summary["protection"], summary["proofs"], summary["chain"]) == ("ckks", "groth16", "local")
        [round_] = summary["rounds"]
        assert round_["state"] == "COMPLETED" and round_["chain_consistent"], (name, round_)
        assert round_["gas"] > 0 and round_["seconds"]["proof"] > 0
        assert 0.0 <= round_["val_auc"] <= 1.0
        assert (
            "phase 1 from pot15_dev_final.ptau" in (tmp_path / name / "demo.log").read_text()
        )  # up to 6 classes
        print(f"{name}: {architecture}, {round_['seconds']['total']:.0f} s, AUC {round_['val_auc']:.3f}")
    assert "COMPLETED: all 1 rounds completed" in (tmp_path / "png-folder" / "demo.log").read_text()
