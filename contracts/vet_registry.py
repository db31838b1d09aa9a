"""Vet a deployed round registry before a key party pins it (dh-keyparty trust-chain): is the code at the address
this repository's RoundRegistry.sol, using as its verifier the Groth16 verifier of the rounds' verification key?

    python -m contracts.vet_registry --rpc URL --registry ADDRESS [--verifier-sol Verifier.sol]

Each key party's operator runs it on a machine of their own with this repository (solc-js and hardhat from its
node_modules), through their own RPC endpoint. --verifier-sol is the verifier snarkjs exports from the
ceremony's final zkey (`snarkjs zkey export solidityverifier`), which the operator has checked against the
ceremony's transcript; without it the registry must be one for rounds without proofs (no verifier).

How: a local hardhat chain replays the deployment. The verifier compiled from --verifier-sol is deployed there and
its runtime code compared with the code at the registry's verifier(); then RoundRegistry.sol, compiled, is
deployed there from the registry's coordinator (impersonated) with the registry's own constructor arguments, and
its runtime code compared with the code at the address. The coordinator, the verifier's address and the gas
budget are immutables, embedded in the runtime code: equal code means the same source, compiler settings and
constructor arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception

from contracts.client import GAS_DEPLOY_REGISTRY, GAS_DEPLOY_VERIFIER, NO_VERIFIER, deploy_contract
from contracts.compile import Artifact, compile_registry, compile_with_verifier
from contracts.localchain import LocalChain

BALANCE_WEI = 10**20  # the impersonated coordinator's balance on the replay chain, for the deployment's gas


class VettingError(Exception):
    """The registry is not what it should be, or could not be read; the message says which and why."""


@dataclass(frozen=True)
class VettedRegistry:
    registry: str
    chain_id: int
    code_hash: str  # 0x and keccak-256 of its runtime code: what dh-keyparty trust-chain pins
    coordinator: str
    verifier: str  # NO_VERIFIER for a registry of rounds without proofs


def _code(w3: Web3, address: str) -> bytes:
    return bytes(w3.eth.get_code(to_checksum_address(address)))


def _deployed_arguments(remote: Web3, registry: str, artifact: Artifact) -> tuple[str, str, int, int]:
    """(coordinator, verifier, numPublicSignals, verifyGas) as the registry answers them."""
    contract = remote.eth.contract(address=to_checksum_address(registry), abi=artifact.abi)
    try:
        return (
            contract.functions.coordinator().call(),
            contract.functions.verifier().call(),
            contract.functions.numPublicSignals().call(),
            contract.functions.verifyGas().call(),
        )
    except (Web3Exception, ValueError) as exc:
        raise VettingError(f"the contract at {registry} does not answer as a RoundRegistry: {exc}") from None


def vet_registry(rpc_url: str, registry: str, verifier_sol: Path | None = None) -> VettedRegistry:
    """The registry's vetted facts; VettingError if its code, or its verifier's, is not what this repository and
    `verifier_sol` compile to."""
    remote = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        chain_id = remote.eth.chain_id
        code = _code(remote, registry)
    except (Web3Exception, OSError, ValueError) as exc:
        raise VettingError(f"cannot read the chain at {rpc_url}: {exc}") from None
    if not code:
        raise VettingError(f"no contract at {registry} on chain {chain_id}")
    if verifier_sol is None:
        registry_artifact, verifier_artifact = compile_registry(), None
    else:
        registry_artifact, verifier_artifact = compile_with_verifier(verifier_sol)
    coordinator, verifier, num_signals, verify_gas = _deployed_arguments(remote, registry, registry_artifact)
    if verifier_artifact is None and verifier != NO_VERIFIER:
        raise VettingError(
            f"registry {registry} verifies proofs with the verifier at {verifier}: give --verifier-sol, the "
            "verifier exported from the ceremony's final zkey"
        )
    if verifier_artifact is not None and verifier == NO_VERIFIER:
        raise VettingError(f"registry {registry} has no verifier: it verifies no proofs")
    with LocalChain() as replay:
        local = replay.connection()
        w3 = local.w3
        if verifier_artifact is not None:
            local_verifier, _ = deploy_contract(local, verifier_artifact, (), GAS_DEPLOY_VERIFIER)
            verifier_code = _code(w3, local_verifier)
            if _code(remote, verifier) != verifier_code:
                raise VettingError(
                    f"the registry's verifier {verifier} is not the Groth16 verifier of {verifier_sol}: its "
                    "proofs are checked against another verification key"
                )
            w3.provider.make_request("hardhat_setCode", [verifier, "0x" + verifier_code.hex()])
        w3.provider.make_request("hardhat_impersonateAccount", [coordinator])
        w3.provider.make_request("hardhat_setBalance", [coordinator, hex(BALANCE_WEI)])
        constructor = w3.eth.contract(
            abi=registry_artifact.abi, bytecode=registry_artifact.bytecode
        ).constructor(verifier, num_signals, verify_gas)
        try:
            sent = constructor.transact({"from": coordinator, "gas": GAS_DEPLOY_REGISTRY + verify_gas})
            receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=60)
        except (Web3Exception, ValueError) as exc:
            raise VettingError(
                f"RoundRegistry.sol could not be deployed with {registry}'s arguments: {exc}"
            ) from None
        if receipt["status"] != 1 or _code(w3, receipt["contractAddress"]) != code:
            raise VettingError(
                f"the code at {registry} is not RoundRegistry.sol as this repository compiles it, deployed by "
                f"{coordinator} with its verifier {verifier}: do not pin it"
            )
    return VettedRegistry(
        to_checksum_address(registry), chain_id, "0x" + keccak(code).hex(), coordinator, verifier
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.vet_registry", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rpc", required=True, help="your own RPC endpoint for the chain, not the portal's")
    parser.add_argument("--registry", required=True, help="the round registry's address")
    parser.add_argument(
        "--verifier-sol", type=Path, default=None, help="the Groth16 verifier exported from the final zkey"
    )
    arguments = parser.parse_args(argv)
    try:
        vetted = vet_registry(arguments.rpc, arguments.registry, arguments.verifier_sol)
    except VettingError as exc:
        print(f"vet_registry: refused: {exc}", file=sys.stderr)
        return 1
    what = "no verifier" if vetted.verifier == NO_VERIFIER else f"the verifier of {arguments.verifier_sol}"
    print(
        f"vetted: {vetted.registry} on chain {vetted.chain_id} is RoundRegistry.sol with {what}, deployed by "
        f"{vetted.coordinator}; code hash {vetted.code_hash}\n"
        "pin it on each key party: dh-keyparty trust-chain --rpc YOUR_RPC_URL --registry "
        f"{vetted.registry} --code-hash {vetted.code_hash}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
