"""`/metrics` for Prometheus (rounds/metrics.py): a completed round shows in the rounds-by-state gauge, the upload
counters and the stage durations; failures count by reason class; the queue depth comes from Redis; the endpoint
answers only the operator's bearer token (404 with none configured); the Grafana dashboard queries only metrics
the portal exposes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rounds import metrics
from rounds.models import Round
from rounds.services import collecting, lifecycle
from tests.conftest import plain_update

pytestmark = [pytest.mark.unit]

S = Round.State
TOKEN = "operator-metrics-token-0123456789"
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "decentrahealth.json"


@pytest.fixture
def scrape(client, settings):
    settings.DH_METRICS_TOKEN = TOKEN

    def get() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert answer.status_code == 200, answer.content[:300]
        assert answer["Content-Type"].startswith("text/plain; version=")
        samples = {}
        for family in text_string_to_metric_families(answer.content.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    return get


def collecting_round(consortium, **plan) -> Round:
    round_ = consortium.plan_round(**plan)
    for target in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, target, "test")
    return round_


def test_a_completed_round_shows_in_the_metrics(
    consortium, scrape, settings, django_capture_on_commit_callbacks
):
    settings.REDIS_URL = ""  # no broker (CI sets one): the queue depth is left out, the rest is counted
    before = scrape()
    round_ = collecting_round(consortium)
    update = plain_update(consortium.model)
    collecting.submit_update(consortium.hospital_a, round_.pk, [update], 48, {}, None)
    with django_capture_on_commit_callbacks(execute=True):  # the last upload starts the (eager) aggregation
        collecting.submit_update(consortium.hospital_b, round_.pk, [update], 48, {}, None)
    round_.refresh_from_db()
    assert round_.state == S.COMPLETED, round_.reason
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert after[("dh_rounds", (("state", "COMPLETED"),))] == 1
    assert after[("dh_rounds", (("state", "FAILED"),))] == 0
    assert delta("dh_uploads_total") == 2
    assert delta("dh_upload_bytes_total") == 2 * len(update)
    for stage in ("upload_checks", "aggregation", "evaluation"):
        assert delta("dh_round_stage_seconds_count", stage=stage) >= 1, stage
    assert delta("dh_round_stage_seconds_bucket", stage="upload_checks", le="+Inf") == 2
    assert ("dh_celery_queue_depth", (("queue", "portal"),)) not in after  # no REDIS_URL: skipped
    names = {name for name, _ in after}
    for name, kind in metrics.EXPOSED.items():
        if name != "dh_celery_queue_depth":
            assert (name + "_count" if kind == "histogram" else name) in names, name


def test_failures_count_by_reason_class_never_the_text(consortium, scrape):
    before = scrape()
    lifecycle.fail_round(collecting_round(consortium), "deadline passed with 0 of 2 required submissions")
    after = scrape()
    key = ("dh_round_failures_total", (("reason", "deadline"),))
    assert after[key] - before.get(key, 0.0) == 1
    assert after[("dh_rounds", (("state", "FAILED"),))] == 1
    assert {dict(labels).get("reason") for name, labels in after if name == "dh_round_failures_total"} <= set(
        metrics.FAILURE_CLASSES
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("deadline passed with 1 of 2 required submissions", "deadline"),
        ("quorum not met: 1 of 2 required submissions", "quorum"),
        ("aggregation failed: the key parties did not decrypt", "aggregation"),
        ("chain: closing the round was refused: reverted", "chain"),
        ("the chain did not answer (ConnectionError)", "chain"),
        ("proof of training: the setup failed", "proof"),
        ("an encrypted update does not match its proven head (fc differs by 3)", "proof"),
        ("something nobody foresaw", "other"),
        ("", "other"),
    ],
)
def test_failure_reason_classes(reason, expected):
    assert metrics.failure_class(reason) == expected
    assert expected in metrics.FAILURE_CLASSES


def test_the_portal_queue_depth_is_read_from_redis_at_scrape_time(db, scrape, settings, monkeypatch):
    import redis

    asked = []

    class FakeRedis:
        def llen(self, key: str) -> int:
            asked.append(key)
            return 7

        def close(self) -> None:
            pass

    settings.REDIS_URL = "redis://redis.invalid:6379/0"
    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, url, **options: FakeRedis()))
    assert scrape()[("dh_celery_queue_depth", (("queue", "portal"),))] == 7
    assert asked == ["portal"]


def test_an_unreachable_redis_leaves_out_only_the_queue_depth(db, scrape, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    samples = scrape()
    assert ("dh_rounds", (("state", "DRAFT"),)) in samples
    assert not any(name == "dh_celery_queue_depth" for name, _ in samples)


def test_metrics_need_the_operator_token_and_hide_without_one(db, client, settings):
    settings.DH_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404
    settings.DH_METRICS_TOKEN = TOKEN
    for header in (None, "Bearer wrong", f"Token {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"Basic {TOKEN}"):
        answer = client.get("/metrics", **({"HTTP_AUTHORIZATION": header} if header else {}))
        assert answer.status_code == 401, header
        assert answer["WWW-Authenticate"].startswith("Bearer")
        assert b"dh_" not in answer.content
    assert client.get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_multiprocess_mode_sums_the_counts_of_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, an upload counted in one process (a web worker) shows in another's
    scrape (prometheus-client's multiprocess mode)."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "dhportal.settings",
    }
    setup = "import django; django.setup(); from rounds import metrics; "
    count = "metrics.count_upload(1234); metrics.observe_stage('zk_verify', 0.3)"
    subprocess.run([sys.executable, "-c", setup + count], env=env, check=True, timeout=120)
    read = "metrics.ScrapeTimeCollector.collect = lambda self: iter(()); print(metrics.exposition().decode())"
    out = subprocess.run(
        [sys.executable, "-c", setup + read], env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    assert re.search(r"^dh_upload_bytes_total 1234\.0$", out, re.M), out
    assert re.search(r'^dh_round_stage_seconds_count\{stage="zk_verify"\} 1\.0$', out, re.M), out


def test_the_grafana_dashboard_queries_only_metrics_the_portal_exposes():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(dashboard["panels"]) >= 5 and exprs
    exposed = set()
    for name, kind in metrics.EXPOSED.items():
        exposed |= (
            {name + suffix for suffix in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
        )
    queried = {name for expr in exprs for name in re.findall(r"\bdh_[a-z_]+", expr)}
    assert queried and queried <= exposed, queried - exposed
    assert {
        "dh_rounds",
        "dh_round_stage_seconds_bucket",
        "dh_uploads_total",
        "dh_upload_bytes_total",
    } <= queried
    assert {"dh_round_failures_total", "dh_celery_queue_depth"} <= queried
