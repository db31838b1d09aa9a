"""The ceremony's final beacon: a value nobody knew while contributing.

With a chain (DH_CHAIN local or sepolia) it is the hash of the first block mined after the last contribution was
accepted: the portal records the chain's latest block number when it accepts that contribution, and the beacon
is the hash of the block after it. On sepolia that block comes on its own (about 12 s); the local hardhat chain
mines only on transactions, so the portal asks it for one (evm_mine). The chain is read over plain JSON-RPC at
DH_CHAIN_RPC_URL (checked against DH_CHAIN_ID); nothing is signed or sent.

With DH_CHAIN=off the beacon is 32 fresh bytes of os.urandom at finalization: nobody knew them while
contributing either, but the portal alone chose them (it could draw again until it liked the key). That cannot
forge proofs (the hospitals' secret contributions still protect the key), but it is weaker: docs/PROOFS.md.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import requests
from django.conf import settings

log = logging.getLogger(__name__)
RPC_TIMEOUT_SECONDS = 5


class ChainNotAnswering(Exception):
    """The chain's endpoint did not answer, or answered something unusable: try again later."""


@dataclass(frozen=True)
class Beacon:
    hex: str
    source: str  # for people: where the value came from
    block: int | None = None  # the block whose hash it is


def chain_enabled() -> bool:
    return settings.DH_CHAIN != "off"


def _rpc(method: str, params: list) -> object:
    url = settings.DH_CHAIN_RPC_URL
    if not url:
        raise ChainNotAnswering("DH_CHAIN_RPC_URL is not set")
    try:
        response = requests.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=RPC_TIMEOUT_SECONDS,
        )
        answer = response.json()
    except (requests.RequestException, ValueError) as exc:
        # The URL may hold an API key: name the method and the kind of failure only.
        raise ChainNotAnswering(
            f"the chain's RPC endpoint did not answer {method} ({type(exc).__name__})"
        ) from None
    if "error" in answer:
        raise ChainNotAnswering(
            f"the chain refused {method}: {answer['error'].get('message', answer['error'])}"
        )
    return answer.get("result")


def _check_chain() -> None:
    chain_id = int(str(_rpc("eth_chainId", [])), 16)
    if chain_id != settings.DH_CHAIN_ID:
        raise ChainNotAnswering(
            f"the chain at DH_CHAIN_RPC_URL is chain {chain_id}, not DH_CHAIN_ID {settings.DH_CHAIN_ID}"
        )


def latest_block() -> int:
    return int(str(_rpc("eth_blockNumber", [])), 16)


def latest_block_or_none() -> int | None:
    """The chain's latest block number, or None when there is no chain or it does not answer (the beacon then
    waits for a block after the one finalization sees first)."""
    if not chain_enabled():
        return None
    try:
        return latest_block()
    except ChainNotAnswering as exc:
        log.warning("no block number recorded for the last contribution: %s", exc)
        return None


def beacon_after(block: int) -> Beacon | None:
    """The hash of block `block + 1` once it is mined (on the local chain, mined now); None while it is not."""
    _check_chain()
    target = block + 1
    if latest_block() < target and settings.DH_CHAIN == "local":
        _rpc("evm_mine", [])
    if latest_block() < target:
        return None
    found = _rpc("eth_getBlockByNumber", [hex(target), False])
    block_hash = found.get("hash") if isinstance(found, dict) else None
    if not isinstance(block_hash, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", block_hash):
        raise ChainNotAnswering(f"block {target} has no usable hash")
    return Beacon(
        hex=block_hash[2:].lower(),
        source=(
            f"hash of block {target} of chain {settings.DH_CHAIN_ID} ({settings.DH_CHAIN}), the first mined after "
            f"the last contribution was accepted at block {block}"
        ),
        block=target,
    )


def fresh_random() -> Beacon:
    return Beacon(
        hex=os.urandom(32).hex(),
        source="32 bytes of os.urandom drawn by the portal at finalization (DH_CHAIN=off: no chain to take a block hash from)",
    )
