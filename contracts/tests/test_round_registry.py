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
    sample_positions,
    submission_proof_hash,
)
from contracts.compile import compile_registry, compile_with_verifier
from contracts.localchain import LocalChain
from contracts.registry import RoundRegistry
from crypto.zk.merkle import ProofContext

pytestmark = [pytest.mark.chain, pytest.mark.zk]

MODEL = "0x" + "11" * 32
CONFIG = "0x" + "22" * 32
NEW_MODEL = "0x" + "33" * 32
RUN = "hospital's run|steps 40|samples 320|challenge ab"


@pytest.fixture(scope="module")
def circuit() -> ToyCircuit:
    return build_toy_circuit(shared_file("zk/pot15_dev_final.ptau"))


def context_of(round_id: int, hospital: LocalAccount, run: str = RUN, model: str = MODEL) -> ProofContext:
    return ProofContext(run, round_id, hospital.address, model.removeprefix("0x"))


class Prover:
    """Valid proofs with distinct statements, each bound to the context it is made for."""

    def __init__(self, circuit: ToyCircuit) -> None:
        self.circuit, self.tags = circuit, itertools.count(1)

    def __call__(self, context: ProofContext, count: int = 1) -> list[SnarkjsProof]:
        inputs = []
        for _ in range(count):
            tag = next(self.tags)
            inputs.append({"w": 100 + tag, "x": 3, "batchTag": tag, "lr": 2, "context": context.field()})
        return prove_toy(self.circuit, inputs)


@pytest.fixture(scope="module")
def prove(circuit: ToyCircuit) -> Prover:
    return Prover(circuit)


def submit(
    registry: RoundRegistry, hospital: LocalAccount, round_id: int, update: str, proofs, run: str = RUN
):
    return registry.submit(hospital, round_id, update, proofs, context_of(round_id, hospital, run).run_hash)


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    with LocalChain(num_accounts=30) as local_chain:
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
    registry.open_round(round_id, MODEL, CONFIG, 1)
    return round_id


def test_deployment_takes_public_signal_count_from_verifier(
    deployment: Deployment, registry: RoundRegistry
) -> None:
    assert deployment.num_public_signals == 5
    assert registry.contract.functions.numPublicSignals().call() == 5
    assert registry.contract.functions.contextIndex().call() == 4
    assert registry.contract.functions.verifier().call() == deployment.verifier


def test_the_contract_computes_the_context_as_crypto_zk_does(registry: RoundRegistry, hospital) -> None:
    context = context_of(7, hospital)
    on_chain = registry.contract.functions.contextOf(
        7, hospital.address, bytes.fromhex(MODEL[2:]), context.run_hash
    ).call()
    assert on_chain == context.field()


def test_round_with_four_proofs_per_submission(
    registry: RoundRegistry,
    connection: ChainConnection,
    unused_accounts: Iterator[LocalAccount],
    round_ids: Iterator[int],
    prove: Prover,
) -> None:
    first, second = next(unused_accounts), next(unused_accounts)
    for account in (first, second):
        registry.register_hospital(account.address)
        assert registry.is_hospital(account.address)
    round_id = next(round_ids)

    opened = registry.open_round(round_id, MODEL, CONFIG, 4)
    one, four = prove(context_of(round_id, first), 4), prove(context_of(round_id, second), 4)
    submitted_one = submit(registry, first, round_id, "0x" + "aa" * 32, one)
    submitted_four = submit(registry, second, round_id, "0x" + "bb" * 32, four)
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
    assert submission.proof_hash == submission.all_proofs_hash == submission_proof_hash(four)  # all verified
    assert submission.run_hash == "0x" + context_of(round_id, second).run_hash.hex()
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

    # Gas actually used stays within the limits the client sends.
    verify_gas = registry.verify_gas
    assert opened.gas_used < GAS_OPEN_ROUND
    assert submitted_one.gas_used < GAS_SUBMIT_BASE + 4 * (verify_gas + GAS_SUBMIT_PER_PROOF_EXTRA)
    assert closed.gas_used < GAS_CLOSE_BASE + 2 * GAS_CLOSE_PER_PARTICIPANT


def test_bad_proof_is_refused(
    registry: RoundRegistry, hospital: LocalAccount, round_ids: Iterator[int], prove: Prover
) -> None:
    open_round = next(round_ids)
    registry.open_round(open_round, MODEL, CONFIG, 2)
    good, other = prove(context_of(open_round, hospital), 2)
    signals = good.public_signals
    wrong_statement = SnarkjsProof(good.proof, [*signals[:2], "12345", *signals[3:]])
    with pytest.raises(ChainError, match="invalid proof 0"):
        submit(registry, hospital, open_round, "0x" + "cc" * 32, [wrong_statement, other])
    not_on_curve = SnarkjsProof({**good.proof, "pi_a": ["1", "3", "1"]}, good.public_signals)
    with pytest.raises(ChainError, match="invalid proof 1"):
        submit(registry, hospital, open_round, "0x" + "cc" * 32, [other, not_on_curve])
    assert registry.read_submission(open_round, hospital.address) is None
    assert not registry.proof_used(good)


def test_contract_itself_reverts_with_reason(
    registry: RoundRegistry,
    hospital: LocalAccount,
    open_round: int,
    prove: Prover,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the client's simulation, the transaction reaches the EVM and its revert reason comes back."""
    monkeypatch.setattr(ChainConnection, "_simulate", lambda self, transaction, block="latest": None)
    (good,) = prove(context_of(open_round, hospital))
    wrong_statement = SnarkjsProof(good.proof, [*good.public_signals[:3], "7", good.public_signals[4]])
    with pytest.raises(ChainError, match="invalid proof 0"):
        submit(registry, hospital, open_round, "0x" + "cc" * 32, [wrong_statement])


def test_unregistered_sender_is_refused(
    registry: RoundRegistry,
    unused_accounts: Iterator[LocalAccount],
    open_round: int,
    prove: Prover,
) -> None:
    outsider = next(unused_accounts)
    with pytest.raises(ChainError, match="sender is not a registered hospital"):
        submit(registry, outsider, open_round, "0x" + "dd" * 32, prove(context_of(open_round, outsider)))


def test_revoked_hospital_is_refused(
    registry: RoundRegistry, hospital: LocalAccount, open_round: int, prove: Prover
) -> None:
    registry.revoke_hospital(hospital.address)
    assert not registry.is_hospital(hospital.address)
    with pytest.raises(ChainError, match="sender is not a registered hospital"):
        submit(registry, hospital, open_round, "0x" + "dd" * 32, prove(context_of(open_round, hospital)))


def test_only_coordinator_opens_closes_and_registers(
    registry: RoundRegistry,
    connection: ChainConnection,
    hospital: LocalAccount,
    open_round: int,
    round_ids: Iterator[int],
    prove: Prover,
) -> None:
    submit(registry, hospital, open_round, "0x" + "ee" * 32, prove(context_of(open_round, hospital)))
    as_hospital = RoundRegistry(ChainConnection(connection.w3, hospital), registry.address)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.close_round(open_round, NEW_MODEL, [hospital.address])
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.open_round(next(round_ids), MODEL, CONFIG, 1)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.register_hospital(hospital.address)
    with pytest.raises(ChainError, match="only the coordinator"):
        as_hospital.cancel_round(open_round)
    assert registry.read_round(open_round).state == "open"


def test_replayed_proof_is_refused(
    registry: RoundRegistry, unused_accounts: Iterator[LocalAccount], round_ids: Iterator[int], prove: Prover
) -> None:
    first, second = next(unused_accounts), next(unused_accounts)
    for account in (first, second):
        registry.register_hospital(account.address)
    round_id = next(round_ids)
    registry.open_round(round_id, MODEL, CONFIG, 2)
    proofs = prove(context_of(round_id, first), 2)
    submit(registry, first, round_id, "0x" + "01" * 32, proofs)
    with pytest.raises(ChainError, match="replayed proof 1"):  # the same proof twice in one submission
        (fresh,) = prove(context_of(round_id, second))
        submit(registry, second, round_id, "0x" + "02" * 32, [fresh, fresh])


def test_a_proof_made_for_another_round_hospital_or_run_is_refused_rerandomised_or_not(
    registry: RoundRegistry,
    unused_accounts: Iterator[LocalAccount],
    round_ids: Iterator[int],
    circuit: ToyCircuit,
) -> None:
    """Attack 5 of the security review: a proof accepted in one round, re-randomised (a fresh snarkjs proof of
    the same statement has a new proof hash), passed off in another round, by another hospital or for another
    run. The context signal binds (round, sender, model, run): each is refused with the reason."""
    first, second = next(unused_accounts), next(unused_accounts)
    for account in (first, second):
        registry.register_hospital(account.address)
    round_a, round_b = next(round_ids), next(round_ids)
    registry.open_round(round_a, MODEL, CONFIG, 1)
    registry.open_round(round_b, MODEL, CONFIG, 1)
    statement = {"w": 7000, "x": 3, "batchTag": 7000, "lr": 2, "context": context_of(round_a, first).field()}
    original, rerandomised = prove_toy(circuit, [statement, statement])
    assert rerandomised.proof_hash() != original.proof_hash()
    assert rerandomised.public_signals == original.public_signals
    submit(registry, first, round_a, "0x" + "0a" * 32, [original])
    bound_elsewhere = "proof bound to another round, hospital, model or run: proof 0"
    with pytest.raises(ChainError, match=bound_elsewhere):  # the same hospital, another round
        submit(registry, first, round_b, "0x" + "0b" * 32, [rerandomised])
    with pytest.raises(ChainError, match=bound_elsewhere):  # another hospital
        submit(registry, second, round_b, "0x" + "0c" * 32, [rerandomised])
    with pytest.raises(ChainError, match=bound_elsewhere):  # the right round and hospital, another run
        submit(registry, first, round_b, "0x" + "0d" * 32, [rerandomised], run="another run")
    other_model = "0x" + "44" * 32
    round_c = next(round_ids)
    registry.open_round(round_c, other_model, CONFIG, 1)
    moved = prove_toy(circuit, [{**statement, "context": context_of(round_c, first).field()}])
    with pytest.raises(ChainError, match=bound_elsewhere):  # a context computed with another model's hash
        submit(registry, first, round_c, "0x" + "0e" * 32, moved)
    for round_id in (round_b, round_c):
        assert registry.read_submission(round_id, first.address) is None
        assert registry.read_submission(round_id, second.address) is None


def test_a_submission_carries_exactly_the_rounds_number_of_proofs(
    registry: RoundRegistry, hospital: LocalAccount, round_ids: Iterator[int], prove: Prover
) -> None:
    round_id = next(round_ids)
    registry.open_round(round_id, MODEL, CONFIG, 3)
    proofs = prove(context_of(round_id, hospital), 3)
    for wrong in (proofs[:1], proofs[:2], []):
        with pytest.raises(ChainError, match=f"wrong number of proofs: {len(wrong)}, the round takes 3"):
            submit(registry, hospital, round_id, "0x" + "0f" * 32, wrong)
    submit(registry, hospital, round_id, "0x" + "0f" * 32, proofs)
    with pytest.raises(ChainError, match="a round of this registry needs proofs"):
        registry.open_round(next(round_ids), MODEL, CONFIG, 0)


def test_round_rules(
    registry: RoundRegistry,
    unused_accounts: Iterator[LocalAccount],
    hospital: LocalAccount,
    open_round: int,
    prove: Prover,
) -> None:
    context = context_of(open_round, hospital)
    with pytest.raises(ChainError, match="round id already used"):
        registry.open_round(open_round, MODEL, CONFIG, 1)
    with pytest.raises(ChainError, match="round is not open"):
        submit(registry, hospital, 10_000, "0x" + "05" * 32, prove(context_of(10_000, hospital)))
    with pytest.raises(ChainError, match="wrong number of public signals in proof 0"):
        (good,) = prove(context)
        submit(
            registry,
            hospital,
            open_round,
            "0x" + "05" * 32,
            [SnarkjsProof(good.proof, good.public_signals[:3])],
        )
    submit(registry, hospital, open_round, "0x" + "05" * 32, prove(context))
    with pytest.raises(ChainError, match="hospital already submitted in this round"):
        submit(registry, hospital, open_round, "0x" + "06" * 32, prove(context))
    with pytest.raises(ChainError, match="participant did not submit in this round"):
        registry.close_round(open_round, NEW_MODEL, [next(unused_accounts).address])
    with pytest.raises(ChainError, match="participant listed twice"):
        registry.close_round(open_round, NEW_MODEL, [hospital.address, hospital.address])
    registry.cancel_round(open_round)
    assert registry.read_round(open_round).state == "cancelled"
    with pytest.raises(ChainError, match="round is not open"):
        registry.close_round(open_round, NEW_MODEL, [hospital.address])


@pytest.fixture
def every_step_round(registry: RoundRegistry, round_ids: Iterator[int]) -> int:
    """A round that proves every step and verifies 2 proofs of each submission on chain."""
    round_id = next(round_ids)
    registry.open_round(round_id, MODEL, CONFIG, 2, every_step=True)
    return round_id


def test_every_step_round_verifies_a_sample_drawn_from_the_block_hash_after_the_commitment(
    registry: RoundRegistry,
    connection: ChainConnection,
    hospital: LocalAccount,
    every_step_round: int,
    prove: Prover,
) -> None:
    context = context_of(every_step_round, hospital)
    run = prove(context, 6)
    assert registry.read_round(every_step_round).every_step
    committed = registry.commit(hospital, every_step_round, "0x" + "09" * 32, context.run_hash, run)
    recorded = registry.read_submission(every_step_round, hospital.address)
    assert (recorded.verified, recorded.proof_count, recorded.all_proofs_hash) == (
        False,
        6,
        submission_proof_hash(run),
    )
    with pytest.raises(ChainError, match="participant's sampled proofs are not verified"):
        registry.close_round(every_step_round, NEW_MODEL, [hospital.address])

    # The sample: computed here from the commitment block's hash, as the contract computes it.
    block_hash = connection.w3.eth.get_block(committed.block_number)["hash"]
    positions = sample_positions(block_hash, every_step_round, hospital.address, 6, 2)
    assert registry.sample_positions(every_step_round, hospital.address) == positions
    assert len(set(positions)) == 2 and all(0 <= p < 6 for p in positions)

    sampled = registry.prove_sample(hospital, every_step_round, run)
    assert sampled.block_number > committed.block_number
    recorded = registry.read_submission(every_step_round, hospital.address)
    assert recorded.verified and recorded.block_number == committed.block_number
    assert recorded.proof_hash == submission_proof_hash([run[p] for p in positions])
    assert [registry.proof_used(p) for p in run] == [i in positions for i in range(6)]
    # The contract answers from the kept block hash once the sample is verified.
    assert registry.contract.functions.samplePositions(every_step_round, hospital.address).call() == positions
    assert [e["event"] for e in registry.round_events(every_step_round)] == [
        "RoundOpened",
        "SubmissionCommitted",
        "SubmissionRecorded",
    ]
    registry.close_round(every_step_round, NEW_MODEL, [hospital.address])


def test_a_hospital_cannot_choose_which_committed_proofs_the_chain_verifies(
    registry: RoundRegistry,
    connection: ChainConnection,
    hospital: LocalAccount,
    every_step_round: int,
    prove: Prover,
) -> None:
    """The forger's move: commit a run holding an invalid proof, then offer the chain only valid ones. The chain
    verifies the proofs at the positions it drew, whatever the hospital offers."""
    context = context_of(every_step_round, hospital)
    run = prove(context, 6)
    signals = run[0].public_signals
    run[0] = SnarkjsProof(run[0].proof, [*signals[:2], "12345", *signals[3:]])  # a forged step's proof
    registry.commit(hospital, every_step_round, "0x" + "0a" * 32, context.run_hash, run)
    positions = registry.sample_positions(every_step_round, hospital.address)
    hashes = [bytes.fromhex(p.proof_hash()[2:]) for p in run]

    def prove_sample(offered_hashes: list[bytes], offered: list[SnarkjsProof]):
        function = registry.contract.functions.proveSample(
            every_step_round, offered_hashes, [p.calldata() for p in offered]
        )
        return connection.transact(hospital, function, 3_000_000)

    others = [i for i in range(1, 6) if i not in positions][:2]
    with pytest.raises(
        ChainError, match=f"proof 0 is not the committed proof at sampled position {positions[0]}"
    ):
        prove_sample(hashes, [run[i] for i in others])
    with pytest.raises(ChainError, match="the proof hashes are not the committed ones"):
        prove_sample([*hashes[1:], hashes[0]], [run[i] for i in positions])
    with pytest.raises(ChainError, match="wrong number of sampled proofs"):
        prove_sample(hashes, [run[positions[0]]])
    if 0 in positions:
        with pytest.raises(ChainError, match=f"invalid proof {positions.index(0)}"):
            prove_sample(hashes, [run[i] for i in positions])
        assert not registry.read_submission(every_step_round, hospital.address).verified
    else:  # the sample missed the forged proof: the chain records it, the portal's full check refuses it
        prove_sample(hashes, [run[i] for i in positions])
        assert registry.read_submission(every_step_round, hospital.address).verified


def test_every_step_rounds_take_commitments_and_spot_checked_rounds_take_proofs(
    registry: RoundRegistry,
    hospital: LocalAccount,
    every_step_round: int,
    open_round: int,
    prove: Prover,
) -> None:
    context = context_of(every_step_round, hospital)
    with pytest.raises(ChainError, match="this round proves every step: commit, then proveSample"):
        submit(registry, hospital, every_step_round, "0x" + "0b" * 32, prove(context, 2))
    with pytest.raises(ChainError, match="this round does not prove every step: submit its proofs"):
        registry.commit(hospital, open_round, "0x" + "0b" * 32, context.run_hash, prove(context, 2))
    with pytest.raises(ChainError, match="too few proofs: 1, the round samples 2"):
        registry.commit(hospital, every_step_round, "0x" + "0b" * 32, context.run_hash, prove(context, 1))
    with pytest.raises(ChainError, match="nothing committed by this hospital in this round"):
        registry.prove_sample(hospital, every_step_round, prove(context, 2))
    run = prove(context, 3)
    registry.commit(hospital, every_step_round, "0x" + "0b" * 32, context.run_hash, run)
    with pytest.raises(ChainError, match="hospital already submitted in this round"):
        registry.commit(hospital, every_step_round, "0x" + "0c" * 32, context.run_hash, run)
    registry.prove_sample(hospital, every_step_round, run)
    with pytest.raises(ChainError, match="sample already verified"):
        registry.prove_sample(hospital, every_step_round, run)


def test_a_sample_not_proven_within_256_blocks_of_the_commitment_cannot_be(
    registry: RoundRegistry,
    connection: ChainConnection,
    hospital: LocalAccount,
    every_step_round: int,
    prove: Prover,
) -> None:
    """Else a hospital could wait until the EVM forgets the block hash (blockhash then answers 0) and draw a sample
    it knows."""
    context = context_of(every_step_round, hospital)
    run = prove(context, 3)
    registry.commit(hospital, every_step_round, "0x" + "0d" * 32, context.run_hash, run)
    connection.w3.provider.make_request("hardhat_mine", [hex(257)])
    with pytest.raises(ChainError, match="the sample window"):
        registry.prove_sample(hospital, every_step_round, run)
    assert not registry.read_submission(every_step_round, hospital.address).verified


def test_too_little_gas_is_a_clear_refusal_not_an_invalid_proof(
    registry: RoundRegistry, hospital: LocalAccount, open_round: int, prove: Prover
) -> None:
    context = context_of(open_round, hospital)
    (proof,) = prove(context)
    function = registry.contract.functions.submit(
        open_round, "0x" + "07" * 32, context.run_hash, [proof.calldata()]
    )
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
    connection: ChainConnection, unused_accounts: Iterator[LocalAccount], prove: Prover
) -> None:
    """Rounds that carry no proofs of training get a registry without a verifier: update hashes only."""
    proofless = deploy(connection, None)
    assert proofless.verifier == NO_VERIFIER and proofless.verifier_tx is None
    registry = RoundRegistry(connection, proofless.registry)
    hospital = next(unused_accounts)
    registry.register_hospital(hospital.address)
    with pytest.raises(ChainError, match="this registry takes no proofs"):
        registry.open_round(1, MODEL, CONFIG, 1)
    registry.open_round(1, MODEL, CONFIG)
    with pytest.raises(ChainError, match="wrong number of proofs: 1, the round takes 0"):
        registry.submit(hospital, 1, "0x" + "08" * 32, prove(context_of(1, hospital)))
    submitted = registry.submit(hospital, 1, "0x" + "08" * 32, [])
    registry.close_round(1, NEW_MODEL, [hospital.address])
    submission = registry.read_submission(1, hospital.address)
    assert submission is not None and (submission.proof_count, submission.included) == (0, True)
    assert submission.proof_hash == submission_proof_hash([])
    assert submitted.gas_used < GAS_SUBMIT_BASE
    with pytest.raises(ChainError, match="public signals without a verifier"):
        deploy_contract(connection, compile_registry(), (NO_VERIFIER, 4, 0), 3_000_000)
