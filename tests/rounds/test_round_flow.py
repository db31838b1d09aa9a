"""Whole rounds: hospital nodes train on their own data and upload through the REST API over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from demo.consortium import running_nodes
from demo.embedded import free_port, portal_server
from dhportal.celery import app as celery_app
from events.models import AuditEvent
from registry.models import GlobalModel
from registry.weights import load_weights
from rounds.models import Round
from rounds.services import lifecycle
from tests.conftest import services_configured

S = Round.State


def wait_for_state(round_: Round, states: set[str], timeout: float) -> Round:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        round_.refresh_from_db()
        if round_.state in states:
            return round_
        time.sleep(0.5)
    raise AssertionError(f"round {round_.pk} still {round_.state} after {timeout} s")


def assert_completed_with_new_model(round_: Round, participants: list[str]) -> GlobalModel:
    assert round_.state == S.COMPLETED, round_.reason
    model = GlobalModel.objects.get(produced_by=round_)
    assert model.version == round_.base_model.version + 1
    assert sorted(model.metrics["participants"]) == sorted(participants)
    assert not np.allclose(load_weights(model), load_weights(round_.base_model))
    states = list(AuditEvent.objects.filter(round=round_, kind="state").values_list("to_state", flat=True))
    assert states == [S.APPROVED, S.OPEN, S.COLLECTING, S.AGGREGATING, S.COMPLETED]
    return model


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_round_completes_in_process(hospital_data, settings):
    """Eager tasks, the portal on a real socket: the bare-machine path of the demo."""
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        round_ = hospital_data.plan_round()
        lifecycle.approve_round(hospital_data.coordinator, round_)
        hospital_data.run_nodes()
        round_.refresh_from_db()
    assert_completed_with_new_model(round_, ["hospital-a", "hospital-b"])


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_round_through_a_real_celery_worker_on_redis_and_postgresql(hospital_data, settings, tmp_path):
    database_url, redis_url = services_configured()
    from django.db import connection

    test_database_url = database_url.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    settings.DH_VALIDATION_DATA = str(hospital_data.data_dir / "hospital-c.npz").replace(
        "hospital-c", "validation"
    )
    from fl.local_data import load_local_dataset, save_npz

    save_npz(
        hospital_data.data_dir / "validation.npz",
        {"val": load_local_dataset(hospital_data.data_dir / "hospital-c.npz", 2, (1, 28, 28))},
    )
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url,
        "REDIS_URL": redis_url,
        "DH_DATA_DIR": str(settings.DATA_DIR),
        "DH_PROTECTION": "plaintext",
        "DH_CHAIN": "off",
        "DH_VALIDATION_DATA": settings.DH_VALIDATION_DATA,
    }
    log_path = tmp_path / "worker.log"
    with portal_server(free_port()) as url, open(log_path, "w") as log:
        homes = hospital_data.enroll_nodes(url)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dhportal",
                "worker",
                "-Q",
                "portal",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            celery_app.conf.task_always_eager = False
            round_ = hospital_data.plan_round()
            with running_nodes([homes["hospital-a"], homes["hospital-b"]]) as nodes:
                lifecycle.approve_round(hospital_data.coordinator, round_)
                wait_for_state(round_, {S.COMPLETED, S.FAILED}, timeout=240)
            node_logs = "\n".join(node.log() for node in nodes)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    worker_log = log_path.read_text()
    assert "rounds.aggregate_round" in worker_log, worker_log[-3000:]
    # Each hospital's node, a process of its own, pulled its task over REST and uploaded.
    assert node_logs.count("update uploaded") == 2, node_logs[-3000:]
    model = assert_completed_with_new_model(round_, ["hospital-a", "hospital-b"])
    assert 0.0 <= model.metrics["val_accuracy"] <= 1.0


@pytest.mark.unit
@pytest.mark.django_db(transaction=True)
def test_exported_model_loads_with_torch_alone(hospital_data, settings, tmp_path):
    with portal_server(free_port()) as url:
        hospital_data.enroll_nodes(url)
        lifecycle.approve_round(hospital_data.coordinator, hospital_data.plan_round())
        hospital_data.run_nodes()
    out = tmp_path / "model.pt"
    from django.core.management import call_command

    call_command("export_model", "--version", "latest", "--out", str(out))
    # A fresh interpreter with nothing of the project imported: torch.jit.load alone.
    script = (
        "import sys, torch; m = torch.jit.load(sys.argv[1]); x = torch.rand(5, 1, 28, 28);"
        "y = m(x); assert y.shape == (5, 2), y.shape; print(y.argmax(1).tolist())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    from fl.training import predict_logits
    from registry.weights import state_of

    model = GlobalModel.objects.order_by("-version").first()
    images = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    expected = predict_logits(state_of(model.architecture, load_weights(model)), "cnn28-d16", images)
    exported = torch.jit.load(str(out))(torch.from_numpy(images)).detach().numpy()
    np.testing.assert_allclose(exported, expected, rtol=1e-5, atol=1e-5)
