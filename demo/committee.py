"""A key committee on one machine, for the demo and the tests: each key party is its own process running the
commands a key party's operator runs on its own host (`dh-keyparty enroll`, `dh-keyparty serve`, as
`python -m keyparty`), with its own home (its share, TLS identity and log) and its own 127.0.0.1 port, talking
to the portal only through the REST API and to the other parties over TLS. The coordinator's side goes through
the REST API too (add the parties, make the committee). Nothing here touches the portal's data folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from crypto.keyparty import free_ports
from demo.processes import PartyProcess, run_party_command, start_party

ACTIVE_TIMEOUT_SECONDS = 180.0


class CommitteeSetupError(RuntimeError):
    """The local committee did not come up; the message says where it stopped (with a party's log tail)."""


@dataclass
class LocalKeyParty:
    name: str
    id: int
    home: Path
    address: str
    process: PartyProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "serve.log"

    def start(self) -> None:
        """`python -m keyparty serve` for this party's home (its log appended to <home>/serve.log)."""
        self.process = start_party(self.name, "keyparty", ["serve", "--home", str(self.home)], self.log_path)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the party stops between steps), then SIGKILL past `timeout` seconds."""
        if self.process is not None:
            self.process.stop(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class LocalCommittee:
    id: int
    parties: list[LocalKeyParty] = field(default_factory=list)


def _call(session: requests.Session, method: str, url: str, **kwargs) -> Any:
    response = session.request(method, url, timeout=60, **kwargs)
    if response.status_code >= 400:
        raise CommitteeSetupError(f"{method} {url} -> {response.status_code}: {response.text[:300]}")
    return response.json()


@contextmanager
def local_committee_parties(
    portal_url: str,
    coordinator_token: str,
    homes: Path,
    parties: int = 3,
    timeout: float = ACTIVE_TIMEOUT_SECONDS,
    name_prefix: str = "keyparty",
) -> Iterator[LocalCommittee]:
    """Adds `parties` key parties through the coordinator API, enrolls each (`python -m keyparty enroll`, home
    homes/<name>, its own 127.0.0.1 port), starts `python -m keyparty serve` for each, makes a committee of
    them and waits (at most `timeout` s) until its key ceremony is done; yields it. Every party process is
    stopped at the end (SIGTERM, then SIGKILL past a deadline), whatever happened."""
    base = portal_url.rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {coordinator_token}"
    members: list[LocalKeyParty] = []
    try:
        for number, port in enumerate(free_ports(parties), start=1):
            name = f"{name_prefix}-{number}"
            created = _call(session, "POST", f"{base}/api/keyparties/", json={"name": name})
            home = Path(homes) / name
            address = f"127.0.0.1:{port}"
            run_party_command(
                "keyparty",
                ["enroll", "--home", str(home), "--portal", base, "--code", created["enrollment_code"]]
                + ["--listen", address, "--advertise", address],
            )
            members.append(LocalKeyParty(name, created["id"], home, address))
        for member in members:
            member.start()
        committee = _call(
            session, "POST", f"{base}/api/committees/", json={"parties": [m.id for m in members]}
        )
        local = LocalCommittee(committee["id"], members)
        deadline = time.monotonic() + timeout
        while committee["state"] != "active":
            for member in members:
                if member.process is not None and member.process.process.poll() is not None:
                    tail = " | ".join(member.log().strip().splitlines()[-3:])
                    raise CommitteeSetupError(
                        f"key party {member.name} stopped during the key ceremony: {tail}"
                    )
            if time.monotonic() > deadline:
                raise CommitteeSetupError(
                    f"key committee {local.id} not active after {timeout:.0f} s: {committee['parties']}"
                )
            time.sleep(0.5)
            committee = _call(session, "GET", f"{base}/api/committees/{local.id}/")
        yield local
    finally:
        for member in members:
            member.stop()


@contextmanager
def local_committee(portal_url: str, coordinator_token: str, homes: Path, parties: int = 3) -> Iterator[int]:
    """local_committee_parties, yielding only the committee's id (what the demo needs)."""
    with local_committee_parties(portal_url, coordinator_token, homes, parties) as committee:
        yield committee.id
