"""A hospital node's own submission on chain, signed with the hospital's key (DH_CHAIN=sepolia on the portal).

The portal registers the hospital's address on the round registry; the node records its update's hash and its
Groth16 proofs there itself, before uploading, so the portal never holds a hospital's key. The node's
configuration names its RPC endpoint and a file holding its private key (mode 0600, never logged); the round
task names the registry, the round and the address the key must match. With the local dev chain the portal
signs for the hospitals instead (the task says so) and the node does nothing here.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from contracts.client import bundle_proofs, connect
from contracts.registry import RoundRegistry
from protocol.node_task import ChainMaterial

log = logging.getLogger(__name__)


class NodeChainError(RuntimeError):
    """The node cannot record its submission on chain; the message says why."""


def submit_on_chain(
    chain: ChainMaterial, blob: bytes, proof: dict[str, Any] | None, rpc_url: str, key_file: str
) -> str | None:
    """Records the submission from the hospital's own account: submit(round, 0x<sha256 of the blob>, the bundle's
    proofs), or with every step proven, commit(the update, the hash of all its proofs) and then proveSample (the
    proofs the chain drew from the commitment's block hash). Returns the hash of the transaction that completes
    it, or None when the chain already has this hospital's submission (a rerun; one left half-way is finished)."""
    if not rpc_url or not key_file:
        raise NodeChainError(
            "the portal expects this node to sign its own submission: set chain_rpc_url and chain_key_file in "
            "the node configuration"
        )
    connection = connect(rpc_url, Path(key_file).read_text().strip(), chain.chain_id)
    account = connection.coordinator  # the connection's signer: here the hospital's key
    if account.address.lower() != chain.address.lower():
        raise NodeChainError(
            f"the key in {key_file} is for {account.address}, but the portal registered {chain.address}"
        )
    registry = RoundRegistry(connection, chain.contract)
    round_id = chain.round
    recorded = registry.read_submission(round_id, account.address)
    if recorded is not None and recorded.verified:
        return None
    proofs = bundle_proofs(proof or {})
    update_hash = "0x" + hashlib.sha256(blob).hexdigest()
    run_hash = (proof or {}).get("run_hash") or "0x" + "00" * 32
    if (proof or {}).get("every_step"):
        if recorded is None:
            committed = registry.commit(account, round_id, update_hash, run_hash, proofs)
            log.info("round %s: proofs committed on chain in %s", round_id, committed.tx_hash)
        result = registry.prove_sample(account, round_id, proofs)
    else:
        result = registry.submit(account, round_id, update_hash, proofs, run_hash)
    log.info(
        "round %s: submission recorded on chain in %s (gas %d)", round_id, result.tx_hash, result.gas_used
    )
    return result.tx_hash
