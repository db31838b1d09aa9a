"""Vetting a deployed registry (contracts.vet_registry) on a real EVM: the portal's honest deployments pass, and a
portal that deploys a registry of its own source, or one whose verifier checks proofs against another key, is
caught before any key party pins it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak
from toy_groth16 import ToyCircuit, build_toy_circuit

from conftest import shared_file
from contracts import vet_registry
from contracts.client import GAS_DEPLOY_REGISTRY, NO_VERIFIER, ChainConnection, deploy, deploy_contract
from contracts.compile import REGISTRY_SOURCE, compile_sources
from contracts.localchain import LocalChain

pytestmark = [pytest.mark.chain, pytest.mark.zk, pytest.mark.slow]


@pytest.fixture(scope="module")
def circuit() -> ToyCircuit:
    return build_toy_circuit(shared_file("zk/pot15_dev_final.ptau"))


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    with LocalChain() as local_chain:
        yield local_chain


@pytest.fixture(scope="module")
def connection(chain: LocalChain) -> ChainConnection:
    return chain.connection()


def code_hash(connection: ChainConnection, address: str) -> str:
    return "0x" + keccak(bytes(connection.w3.eth.get_code(address))).hex()


def test_the_portals_deployments_are_vetted(chain, connection, circuit, capsys) -> None:
    with_verifier = deploy(connection, circuit.verifier_sol)
    vetted = vet_registry.vet_registry(chain.url, with_verifier.registry, circuit.verifier_sol)
    assert vetted.code_hash == code_hash(connection, with_verifier.registry)
    assert (vetted.verifier, vetted.coordinator) == (with_verifier.verifier, connection.coordinator.address)

    without = deploy(connection, None)
    arguments = ["--rpc", chain.url, "--registry", without.registry]
    assert vet_registry.main(arguments) == 0
    printed = capsys.readouterr().out
    assert "with no verifier" in printed
    assert f"--registry {without.registry} --code-hash {code_hash(connection, without.registry)}" in printed


def test_a_registry_of_other_source_is_refused(chain, connection) -> None:
    """The portal's own registry: closeRound no longer needs the sampled proofs verified."""
    source = REGISTRY_SOURCE.read_text()
    check = 'require(submission.verified, "participant\'s sampled proofs are not verified");'
    assert check in source
    altered = compile_sources({REGISTRY_SOURCE.name: source.replace(check, "")})["RoundRegistry"]
    address, _ = deploy_contract(connection, altered, (NO_VERIFIER, 0, 0), GAS_DEPLOY_REGISTRY)
    with pytest.raises(
        vet_registry.VettingError, match="is not RoundRegistry.sol as this repository compiles it"
    ):
        vet_registry.vet_registry(chain.url, address)


def test_a_verifier_of_another_key_is_refused(chain, connection, circuit, tmp_path) -> None:
    """A verifier whose verification key differs in one constant: proofs are checked against another key."""
    source = circuit.verifier_sol.read_text()
    constant = next(line for line in source.splitlines() if "uint256 constant alphax" in line)
    digits = constant.split("=")[1].strip().rstrip(";")
    other_key = tmp_path / circuit.verifier_sol.name
    other_key.write_text(source.replace(digits, str(int(digits) + 1), 1))
    deployed = deploy(connection, other_key)
    with pytest.raises(vet_registry.VettingError, match="is not the Groth16 verifier of"):
        vet_registry.vet_registry(chain.url, deployed.registry, circuit.verifier_sol)
    with pytest.raises(vet_registry.VettingError, match="give --verifier-sol"):
        vet_registry.vet_registry(chain.url, deployed.registry)


def test_no_contract_and_no_registry_are_refused(chain, connection, circuit) -> None:
    nobody = connection.dev_accounts[0].address
    assert vet_registry.main(["--rpc", chain.url, "--registry", nobody]) == 1
    verifier = deploy(connection, circuit.verifier_sol).verifier  # a contract, but no registry
    with pytest.raises(vet_registry.VettingError, match="does not answer as a RoundRegistry"):
        vet_registry.vet_registry(chain.url, verifier)
