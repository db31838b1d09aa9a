"""The RoundRegistry contract as Python: the round records it keeps and the transactions that write them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract.contract import ContractFunction

from contracts.client import (
    GAS_CANCEL_ROUND,
    GAS_CLOSE_BASE,
    GAS_CLOSE_PER_PARTICIPANT,
    GAS_OPEN_ROUND,
    GAS_REGISTER_HOSPITAL,
    GAS_SUBMIT_BASE,
    GAS_SUBMIT_PER_PROOF_EXTRA,
    ROUND_STATES,
    ChainConnection,
    SnarkjsProof,
    TxResult,
    submission_proof_hash,
    to_hex,
)
from contracts.compile import compile_registry


@dataclass(frozen=True)
class RoundRecord:
    round_id: int
    model_hash: str
    config_hash: str
    new_model_hash: str
    state: str  # one of ROUND_STATES
    opened_block: int
    closed_block: int
    submitters: tuple[str, ...]
    participants: tuple[str, ...]


@dataclass(frozen=True)
class SubmissionRecord:
    round_id: int
    hospital: str
    update_hash: str
    proof_hash: str
    all_proofs_hash: str
    run_hash: str
    proof_count: int
    block_number: int
    included: bool


class RoundRegistry:
    """A deployed RoundRegistry. Hashes are 32 bytes, given as bytes or hex (with or without 0x)."""

    def __init__(self, connection: ChainConnection, address: str):
        self.connection = connection
        self.address = to_checksum_address(address)
        self.contract = connection.w3.eth.contract(address=self.address, abi=compile_registry().abi)

    @cached_property
    def verify_gas(self) -> int:
        return self.contract.functions.verifyGas().call()

    def register_hospital(self, hospital: str) -> TxResult:
        function = self.contract.functions.registerHospital(to_checksum_address(hospital))
        return self._as_coordinator(function, GAS_REGISTER_HOSPITAL)

    def revoke_hospital(self, hospital: str) -> TxResult:
        function = self.contract.functions.revokeHospital(to_checksum_address(hospital))
        return self._as_coordinator(function, GAS_REGISTER_HOSPITAL)

    def open_round(
        self, round_id: int, model_hash: str | bytes, config_hash: str | bytes, proofs_per_submission: int = 0
    ) -> TxResult:
        """Open a round whose submissions each carry `proofs_per_submission` proofs (0: a registry without a
        verifier)."""
        function = self.contract.functions.openRound(
            round_id, to_bytes32(model_hash), to_bytes32(config_hash), proofs_per_submission
        )
        return self._as_coordinator(function, GAS_OPEN_ROUND)

    def submit(
        self,
        hospital: LocalAccount,
        round_id: int,
        update_hash: str | bytes,
        proofs: Sequence[SnarkjsProof],
        run_hash: str | bytes = b"\0" * 32,
        all_proofs_hash: str | bytes | None = None,
    ) -> TxResult:
        """Record `hospital`'s update for the round; the registry verifies every proof (the spot-checked segments,
        or the chain sample) and that each is bound to this round, hospital, model and `run_hash` (crypto.zk
        ProofContext). all_proofs_hash: submission_proof_hash of every proof the hospital made (default: of
        `proofs`, when they are all)."""
        if all_proofs_hash is None:
            all_proofs_hash = submission_proof_hash(proofs)
        function = self.contract.functions.submit(
            round_id,
            to_bytes32(update_hash),
            to_bytes32(run_hash),
            to_bytes32(all_proofs_hash),
            [p.calldata() for p in proofs],
        )
        gas = GAS_SUBMIT_BASE + len(proofs) * (self.verify_gas + GAS_SUBMIT_PER_PROOF_EXTRA)
        return self.connection.transact(hospital, function, gas)

    def close_round(
        self, round_id: int, new_model_hash: str | bytes, participants: Sequence[str]
    ) -> TxResult:
        """Close with the aggregate's hash and the hospitals it includes (each must have submitted)."""
        function = self.contract.functions.closeRound(
            round_id, to_bytes32(new_model_hash), [to_checksum_address(p) for p in participants]
        )
        return self._as_coordinator(function, GAS_CLOSE_BASE + GAS_CLOSE_PER_PARTICIPANT * len(participants))

    def cancel_round(self, round_id: int) -> TxResult:
        return self._as_coordinator(self.contract.functions.cancelRound(round_id), GAS_CANCEL_ROUND)

    def read_round(self, round_id: int) -> RoundRecord:
        model, config, new_model, state, opened, closed, submitters, participants = (
            self.contract.functions.getRound(round_id).call()
        )
        return RoundRecord(
            round_id,
            to_hex(model),
            to_hex(config),
            to_hex(new_model),
            ROUND_STATES[state],
            opened,
            closed,
            tuple(submitters),
            tuple(participants),
        )

    def read_submission(self, round_id: int, hospital: str) -> SubmissionRecord | None:
        """The hospital's submission in the round, or None when it has none."""
        hospital = to_checksum_address(hospital)
        update, proof_hash, all_proofs_hash, run_hash, count, block, included = (
            self.contract.functions.getSubmission(round_id, hospital).call()
        )
        if block == 0:
            return None
        return SubmissionRecord(
            round_id,
            hospital,
            to_hex(update),
            to_hex(proof_hash),
            to_hex(all_proofs_hash),
            to_hex(run_hash),
            count,
            block,
            included,
        )

    def is_hospital(self, address: str) -> bool:
        return self.contract.functions.isHospital(to_checksum_address(address)).call()

    def proof_used(self, proof: SnarkjsProof) -> bool:
        return self.contract.functions.proofUsed(proof.proof_hash()).call()

    def round_events(self, round_id: int) -> list[dict]:
        """The round's events in chain order, as {"event", "block_number", "tx_hash", "args"} (for the audit).

        Logs are read from the block that opened the round (RPC providers limit the block range of a query).
        """
        from_block = self.read_round(round_id).opened_block
        if from_block == 0:
            return []
        round_topic = "0x" + round_id.to_bytes(32, "big").hex()
        logs = self.connection.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [None, round_topic],
            }
        )
        events = self.contract.events
        by_topic = {
            event.topic: event
            for event in (
                events.RoundOpened(),
                events.SubmissionRecorded(),
                events.RoundClosed(),
                events.RoundCancelled(),
            )
        }
        topics = [to_hex(log["topics"][0]) for log in logs]
        decoded = [
            by_topic[topic].process_log(log)
            for topic, log in zip(topics, logs, strict=True)
            if topic in by_topic
        ]
        return [
            {
                "event": entry["event"],
                "block_number": entry["blockNumber"],
                "tx_hash": to_hex(entry["transactionHash"]),
                "args": {
                    key: to_hex(value) if isinstance(value, bytes) else value
                    for key, value in entry["args"].items()
                },
            }
            for entry in decoded
        ]

    def _as_coordinator(self, function: ContractFunction, gas: int) -> TxResult:
        return self.connection.transact(self.connection.coordinator, function, gas)


def to_bytes32(value: str | bytes) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw
