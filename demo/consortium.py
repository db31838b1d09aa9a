"""A consortium on one machine, for the demo and the browser tests (tests/browser/serve_portal.py).

The coordinator works through the REST API with an API token; each hospital is registered through the API and
gets its own data file, and its node is enrolled and run with the commands a hospital's IT admin runs
(`dh-node enroll`, `dh-node run`, as `python -m node`), each node its own process pulling its work over REST.
One embedded Celery worker runs the portal's tasks.
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

from demo.embedded import celery_worker, deadline_sweeper
from demo.options import DemoError
from demo.processes import PartyProcess, party_processes, run_party_command, start_party
from fl.data import Dataset
from fl.local_data import save_npz
from hospitals.models import User
from hospitals.services import issue_api_token


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
    node_home: Path  # the node's own folder: its configuration, keys and log


def register_hospitals(
    client: CoordinatorClient, shares: list[Dataset], work_dir: Path, allow_plaintext: bool = False
) -> list[RegisteredHospital]:
    """Hospital 1..N through the API, each with an admin; then, as each hospital's IT admin would, its share
    saved as its own data file (work_dir/data/<slug>.npz) and its node enrolled with a one-time code
    (`python -m node enroll`, home work_dir/nodes/<slug>, `--seed` its number)."""
    hospitals = []
    for index, share in enumerate(shares, start=1):
        password = secrets.token_urlsafe(12)
        created = client.call(
            "POST",
            "/api/hospitals/",
            json={"name": f"Hospital {index}", "admin_username": f"admin{index}", "admin_password": password},
        )["hospital"]
        slug = created["slug"]
        data_file = save_npz(work_dir / "data" / f"{slug}.npz", {"train": share})
        code = client.call("POST", f"/api/hospitals/{created['id']}/enrollment-code/")["code"]
        home = work_dir / "nodes" / slug
        arguments = ["--home", str(home), "enroll", "--portal", client.base_url, "--code", code]
        arguments += ["--data", str(data_file), "--seed", str(index)]
        run_party_command("node", arguments + (["--allow-plaintext"] if allow_plaintext else []))
        hospitals.append(
            RegisteredHospital(
                id=created["id"],
                name=created["name"],
                slug=slug,
                admin_username=f"admin{index}",
                admin_password=password,
                data_file=data_file,
                node_home=home,
            )
        )
    return hospitals


@contextmanager
def running_nodes(homes: list[Path]) -> Iterator[list[PartyProcess]]:
    """`python -m node run` for each home, as separate processes (log: <home>/node.log); stopped at the end."""
    with party_processes() as started:
        for home in homes:
            started.append(start_party(home.name, "node", ["--home", str(home), "run"], home / "node.log"))
        yield started


@contextmanager
def consortium_services(homes: list[Path], sweep_seconds: float | None = None) -> Iterator[None]:
    """The embedded worker on the portal's queue, each hospital's node as its own process, and with
    `sweep_seconds` the deadline sweep that celery beat sends in production."""
    with ExitStack() as stack:
        stack.enter_context(celery_worker(["portal"]))
        if sweep_seconds is not None:
            stack.enter_context(deadline_sweeper(sweep_seconds))
        stack.enter_context(running_nodes(homes))
        yield
