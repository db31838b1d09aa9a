"""Reading the registry over plain JSON-RPC, against a stand-in endpoint: answers decoded as the contract encodes
them, and every bad answer a ChainReadError with the reason (the real chain: tests/adversarial/
test_unrecorded_upload_job.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from eth_abi import encode
from eth_utils import keccak

from protocol.chain_records import (
    ROUND_TYPES,
    SUBMISSION_TYPES,
    ChainReader,
    ChainReadError,
    RecordedRound,
    RecordedSubmission,
)
from protocol.tests.json_server import json_server

pytestmark = pytest.mark.unit

REGISTRY = "0x" + "12" * 20
HOSPITAL = "0x" + "34" * 20
UPDATE = bytes(range(32))


@contextmanager
def endpoint(answer: Callable[[dict], dict]) -> Iterator[str]:
    """A JSON-RPC endpoint answering each request with answer(request) (the result or the error)."""
    with json_server(
        lambda request: (200, {"jsonrpc": "2.0", "id": request["id"], **answer(request)})
    ) as url:
        yield url


def submission_answer(block: int) -> dict:
    record = (UPDATE, b"\1" * 32, b"\2" * 32, b"\3" * 32, 4, block, True, b"\4" * 32, False)
    return {"result": "0x" + encode(SUBMISSION_TYPES, [record]).hex()}


def test_records_decode_as_the_registry_encodes_them() -> None:
    calls: list[dict] = []

    def answer(request: dict) -> dict:
        calls.append(request)
        if request["method"] == "eth_chainId":
            return {"result": "0x7a69"}
        if request["method"] == "eth_getCode":
            return {"result": "0x6001"}
        data = request["params"][0]["data"]
        if data.startswith("0x" + keccak(text="getRound(uint256)")[:4].hex()):
            values = [b"\0" * 32] * 3 + [1, 5, 0, 3, False, [HOSPITAL], []]
            return {"result": "0x" + encode(ROUND_TYPES, values).hex()}
        return submission_answer(block=9)

    with endpoint(answer) as url:
        reader = ChainReader(url)
        assert reader.chain_id() == 31337
        assert reader.code_hash(REGISTRY) == "0x" + keccak(b"\x60\x01").hex()
        assert reader.round(REGISTRY, 7) == RecordedRound("open", 3)
        assert reader.submission(REGISTRY, 7, HOSPITAL) == RecordedSubmission(
            "0x" + UPDATE.hex(), 4, True, False
        )
    sent = calls[-1]["params"][0]
    assert sent["to"] == REGISTRY
    assert sent["data"][10:] == encode(["uint256", "address"], [7, HOSPITAL]).hex()


def test_no_record_is_none() -> None:
    with endpoint(lambda request: submission_answer(block=0)) as url:
        assert ChainReader(url).submission(REGISTRY, 7, HOSPITAL) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"error": {"code": -32000, "message": "execution reverted"}}, "answered eth_call with .*reverted"),
        ({"result": "0x"}, "answered 0 bytes of no record"),  # an address without code
        ({"result": "0xzz"}, "not hex"),
        ({}, "answered eth_call with"),
    ],
)
def test_bad_answers_are_read_errors_with_the_reason(answer: dict, reason: str) -> None:
    with endpoint(lambda request: answer) as url, pytest.raises(ChainReadError, match=reason):
        ChainReader(url).submission(REGISTRY, 7, HOSPITAL)


def test_an_unreachable_endpoint_is_named() -> None:
    with endpoint(lambda request: {}) as url:
        pass  # closed: nothing listens there now
    with pytest.raises(ChainReadError, match=f"cannot read the chain at {url}"):
        ChainReader(url, timeout_s=2).chain_id()
