"""A local dev chain: `hardhat node` (hardhat 2, from the repository's node_modules) on a free localhost port.

    with LocalChain() as chain:
        connection = chain.connection()   # coordinator = dev account 0, dev_accounts = the others

The dev accounts come from hardhat's public default mnemonic (see hardhat.config.js): well-known test keys, fine
for a local chain and nothing else. hardhat prints them on stdout, so stdout is discarded, never logged.
Works offline: `hardhat node` compiles nothing (contracts/compile.py does, with solc-js).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.client import ChainConnection, ChainError
from contracts.nodetools import node_binary, node_package

logger = logging.getLogger(__name__)

CONTRACTS_DIR = Path(__file__).resolve().parent
HARDHAT_CONFIG = CONTRACTS_DIR / "hardhat.config.js"
HARDHAT_CHAIN_ID = 31337
DEV_MNEMONIC = "test test test test test test test test test test test junk"  # hardhat's public default


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dev_accounts(count: int) -> list[LocalAccount]:
    """Hardhat's default accounts (m/44'/60'/0'/0/i of the public dev mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


class LocalChain:
    """Start and stop a hardhat node; a context manager. State lives in memory and ends with the node."""

    def __init__(
        self,
        port: int | None = None,
        num_accounts: int = 20,
        startup_timeout_s: float = 90,
        listen_host: str = "127.0.0.1",
    ):
        """listen_host: where the node accepts connections (0.0.0.0 for parties on other network hosts);
        `url` is always the loopback one."""
        self.port = port or free_port()
        self.listen_host = listen_host
        self.url = f"http://127.0.0.1:{self.port}"
        self.num_accounts = num_accounts
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen | None = None
        self._stderr: tempfile._TemporaryFileWrapper | None = None
        self._accounts: list[LocalAccount] | None = None

    def start(self) -> LocalChain:
        if self._process is not None:
            return self
        cli = node_package("hardhat") / "internal" / "cli" / "cli.js"
        self._stderr = tempfile.TemporaryFile()
        started = time.monotonic()
        # cwd inside the repository: hardhat refuses to run from a non-local installation.
        self._process = subprocess.Popen(
            [
                node_binary(),
                str(cli),
                "node",
                "--config",
                str(HARDHAT_CONFIG),
                "--hostname",
                self.listen_host,
                "--port",
                str(self.port),
            ],
            cwd=CONTRACTS_DIR,
            env={
                **os.environ,
                "DH_HARDHAT_ACCOUNTS": str(self.num_accounts),
                "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # lists the dev accounts' private keys
            stderr=self._stderr,
            start_new_session=True,  # its own process group, so stop() ends whatever it spawned
        )
        # No retries: a port someone else holds would otherwise stall each poll for several timeouts.
        w3 = Web3(
            Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}, exception_retry_configuration=None)
        )
        while True:
            if self._process.poll() is not None:
                error = self._stderr_tail()
                self.stop()
                raise ChainError(f"hardhat node exited at start: {error}")
            try:
                if w3.eth.chain_id == HARDHAT_CHAIN_ID:
                    break
            except Exception:  # not listening yet
                pass
            if time.monotonic() - started > self.startup_timeout_s:
                self.stop()
                raise ChainError(
                    f"hardhat node did not answer on {self.url} within {self.startup_timeout_s} s"
                )
            time.sleep(0.25)
        logger.info("hardhat node on %s (started in %.1f s)", self.url, time.monotonic() - started)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def accounts(self) -> list[LocalAccount]:
        if self._accounts is None:
            self._accounts = dev_accounts(self.num_accounts)
        return self._accounts

    def connection(self) -> ChainConnection:
        """Coordinator = dev account 0; the remaining dev accounts are for hospitals."""
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        first, *others = self.accounts()
        return ChainConnection(w3, first, tuple(others))

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-1500:]

    def __enter__(self) -> LocalChain:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
