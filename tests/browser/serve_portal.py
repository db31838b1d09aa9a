"""A small consortium served for the browser tests, in its own process and database.

Run by test_browser.py with DH_DATA_DIR, DATABASE_URL (SQLite), DH_NODE_CONFIG_DIR and DH_VALIDATION_DATA
pointing into a temporary folder. Creates the coordinator and three hospitals whose nodes train on 64
PneumoniaMNIST images each, starts the portal (HTTP + websocket) with an embedded Celery worker, completes
one round through the REST API so there is history to show, then prints one line `READY {json}` with the
base URL and credentials and serves until its stdin closes.

    python tests/browser/serve_portal.py --pneumonia ../shared/datasets/pneumoniamnist.npz
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path

import django
import numpy as np

HOSPITALS = 3
SAMPLES_PER_HOSPITAL = 64
VALIDATION_SAMPLES = 128
ROUND_CONFIG = {"local_epochs": 1, "batch_size": 16, "proof_steps": 1}


def write_data(pneumonia: Path, work: Path) -> tuple[list[Path], Path, int]:
    """Each hospital's own small share of the training split, and a small validation file."""
    from fl.data import load_medmnist_npz
    from fl.local_data import save_npz

    train = load_medmnist_npz(pneumonia, "train")
    validation = load_medmnist_npz(pneumonia, "val", num_classes=train.num_classes)
    order = np.random.default_rng(0).permutation(len(train))
    files = []
    for index in range(HOSPITALS):
        part = order[index * SAMPLES_PER_HOSPITAL : (index + 1) * SAMPLES_PER_HOSPITAL]
        files.append(save_npz(work / "data" / f"hospital-{index + 1}.npz", {"train": train.subset(part)}))
    val_file = save_npz(work / "validation.npz", {"val": validation.subset(np.arange(VALIDATION_SAMPLES))})
    return files, val_file, train.num_classes


def complete_round(client, model_id: int, slugs: list[str]) -> dict:
    from django.utils import timezone

    deadline = (timezone.now() + timedelta(hours=1)).isoformat()
    body = {
        "base_model": model_id,
        "config": ROUND_CONFIG,
        "participants": slugs,
        "quorum": len(slugs),
        "deadline": deadline,
        "aggregation": "plaintext",
    }
    round_ = client.call("POST", "/api/rounds/", json=body)
    client.call("POST", f"/api/rounds/{round_['id']}/approve/")
    started = time.monotonic()
    while round_["state"] not in {"COMPLETED", "FAILED", "CANCELLED"}:
        if time.monotonic() - started > 120:
            raise RuntimeError(f"round {round_['id']} did not finish in 120 s: {round_['state']}")
        time.sleep(0.2)
        round_ = client.call("GET", f"/api/rounds/{round_['id']}/")
    if round_["state"] != "COMPLETED":
        raise RuntimeError(f"round {round_['id']} ended {round_['state']}: {round_['reason']}")
    return round_


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pneumonia", required=True, type=Path)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings")
    django.setup()

    from django.conf import settings
    from django.core.management import call_command

    from dhportal.demo import CoordinatorClient
    from dhportal.embedded import celery_worker, free_port, portal_server
    from hospitals.node.config import NodeConfig, write_node_config
    from hospitals.services import create_coordinator, issue_api_token
    from hospitals.tasks import hospital_queue
    from rounds.services import initialise_model

    call_command("migrate", verbosity=0)
    work = Path(settings.DATA_DIR)
    data_files, val_file, num_classes = write_data(args.pneumonia, work)
    settings.DH_VALIDATION_DATA = str(val_file)

    passwords = {"coordinator": secrets.token_urlsafe(12)}
    coordinator = create_coordinator("coordinator", passwords["coordinator"])
    port = free_port()
    settings.DH_PORTAL_URL = f"http://127.0.0.1:{port}"
    with portal_server(port) as base_url:
        client = CoordinatorClient(base_url, issue_api_token(coordinator, "browser-tests"))
        hospitals = []
        for index, data_file in enumerate(data_files, start=1):
            passwords[f"admin{index}"] = secrets.token_urlsafe(12)
            created = client.call(
                "POST",
                "/api/hospitals/",
                json={
                    "name": f"Hospital {index}",
                    "admin_username": f"admin{index}",
                    "admin_password": passwords[f"admin{index}"],
                },
            )
            hospital = created["hospital"]
            write_node_config(
                Path(settings.DH_NODE_CONFIG_DIR),
                hospital["slug"],
                NodeConfig(
                    portal_url=base_url, token=created["node_token"], data_path=str(data_file), seed=index
                ),
            )
            hospitals.append(hospital)
        model = initialise_model(coordinator, "cnn28-d16", num_classes, seed=0)
        slugs = [hospital["slug"] for hospital in hospitals]
        with celery_worker(["portal"] + [hospital_queue(slug) for slug in slugs]):
            first = complete_round(client, model.pk, slugs)
            fixture = {
                "base_url": base_url,
                "coordinator": {"username": "coordinator", "password": passwords["coordinator"]},
                "admin": {"username": "admin1", "password": passwords["admin1"]},
                "admin_hospital": {"id": hospitals[0]["id"], "name": hospitals[0]["name"]},
                "other_hospitals": [{"id": h["id"], "name": h["name"]} for h in hospitals[1:]],
                "hospital_slugs": slugs,
                "completed_round": first["id"],
            }
            print("READY " + json.dumps(fixture), flush=True)
            sys.stdin.read()  # serve until the test closes our stdin
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
