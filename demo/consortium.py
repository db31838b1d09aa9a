"""A consortium on one machine, for the demo and the browser tests (tests/browser/serve_portal.py).

The coordinator works through the REST API with an API token; each hospital is registered through the API and
gets its own data file and node configuration (DH_NODE_CONFIG_DIR/<slug>.json, seed = its number), as a real
hospital's node would; one embedded Celery worker runs the portal's tasks and every hospital's node tasks.
Imported after django.setup().
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

from demo.embedded import celery_worker, deadline_sweeper
from demo.options import DemoError
from fl.data import Dataset
from fl.local_data import save_npz
from hospitals.models import User
from hospitals.services import issue_api_token
from hospitals.tasks import hospital_queue
from node.config import NodeConfig, write_node_config


class CoordinatorClient:
    """The coordinator's side, over the REST API with an API token."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    @classmethod
    def for_coordinator(cls, base_url: str, coordinator: User, token_name: str) -> CoordinatorClient:
        return cls(base_url, issue_api_token(coordinator, token_name))

    def call(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=120, **kwargs)
        if response.status_code >= 400:
            raise DemoError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def create_model(self, architecture: str, num_classes: int, seed: int) -> dict:
        return self.call(
            "POST",
            "/api/models/",
            json={"architecture": architecture, "num_classes": num_classes, "seed": seed},
        )

    def start_round(self, body: dict) -> dict:
        """Plans a round and approves it; the round as planned."""
        round_ = self.call("POST", "/api/rounds/", json=body)
        self.call("POST", f"/api/rounds/{round_['id']}/approve/")
        return round_


@dataclass(frozen=True)
class RegisteredHospital:
    id: int
    name: str
    slug: str
    admin_username: str
    admin_password: str
    data_file: Path


def register_hospitals(
    client: CoordinatorClient, shares: list[Dataset], data_dir: Path, allow_plaintext: bool = False
) -> list[RegisteredHospital]:
    """Hospital 1..N through the API, each with an admin, its share saved as data_dir/<slug>.npz, and a node
    configuration pointing at the portal with the node token and `seed` = its number."""
    hospitals = []
    for index, share in enumerate(shares, start=1):
        password = secrets.token_urlsafe(12)
        created = client.call(
            "POST",
            "/api/hospitals/",
            json={"name": f"Hospital {index}", "admin_username": f"admin{index}", "admin_password": password},
        )
        slug = created["hospital"]["slug"]
        data_file = save_npz(data_dir / f"{slug}.npz", {"train": share})
        write_node_config(
            Path(settings.DH_NODE_CONFIG_DIR),
            slug,
            NodeConfig(
                portal_url=client.base_url,
                token=created["node_token"],
                data_path=str(data_file),
                seed=index,
                allow_plaintext=allow_plaintext,
            ),
        )
        hospitals.append(
            RegisteredHospital(
                id=created["hospital"]["id"],
                name=created["hospital"]["name"],
                slug=slug,
                admin_username=f"admin{index}",
                admin_password=password,
                data_file=data_file,
            )
        )
    return hospitals


@contextmanager
def consortium_worker(slugs: list[str], sweep_seconds: float | None = None) -> Iterator[None]:
    """The embedded worker on the portal's queue and each hospital's; with `sweep_seconds`, also the deadline
    sweep that celery beat sends in production."""
    with ExitStack() as stack:
        stack.enter_context(celery_worker(["portal"] + [hospital_queue(slug) for slug in slugs]))
        if sweep_seconds is not None:
            stack.enter_context(deadline_sweeper(sweep_seconds))
        yield
