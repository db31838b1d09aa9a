"""The portal's metrics for Prometheus (prometheus-client), served at `/metrics` to the operator's Prometheus only.

What is exposed:
- `dh_rounds{state}`: rounds by state, counted in the database at scrape time (exact whichever process answers).
- `dh_celery_queue_depth{queue="portal"}`: tasks waiting in the portal's Celery queue, LLEN on the Redis key at
  scrape time (short timeout); absent without REDIS_URL or when Redis does not answer.
- `dh_round_stage_seconds{stage}` (histogram): each time the pipeline adds seconds to a round's stage
  (rounds/services/lifecycle.py add_stage_seconds: zk_setup, upload_checks, zk_verify, aggregation with the key
  parties' decryption, evaluation).
- `dh_uploads_total` and `dh_upload_bytes_total`: stored submissions and their bytes.
- `dh_round_failures_total{reason}`: failed rounds by a fixed reason class (FAILURE_REASONS), never the text.

Counters and histograms live in the process that counts them (the web process stores uploads, a Celery worker
aggregates). Set PROMETHEUS_MULTIPROC_DIR to one empty folder, the same for the web and worker processes of a
host, emptied before they start, and `/metrics` sums every process's values (prometheus-client's multiprocess
mode); without it `/metrics` shows only the answering process's own counts. The database gauges are exact either
way.

Access: a bearer token from DH_METRICS_TOKEN, compared in constant time; unset, `/metrics` answers 404.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from rounds import selectors

log = logging.getLogger(__name__)

QUEUE_DEPTH_TIMEOUT_S = 0.5
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Reason classes by the start of the reason (lowercase); the first that matches, else "other".
FAILURE_REASONS = (
    ("deadline", "deadline"),
    ("quorum", "quorum"),
    ("aggregation", "aggregation"),
    ("chain", "chain"),
    ("the chain", "chain"),
    ("proof", "proof"),
    ("an encrypted update does not match its proven head", "proof"),
)
FAILURE_CLASSES = ("deadline", "quorum", "aggregation", "chain", "proof", "other")

STAGE_SECONDS = Histogram(
    "dh_round_stage_seconds",
    "Seconds of one round pipeline stage each time it is recorded",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
UPLOADS = Counter("dh_uploads", "Hospital updates checked and stored")
UPLOAD_BYTES = Counter("dh_upload_bytes", "Bytes of the hospital updates stored")
FAILURES = Counter("dh_round_failures", "Rounds that failed, by reason class", ["reason"])
for _reason in FAILURE_CLASSES:  # every class from 0, so that increase() sees the first failure
    FAILURES.labels(reason=_reason)

# The metric names the portal exposes (the Grafana dashboard's test checks its queries against them).
EXPOSED = {
    "dh_rounds": "gauge",
    "dh_celery_queue_depth": "gauge",
    "dh_round_stage_seconds": "histogram",
    "dh_uploads_total": "counter",
    "dh_upload_bytes_total": "counter",
    "dh_round_failures_total": "counter",
}


def failure_class(reason: str) -> str:
    text = reason.strip().lower()
    for prefix, name in FAILURE_REASONS:
        if text.startswith(prefix):
            return name
    return "other"


def observe_stage(stage: str, seconds: float) -> None:
    STAGE_SECONDS.labels(stage=stage).observe(max(0.0, seconds))


def count_upload(size: int) -> None:
    UPLOADS.inc()
    UPLOAD_BYTES.inc(size)


def count_failure(reason: str) -> None:
    FAILURES.labels(reason=failure_class(reason)).inc()


def queue_depth(queue: str) -> int | None:
    """LLEN of the Celery queue's Redis list, or None without Redis or when it does not answer in time."""
    if not settings.REDIS_URL:
        return None
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=QUEUE_DEPTH_TIMEOUT_S, socket_connect_timeout=QUEUE_DEPTH_TIMEOUT_S
    )
    try:
        return int(client.llen(queue))
    except Exception as exc:  # the message may hold the URL: only the type
        log.warning("metrics: the queue depth of %s is unknown: %s", queue, type(exc).__name__)
        return None
    finally:
        client.close()


class ScrapeTimeCollector:
    """The gauges read at scrape time: rounds by state (database) and the portal queue's depth (Redis)."""

    def collect(self) -> Iterator[Metric]:
        rounds = GaugeMetricFamily("dh_rounds", "Rounds by state", labels=["state"])
        for state, count in selectors.round_counts_by_state().items():
            rounds.add_metric([state], count)
        yield rounds
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        depth = queue_depth(queue)
        if depth is not None:
            depth_family = GaugeMetricFamily(
                "dh_celery_queue_depth", "Tasks waiting in a Celery queue", labels=["queue"]
            )
            depth_family.add_metric([queue], depth)
            yield depth_family


class ProcessCollector:
    """This process's own counters and histograms (and prometheus-client's process and runtime metrics)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every process's values, summed
    else:
        registry.register(ProcessCollector())
    registry.register(ScrapeTimeCollector())
    return generate_latest(registry)


def authorised(request: HttpRequest, token: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.DH_METRICS_TOKEN
    if not token:
        return HttpResponseNotFound(b"Not found", content_type="text/plain")
    if not authorised(request, token):
        response = HttpResponse(b"Unauthorized", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
