"""A node proves only with a key its own trusted-setup contribution went into: a key the portal made alone (whose
toxic waste it could know) is refused before any proof is made with it."""

from __future__ import annotations

import pytest

from conftest import shared_file
from crypto.zk import phase2
from crypto.zk.build import DEFAULT_SHAPE
from crypto.zk.dev import dev_proving_key
from node.ceremony import record_contribution
from node.proving import ForeignProvingKey, check_own_contribution

pytestmark = [pytest.mark.zk]


def test_a_node_refuses_to_prove_with_a_key_it_did_not_contribute_to(tmp_path):
    key = dev_proving_key(shared_file("zk/pot15_dev_final.ptau"), DEFAULT_SHAPE)  # made by someone else
    record = tmp_path / "contributions.json"
    with pytest.raises(ForeignProvingKey, match="none of this node's trusted-setup contributions"):
        check_own_contribution(key.zkey, record)  # this node never contributed to anything
    record_contribution(record, {"ceremony": 1, "name": "hospital-a", "hash": "ab" * 32})
    with pytest.raises(ForeignProvingKey):
        check_own_contribution(key.zkey, record)  # it contributed, but not to this key
    contributed = [entry for entry in phase2.contribution_hashes(key.zkey) if entry["type"] == 0]
    assert contributed
    record_contribution(
        record, {"ceremony": 2, "name": contributed[0]["name"], "hash": contributed[0]["hash"]}
    )
    check_own_contribution(key.zkey, record)  # one of its own contributions is in the key
    assert (record.stat().st_mode & 0o777) == 0o600
