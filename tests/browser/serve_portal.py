"""A small consortium served for the browser tests, in its own process and database.

Run by test_browser.py with DH_DATA_DIR and DATABASE_URL (SQLite) pointing into a temporary folder. Writes the hospitals' data (64 PneumoniaMNIST images each) and a small validation file into DH_DATA_DIR,
puts the validation file in DH_VALIDATION_DATA before Django starts (as the demo's launcher does), then sets up
the consortium with the demo's pieces (demo/consortium.py: the coordinator's API client, three hospitals with
their nodes enrolled and running as processes, the embedded portal server and worker), completes one round through the REST API so
there is history to show, prints one line `READY {json}` with the base URL and credentials and serves until
its stdin closes.

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
from typing import TYPE_CHECKING

import django
import numpy as np

if TYPE_CHECKING:
    from fl.data import Dataset

HOSPITALS = 3
SAMPLES_PER_HOSPITAL = 64
VALIDATION_SAMPLES = 128
ROUND_CONFIG = {"local_epochs": 1, "batch_size": 16, "proof_steps": 1}


def write_data(pneumonia: Path, work: Path) -> tuple[list[Dataset], Path, int]:
    """Each hospital's own small share of the training split, and a small validation file."""
    from fl.data import load_medmnist_npz
    from fl.local_data import save_npz

    train = load_medmnist_npz(pneumonia, "train")
    validation = load_medmnist_npz(pneumonia, "val", num_classes=train.num_classes)
    order = np.random.default_rng(0).permutation(len(train))
    shares = [
        train.subset(order[index * SAMPLES_PER_HOSPITAL : (index + 1) * SAMPLES_PER_HOSPITAL])
        for index in range(HOSPITALS)
    ]
    val_file = save_npz(work / "validation.npz", {"val": validation.subset(np.arange(VALIDATION_SAMPLES))})
    return shares, val_file, train.num_classes


def complete_round(client, model_id: int, slugs: list[str]) -> dict:
    from django.utils import timezone

    deadline = (timezone.now() + timedelta(hours=1)).isoformat()
    body = {
        "base_model": model_id,
        "config": ROUND_CONFIG,
        "participants": slugs,
        "quorum": len(slugs),
        "deadline": deadline,
        "protection": "plaintext",
    }
    round_ = client.start_round(body)
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
    from demo.launcher import data_dir  # no Django: DH_DATA_DIR as the settings will read it

    work = data_dir()
    shares, val_file, num_classes = write_data(args.pneumonia, work)
    os.environ["DH_VALIDATION_DATA"] = str(val_file)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings")
    django.setup()

    from django.core.management import call_command

    from demo.consortium import CoordinatorClient, consortium_services, register_hospitals
    from demo.embedded import free_port, portal_server
    from hospitals.services import create_coordinator

    call_command("migrate", verbosity=0)
    password = secrets.token_urlsafe(12)
    coordinator = create_coordinator("coordinator", password)
    with portal_server(free_port()) as base_url:
        client = CoordinatorClient.for_coordinator(base_url, coordinator, "browser-tests")
        hospitals = register_hospitals(client, shares, work, allow_plaintext=True)  # plaintext rounds
        model = client.create_model("cnn28-d16", num_classes, seed=0)
        slugs = [hospital.slug for hospital in hospitals]
        with consortium_services([hospital.node_home for hospital in hospitals]):
            first = complete_round(client, model["id"], slugs)
            admin = hospitals[0]
            fixture = {
                "base_url": base_url,
                "coordinator": {"username": "coordinator", "password": password},
                "admin": {"username": admin.admin_username, "password": admin.admin_password},
                "admin_hospital": {"id": admin.id, "name": admin.name},
                "other_hospitals": [{"id": h.id, "name": h.name} for h in hospitals[1:]],
                "hospital_slugs": slugs,
                "completed_round": first["id"],
            }
            print("READY " + json.dumps(fixture), flush=True)
            sys.stdin.read()  # serve until the test closes our stdin
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
