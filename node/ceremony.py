"""The hospital's own phase-2 contribution to a trusted-setup ceremony, made on the hospital's machine.

The portal lists a ceremony in the node's work (proofs.selectors.contributions_due: {"ceremony": id, "url": ...})
when it is this hospital's turn. contribute(client, item) then:
1. reads the ceremony (whose turn it is, the current zkey's URL, SHA-256 and contribution count, the name the
   contribution must carry, where to upload) and stops if it is not this hospital's turn;
2. downloads the current zkey and refuses it unless its SHA-256 is the announced one and it holds exactly the
   contributions of the hospitals before this one, in turn order, and no beacon;
3. runs `snarkjs zkey contribute` with 64 fresh bytes of os.urandom (crypto.zk.phase2): they go to the snarkjs
   process over its pipe, are never written to disk or logged, and are gone when the call returns. This
   hospital's secret is what makes the key safe even if every other party colluded;
4. uploads the new zkey with the SHA-256 of the one it was made from (a stale contribution is refused), and
   checks that the portal recorded the contribution hash snarkjs printed here.
Returns the new zkey's SHA-256. The zkeys hold no secret; the working folder is removed afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from crypto.zk import phase2
from crypto.zk.ptau import FormatError, read_zkey
from node.client import PortalClient
from node.config import write_private

log = logging.getLogger(__name__)


class CeremonyRefused(RuntimeError):
    """The ceremony's state or files are not what this node can contribute to; the message says why."""


def _check_current_zkey(path: Path, ceremony: dict[str, Any]) -> None:
    """The downloaded zkey holds the contributions of the hospitals before this one, in order, and no beacon."""
    try:
        contributions = read_zkey(path).contributions
    except FormatError as exc:
        raise CeremonyRefused(f"the ceremony's current zkey is not a Groth16 zkey ({exc})") from None
    before = ceremony["contributors"][: ceremony["position"] - 1]
    names = [c.name for c in contributions]
    if names != before or any(c.is_beacon for c in contributions):
        raise CeremonyRefused(
            f"the ceremony's current zkey holds contributions {names}, not those of {before} before this "
            "hospital's turn: refusing to contribute to it"
        )


def record_contribution(record: Path, entry: dict[str, Any]) -> None:
    """Adds `entry` to the node's list of its own contributions (node/config.py CONTRIBUTIONS_FILE)."""
    entries = own_contributions(record)
    write_private(record, json.dumps([*entries, entry], indent=2) + "\n")


def own_contributions(record: Path) -> list[dict[str, Any]]:
    return json.loads(record.read_text()) if record.exists() else []


def contribute(client: PortalClient, item: dict[str, Any], record: Path | None = None) -> str:
    """Makes and uploads this hospital's contribution to the ceremony of `item` (an entry of the node's work
    "contributions"); returns the new zkey's SHA-256 (the recorded one if this hospital already contributed).
    With `record`, the contribution's hash is added there, for node.proving to find in a round's key.
    Raises CeremonyRefused (a RuntimeError) when it is not this hospital's turn or the portal's files do not
    check, PortalError when the portal refuses the contribution, SnarkjsError when snarkjs fails."""
    ceremony = client.get_json(item["url"])
    if ceremony["ceremony"] != item["ceremony"]:
        raise CeremonyRefused(
            f"asked for ceremony {item['ceremony']}, the portal answered {ceremony['ceremony']}"
        )
    if ceremony["contributed"]:  # done already (e.g. the upload's answer was lost): nothing to do again
        mine = next(c for c in ceremony["contributions"] if c["position"] == ceremony["position"])
        return mine["zkey_sha256"]
    if not ceremony["your_turn"]:
        raise CeremonyRefused(
            f"ceremony {ceremony['ceremony']} is {ceremony['state']} and it is not this hospital's turn "
            f"(turn: {ceremony['turn']})"
        )
    current = ceremony["zkey"]
    if current["contributions"] != ceremony["position"] - 1:
        raise CeremonyRefused(
            f"the current zkey has {current['contributions']} contributions, not the {ceremony['position'] - 1} "
            "due before this hospital's turn"
        )
    with tempfile.TemporaryDirectory(prefix="dh-ceremony-") as work:
        previous = Path(work) / "previous.zkey"
        data = client.get_bytes(current["url"])
        if hashlib.sha256(data).hexdigest() != current["sha256"]:
            raise CeremonyRefused("the downloaded zkey does not match the SHA-256 the ceremony announced")
        previous.write_bytes(data)
        del data
        _check_current_zkey(previous, ceremony)
        mine = Path(work) / "contribution.zkey"
        contribution_hash = phase2.contribute(previous, mine, ceremony["name"])
        zkey = mine.read_bytes()
    digest = hashlib.sha256(zkey).hexdigest()
    answer = client.send(
        "POST",
        ceremony["contribution_url"],
        data={"previous_zkey_sha256": current["sha256"]},
        files={"zkey": ("contribution.zkey", zkey, "application/octet-stream")},
    ).json()
    if answer.get("zkey_sha256") != digest or answer.get("contribution_hash") != contribution_hash:
        raise CeremonyRefused(
            "the portal's record of the contribution is not the one made here (zkey or contribution hash differ)"
        )
    if record is not None:
        entry = {"ceremony": ceremony["ceremony"], "name": ceremony["name"], "hash": contribution_hash}
        record_contribution(record, entry)
    log.info(
        "contributed to ceremony %s (turn %s of %s), contribution hash %s",
        ceremony["ceremony"],
        ceremony["position"],
        len(ceremony["contributors"]),
        contribution_hash[:16],
    )
    return digest
