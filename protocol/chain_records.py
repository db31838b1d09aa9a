"""The round registry's public record, read over plain JSON-RPC (no web3, no compiler): what a key party checks a
decryption job against, through its own RPC endpoint, never the portal's.

    reader = ChainReader("https://rpc.example")
    reader.chain_id(), reader.code_hash(registry)
    reader.round(registry, round_id).state          # "open", ...
    reader.submission(registry, round_id, hospital)  # None when the hospital recorded nothing

The calls and layouts are contracts/RoundRegistry.sol's getRound and getSubmission.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi import decode, encode
from eth_utils import keccak

ROUND_STATES = ("none", "open", "closed", "cancelled")  # RoundRegistry.RoundState, in order
# getRound's and getSubmission's ABI return types.
ROUND_TYPES = [*["bytes32"] * 3, "uint8", "uint64", "uint64", "uint32", "bool", "address[]", "address[]"]
SUBMISSION_TYPES = ["(bytes32,bytes32,bytes32,bytes32,uint32,uint64,bool,bytes32,bool)"]


class ChainReadError(Exception):
    """The chain could not be read (unreachable endpoint, an RPC error, an answer of the wrong shape)."""


@dataclass(frozen=True)
class RecordedRound:
    state: str  # one of ROUND_STATES
    proofs_per_submission: int  # 0: the registry verifies no proofs


@dataclass(frozen=True)
class RecordedSubmission:
    update_hash: str  # 0x and the SHA-256 of the upload blob, as the hospital recorded it
    proof_count: int
    verified: bool  # its proofs (with every step proven, its sample) verified on chain
    included: bool


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


class ChainReader:
    """Read-only calls to one JSON-RPC endpoint."""

    def __init__(self, rpc_url: str, timeout_s: float = 10.0):
        self.rpc_url = rpc_url
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)

    def _rpc(self, method: str, params: list[Any]) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = requests.post(self.rpc_url, json=payload, timeout=self.timeout_s)
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainReadError(f"cannot read the chain at {self.rpc_url}: {exc}") from exc
        if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
            raise ChainReadError(f"the chain at {self.rpc_url} answered {method} with {answer!r:.200}")
        return answer["result"]

    def _call(self, contract: str, signature: str, types: list[str], arguments: list[Any]) -> bytes:
        data = _selector(signature) + encode(types, arguments)
        result = self._rpc("eth_call", [{"to": contract, "data": "0x" + data.hex()}, "latest"])
        try:
            return bytes.fromhex(str(result).removeprefix("0x"))
        except ValueError as exc:
            raise ChainReadError(f"{signature} at {contract} answered {result!r:.80}, not hex") from exc

    def chain_id(self) -> int:
        return int(self._rpc("eth_chainId", []), 16)

    def code_hash(self, contract: str) -> str:
        """0x and the keccak-256 of the contract's runtime code; "" when the address holds no code."""
        code = bytes.fromhex(str(self._rpc("eth_getCode", [contract, "latest"])).removeprefix("0x"))
        return "0x" + keccak(code).hex() if code else ""

    def round(self, registry: str, round_id: int) -> RecordedRound:
        answer = self._call(registry, "getRound(uint256)", ["uint256"], [round_id])
        try:
            fields = decode(ROUND_TYPES, answer)
        except Exception as exc:  # eth_abi raises several unrelated decoding errors
            raise ChainReadError(f"getRound at {registry} answered {len(answer)} bytes of no round") from exc
        state = fields[3]
        return RecordedRound(ROUND_STATES[state] if state < len(ROUND_STATES) else str(state), fields[6])

    def submission(self, registry: str, round_id: int, hospital: str) -> RecordedSubmission | None:
        """The hospital's submission to the round, or None when it recorded none."""
        answer = self._call(
            registry, "getSubmission(uint256,address)", ["uint256", "address"], [round_id, hospital]
        )
        try:
            (fields,) = decode(SUBMISSION_TYPES, answer)
        except Exception as exc:  # eth_abi raises several unrelated decoding errors
            raise ChainReadError(
                f"getSubmission at {registry} answered {len(answer)} bytes of no record"
            ) from exc
        update, _proof_hash, _all, _run, count, block, verified, _seed, included = fields
        if block == 0:
            return None
        return RecordedSubmission("0x" + update.hex(), count, verified, included)
