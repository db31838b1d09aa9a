"""The hardhat dev chain starts on a free port with funded dev accounts and stops cleanly."""

from __future__ import annotations

import socket

import pytest

from contracts.client import ChainError
from contracts.localchain import HARDHAT_CHAIN_ID, LocalChain

pytestmark = [pytest.mark.chain]


def test_local_chain_starts_funds_and_stops() -> None:
    with LocalChain(num_accounts=3) as chain:
        connection = chain.connection()
        assert chain.running
        assert connection.chain_id == HARDHAT_CHAIN_ID
        assert len(connection.dev_accounts) == 2
        for account in (connection.coordinator, *connection.dev_accounts):
            assert connection.w3.eth.get_balance(account.address) > 10**21
    assert not chain.running
    with socket.socket() as probe:  # nothing listens on the port any more
        assert probe.connect_ex(("127.0.0.1", chain.port)) != 0


def test_local_chain_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ChainError, match="hardhat node exited at start"):
            LocalChain(port=taken.getsockname()[1]).start()
