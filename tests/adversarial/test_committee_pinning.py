"""Keys that reach a hospital through the portal (docs/THREAT_MODEL.md): a node encrypts under the joint key and
seals the shares of its randomness to the witness keys its task names, both served by the portal. A portal that
hands a node a committee of its own making, whose shares it holds, decrypts that node's update: the first test
performs it. A node whose admin pinned a key party's commitment (`dh-node pin-key-party`, learnt from the party's
operator) recomputes the joint key and the witness keys from the key ceremony's record and refuses every variant:
a committee without the pinned party, the real committee's key with witness keys of the portal's, and a record
whose contribution for the pinned party was swapped."""

from __future__ import annotations

import numpy as np
import pytest

from committee import protection
from committee import selectors as committee_selectors
from committee.models import KeyCommittee
from crypto import ckks, keygen, threshold, wellformed
from demo.embedded import free_port, portal_server
from node import protecting
from node.client import PortalClient
from rounds.models import DEFAULT_UPDATE_NORM_BOUND
from tests.conftest import committee_record

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

LENGTH = 300


def portals_own_committee(tmp_path) -> tuple[KeyCommittee, list]:
    """A complete key committee whose every share the portal made and holds."""
    seed = bytes(32)
    public_context, party_dirs = keygen.create_local_committee(tmp_path / "portal-made", parties=3, seed=seed)
    return committee_record(public_context, party_dirs, seed, "portal-made"), party_dirs


def decrypt_alone(public_context: bytes, party_dirs, blob: bytes) -> np.ndarray:
    """What whoever holds every share of a key reads in a blob."""
    parsed = ckks.parse_blob(public_context, blob, LENGTH)
    total = 0
    for index, party_dir in enumerate(party_dirs):
        share = threshold.partial_decryption(
            keygen.load_secret_share(party_dir), parsed.ciphertexts, index == 0
        )
        total = (total + share) % ckks.data_primes()[:, None]
    return threshold.decode(total, LENGTH)


def material(committee: KeyCommittee):
    return protection.get("ckks").node_material(committee, DEFAULT_UPDATE_NORM_BOUND)


@pytest.fixture
def node_client(consortium):
    with portal_server(free_port()) as url:
        yield PortalClient(url, consortium.node_tokens[consortium.hospital_a.slug])


@pytest.fixture
def pin(key_committee) -> str:
    """The commitment of the real committee's key party 1, as its operator reads it from `dh-keyparty status`."""
    return key_committee.members.get(index=1).commitment


def test_a_portal_serving_its_own_committee_reads_an_unpinned_nodes_update(
    tmp_path, node_client, key_committee
):
    own, party_dirs = portals_own_committee(tmp_path)
    update = np.random.default_rng(1).normal(size=LENGTH)
    blob = protecting.protect(material(own), update, node_client)  # no pins: the portal's word is taken
    read = decrypt_alone(committee_selectors.public_context(own), party_dirs, blob)
    assert np.abs(read - update).max() < 1e-6  # the attack works against a node that pinned nothing


def test_a_pinned_node_refuses_a_committee_without_its_pinned_key_party(
    tmp_path, node_client, key_committee, pin
):
    own, _ = portals_own_committee(tmp_path)
    with pytest.raises(
        protecting.CommitteeNotPinned, match=f"does not hold the key party this node pinned.*{pin}"
    ):
        protecting.protect(material(own), np.ones(LENGTH), node_client, pinned_key_parties=[pin])


def test_a_pinned_node_refuses_the_real_key_with_witness_keys_of_the_portals(
    tmp_path, node_client, key_committee, pin
):
    """The real joint key (the portal cannot decrypt it) but witness keys of the portal's own for every party: it
    would open all shares of u, hence m + e0 = c0 - pk0 u."""
    real = material(key_committee)
    folders = [tmp_path / f"portal-witness-{index}" for index in range(3)]
    portals = [wellformed.create_witness_key(folder).hex() for folder in folders if not folder.mkdir()]
    swapped = type(real)(**{**real.__dict__, "witness_keys": portals})
    with pytest.raises(protecting.CommitteeNotPinned, match="witness keys of the round are not those"):
        protecting.protect(swapped, np.ones(LENGTH), node_client, pinned_key_parties=[pin])


def test_a_pinned_node_refuses_a_record_whose_pinned_contribution_was_swapped(
    tmp_path, node_client, key_committee, pin
):
    own, _ = portals_own_committee(tmp_path)
    member = key_committee.members.get(index=1)
    member.contribution_digest = own.members.get(
        index=1
    ).contribution_digest  # the commitment stays the pinned one
    member.save()
    with pytest.raises(
        protecting.CommitteeNotPinned, match="does not check out.*does not match its commitment"
    ):
        protecting.protect(material(key_committee), np.ones(LENGTH), node_client, pinned_key_parties=[pin])


def test_a_pinned_node_encrypts_for_the_real_committee(node_client, key_committee, pin, committee_shares):
    """The control: with the honest record the pinned node encrypts, to the committee's key and witness keys."""
    update = np.random.default_rng(2).normal(size=LENGTH)
    blob = protecting.protect(material(key_committee), update, node_client, pinned_key_parties=[pin])
    public_context, party_dirs = committee_shares
    parsed = ckks.parse_blob(public_context, blob, LENGTH)
    assert parsed.key_id.hex() == key_committee.key_id and len(parsed.witness) == 3
    assert np.abs(decrypt_alone(public_context, party_dirs, blob) - update).max() < 1e-6
