"""The node's side of the ceremony (node.ceremony.contribute) refuses what it cannot trust before contributing:
not its turn, a zkey that is not the one announced, or one whose contributions are not the hospitals' before it.
(The whole exchange with real snarkjs and a live portal: tests/proofs/test_ceremony.py.)"""

from __future__ import annotations

import hashlib
import os
import struct

import pytest

from crypto.zk.ptau import BEACON, CONTRIBUTION, read_zkey
from node import ceremony as node_ceremony

pytestmark = [pytest.mark.unit]


def fake_zkey(contributions: list[tuple[str, int]]) -> bytes:
    """The zkey container with a Groth16 header and the contributions section (points are random bytes)."""
    n8 = 32
    mpc = os.urandom(64) + struct.pack("<I", len(contributions))
    for name, kind in contributions:
        params = b"\x01" + bytes([len(name)]) + name.encode()
        if kind == BEACON:
            params += b"\x02\x0a\x03\x20" + bytes(32)
        mpc += os.urandom(3 * 2 * n8 + 4 * n8 + 64) + struct.pack("<II", kind, len(params)) + params
    sections = [(1, struct.pack("<I", 1)), (2, struct.pack("<I", n8) + os.urandom(40)), (10, mpc)]
    data = b"zkey" + struct.pack("<II", 1, len(sections))
    for kind, body in sections:
        data += struct.pack("<IQ", kind, len(body)) + body
    return data


class FakePortal:
    """The node's REST client (get_json, get_bytes, send) over a ceremony this test describes."""

    def __init__(self, detail: dict, zkey: bytes):
        self.detail, self.zkey, self.uploads = detail, zkey, []

    def get_json(self, path: str) -> dict:
        assert path == "/api/node/ceremonies/7/"
        return self.detail

    def get_bytes(self, path: str) -> bytes:
        assert path == self.detail["zkey"]["url"]
        return self.zkey

    def send(self, method: str, path: str, **kwargs):
        self.uploads.append((method, path))
        raise AssertionError("nothing may be uploaded")


ITEM = {"ceremony": 7, "url": "/api/node/ceremonies/7/"}


def ceremony(zkey: bytes, **changes) -> dict:
    detail = {
        "ceremony": 7,
        "state": "contributing",
        "contributors": ["hospital-a", "hospital-b", "hospital-c"],
        "position": 2,
        "turn": "hospital-b",
        "your_turn": True,
        "contributed": False,
        "name": "hospital-b",
        "zkey": {
            "sha256": hashlib.sha256(zkey).hexdigest(),
            "size": len(zkey),
            "contributions": 1,
            "url": "/api/node/ceremonies/7/zkey/",
        },
        "contribution_url": "/api/node/ceremonies/7/contribution/",
        "contributions": [{"hospital": "hospital-a", "position": 1, "zkey_sha256": "a" * 64}],
    }
    return {**detail, **changes}


def test_the_zkey_reader_lists_contributions_and_the_beacon(tmp_path):
    path = tmp_path / "key.zkey"
    path.write_bytes(fake_zkey([("hospital-a", CONTRIBUTION), ("final beacon", BEACON)]))
    info = read_zkey(path)
    assert [(c.name, c.is_beacon) for c in info.contributions] == [
        ("hospital-a", False),
        ("final beacon", True),
    ]


def test_the_node_contributes_only_in_its_turn_and_not_twice():
    zkey = fake_zkey([("hospital-a", CONTRIBUTION)])
    portal = FakePortal(ceremony(zkey, your_turn=False, turn="hospital-a"), zkey)
    with pytest.raises(node_ceremony.CeremonyRefused, match="not this hospital's turn"):
        node_ceremony.contribute(portal, ITEM)
    done = ceremony(zkey, your_turn=False, contributed=True, position=1)
    assert node_ceremony.contribute(FakePortal(done, zkey), ITEM) == "a" * 64
    assert portal.uploads == []


def test_the_node_refuses_a_zkey_that_is_not_the_announced_one():
    zkey = fake_zkey([("hospital-a", CONTRIBUTION)])
    portal = FakePortal(ceremony(zkey), zkey + b"!")
    with pytest.raises(node_ceremony.CeremonyRefused, match="does not match the SHA-256"):
        node_ceremony.contribute(portal, ITEM)


@pytest.mark.parametrize(
    "inside",
    [
        [("portal", CONTRIBUTION)],
        [("hospital-a", CONTRIBUTION), ("hospital-c", CONTRIBUTION)],
        [("x", BEACON)],
    ],
    ids=["someone-else", "an-extra-one", "a-beacon"],
)
def test_the_node_refuses_a_zkey_without_exactly_the_earlier_hospitals_contributions(inside):
    zkey = fake_zkey(inside)
    portal = FakePortal(ceremony(zkey), zkey)
    with pytest.raises(node_ceremony.CeremonyRefused, match="refusing to contribute to it"):
        node_ceremony.contribute(portal, ITEM)
