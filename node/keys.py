"""The node's own keys, made on the hospital's machine at enrollment: only their addresses leave it.

Both are secp256k1 keys (eth_account): the chain key signs the hospital's submissions on chain; the signing
key signs what the node uploads (protocol/signing.py), so a submission can be checked against the hospital's
registered address without trusting the portal.
"""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.config import write_private


def create_key(path: Path) -> LocalAccount:
    """A new key, written to `path` (0600); an existing key file is kept (enrolling again must not lose the
    key the chain already knows) and loaded instead."""
    if path.exists():
        return load_key(path)
    account = Account.create()
    write_private(path, account.key.hex() + "\n")
    return account


def load_key(path: Path) -> LocalAccount:
    return Account.from_key(Path(path).read_text().strip())
