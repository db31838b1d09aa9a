"""A portal that has the key parties open uploads the public audit trail does not hold.

Key parties that pin a chain (dh-keyparty trust-chain: their own RPC endpoint, the round registries their
operators vetted, each trusted hospital's chain address) read each job's round and submissions from the chain
themselves, before their shares enter the MPC. The portal writes its own jobs here, with uploads every hospital
really signed, against a real hardhat chain and three real key-party processes (crypto.keyparty, MPyC): an upload
its hospital never recorded, one whose record is another update, a round already closed and a registry no party
vetted are each refused with the reason, and no key's ledger is charged; the recorded uploads alone open.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from contracts.client import deploy
from contracts.localchain import LocalChain
from contracts.registry import RoundRegistry
from crypto import keyparty
from crypto.decryption_job import KeyLedger
from crypto.tests.signed_jobs import (
    LocalCommittee,
    fresh_round_id,
    hospital_keys,
    signed_terms,
    write_signed_job,
)
from keyparty.config import (
    TRUSTED_CHAIN_FILE,
    TRUSTED_HOSPITALS_FILE,
    KeyPartyConfigError,
    trust_chain,
    trust_hospital,
)

pytestmark = [pytest.mark.mpc, pytest.mark.chain, pytest.mark.slow]

LENGTH = 64
HOSPITALS = 3


@pytest.fixture(scope="module")
def committee(tmp_path_factory) -> LocalCommittee:
    return LocalCommittee.make(tmp_path_factory.mktemp("committee"), parties=3)


@pytest.fixture(scope="module")
def chain():
    with LocalChain() as local_chain:
        yield local_chain


@pytest.fixture(scope="module")
def registry(chain) -> RoundRegistry:
    connection = chain.connection()
    deployment = deploy(connection, None)  # a registry for rounds without proofs of training
    registry = RoundRegistry(connection, deployment.registry)
    for account in connection.dev_accounts[:HOSPITALS]:
        registry.register_hospital(account.address)
    return registry


@pytest.fixture(scope="module")
def federation(tmp_path_factory, committee, chain, registry):
    """Three hospitals' uploads and signing keys, and one key party's pins, as its operator made them: the
    hospitals' signing and chain addresses, the chain's endpoint and the vetted registry."""
    rng = np.random.default_rng(5)
    updates = [np.round(rng.normal(size=LENGTH) * 4096) / 4096 for _ in range(HOSPITALS)]
    blobs = [committee.encrypt(update) for update in updates]
    keys = hospital_keys(HOSPITALS)
    chain_accounts = registry.connection.dev_accounts[:HOSPITALS]
    home = tmp_path_factory.mktemp("keyparty-home")
    for index, (key, account) in enumerate(zip(keys, chain_accounts, strict=True)):
        trust_hospital(home, key.address, f"hospital-{index}", account.address)
    trust_chain(home, chain.url, registry.address)
    return updates, blobs, keys, chain_accounts, home


def open_round(registry: RoundRegistry) -> int:
    round_id = fresh_round_id()
    registry.open_round(round_id, b"\1" * 32, b"\2" * 32)
    return round_id


def record(registry: RoundRegistry, account, round_id: int, blob: bytes) -> None:
    registry.submit(account, round_id, "0x" + hashlib.sha256(blob).hexdigest(), [])


def run_job(tmp_path, committee, federation, round_id: int, indices, registry_address: str):
    _updates, blobs, keys, _accounts, home = federation
    chosen = [blobs[i] for i in indices]
    terms = signed_terms(round_id, chosen, [keys[i] for i in indices])
    terms = dataclasses.replace(terms, registry=registry_address)
    job = write_signed_job(tmp_path / "job", committee.public_context, chosen, LENGTH, terms)
    return keyparty.decrypt_sum(
        job,
        committee.party_dirs,
        timeout=120,
        trusted_hospitals=home / TRUSTED_HOSPITALS_FILE,
        trusted_chain=home / TRUSTED_CHAIN_FILE,
    )


def ledgers(committee) -> list[list[dict]]:
    return [KeyLedger(party_dir).entries() for party_dir in committee.party_dirs]


def test_the_party_pins_the_chain_it_reads(chain, registry, federation) -> None:
    *_rest, home = federation
    pinned = json.loads((home / TRUSTED_CHAIN_FILE).read_text())
    assert pinned["rpc_url"] == chain.url
    assert pinned["chain_id"] == registry.connection.chain_id
    assert list(pinned["registries"]) == [registry.address.lower()]
    assert pinned["registries"][registry.address.lower()].startswith("0x")
    hospitals = json.loads((home / TRUSTED_HOSPITALS_FILE).read_text())
    assert len(hospitals["chain_addresses"]) == HOSPITALS


def test_an_upload_its_hospital_never_recorded_on_chain_is_refused_and_named(
    tmp_path, committee, registry, federation
) -> None:
    _updates, blobs, _keys, accounts, _home = federation
    round_id = open_round(registry)
    for index in (0, 1):  # hospital-2 signed its upload but recorded nothing
        record(registry, accounts[index], round_id, blobs[index])
    before = ledgers(committee)
    with pytest.raises(
        keyparty.ThresholdDecryptionError,
        match=r"exit 3\).*ciphertext 2 refused: hospital-2 .* recorded no submission to round",
    ):
        run_job(tmp_path, committee, federation, round_id, [0, 1, 2], registry.address)
    assert ledgers(committee) == before


def test_an_upload_whose_record_is_another_update_is_refused_and_named(
    tmp_path, committee, registry, federation
) -> None:
    _updates, blobs, _keys, accounts, _home = federation
    round_id = open_round(registry)
    record(registry, accounts[0], round_id, blobs[0])
    record(registry, accounts[1], round_id, blobs[2])  # hospital-1's record is not the upload it signed
    before = ledgers(committee)
    with pytest.raises(
        keyparty.ThresholdDecryptionError,
        match=r"exit 3\).*ciphertext 1 refused: hospital-1 recorded update 0x[0-9a-f]{64} to round .*not this",
    ):
        run_job(tmp_path, committee, federation, round_id, [0, 1], registry.address)
    assert ledgers(committee) == before


def test_a_closed_round_and_a_registry_no_party_vetted_are_refused(
    tmp_path, committee, chain, registry, federation
) -> None:
    _updates, blobs, _keys, accounts, _home = federation
    round_id = open_round(registry)
    for index in (0, 1):
        record(registry, accounts[index], round_id, blobs[index])
    registry.close_round(round_id, b"\3" * 32, [accounts[0].address, accounts[1].address])
    before = ledgers(committee)
    with pytest.raises(
        keyparty.ThresholdDecryptionError, match=r"exit 3\).*is closed in registry .*not open"
    ):
        run_job(tmp_path / "closed", committee, federation, round_id, [0, 1], registry.address)

    # The portal's own registry, where it records whatever it likes: the same uploads, recorded and open.
    other = RoundRegistry(registry.connection, deploy(registry.connection, None).registry)
    for account in accounts[:2]:
        other.register_hospital(account.address)
    other.open_round(round_id, b"\1" * 32, b"\2" * 32)
    for index in (0, 1):
        record(other, accounts[index], round_id, blobs[index])
    with pytest.raises(
        keyparty.ThresholdDecryptionError, match=r"exit 3\).*is not one this key party vetted"
    ):
        run_job(tmp_path / "other", committee, federation, round_id, [0, 1], other.address)
    with pytest.raises(keyparty.ThresholdDecryptionError, match=r"exit 3\).*names no round registry"):
        run_job(tmp_path / "none", committee, federation, round_id, [0, 1], "")
    assert ledgers(committee) == before


def test_the_recorded_uploads_open_to_their_sum(tmp_path, committee, registry, federation) -> None:
    updates, blobs, _keys, accounts, _home = federation
    round_id = open_round(registry)
    for index in range(HOSPITALS):
        record(registry, accounts[index], round_id, blobs[index])
    opened = run_job(tmp_path, committee, federation, round_id, list(range(HOSPITALS)), registry.address)
    np.testing.assert_allclose(opened[:LENGTH], np.sum(updates, axis=0), atol=1e-3)
    for index in range(len(committee.party_dirs)):
        report = json.loads((tmp_path / "job" / f"report-party{index}.json").read_text())
        assert report["chain_checked"] == registry.address


def test_code_other_than_the_vetted_code_is_neither_pinned_nor_trusted(
    tmp_path, committee, chain, registry, federation
) -> None:
    """The operator pins the hash vet_registry printed: other code there is refused at pinning and, should the
    code the party pinned ever differ from what the chain serves (another chain behind the endpoint), at each
    job."""
    with pytest.raises(KeyPartyConfigError, match="not the vetted 0x0{64}: not pinned"):
        trust_chain(tmp_path, chain.url, registry.address, "0x" + "00" * 32)
    assert not (tmp_path / TRUSTED_CHAIN_FILE).exists()

    _updates, blobs, _keys, accounts, home = federation
    pinned = json.loads((home / TRUSTED_CHAIN_FILE).read_text())
    pinned["registries"][registry.address.lower()] = "0x" + "ab" * 32
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / TRUSTED_CHAIN_FILE).write_text(json.dumps(pinned))
    (elsewhere / TRUSTED_HOSPITALS_FILE).write_text((home / TRUSTED_HOSPITALS_FILE).read_text())
    round_id = open_round(registry)
    for index in (0, 1):
        record(registry, accounts[index], round_id, blobs[index])
    before = ledgers(committee)
    with pytest.raises(
        keyparty.ThresholdDecryptionError, match=r"exit 3\).*is not the code vetted \(0x(ab){32}\)"
    ):
        run_job(tmp_path, committee, (*federation[:4], elsewhere), round_id, [0, 1], registry.address)
    assert ledgers(committee) == before
