"""The round registry on a real EVM (hardhat node) with real snarkjs Groth16 proofs and verifier."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount
from toy_groth16 import ToyCircuit, build_toy_circuit, prove_toy

from conftest import shared_file
from contracts.client import (
    GAS_CLOSE_BASE,
    GAS_CLOSE_PER_PARTICIPANT,
    GAS_OPEN_ROUND,
    GAS_SUBMIT_BASE,
    GAS_SUBMIT_PER_PROOF_EXTRA,
    NO_VERIFIER,
    ChainConnection,
    ChainError,
    Deployment,
    SnarkjsProof,
    chain_from_env,
    deploy,
    deploy_contract,
    submission_proof_hash,
)
from contracts.compile import compile_registry, compile_with_verifier
from contracts.localchain import LocalChain
from contracts.registry import RoundRegistry

pytestmark = [pytest.mark.chain, pytest.mark.zk]

MODEL = "0x" + "11" * 32
CONFIG = "0x" + "22" * 32
NEW_MODEL = "0x" + "33" * 32


@pytest.fixture(scope="module")
def circuit() -> ToyCircuit:
    return build_toy_circuit(shared_file("zk/pot15_dev_final.ptau"))


@pytest.fixture(scope="module")
def proofs(circuit: ToyCircuit) -> Iterator[SnarkjsProof]:
    """A supply of valid proofs with distinct statements (one snarkjs process for all of them)."""
    return iter(prove_toy(circuit, [{"w": 100 + i, "x": 3, "batchTag": i, "lr": 2} for i in range(24)]))


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    with LocalChain(num_accounts=20) as local_chain:
        yield local_chain


@pytest.fixture(scope="module")
def connection(chain: LocalChain) -> ChainConnection:
    return chain.connection()


@pytest.fixture(scope="module")
def deployment(connection: ChainConnection, circuit: ToyCircuit) -> Deployment:
    return deploy(connection, circuit.verifier_sol)


@pytest.fixture(scope="module")
def registry(connection: ChainConnection, deployment: Deployment) -> RoundRegistry:
    return RoundRegistry(connection, deployment.registry)


@pytest.fixture(scope="module")
def unused_accounts(connection: ChainConnection) -> Iterator[LocalAccount]:
    return iter(connection.dev_accounts)


@pytest.fixture(scope="module")
def round_ids() -> Iterator[int]:
    return itertools.count(1)


@pytest.fixture
def hospital(registry: RoundRegistry, unused_accounts: Iterator[LocalAccount]) -> LocalAccount:
    account = next(unused_accounts)
    registry.register_hospital(account.address)
    return account


@pytest.fixture
def open_round(registry: RoundRegistry, round_ids: Iterator[int]) -> int:
    round_id = next(round_ids)
    registry.open_round(round_id, MODEL, CONFIG)
    return round_id


def take(proofs: Iterator[SnarkjsProof], count: int) -> list[SnarkjsProof]:
    return [next(proofs) for _ in range(count)]


def test_deployment_takes_public_signal_count_from_verifier(
    deployment: Deployment, registry: RoundRegistry
) -> None:
    assert deployment.num_public_signals == 4
    assert registry.contract.functions.numPublicSignals().call() == 4
    assert registry.contract.functions.verifier().call() == deployment.verifier


def test_round_with_one_and_four_proofs(
    registry: RoundRegistry,
    connection: ChainConnection,
    unused_accounts: Iterator[LocalAccount],
    round_ids: Iterator[int],
    proofs: Iterator[SnarkjsProof],
) -> None:
    first, second = next(unused_accounts), next(unused_accounts)
    for account in (first, second):
        registry.register_hospital(account.address)
        assert registry.is_hospital(account.address)
    round_id = next(round_ids)

    opened = registry.open_round(round_id, MODEL, CONFIG)
    one, four = take(proofs, 1), take(proofs, 4)
    submitted_one = registry.submit(first, round_id, "0x" + "aa" * 32, one)
    submitted_four = registry.submit(second, round_id, "0x" + "bb" * 32, four)
    assert registry.read_round(round_id).state == "open"
    closed = registry.close_round(round_id, NEW_MODEL, [first.address, second.address])

    record = registry.read_round(round_id)
    assert (record.model_hash, record.config_hash, record.new_model_hash) == (MODEL, CONFIG, NEW_MODEL)
    assert record.state == "closed"
    assert record.submitters == record.participants == (first.address, second.address)
    assert (record.opened_block, record.closed_block) == (opened.block_number, closed.block_number)
    submission = registry.read_submission(round_id, second.address)
    assert submission is not None
    assert (submission.update_hash, submission.proof_count, submission.included) == (
        "0x" + "bb" * 32,
        4,
        True,
    )
    assert submission.proof_hash == submission_proof_hash(four)
    assert submission.block_number == submitted_four.block_number
    assert all(registry.proof_used(p) for p in one + four)
    assert registry.read_submission(round_id, connection.coordinator.address) is None

    events = registry.round_events(round_id)
    assert [e["event"] for e in events] == [
        "RoundOpened",
        "SubmissionRecorded",
        "SubmissionRecorded",
        "RoundClosed",
    ]
    assert events[0]["args"] == {"roundId": round_id, "modelHash": MODEL, "configHash": CONFIG}
    assert events[1]["args"]["proofHash"] == submission_proof_hash(one)
    assert events[1]["tx_hash"] == submitted_one.tx_hash
    assert events[3]["args"]["participants"] == [first.address, second.address]

    # Gas actually used stays within the limits the client sends (measured: open 91k, submit 406k / 1.18M,
    # close 132k for two participants).
    verify_gas = registry.verify_gas
    assert opened.gas_used < GAS_OPEN_ROUND
    assert submitted_one.gas_used < GAS_SUBMIT_BASE + verify_gas + GAS_SUBMIT_PER_PROOF_EXTRA
    assert submitted_four.gas_used < GAS_SUBMIT_BASE + 4 * (verify_gas + GAS_SUBMIT_PER_PROOF_EXTRA)
    assert closed.gas_used < GAS_CLOSE_BASE + 2 * GAS_CLOSE_PER_PARTICIPANT


def test_bad_proof_is_refused(
    registry: RoundRegistry, hospital: LocalAccount, open_round: int, proofs: Iterator[SnarkjsProof]
) -> None:
    good, other = take(proofs, 2)
    wrong_statement = SnarkjsProof(good.proof, [*good.public_signals[:2], "12345", good.public_signals[3]])
    with pytest.raises(ChainError, match="invalid proof 0"):
        registry.submit(hospital, open_round, "0x" + "cc" * 32, [wrong_statement])
    not_on_curve = SnarkjsProof({**good.proof, "pi_a": ["1", "3", "1"]}, good.public_signals)
    with pytest.raises(ChainError, match="invalid proof 1"):
        registry.submit(hospital, open_round, "0x" + "cc" * 32, [other, not_on_curve])
    assert registry.read_submission(open_round, hospital.address) is None
    assert not registry.proof_used(good)


def test_contract_itself_reverts_with_reason(
    registry: RoundRegistry,
    hospital: LocalAccount,
    open_round: int,
    proofs: Iterator[SnarkjsProof],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the client's simulation, the transaction reaches the EVM and its revert reason comes back."""
    monkeypatch.setattr(ChainConnection, "_simulate", lambda self, transaction, block="latest": None)
    good = next(proofs)
    wrong_statement = SnarkjsProof(good.proof, [*good.public_signals[:3], "7"])
    with pytest.raises(ChainError, match="invalid proof 0"):
        registry.submit(hospital, open_round, "0x" + "cc" * 32, [wrong_statement])


def test_unregistered_sender_is_refused(
    registry: RoundRegistry,
    unused_accounts: Iterator[LocalAccount],
    open_round: int,
    proofs: Iterator[SnarkjsProof],
) -> None:
    outsider = next(unused_accounts)
    with pytest.raises(ChainError, match="sender is not a registered hospital"):
        registry.submit(outsider, open_round, "0x" + "dd" * 32, take(proofs, 1))


def test_revoked_hospital_is_refused(
    registry: RoundRegistry, hospital: LocalAccount, open_round: int, proofs: Iterator[SnarkjsProof]
) -> None:
    registry.revoke_hospital(hospital.address)
    assert not registry.is_hospital(hospital.address)
    with pytest.raises(ChainError, match="sender is not a registered hospital"):
        registry.submit(hospital, open_round, "0x" + "dd" * 32, take(proofs, 1))


def test_only_coordinator_opens_closes_and_registers(
    registry: RoundRegistry,
    connection: ChainConnection,
    hospital: LocalAccount,
    open_round: int,
    round_ids: Iterator[int],
    proofs: Iterator[SnarkjsProof],
) -> None:
    registry.submit(hospital, open_round, "0x" + "ee" * 32, take(proofs, 1))
    as_hospital = RoundRegistry(ChainConnection(connection.w3, hospital), registry.address)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.close_round(open_round, NEW_MODEL, [hospital.address])
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.open_round(next(round_ids), MODEL, CONFIG)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.register_hospital(hospital.address)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.cancel_round(open_round)
    assert registry.read_round(open_round).state == "open"


def test_replayed_proof_is_refused(
    registry: RoundRegistry,
    unused_accounts: Iterator[LocalAccount],
    round_ids: Iterator[int],
    circuit: ToyCircuit,
    proofs: Iterator[SnarkjsProof],
) -> None:
    first, second = next(unused_accounts), next(unused_accounts)
    for account in (first, second):
        registry.register_hospital(account.address)
    round_a, round_b = next(round_ids), next(round_ids)
    registry.open_round(round_a, MODEL, CONFIG)
    registry.open_round(round_b, MODEL, CONFIG)
    proof = next(proofs)
    registry.submit(first, round_a, "0x" + "01" * 32, [proof])

    with pytest.raises(ChainError, match="replayed proof 0"):  # another hospital, another round
        registry.submit(second, round_b, "0x" + "02" * 32, [proof])
    with pytest.raises(ChainError, match="replayed proof 1"):  # the same proof twice in one submission
        fresh = next(proofs)
        registry.submit(second, round_b, "0x" + "02" * 32, [fresh, fresh])
    # A new proof of the same statement (snarkjs proofs are randomised) differs in hash, not in statement.
    (same_statement,) = prove_toy(circuit, [{"w": 5000, "x": 3, "batchTag": 99, "lr": 2}])
    (again,) = prove_toy(circuit, [{"w": 5000, "x": 3, "batchTag": 99, "lr": 2}])
    assert again.proof_hash() != same_statement.proof_hash()
    registry.submit(first, round_b, "0x" + "03" * 32, [same_statement])
    with pytest.raises(ChainError, match="statement already proven in this round, proof 0"):
        registry.submit(second, round_b, "0x" + "04" * 32, [again])


def test_round_rules(
    registry: RoundRegistry,
    unused_accounts: Iterator[LocalAccount],
    hospital: LocalAccount,
    open_round: int,
    proofs: Iterator[SnarkjsProof],
) -> None:
    with pytest.raises(ChainError, match="round id already used"):
        registry.open_round(open_round, MODEL, CONFIG)
    with pytest.raises(ChainError, match="round is not open"):
        registry.submit(hospital, 10_000, "0x" + "05" * 32, take(proofs, 1))
    with pytest.raises(ChainError, match="wrong number of public signals in proof 0"):
        good = next(proofs)
        registry.submit(
            hospital, open_round, "0x" + "05" * 32, [SnarkjsProof(good.proof, good.public_signals[:3])]
        )
    registry.submit(hospital, open_round, "0x" + "05" * 32, take(proofs, 1))
    with pytest.raises(ChainError, match="hospital already submitted in this round"):
        registry.submit(hospital, open_round, "0x" + "06" * 32, take(proofs, 1))
    with pytest.raises(ChainError, match="participant did not submit in this round"):
        registry.close_round(open_round, NEW_MODEL, [next(unused_accounts).address])
    with pytest.raises(ChainError, match="participant listed twice"):
        registry.close_round(open_round, NEW_MODEL, [hospital.address, hospital.address])
    registry.cancel_round(open_round)
    assert registry.read_round(open_round).state == "cancelled"
    with pytest.raises(ChainError, match="round is not open"):
        registry.close_round(open_round, NEW_MODEL, [hospital.address])


def test_too_little_gas_is_a_clear_refusal_not_an_invalid_proof(
    registry: RoundRegistry, hospital: LocalAccount, open_round: int, proofs: Iterator[SnarkjsProof]
) -> None:
    function = registry.contract.functions.submit(open_round, "0x" + "07" * 32, [next(proofs).calldata()])
    with pytest.raises(ChainError, match="gas too low to verify the proofs"):
        registry.connection.transact(hospital, function, 250_000)


def test_registry_refuses_a_verifier_for_another_signal_count(
    connection: ChainConnection, deployment: Deployment, circuit: ToyCircuit
) -> None:
    registry_artifact, _ = compile_with_verifier(circuit.verifier_sol)
    with pytest.raises(ChainError, match="verifier does not take this many public signals"):
        deploy_contract(
            connection, registry_artifact, (deployment.verifier, 3, deployment.verify_gas), 3_000_000
        )


def test_chain_from_env_checks_the_chain_id(chain: LocalChain, connection: ChainConnection) -> None:
    with pytest.raises(ChainError, match="set DH_CHAIN_RPC_URL"):
        chain_from_env({})
    key = connection.dev_accounts[-1].key.hex()
    with pytest.raises(ChainError, match="chain id 31337 at the RPC endpoint, expected 11155111"):
        chain_from_env({"DH_CHAIN_RPC_URL": chain.url, "DH_CHAIN_PRIVATE_KEY": key})
    remote = chain_from_env(
        {"DH_CHAIN_RPC_URL": chain.url, "DH_CHAIN_PRIVATE_KEY": key, "DH_CHAIN_ID": "31337"}
    )
    assert remote.coordinator.address == connection.dev_accounts[-1].address


def test_registry_without_verifier_records_rounds_without_proofs(
    connection: ChainConnection, unused_accounts: Iterator[LocalAccount], proofs: Iterator[SnarkjsProof]
) -> None:
    """Rounds that carry no proofs of training get a registry without a verifier: update hashes only."""
    proofless = deploy(connection, None)
    assert proofless.verifier == NO_VERIFIER and proofless.verifier_tx is None
    registry = RoundRegistry(connection, proofless.registry)
    hospital = next(unused_accounts)
    registry.register_hospital(hospital.address)
    registry.open_round(1, MODEL, CONFIG)
    with pytest.raises(ChainError, match="this registry takes no proofs"):
        registry.submit(hospital, 1, "0x" + "08" * 32, take(proofs, 1))
    submitted = registry.submit(hospital, 1, "0x" + "08" * 32, [])
    registry.close_round(1, NEW_MODEL, [hospital.address])
    submission = registry.read_submission(1, hospital.address)
    assert submission is not None and (submission.proof_count, submission.included) == (0, True)
    assert submission.proof_hash == submission_proof_hash([])
    assert submitted.gas_used < GAS_SUBMIT_BASE
    with pytest.raises(ChainError, match="public signals without a verifier"):
        deploy_contract(connection, compile_registry(), (NO_VERIFIER, 4, 0), 3_000_000)
