"""Uploads over DH_MAX_UPLOAD_BYTES are refused before they are read whole: from the declared Content-Length
without reading anything, and a chunked body (no Content-Length) at the first chunk past the limit."""

from __future__ import annotations

import asyncio
import http.client
import json

import pytest

from demo.embedded import free_port, portal_server
from dhportal.asgi import application
from web.body_limit import body_limit

pytestmark = [pytest.mark.unit]

CHUNK = 64 * 1024
UPLOAD_PATH = "/api/node/rounds/1/submission/"


def call_portal(headers: list[tuple[bytes, bytes]], body_bytes: int) -> tuple[int, dict, int]:
    """POSTs to the portal's ASGI application in this process; returns (status, JSON body, bytes the
    application pulled from the client)."""
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        size = min(CHUNK, body_bytes - pulled)
        pulled += size
        return {"type": "http.request", "body": b"\0" * size, "more_body": pulled < body_bytes}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": UPLOAD_PATH,
        "raw_path": UPLOAD_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(application(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


@pytest.fixture
def small_limit(settings):
    settings.DH_MAX_UPLOAD_BYTES = 1000
    return body_limit()


def test_a_declared_oversize_body_is_refused_unread(small_limit):
    status, body, pulled = call_portal([(b"content-length", str(10 * 1024**3).encode())], 10 * 1024**3)
    assert status == 413 and body == {
        "error": "too_large",
        "detail": "Upload exceeds the limit of 1000 bytes",
    }
    assert pulled == 0


def test_a_chunked_oversize_body_is_cut_off_at_the_limit(small_limit):
    total = 20 * small_limit
    status, body, pulled = call_portal([(b"transfer-encoding", b"chunked")], total)
    assert status == 413 and body["error"] == "too_large"
    assert (
        small_limit < pulled <= small_limit + CHUNK
    )  # read up to the first chunk past the limit, no further


@pytest.mark.django_db(transaction=True)
def test_over_http_a_chunked_upload_past_the_limit_gets_413(settings):
    """Through the real server (uvicorn), as a client sends it: refused before authentication even runs."""
    settings.DH_MAX_UPLOAD_BYTES = 1000
    with portal_server(free_port()) as url:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        chunks = (b"\0" * CHUNK for _ in range(2 * body_limit() // CHUNK))  # twice the limit, chunked
        try:
            connection.request("POST", UPLOAD_PATH, body=chunks, encode_chunked=True)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the rest was still being sent
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"] == "too_large"
        connection.close()
