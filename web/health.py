"""Liveness and readiness probes for load balancers and orchestrators: `/health/live/` and `/health/ready/`.

A small module of our own rather than django-health-check: its views print each failing check's exception text
(a broker or RPC error message can carry the URL, and a hosted RPC URL holds an API key), it would need a plugin
of our own for the chain anyway, and it adds several apps to INSTALLED_APPS for four checks of a few lines each.
Here an answer names only the checks and "up" / "down" / "skipped"; the reason a check is down goes to the log
as the exception's class name, never its message.

- liveness: the process answers (no database, no authentication); restart the process when it does not.
- readiness: the database answers `SELECT 1`; the broker (Redis, when REDIS_URL is set) answers PING; the chain
  (unless DH_CHAIN=off) answers `eth_blockNumber`; the blob store's disk (DH_DATA_DIR) has at least
  DH_MIN_FREE_DISK_BYTES free. 200 when every check is up or skipped, else 503 naming the ones that are down.
  Each network check waits at most HEALTH_CHECK_TIMEOUT_S.
"""

from __future__ import annotations

import json
import logging
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

HEALTH_CHECK_TIMEOUT_S = 2.0
UP, DOWN, SKIPPED = "up", "down", "skipped"


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return UP


def check_broker() -> str:
    if not settings.REDIS_URL:
        return SKIPPED  # no broker: tasks run in-process (the demo, the tests)
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=HEALTH_CHECK_TIMEOUT_S,
        socket_connect_timeout=HEALTH_CHECK_TIMEOUT_S,
    )
    try:
        return UP if client.ping() else DOWN
    finally:
        client.close()


def check_chain() -> str:
    if settings.DH_CHAIN == "off":
        return SKIPPED
    url = settings.DH_CHAIN_RPC_URL
    if not url.startswith(("http://", "https://")):
        return DOWN
    body = json.dumps({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": 1}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HEALTH_CHECK_TIMEOUT_S) as response:
        answer = json.loads(response.read(64 * 1024))
    result = answer.get("result") if isinstance(answer, dict) else None
    return UP if isinstance(result, str) and result.startswith("0x") else DOWN


def check_disk() -> str:
    path = Path(settings.DATA_DIR)
    while not path.exists() and path != path.parent:  # the blob store makes its folders when it first writes
        path = path.parent
    free = shutil.disk_usage(path).free
    return UP if free >= settings.DH_MIN_FREE_DISK_BYTES else DOWN


READINESS_CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "chain": check_chain,
    "disk": check_disk,
}


def run_check(name: str, check: Callable[[], str]) -> str:
    try:
        return check()
    except Exception as exc:  # any failure means "not ready"; the message may hold a URL, so only the type
        logger.warning("readiness check %s is down: %s", name, type(exc).__name__)
        return DOWN


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    checks = {name: run_check(name, check) for name, check in READINESS_CHECKS.items()}
    down = [name for name, state in checks.items() if state == DOWN]
    if down:
        return JsonResponse(
            {
                "status": "not_ready",
                "detail": f"not ready: {', '.join(down)}",
                "not_ready": down,
                "checks": checks,
            },
            status=503,
        )
    return JsonResponse({"status": "ready", "checks": checks})
