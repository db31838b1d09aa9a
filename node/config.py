"""A node's home: its configuration file and its keys, all private to the hospital (mode 0600 in a 0700 folder).

    <home>/config.json   portal URL, node token, data path, chain endpoint; written by `dh-node enroll`
    <home>/chain.key     the hospital's chain key (hex): it signs the hospital's own submissions on chain
    <home>/signing.key   the node's signing key (hex)
    <home>/status.json   what `dh-node run` is doing, for `dh-node status`
    <home>/contributions.json   the node's own trusted-setup contributions (their hashes, no secret)

The home is DH_NODE_HOME, else ~/.decentrahealth/node, unless --home names another.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

CONFIG_FILE = "config.json"
CHAIN_KEY_FILE = "chain.key"
SIGNING_KEY_FILE = "signing.key"
STATUS_FILE = "status.json"
# The node's own trusted-setup contributions (ceremony, name, contribution hash): a round's proving key must
# hold one of them, or the node will not prove with it.
CONTRIBUTIONS_FILE = "contributions.json"


class NodeConfigError(Exception):
    """The node's home or configuration is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class NodeConfig:
    portal_url: str
    token: str
    data_path: str
    seed: int = 0
    # A PEM bundle to verify the portal's certificate against (a private CA); empty: the system's CAs.
    ca_file: str = ""
    hospital: str = ""  # the hospital's slug, as the portal enrolled it
    # The chain the node records its own submissions on (told by the portal at enrollment), and the file of
    # the hospital's key there; empty when the portal records nothing on chain.
    chain_rpc_url: str = ""
    chain_key_file: str = ""
    signing_key_file: str = ""
    # Whether this node takes part in rounds whose updates travel in the clear ("plaintext", the benchmark
    # baseline): off unless its admin allows it, so a portal cannot downgrade the node's protection.
    allow_plaintext: bool = False
    # Commitments of key parties this hospital's admin learnt from their operators (dh-keyparty status) and pinned
    # (dh-node pin-key-party): with any, the node encrypts only under a joint key it recomputed from the key
    # ceremony's record and that holds every pinned party's contribution, and seals to the witness keys it
    # read there (node.protecting); without, it takes the key and witness keys the portal serves.
    pinned_key_parties: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print the token
        return f"NodeConfig(portal_url={self.portal_url!r}, data_path={self.data_path!r})"


def default_home() -> Path:
    raw = os.environ.get("DH_NODE_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".decentrahealth" / "node"


def write_private(path: Path, text: str) -> None:
    """Writes `text` to `path` readable by its owner only (created 0600, never world-readable meanwhile)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(partial, path)


def write_node_config(home: Path, config: NodeConfig) -> Path:
    path = Path(home) / CONFIG_FILE
    write_private(path, json.dumps(asdict(config), indent=2) + "\n")
    return path


def read_node_config(home: Path) -> NodeConfig:
    path = Path(home) / CONFIG_FILE
    if not path.exists():
        raise NodeConfigError(
            f"no node configuration at {path}: enroll first (dh-node enroll --portal URL --code CODE --data "
            "PATH), or name the node's folder with --home or DH_NODE_HOME"
        )
    try:
        raw = json.loads(path.read_text())
        known = {field.name for field in fields(NodeConfig)}
        values = {key: value for key, value in raw.items() if key in known}
        values["pinned_key_parties"] = tuple(values.get("pinned_key_parties", ()))
        return NodeConfig(**values)
    except (ValueError, TypeError) as exc:
        raise NodeConfigError(f"{path} is not a node configuration ({exc}): enroll again") from None
