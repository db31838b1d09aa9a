"""A node's configuration: the portal URL, its node token and its data path; nothing else is needed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NodeConfig:
    portal_url: str
    token: str
    data_path: str
    seed: int = 0
    # With the portal on a public chain (DH_CHAIN=sepolia) the node signs its own submission: the RPC endpoint
    # and a file (mode 0600) holding the hospital's private key (node/chain.py).
    chain_rpc_url: str = ""
    chain_key_file: str = ""
    # Whether this node takes part in rounds whose updates travel in the clear ("plaintext", the benchmark
    # baseline): off unless its admin allows it, so a portal cannot downgrade the node's protection.
    allow_plaintext: bool = False

    def __repr__(self) -> str:  # never print the token
        return f"NodeConfig(portal_url={self.portal_url!r}, data_path={self.data_path!r})"


def config_path(config_dir: Path, hospital_slug: str) -> Path:
    return config_dir / f"{hospital_slug}.json"


def write_node_config(config_dir: Path, hospital_slug: str, config: NodeConfig) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_path(config_dir, hospital_slug)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(config.__dict__, handle)
    return path


def read_node_config(config_dir: Path, hospital_slug: str) -> NodeConfig:
    path = config_path(config_dir, hospital_slug)
    if not path.exists():
        raise FileNotFoundError(
            f"No node configuration at {path}: write one with the portal URL, the node token and the data path"
        )
    return NodeConfig(**json.loads(path.read_text()))
