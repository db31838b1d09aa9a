"""web3.py client for the round registry, as the portal's Celery tasks use it.

Every transaction is signed locally with an explicit gas limit (eth-tester's and some nodes' gas estimates are
wrong for the verifier, which answers false instead of reverting when it runs short) and is simulated first, so a
refusal costs nothing on a real chain and comes back as a `ChainError` carrying the contract's revert reason.

Connections: `LocalChain.connection()` (contracts.localchain) for the dev chain, `chain_from_env()` for Sepolia
or any RPC endpoint (DH_CHAIN_RPC_URL, DH_CHAIN_PRIVATE_KEY, optional DH_CHAIN_ID, default 11155111).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import TimeExhausted, Web3Exception

from contracts.compile import Artifact, compile_registry, compile_with_verifier, public_signal_count

logger = logging.getLogger(__name__)

SEPOLIA_CHAIN_ID = 11155111

# Gas limits, from measurements on hardhat (Prague rules) with headroom; see contracts/tests/test_round_registry.py.
# Limits above what a call uses are not charged, only reserved from the sender's balance.
GAS_DEPLOY_VERIFIER = 1_500_000
GAS_DEPLOY_REGISTRY = 3_500_000
GAS_REGISTER_HOSPITAL = 80_000
GAS_OPEN_ROUND = 150_000
GAS_CANCEL_ROUND = 60_000
GAS_SUBMIT_BASE = 200_000
# Per proof on top of the verifier's budget: storage, hashing and calldata.
GAS_SUBMIT_PER_PROOF_EXTRA = 80_000
# A commitment of a round that proves every step; its sample's verification: per committed proof (its hash in
# calldata and the sampling shuffle) on top of the submit's base and per-proof figures.
GAS_COMMIT = 200_000
GAS_SAMPLE_PER_COMMITTED_PROOF = 3_000
GAS_CLOSE_BASE = 120_000
GAS_CLOSE_PER_PARTICIPANT = 60_000
RECEIPT_TIMEOUT_S = 180
ERROR_STRING_SELECTOR = "0x08c379a0"  # revert data of require(cond, "reason"): Error(string)


def verify_gas_budget(num_public_signals: int) -> int:
    """Gas the registry hands each verifyProof: pairing (181k for 4 pairs) + one ecMul/ecAdd per signal, with room."""
    return 240_000 + 10_000 * num_public_signals


class ChainError(RuntimeError):
    """A chain call was refused (revert reason in `reason`) or could not be made."""

    def __init__(self, reason: str, tx_hash: str | None = None):
        super().__init__(reason if tx_hash is None else f"{reason} (transaction {tx_hash})")
        self.reason = reason
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class SnarkjsProof:
    """A Groth16 proof as snarkjs writes it (proof.json) with its public signals (public.json)."""

    proof: Mapping
    public_signals: Sequence[str | int]

    @classmethod
    def from_json(cls, entry: Mapping) -> SnarkjsProof:
        """From {"proof": ..., "public_signals" or "publicSignals": [...]} (a proof bundle's entry, fullProve's output)."""
        signals = entry["public_signals"] if "public_signals" in entry else entry["publicSignals"]
        return cls(entry["proof"], signals)

    def calldata(self) -> tuple[list[int], list[list[int]], list[int], list[int]]:
        """(a, b, c, publicSignals) as the verifier takes them: pi_b's Fp2 coordinates swapped to (c1, c0)."""
        pi_a, pi_b, pi_c = self.proof["pi_a"], self.proof["pi_b"], self.proof["pi_c"]
        return (
            [int(pi_a[0]), int(pi_a[1])],
            [[int(pi_b[0][1]), int(pi_b[0][0])], [int(pi_b[1][1]), int(pi_b[1][0])]],
            [int(pi_c[0]), int(pi_c[1])],
            [int(s) for s in self.public_signals],
        )

    def proof_hash(self) -> str:
        """The registry's proofHashOf: keccak256(abi.encode(a, b, c, publicSignals))."""
        types = ["uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[]"]
        return to_hex(keccak(abi_encode(types, self.calldata())))


def submission_proof_hash(proofs: Sequence[SnarkjsProof]) -> str:
    """The proof hash a submission records: keccak256 of its proofs' hashes, concatenated in order."""
    return to_hex(keccak(b"".join(bytes.fromhex(p.proof_hash()[2:]) for p in proofs)))


def bundle_proofs(bundle: Mapping) -> list[SnarkjsProof]:
    """Every proof of a proof-of-training bundle (crypto.zk.training_proof), in the bundle's (run) order."""
    return [SnarkjsProof.from_json(entry) for entry in bundle.get("proofs", [])]


def all_proofs_hash(bundle: Mapping) -> str:
    """submission_proof_hash of every proof of a bundle, in run order: what a submission records as
    allProofsHash."""
    return submission_proof_hash(bundle_proofs(bundle))


def sample_positions(
    seed: str | bytes, round_id: int, hospital: str, proof_count: int, sample_size: int
) -> list[int]:
    """The registry's samplePositions, computed here: which of a committed run's proofs (by position) the chain
    verifies, from the hash of the block that holds the commitment (a partial Fisher-Yates shuffle)."""
    seed = bytes.fromhex(seed.removeprefix("0x")) if isinstance(seed, str) else bytes(seed)
    order = list(range(proof_count))
    positions = []
    for i in range(sample_size):
        draw = keccak(abi_encode(["bytes32", "uint256", "address", "uint256"], [seed, round_id, hospital, i]))
        j = i + int.from_bytes(draw, "big") % (proof_count - i)
        order[i], order[j] = order[j], order[i]
        positions.append(order[i])
    return positions


@dataclass
class ChainConnection:
    """A web3 connection and the coordinator's signer; `dev_accounts` are further funded signers (local only)."""

    w3: Web3
    coordinator: LocalAccount
    dev_accounts: tuple[LocalAccount, ...] = ()
    _nonce_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def transact(
        self, sender: LocalAccount, function: ContractFunction | ContractConstructor, gas: int
    ) -> TxResult:
        """Simulate, then sign and send `function` from `sender` with `gas`; a refusal raises ChainError."""
        with self._nonce_lock:  # one process's tasks must not reuse a nonce
            transaction = function.build_transaction(
                {
                    "from": sender.address,
                    "gas": gas,
                    "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
                    "chainId": self.chain_id,
                }
            )
            self._simulate(transaction)
            signed = sender.sign_transaction(transaction)
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except (Web3Exception, ValueError) as error:
                raise ChainError(_revert_reason(error)) from error
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        except TimeExhausted as error:
            raise ChainError("transaction not mined in time", to_hex(tx_hash)) from error
        result = TxResult(to_hex(receipt["transactionHash"]), receipt["blockNumber"], receipt["gasUsed"])
        if receipt["status"] != 1:
            # The simulation passed, so another transaction changed the state first: replay against the block
            # before this one to learn why.
            reason = "transaction reverted"
            try:
                self._simulate(transaction, block=receipt["blockNumber"] - 1)
            except ChainError as error:
                reason = error.reason
            raise ChainError(reason, result.tx_hash)
        logger.info(
            "chain tx %s mined in block %d, gas %d", result.tx_hash, result.block_number, result.gas_used
        )
        return result

    def send_value(self, sender: LocalAccount, to: str, wei: int) -> TxResult:
        """A plain transfer of `wei` from `sender` to `to` (funding an account on a dev chain)."""
        with self._nonce_lock:
            transaction = {
                "from": sender.address,
                "to": to,
                "value": wei,
                "gas": 21_000,
                "gasPrice": self.w3.eth.gas_price,
                "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
                "chainId": self.chain_id,
            }
            tx_hash = self.w3.eth.send_raw_transaction(sender.sign_transaction(transaction).raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
        return TxResult(to_hex(receipt["transactionHash"]), receipt["blockNumber"], receipt["gasUsed"])

    def _simulate(self, transaction: Mapping, block: int | str = "pending") -> None:
        """eth_call in the block the transaction would go into (the pending one): a call that needs a later block
        than the latest (the registry's proveSample) simulates as it will run."""
        call = {key: transaction[key] for key in ("from", "to", "data", "gas", "value") if key in transaction}
        try:
            self.w3.eth.call(call, block_identifier=block)
        except (Web3Exception, ValueError) as error:
            raise ChainError(_revert_reason(error)) from error


def connect(
    rpc_url: str, private_key: str, expected_chain_id: int | None = None, timeout_s: float = 30
) -> ChainConnection:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as error:  # any transport failure: the endpoint is unusable
        raise ChainError(f"chain RPC endpoint not answering: {type(error).__name__}") from error
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainError(f"chain id {chain_id} at the RPC endpoint, expected {expected_chain_id}")
    try:
        coordinator = Account.from_key(private_key)
    except Exception:  # whatever the parser says may quote the key: say nothing of it
        raise ChainError("the chain private key is not a valid secp256k1 key") from None
    return ChainConnection(w3, coordinator)


def chain_from_env(environ: Mapping[str, str] = os.environ) -> ChainConnection:
    """Connect to DH_CHAIN_RPC_URL with the coordinator key DH_CHAIN_PRIVATE_KEY; check DH_CHAIN_ID (Sepolia)."""
    rpc_url = environ.get("DH_CHAIN_RPC_URL", "")
    private_key = environ.get("DH_CHAIN_PRIVATE_KEY", "")
    if not rpc_url or not private_key:
        raise ChainError("set DH_CHAIN_RPC_URL and DH_CHAIN_PRIVATE_KEY to use a remote chain")
    return connect(rpc_url, private_key, int(environ.get("DH_CHAIN_ID", SEPOLIA_CHAIN_ID)))


NO_VERIFIER = "0x" + "00" * 20


@dataclass(frozen=True)
class Deployment:
    registry: str
    verifier: str  # NO_VERIFIER for a registry of rounds without proofs
    chain_id: int
    num_public_signals: int
    verify_gas: int
    verifier_tx: TxResult | None
    registry_tx: TxResult


def deploy(
    connection: ChainConnection, verifier_sol: Path | None, verify_gas: int | None = None
) -> Deployment:
    """Deploy the verifier generated for one circuit/zkey and a registry using it; the coordinator deploys both.

    Without `verifier_sol`, a registry alone for rounds without proofs of training: submissions carry no proofs.
    """
    if verifier_sol is None:
        registry_address, registry_tx = deploy_contract(
            connection, compile_registry(), (NO_VERIFIER, 0, 0), GAS_DEPLOY_REGISTRY
        )
        return Deployment(registry_address, NO_VERIFIER, connection.chain_id, 0, 0, None, registry_tx)
    registry_artifact, verifier_artifact = compile_with_verifier(verifier_sol)
    num_signals = public_signal_count(verifier_artifact.abi)
    verify_gas = verify_gas or verify_gas_budget(num_signals)
    verifier_address, verifier_tx = deploy_contract(connection, verifier_artifact, (), GAS_DEPLOY_VERIFIER)
    registry_address, registry_tx = deploy_contract(
        connection,
        registry_artifact,
        (verifier_address, num_signals, verify_gas),
        GAS_DEPLOY_REGISTRY + verify_gas,
    )
    return Deployment(
        registry_address,
        verifier_address,
        connection.chain_id,
        num_signals,
        verify_gas,
        verifier_tx,
        registry_tx,
    )


def deploy_contract(
    connection: ChainConnection, artifact: Artifact, args: tuple, gas: int
) -> tuple[str, TxResult]:
    constructor = connection.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(*args)
    result = connection.transact(connection.coordinator, constructor, gas)
    receipt = connection.w3.eth.get_transaction_receipt(result.tx_hash)
    return to_checksum_address(receipt["contractAddress"]), result


def to_hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _revert_reason(error: Exception) -> str:
    data = getattr(error, "data", None)
    if isinstance(data, str) and data.startswith(ERROR_STRING_SELECTOR):
        return abi_decode(["string"], bytes.fromhex(data[len(ERROR_STRING_SELECTOR) :]))[0]
    message = getattr(error, "message", None) or str(error)
    match = re.search(r"reverted with reason string '(.*)'", message) or re.search(
        r"execution reverted: (.*)", message
    )
    return match.group(1) if match else message
