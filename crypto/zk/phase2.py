"""Phase 2 of the Groth16 setup one step at a time, for a ceremony whose contributors are on different machines.

    init = setup_zkey(artifacts, ptau)                       # the coordinator: no secret in it (crypto.zk.build)
    digest = contribute(previous, mine, "hospital-a")         # each hospital on its own machine, in turn
    check = verify_chain(init, ptau, mine)                    # the coordinator: every contribution so far
    apply_beacon(last, final, beacon_hex)                     # the coordinator, with a value nobody knew before
    check = verify_chain(init, ptau, final); vkey = export_verification_key(final)

A contribution draws 64 bytes from os.urandom (snarkjs mixes in 64 of its own): they travel to the snarkjs
process over its pipe, are never written to disk or logged, and are dropped when the call returns. The zkeys
themselves hold no secret: anyone may store, copy and verify them.

verify_chain checks what `snarkjs zkey verify <r1cs> <ptau> <zkey>` checks, starting from the initial zkey
instead of remaking it from the r1cs (`groth16 setup` is deterministic; remaking it costs about 2 minutes for
the default circuit, the check itself a few seconds): every contribution's transcript and proof of knowledge,
the beacon's derivation, that the key's delta is the product of them, and that its L and H points are the
initial ones scaled by it (random linear combinations against the ptau). verify_from_r1cs is the full command.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from crypto.zk.node import SnarkjsProcess, snarkjs

ENTROPY_BYTES = 64
BEACON_ITERATIONS_EXP = 10  # 2^10 hash iterations of the beacon, as snarkjs' examples use
ROLE = "ceremony"  # its own snarkjs process: a long ceremony step never delays a prover or verifier


@dataclass(frozen=True)
class ZkeyCheck:
    valid: bool
    problems: tuple[str, ...]  # what snarkjs found wrong, in its words

    @property
    def reason(self) -> str:
        return "; ".join(self.problems) or "snarkjs zkey verify failed"


def _process(process: SnarkjsProcess | None) -> SnarkjsProcess:
    return process or snarkjs(ROLE)


def _name(name: str) -> str:
    if not name or len(name.encode()) > 64 or not name.isprintable():
        raise ValueError("a contribution's name is 1 to 64 bytes of printable text")
    return name


def contribute(zkey_in: Path, zkey_out: Path, name: str, process: SnarkjsProcess | None = None) -> str:
    """`snarkjs zkey contribute` with fresh entropy; returns the contribution hash (hex) snarkjs prints."""
    return _process(process).request(
        "contribute",
        zkeyIn=str(zkey_in),
        zkeyOut=str(zkey_out),
        name=_name(name),
        entropy=os.urandom(ENTROPY_BYTES).hex(),
    )


def apply_beacon(
    zkey_in: Path,
    zkey_out: Path,
    beacon_hex: str,
    name: str = "final beacon",
    iterations_exp: int = BEACON_ITERATIONS_EXP,
    process: SnarkjsProcess | None = None,
) -> str:
    """`snarkjs zkey beacon`: the last step, from a public value nobody knew while contributing (e.g. the hash
    of a block mined after the last contribution). Returns its contribution hash (hex)."""
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2}){1,255}", beacon_hex):
        raise ValueError("the beacon must be 1 to 255 bytes in hex")
    return _process(process).request(
        "beacon",
        zkeyIn=str(zkey_in),
        zkeyOut=str(zkey_out),
        name=_name(name),
        beaconHex=beacon_hex,
        iterationsExp=iterations_exp,
    )


def verify_chain(init: Path, ptau: Path, zkey: Path, process: SnarkjsProcess | None = None) -> ZkeyCheck:
    """The whole chain of `zkey` from the initial zkey that `groth16 setup` made of the r1cs and ptau."""
    found = _process(process).request("verifyZkeyFromInit", init=str(init), ptau=str(ptau), zkey=str(zkey))
    return ZkeyCheck(bool(found["valid"]), tuple(found["problems"]))


def verify_from_r1cs(r1cs: Path, ptau: Path, zkey: Path, process: SnarkjsProcess | None = None) -> ZkeyCheck:
    """`snarkjs zkey verify r1cs ptau zkey`: remakes the initial zkey, then verify_chain (minutes)."""
    found = _process(process).request("verifyZkeyFromR1cs", r1cs=str(r1cs), ptau=str(ptau), zkey=str(zkey))
    return ZkeyCheck(bool(found["valid"]), tuple(found["problems"]))


def contribution_hashes(zkey: Path, process: SnarkjsProcess | None = None) -> list[dict]:
    """Each contribution of the zkey as {"name", "type" (0 contribution, 1 beacon), "hash"}: the hash is the
    one `snarkjs zkey contribute` printed to its contributor, who can find their contribution by it."""
    return _process(process).request("zkeyContributions", zkey=str(zkey))


def export_verification_key(zkey: Path, process: SnarkjsProcess | None = None) -> dict:
    return _process(process).request("exportVkey", zkey=str(zkey))
