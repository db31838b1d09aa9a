"""The portal's connection to the chain (DH_CHAIN, DH_CHAIN_RPC_URL) and what chain failures become."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from django.conf import settings
from web3.exceptions import Web3Exception

from contracts.client import ChainConnection, ChainError, connect
from contracts.localchain import HARDHAT_CHAIN_ID, dev_accounts
from contracts.registry import RoundRegistry
from ledger.models import ChainDeployment
from web.errors import Conflict, DomainError

LOCAL_ACCOUNTS = 20  # hardhat's default: the coordinator and up to 19 hospitals
# ChainError reasons that say nothing about the transaction itself: worth another try.
TRANSIENT_REASONS = ("transaction not mined in time", "chain RPC endpoint not answering")


class ChainRefused(DomainError):
    """The chain (or its configuration) refused: the contract's revert reason, or why it cannot be used."""

    code = "chain_refused"
    http_status = 409


class ChainUnavailable(DomainError):
    """The chain's RPC endpoint did not answer; worth retrying."""

    code = "chain_unavailable"
    http_status = 503


def enabled() -> bool:
    return settings.DH_CHAIN != "off"


_connections: dict[tuple, ChainConnection] = {}
_connections_lock = threading.Lock()


def connection() -> ChainConnection:
    """The process's connection (one per process, so its nonce lock covers every thread that sends)."""
    if not enabled():
        raise Conflict("The portal records no rounds on chain (DH_CHAIN=off)")
    key = (settings.DH_CHAIN, settings.DH_CHAIN_RPC_URL, settings.DH_CHAIN_ID)
    with _connections_lock:
        if key not in _connections:
            with chain_errors():
                _connections[key] = _connect()
        return _connections[key]


def _connect() -> ChainConnection:
    url = settings.DH_CHAIN_RPC_URL
    if not url:
        raise ChainRefused("DH_CHAIN_RPC_URL is not set")
    if settings.DH_CHAIN == "local":
        coordinator, *hospitals = dev_accounts(LOCAL_ACCOUNTS)
        local = connect(url, coordinator.key, HARDHAT_CHAIN_ID)
        local.dev_accounts = tuple(hospitals)
        return local
    private_key = os.environ.get("DH_CHAIN_PRIVATE_KEY", "")
    if not private_key:
        raise ChainRefused("DH_CHAIN=sepolia needs the coordinator's key in DH_CHAIN_PRIVATE_KEY")
    return connect(url, private_key, settings.DH_CHAIN_ID)


@contextmanager
def chain_errors() -> Iterator[None]:
    """Chain failures as ChainRefused or ChainUnavailable. Transport errors are named by type only: their text
    may quote the RPC URL, which can embed the provider's API key."""
    try:
        yield
    except ChainError as error:
        if any(error.reason.startswith(reason) for reason in TRANSIENT_REASONS):
            raise ChainUnavailable(f"the chain did not answer: {error.reason}") from None
        raise ChainRefused(error.reason) from None
    except (requests.RequestException, OSError) as error:
        raise ChainUnavailable(f"the chain did not answer ({type(error).__name__})") from None
    except Web3Exception as error:
        raise ChainRefused(f"{type(error).__name__}: {str(error)[:300]}") from None


def registry_of(deployment: ChainDeployment) -> RoundRegistry:
    return RoundRegistry(connection(), deployment.registry_address)
