"""Where the Node tools the contracts need live: the node binary and the repository's node_modules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "node_modules"


class NodeToolError(RuntimeError):
    """A Node tool (node itself, solc-js, hardhat) is missing or failed."""


def node_binary() -> str:
    """$DH_NODE_BIN, else `node` on PATH (hardhat 2 and solc-js run on Node >= 20)."""
    configured = os.environ.get("DH_NODE_BIN")
    found = configured or shutil.which("node")
    if not found:
        raise NodeToolError("node not found: install Node >= 20 or set DH_NODE_BIN")
    return found


def node_package(name: str) -> Path:
    path = NODE_MODULES / name
    if not path.is_dir():
        raise NodeToolError(f"{path} is missing: run `npm install` in {REPO_ROOT}")
    return path
