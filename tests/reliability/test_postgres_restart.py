"""PostgreSQL restarted in the middle of a round: the portal (a server process) and its Celery worker run on a
private PostgreSQL cluster of the test's own, and the test drives them over HTTP only, as the coordinator and as
each hospital's node. An upload stored before the restart is kept; an upload sent while PostgreSQL is down is
refused with a 5xx (nothing half-stored) and the node's retry after the restart is stored; the portal and the
worker reconnect by themselves and the round completes with both updates."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import requests

from conftest import REPO_ROOT
from crypto import plain
from demo.embedded import free_port
from node.client import PortalClient
from protocol.upload import UPDATE_FIELD, Upload
from tests.reliability.processes import PrivatePostgres, Worker, private_postgres, private_redis, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

PASSWORD = "coordinator-password"
SAMPLES = {"hospital-1": 30, "hospital-2": 50}


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stderr[-3000:]}"


class Api:
    def __init__(self, url: str, token: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def __call__(self, method: str, path: str, **kwargs):
        response = self.session.request(method, self.url + path, timeout=60, **kwargs)
        assert response.status_code < 400, f"{method} {path} -> {response.status_code}: {response.text[:500]}"
        return (
            response.json()
            if response.headers.get("Content-Type", "").startswith("application/json")
            else response
        )


def update_of(parameters: int, slug: str) -> bytes:
    rng = np.random.default_rng(len(slug) + SAMPLES[slug])
    return plain.encode(rng.normal(0.0, 1e-3, parameters) * SAMPLES[slug])


def upload_form(slug: str, blob: bytes) -> dict:
    return {
        "data": Upload(num_samples=SAMPLES[slug]).form_fields(),
        "files": {UPDATE_FIELD: ("update.bin", blob, "application/octet-stream")},
    }


def test_a_postgres_restart_mid_round_loses_no_upload_and_the_round_completes(tmp_path):
    with private_postgres() as postgres, private_redis(tmp_path / "redis") as redis:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dhportal.settings",
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "DH_DATA_DIR": str(tmp_path / "portal"),
            "DH_CHAIN": "off",
            "DH_PROOFS": "none",
            "DH_PROTECTION": "plaintext",
            "DH_COORDINATOR_PASSWORD": PASSWORD,
        }
        manage(env, "migrate", "--no-input")
        manage(env, "createcoordinator", "coordinator")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with open(tmp_path / "portal.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "dhportal.asgi:application", "--host", "127.0.0.1",
                 "--port", str(port), "--lifespan", "off", "--log-level", "warning"],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        worker = None
        try:
            worker = Worker("portal", env, ["portal"], tmp_path)
            run_round(url, postgres, server, worker)
        finally:
            if worker is not None:
                worker.stop()
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)


def run_round(url: str, postgres: PrivatePostgres, server: subprocess.Popen, worker: Worker) -> None:
    def live() -> bool:
        try:
            return requests.get(url + "/health/live/", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(live, 60, "the portal server")
    answer = requests.post(
        url + "/api/auth/token/", json={"username": "coordinator", "password": PASSWORD}, timeout=60
    )
    assert answer.status_code == 201, answer.text
    coordinator = Api(url, answer.json()["token"])
    model = coordinator(
        "POST", "/api/models/", json={"architecture": "cnn28-d16", "num_classes": 2, "seed": 0}
    )
    nodes = {}
    for index in (1, 2):
        created = coordinator(
            "POST",
            "/api/hospitals/",
            json={"name": f"Hospital {index}", "admin_username": f"admin{index}", "admin_password": PASSWORD},
        )
        nodes[created["hospital"]["slug"]] = created["node_token"]
    assert sorted(nodes) == sorted(SAMPLES)
    round_ = coordinator(
        "POST",
        "/api/rounds/",
        json={
            "base_model": model["id"],
            "config": {"local_epochs": 1, "batch_size": 8, "proof_steps": 1},
            "participants": sorted(nodes),
            "quorum": 2,
            "deadline": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "protection": "plaintext",
            "proof_scheme": "none",
            "max_samples": 1000,
        },
    )
    path = f"/api/rounds/{round_['id']}/"
    coordinator("POST", path + "approve/")
    wait_until(lambda: coordinator("GET", path)["state"] == "COLLECTING", 120, "the worker to open the round")
    weights = coordinator("GET", f"/api/models/{model['id']}/weights/").content
    parameters = np.load(io.BytesIO(weights)).size
    blobs = {slug: update_of(parameters, slug) for slug in SAMPLES}
    first, second = sorted(SAMPLES)

    PortalClient(url, nodes[first]).upload(round_["id"], blobs[first], Upload(num_samples=SAMPLES[first]))

    postgres.stop()
    # While PostgreSQL is down the portal answers the upload with a 5xx and stores nothing; the node tries
    # again (node.client retries 5xx).
    during = requests.post(
        url + f"/api/node/rounds/{round_['id']}/submission/",
        headers={"Authorization": f"Token {nodes[second]}"},
        timeout=60,
        **upload_form(second, blobs[second]),
    )
    assert during.status_code >= 500, during.text
    time.sleep(1)
    postgres.start()
    # The portal's next request opens a new connection (CONN_MAX_AGE 0): the node's retry is stored.
    PortalClient(url, nodes[second]).upload(round_["id"], blobs[second], Upload(num_samples=SAMPLES[second]))
    wait_until(
        lambda: coordinator("GET", path)["state"] in ("COMPLETED", "FAILED"), 180, "the round to finish"
    )
    assert server.poll() is None and worker.process.poll() is None  # neither died of the outage
    finished = coordinator("GET", path)
    assert finished["state"] == "COMPLETED", finished.get("reason")

    submissions = {entry["hospital"]: entry for entry in coordinator("GET", path + "submissions/")}
    assert sorted(submissions) == sorted(SAMPLES)  # nothing lost, nothing counted twice
    for slug, blob in blobs.items():
        assert submissions[slug]["blob_digest"] == hashlib.sha256(blob).hexdigest()
        assert submissions[slug]["num_samples"] == SAMPLES[slug]
    produced = [entry for entry in coordinator("GET", "/api/models/") if entry["produced_by"] == round_["id"]]
    assert len(produced) == 1
    assert sorted(produced[0]["metrics"]["participants"]) == sorted(SAMPLES)
    # The worker ran the aggregation after PostgreSQL came back, on a new connection of its own.
    assert "rounds.aggregate_round[" in worker.log(), worker.log()[-3000:]
