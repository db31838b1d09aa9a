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
    GAS_COMMIT,
    GAS_OPEN_ROUND,
    GAS_REGISTER_HOSPITAL,
    GAS_SAMPLE_PER_COMMITTED_PROOF,
    GAS_SUBMIT_BASE,
    GAS_SUBMIT_PER_PROOF_EXTRA,
    ChainConnection,
    ChainError,
    SnarkjsProof,
    TxResult,
    sample_positions,
    submission_proof_hash,
    to_hex,
)
from contracts.compile import compile_registry
from protocol.chain_records import ROUND_STATES


@dataclass(frozen=True)
class RoundRecord:
    round_id: int
    model_hash: str
    config_hash: str
    new_model_hash: str
    state: str  # one of ROUND_STATES
    opened_block: int
    closed_block: int
    proofs_per_submission: int  # proofs verified on chain per submission (with every_step, the sample's size)
    every_step: bool  # submissions commit to all their proofs, then a sample drawn after is verified
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
    verified: bool  # its proofs (with every step proven, its sample) verified on chain
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
        self,
        round_id: int,
        model_hash: str | bytes,
        config_hash: str | bytes,
        proofs_per_submission: int = 0,
        every_step: bool = False,
    ) -> TxResult:
        """Open a round whose submissions each have `proofs_per_submission` proofs verified on chain (0: a
        registry without a verifier); with every_step, submissions commit to all their proofs first and that
        many are sampled after (commit, prove_sample)."""
        function = self.contract.functions.openRound(
            round_id, to_bytes32(model_hash), to_bytes32(config_hash), proofs_per_submission, every_step
        )
        return self._as_coordinator(function, GAS_OPEN_ROUND)

    def submit(
        self,
        hospital: LocalAccount,
        round_id: int,
        update_hash: str | bytes,
        proofs: Sequence[SnarkjsProof],
        run_hash: str | bytes = b"\0" * 32,
    ) -> TxResult:
        """Record `hospital`'s update for a round that spot-checks; the registry verifies every proof and that
        each is bound to this round, hospital, model and `run_hash` (crypto.zk ProofContext)."""
        function = self.contract.functions.submit(
            round_id, to_bytes32(update_hash), to_bytes32(run_hash), [p.calldata() for p in proofs]
        )
        gas = GAS_SUBMIT_BASE + len(proofs) * (self.verify_gas + GAS_SUBMIT_PER_PROOF_EXTRA)
        return self.connection.transact(hospital, function, gas)

    def commit(
        self,
        hospital: LocalAccount,
        round_id: int,
        update_hash: str | bytes,
        run_hash: str | bytes,
        all_proofs: Sequence[SnarkjsProof],
    ) -> TxResult:
        """In a round that proves every step: record `hospital`'s update and the hash of all its proofs (in run
        order); the chain then draws the sample that prove_sample verifies."""
        function = self.contract.functions.commit(
            round_id,
            to_bytes32(update_hash),
            to_bytes32(run_hash),
            to_bytes32(submission_proof_hash(all_proofs)),
            len(all_proofs),
        )
        return self.connection.transact(hospital, function, GAS_COMMIT)

    def sample_positions(self, round_id: int, hospital: str) -> list[int]:
        """The positions (in run order) of the hospital's committed proofs that the chain verifies, drawn from the
        hash of the block that holds its commitment (computed here from that block, as the contract does)."""
        record = self.read_submission(round_id, hospital)
        if record is None:
            raise ChainError("nothing committed by this hospital in this round")
        seed = self.connection.w3.eth.get_block(record.block_number)["hash"]
        size = self.read_round(round_id).proofs_per_submission
        return sample_positions(seed, round_id, record.hospital, record.proof_count, size)

    def prove_sample(
        self, hospital: LocalAccount, round_id: int, all_proofs: Sequence[SnarkjsProof]
    ) -> TxResult:
        """Verify on chain the sample of `hospital`'s committed proofs (all_proofs: every proof, in run order,
        as committed), in a block after the commitment's."""
        positions = self.sample_positions(round_id, hospital.address)
        function = self.contract.functions.proveSample(
            round_id,
            [bytes.fromhex(p.proof_hash()[2:]) for p in all_proofs],
            [all_proofs[p].calldata() for p in positions],
        )
        gas = (
            GAS_SUBMIT_BASE
            + len(all_proofs) * GAS_SAMPLE_PER_COMMITTED_PROOF
            + len(positions) * (self.verify_gas + GAS_SUBMIT_PER_PROOF_EXTRA)
        )
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
        (
            model,
            config,
            new_model,
            state,
            opened,
            closed,
            per_submission,
            every_step,
            submitters,
            participants,
        ) = self.contract.functions.getRound(round_id).call()
        return RoundRecord(
            round_id,
            to_hex(model),
            to_hex(config),
            to_hex(new_model),
            ROUND_STATES[state],
            opened,
            closed,
            per_submission,
            every_step,
            tuple(submitters),
            tuple(participants),
        )

    def read_submission(self, round_id: int, hospital: str) -> SubmissionRecord | None:
        """The hospital's submission in the round, or None when it has none."""
        hospital = to_checksum_address(hospital)
        update, proof_hash, all_proofs_hash, run_hash, count, block, verified, _seed, included = (
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
            verified,
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
                events.SubmissionCommitted(),
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
