"""The parties of a consortium on one machine as separate processes (hospital nodes, key parties): each runs the
same command a real deployment runs on its own host (`python -m node`, `python -m keyparty`), with its log in a
file, and is stopped the way an operator stops it (SIGTERM, then SIGKILL past a deadline)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Settings a party's own tools read too: which Node.js runs snarkjs, where built circuits are cached.
PARTY_SETTINGS = ("DH_NODE_BIN", "DH_CACHE_DIR")
STOP_SECONDS = 60.0


class PartyCommandError(RuntimeError):
    """A party's one-off command (enroll, ...) failed; the message carries its last output lines."""


def party_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a party's process: this one's, minus the portal's own settings and secrets (a
    party on its own host has none of them)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key in PARTY_SETTINGS
        or (not key.startswith(("DH_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_")) and key != "SECRET_KEY")
    }
    environment.update({"PYTHONUNBUFFERED": "1", **(extra or {})})
    return environment


def run_party_command(module: str, arguments: Sequence[str], timeout: float = 120.0) -> str:
    """`python -m <module> <arguments>` to completion; returns its output, raises PartyCommandError."""
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=REPO_ROOT,
        env=party_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise PartyCommandError(f"python -m {module} {arguments[0] if arguments else ''} failed: {tail}")
    return result.stdout


@dataclass
class PartyProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def start_party(
    name: str, module: str, arguments: Sequence[str], log_path: Path, extra_env: dict[str, str] | None = None
) -> PartyProcess:
    """`python -m <module> <arguments>` in the background, its output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments],
            cwd=REPO_ROOT,
            env=party_environment(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return PartyProcess(name, process, log_path)


@contextmanager
def party_processes() -> Iterator[list[PartyProcess]]:
    """Every process appended to the list is stopped at the end, whatever happened."""
    started: list[PartyProcess] = []
    try:
        yield started
    finally:
        for party in started:
            party.stop()
