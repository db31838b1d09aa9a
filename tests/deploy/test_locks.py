"""The locked dependencies (scripts/lock.py): the test command refuses a lock older than its top-level files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import lock

pytestmark = [pytest.mark.unit]


def test_every_lock_matches_its_top_level_files() -> None:
    assert lock.stale_locks() == []


def test_every_locked_line_is_pinned_with_hashes() -> None:
    for name in lock.LOCKS:
        text = (lock.LOCK_DIR / f"{name}.txt").read_text()
        requirements = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
        assert requirements, name
        for line in requirements:
            assert "==" in line and line.endswith("\\"), f"{name}: {line!r} is not pinned with hashes"
        torch = re.search(r"^torch==(\S+)", (lock.ROOT / "requirements" / "node.txt").read_text(), re.M)[1]
        assert "torch==" not in text or f"torch=={torch}+cpu" in text  # the CPU build, not CUDA


def test_a_changed_top_level_file_makes_its_lock_stale(tmp_path: Path) -> None:
    top = tmp_path / "requirements"
    top.mkdir()
    shutil.copy(lock.LOCKS["keyparty"], top / "keyparty.txt")
    shutil.copytree(lock.LOCK_DIR, tmp_path / "locks")
    locks = {"keyparty": top / "keyparty.txt"}
    assert lock.stale_locks(tmp_path / "locks", locks) == []
    with (top / "keyparty.txt").open("a") as handle:
        handle.write("six==1.17.0\n")
    [problem] = lock.stale_locks(tmp_path / "locks", locks)
    assert "keyparty.txt is stale: keyparty.txt changed since it was made" in problem


def test_the_check_command_passes_here_and_fails_with_the_fix_on_a_stale_lock(tmp_path, monkeypatch, capsys):
    result = subprocess.run(
        [sys.executable, "scripts/lock.py", "--check"], cwd=lock.ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    stale = tmp_path / "node.txt"
    stale.write_text("torch==2.13.0\n")
    monkeypatch.setattr(lock, "LOCKS", {"node": stale})
    assert lock.main(["--check"]) == 1
    error = capsys.readouterr().err
    assert "node.txt is stale" in error and "run: python scripts/lock.py" in error
