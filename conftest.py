"""Shared test helpers: where ../shared is, and whether a missing prerequisite skips or fails.

In CI (CI=true) nothing a test needs may be missing: a skip there would hide a broken set-up, so it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent
SHARED_DIR = Path(os.environ.get("DH_SHARED_DIR", REPO_ROOT.parent / "shared"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip the test with `reason` when `condition` is false; fail instead in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def shared_file(relative: str) -> Path:
    path = SHARED_DIR / relative
    require(path.exists(), f"{path} is absent (set DH_SHARED_DIR to the folder holding datasets/ and zk/)")
    return path


@pytest.fixture
def pneumonia_npz() -> Path:
    return shared_file("datasets/pneumoniamnist.npz")


@pytest.fixture
def dev_ptau() -> Path:
    return shared_file("zk/pot15_dev_final.ptau")
