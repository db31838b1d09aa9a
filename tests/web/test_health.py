"""Liveness and readiness (web/health.py): a healthy set-up is ready; a stopped Redis, a stopped chain or a full
disk is named as not ready, and the answer never shows a URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demo.embedded import free_port

pytestmark = [pytest.mark.django_db]  # tiers per test: the Redis test starts a redis-server


class FakeRpc(BaseHTTPRequestHandler):
    """Answers eth_blockNumber as an Ethereum node does."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert request["method"] == "eth_blockNumber"
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x2a"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def fake_chain() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRpc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/secret-api-key"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.unit
def test_liveness_answers_without_authentication_or_database(client):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.unit
def test_a_healthy_set_up_is_ready(client, settings):
    settings.DH_MIN_FREE_DISK_BYTES = 1
    with fake_chain() as rpc_url:
        settings.DH_CHAIN, settings.DH_CHAIN_RPC_URL = "sepolia", rpc_url
        response = client.get("/health/ready/")
    assert response.status_code == 200, response.content
    broker = "up" if settings.REDIS_URL else "skipped"  # CI runs with Redis; the plain test command without
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "up", "broker": broker, "chain": "up", "disk": "up"},
    }


@pytest.mark.unit
def test_a_stopped_chain_is_not_ready_and_its_url_is_not_shown(client, settings):
    settings.DH_MIN_FREE_DISK_BYTES = 1
    settings.DH_CHAIN = "sepolia"
    settings.DH_CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}/secret-api-key"  # nothing listens there
    response = client.get("/health/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["not_ready"] == ["chain"]
    assert body["checks"]["chain"] == "down"
    assert body["checks"]["database"] == "up"
    assert "secret-api-key" not in response.content.decode() and "127.0.0.1" not in response.content.decode()


@pytest.mark.unit
def test_chain_off_skips_the_chain_check(client, settings):
    settings.DH_MIN_FREE_DISK_BYTES = 1
    settings.DH_CHAIN = "off"
    response = client.get("/health/ready/")
    assert response.status_code == 200
    assert response.json()["checks"]["chain"] == "skipped"


@pytest.mark.unit
def test_too_little_free_disk_is_not_ready(client, settings):
    settings.DH_MIN_FREE_DISK_BYTES = 1 << 62
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["disk"]


@pytest.mark.services
def test_a_stopped_redis_is_not_ready(client, settings, tmp_path):
    from tests.reliability.processes import RedisServer

    settings.DH_MIN_FREE_DISK_BYTES = 1
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    try:
        settings.REDIS_URL = redis_server.url
        response = client.get("/health/ready/")
        assert response.status_code == 200, response.content
        assert response.json()["checks"]["broker"] == "up"
        redis_server.kill()
        response = client.get("/health/ready/")
    finally:
        redis_server.stop()
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["broker"]
    assert str(redis_server.port) not in response.content.decode()
