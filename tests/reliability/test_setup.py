"""Setting up and starting: one variable names the Node.js executable, scripts/setup.sh checks Node's version,
and the demo migrates a fresh database itself instead of failing on a missing table."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from contracts import nodetools
from crypto.zk import node as zk_node
from crypto.zk.dev import smallest_dev_ptau

pytestmark = [pytest.mark.unit]


def test_one_variable_names_the_node_executable(monkeypatch, tmp_path):
    chosen = str(tmp_path / "node-20")
    monkeypatch.setenv("DH_NODE_BIN", chosen)
    monkeypatch.setenv("DH_NODE", "/elsewhere/node")  # the old name of the same thing: read nowhere
    assert zk_node.node_executable() == chosen
    assert nodetools.node_binary() == chosen


def test_setup_refuses_a_node_older_than_20_19(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, body in {"node": "echo v20.11.1", "npm": "echo 10.0.0"}.items():
        (fake_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake_bin / name).chmod(0o755)
    result = subprocess.run(
        ["bash", "scripts/setup.sh"],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Node 20.19 or later is required (found v20.11.1)" in result.stderr


# The demo as `manage.py demo` runs it, up to the point where it first reads the database: run_demo replaced by
# one that makes the demo's empty-database check (no training, no server).
DEMO_ON_A_FRESH_DATABASE = """
import sys, types
def run_demo(options, launch, write):
    from hospitals.models import User
    print("database empty:", not User.objects.exists())
sys.modules["demo.run"] = types.SimpleNamespace(run_demo=run_demo)
from demo.launcher import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_demo_migrates_a_fresh_database(tmp_path, pneumonia_npz):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DH_DATA_DIR=str(tmp_path / "fresh"), DH_CHAIN="off", DJANGO_SETTINGS_MODULE="dhportal.settings"
    )
    result = subprocess.run(
        [sys.executable, "-c", DEMO_ON_A_FRESH_DATABASE, "--data", str(pneumonia_npz), "--skip-checks"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "database empty: True" in result.stdout
    assert (tmp_path / "fresh" / "portal.sqlite3").is_file()


def test_the_demo_picks_the_smallest_dev_ptau_that_holds_the_circuit(tmp_path):
    for power in (15, 16):
        (tmp_path / f"pot{power}_dev_final.ptau").write_bytes(b"")
    (tmp_path / "pot99_other.ptau").write_bytes(b"")
    assert smallest_dev_ptau(tmp_path, 25_923) == (tmp_path / "pot15_dev_final.ptau").resolve()  # 5 classes
    # The domain holds the constraints, one row per public signal (5) and one more.
    assert smallest_dev_ptau(tmp_path, 2**15 - 6) == (tmp_path / "pot15_dev_final.ptau").resolve()
    assert smallest_dev_ptau(tmp_path, 2**15 - 5) == (tmp_path / "pot16_dev_final.ptau").resolve()
    assert smallest_dev_ptau(tmp_path, 47_475) == (tmp_path / "pot16_dev_final.ptau").resolve()  # 11 classes
    assert (
        smallest_dev_ptau(tmp_path, 89_207) is None
    )  # 32 features and 11 classes: no file here is large enough
