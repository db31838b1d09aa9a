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


# --- test tiers (markers declared in pyproject.toml) ---------------------------------------------------------

TIERS = ("unit", "services", "chain", "zk", "mpc", "browser", "hosts", "slow")
HEAVY_TIERS = frozenset(TIERS) - {"unit"}
# pytest-timeout: pyproject's `timeout` (600 s) for every test, but a unit test that hangs fails after this
# (a unit test takes a few seconds at most, even on the 2-core machine under load); a test's own
# @pytest.mark.timeout(...) wins.
UNIT_TIMEOUT_S = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test has a tier (a module's `pytestmark = [...]`, or a mark on the test), and `unit` (what
    `-m unit` runs, in under a minute) excludes the heavier tiers: a module mixing them marks its tests one by
    one."""
    untiered: dict[str, int] = {}
    mixed = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if not tiers:
            module = item.nodeid.split("::")[0]
            untiered[module] = untiered.get(module, 0) + 1
        elif "unit" in tiers and tiers & HEAVY_TIERS:
            mixed.append(f"{item.nodeid} ({', '.join(sorted(tiers))})")
        elif tiers == {"unit"} and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT_S))
    problems = []
    if untiered:
        problems.append(
            f"tests without a tier ({', '.join(TIERS)}; see pyproject.toml), by module:\n  "
            + "\n  ".join(f"{module} ({count} tests)" for module, count in untiered.items())
        )
    if mixed:
        problems.append("tests marked unit and a heavier tier:\n  " + "\n  ".join(mixed))
    if problems:
        raise pytest.UsageError("\n".join(problems))
