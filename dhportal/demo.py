"""`manage.py demo`: a consortium on one machine, run through the same API, services and tasks as production.

A coordinator and N hospitals are created, one dataset is split across the hospitals (each gets its own file,
as a real hospital holds its own data), the portal serves its API and UI on localhost with an embedded worker,
and R rounds are planned, approved and completed through the REST API while a progress bar shows each round.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import requests
from django.conf import settings
from django.utils import timezone
from tqdm import tqdm

from fl.data import Dataset, load_breast_cancer, load_medmnist_npz, partition_dirichlet, partition_iid
from fl.local_data import save_npz
from hospitals.node.config import NodeConfig, write_node_config
from hospitals.services import create_coordinator, issue_api_token
from hospitals.tasks import hospital_queue
from rounds.committee import setup_local_committee

TERMINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED"}


class DemoError(Exception):
    """Something the user can fix; the message says how."""


@dataclass
class DemoData:
    description: str
    architecture: str
    train: Dataset
    validation: Dataset
    validation_file: Path


@dataclass
class DemoOptions:
    hospitals: int = 3
    rounds: int = 5
    data: str | None = None
    partition: str = "iid"
    alpha: float = 0.5
    seed: int = 0
    port: int = 0
    aggregation: str | None = None
    json_out: str | None = None
    plot_out: str | None = None
    round_timeout: float = 1800.0
    serve: bool = False  # keep the portal (API, web interface, worker, chain) up after the rounds
    config: dict[str, Any] = field(default_factory=dict)


def locate_data(explicit: str | None, work_dir: Path) -> DemoData:
    """--data, else ../shared/datasets, else medmnist's download, else scikit-learn's breast cancer set."""
    candidates = (
        [Path(explicit)] if explicit else [Path(settings.SHARED_DIR) / "datasets" / "pneumoniamnist.npz"]
    )
    for path in candidates:
        if path.is_file():
            return _medmnist_data(path, f"{path.name} (MedMNIST format)")
        if explicit:
            raise DemoError(f"--data {explicit}: no such file; give the path of a MedMNIST-format .npz file")
    downloaded = _try_medmnist_download(work_dir)
    if downloaded is not None:
        return _medmnist_data(downloaded, "PneumoniaMNIST (downloaded by medmnist)")
    train, validation = load_breast_cancer()
    validation_file = save_npz(work_dir / "validation.npz", {"val": validation})
    return DemoData(
        "no PneumoniaMNIST file and no network: Wisconsin breast cancer (scikit-learn, real patients, tabular)",
        "mlp30-d16",
        train,
        validation,
        validation_file,
    )


def _medmnist_data(path: Path, description: str) -> DemoData:
    train = load_medmnist_npz(path, "train")
    validation = load_medmnist_npz(path, "val", num_classes=train.num_classes)
    return DemoData(description, "cnn28-d16", train, validation, path)


def _try_medmnist_download(work_dir: Path) -> Path | None:
    try:
        import medmnist  # optional: not a dependency, and needs the network
    except ImportError:
        return None
    try:
        medmnist.PneumoniaMNIST(split="train", download=True, root=str(work_dir))
    except Exception:  # noqa: BLE001 - any download failure means: fall back
        return None
    path = work_dir / "pneumoniamnist.npz"
    return path if path.is_file() else None


class CoordinatorClient:
    """The coordinator's side of the demo, over the REST API with an API token."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=120, **kwargs)
        if response.status_code >= 400:
            raise DemoError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None


def _split(data: DemoData, options: DemoOptions) -> list[Dataset]:
    if options.partition == "iid":
        parts = partition_iid(data.train.labels, options.hospitals, options.seed)
    elif options.partition == "dirichlet":
        parts = partition_dirichlet(data.train.labels, options.hospitals, options.alpha, options.seed)
    else:
        raise DemoError(f"--partition must be iid or dirichlet, not {options.partition!r}")
    return [data.train.subset(part) for part in parts]


def _round_row(round_: dict, submissions: list[dict], wall_seconds: float) -> dict[str, Any]:
    metrics = (round_.get("result_model") or {}).get("metrics", {})
    stage_seconds: dict[str, float] = {}
    for submission in submissions:  # hospitals work in parallel in production: report the slowest
        for stage, value in submission["metrics"].get("seconds", {}).items():
            stage_seconds[stage] = max(stage_seconds.get(stage, 0.0), value)
    stage_seconds.update(round_["stage_seconds"])
    stage_seconds["total"] = round(wall_seconds, 3)
    return {
        "number": round_["id"],
        "state": round_["state"],
        "reason": round_["reason"],
        "val_accuracy": metrics.get("val_accuracy"),
        "val_auc": metrics.get("val_auc"),
        "val_loss": metrics.get("val_loss"),
        "participants": round_["submitted"],
        "seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        # Gas of the round's transactions on chain (open, submissions, close), None with DH_CHAIN=off.
        "gas": (round_.get("chain") or {}).get("gas_used"),
    }


def _print_table(rows: list[dict], write) -> None:
    stages = [
        "zk_setup",
        "training",
        "protection",
        "proof",
        "upload_checks",
        "zk_verify",
        "aggregation",
        "evaluation",
        "total",
    ]
    header = (
        f"{'round':>5} {'state':<10} {'val acc':>7} {'val auc':>7} {'val loss':>8} "
        + " ".join(f"{s[:10]:>10}" for s in stages)
        + f" {'gas':>9}"
    )
    write(header)
    for row in rows:

        def fmt(value, spec):
            return (
                format(value, spec) if isinstance(value, (int, float)) else "-".rjust(len(format(0.0, spec)))
            )

        write(
            f"{row['number']:>5} {row['state']:<10} {fmt(row['val_accuracy'], '7.4f')} {fmt(row['val_auc'], '7.4f')} "
            f"{fmt(row['val_loss'], '8.4f')} "
            + " ".join(fmt(row["seconds"].get(s), "10.2f") for s in stages)
            + f" {row.get('gas') or '-':>9}"
        )


def plot_accuracy(rows: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [i + 1 for i, row in enumerate(rows) if row["val_accuracy"] is not None]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(
        numbers, [r["val_accuracy"] for r in rows if r["val_accuracy"] is not None], "o-", label="accuracy"
    )
    aucs = [r["val_auc"] for r in rows if r["val_accuracy"] is not None]
    if all(a is not None for a in aucs):
        axis.plot(numbers, aucs, "s--", label="AUC")
    axis.set_xlabel("round")
    axis.set_ylabel("global validation score")
    axis.set_ylim(0, 1)
    axis.set_xticks(numbers)
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title("Global model on the coordinator's validation data")
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


@contextmanager
def demo_chain(write) -> Iterator[None]:
    """With DH_CHAIN=local, a hardhat node of the demo's own for as long as the portal runs."""
    if settings.DH_CHAIN == "off":
        write("Chain: off (DH_CHAIN=off): rounds are not recorded on chain")
        yield
        return
    if settings.DH_CHAIN == "sepolia":
        write(f"Chain: Sepolia (chain id {settings.DH_CHAIN_ID}) through DH_CHAIN_RPC_URL")
        yield
        return
    from contracts.localchain import HARDHAT_CHAIN_ID, LocalChain

    with LocalChain() as local_chain:
        settings.DH_CHAIN_RPC_URL, settings.DH_CHAIN_ID = local_chain.url, HARDHAT_CHAIN_ID
        write(
            f"Chain: local hardhat node at {local_chain.url} (chain id {HARDHAT_CHAIN_ID}); every round is recorded "
            "in a RoundRegistry contract, the portal signing for the hospitals with hardhat's public dev keys"
        )
        yield


def run_demo(options: DemoOptions, write=print) -> dict[str, Any]:
    from dhportal.embedded import celery_worker, deadline_sweeper, free_port, portal_server
    from hospitals.models import User

    if User.objects.exists():
        raise DemoError(
            "The demo needs an empty portal database; this one has users. Run `python manage.py demo --reset` "
            "to erase it, or point DH_DATA_DIR (SQLite) or DATABASE_URL at an empty one."
        )
    work_dir = Path(settings.DATA_DIR) / "demo"
    work_dir.mkdir(parents=True, exist_ok=True)
    data = locate_data(options.data, work_dir)
    settings.DH_VALIDATION_DATA = str(data.validation_file)
    write(
        f"Data: {data.description}: {len(data.train)} training and {len(data.validation)} validation samples"
    )
    parts = _split(data, options)

    password = secrets.token_urlsafe(12)
    coordinator = create_coordinator("coordinator", password)
    credentials = work_dir / "credentials.txt"
    credentials.write_text(f"coordinator {password}\n")
    credentials.chmod(0o600)
    if (options.aggregation or settings.DH_AGGREGATION) == "ckks":
        key_committee = setup_local_committee(coordinator)
        write(
            f"Key committee: {len(key_committee.parties)} key parties, each with its own share folder; "
            f"joint public key {key_committee.key_id[:16]}..."
        )
    if settings.DH_PROOFS != "none":
        write(
            f"Proofs of training: {settings.DH_PROOFS}; phase 1 from {Path(settings.DH_PTAU_PATH).name}, phase 2 "
            "with a contribution per hospital (run here for each; cached) and a beacon (docs/PROOFS.md)"
        )
    port = options.port or free_port()
    settings.DH_PORTAL_URL = f"http://127.0.0.1:{port}"

    slugs = []
    with portal_server(port) as base_url, demo_chain(write):
        client = CoordinatorClient(base_url, issue_api_token(coordinator, "demo"))
        write(f"Portal: {base_url}/ (log in as coordinator; the password is in {credentials})")
        for index, part in enumerate(parts, start=1):
            created = client.call(
                "POST",
                "/api/hospitals/",
                json={
                    "name": f"Hospital {index}",
                    "admin_username": f"admin{index}",
                    "admin_password": secrets.token_urlsafe(12),
                },
            )
            slug = created["hospital"]["slug"]
            data_file = save_npz(work_dir / "data" / f"{slug}.npz", {"train": part})
            write_node_config(
                Path(settings.DH_NODE_CONFIG_DIR),
                slug,
                NodeConfig(
                    portal_url=base_url, token=created["node_token"], data_path=str(data_file), seed=index
                ),
            )
            slugs.append(slug)
            write(
                f"  {created['hospital']['name']}: {len(part)} samples, classes {np.bincount(part.labels).tolist()}"
            )
        model = client.call(
            "POST",
            "/api/models/",
            json={
                "architecture": data.architecture,
                "num_classes": data.train.num_classes,
                "seed": options.seed,
            },
        )
        rows: list[dict] = []
        with (
            celery_worker(["portal"] + [hospital_queue(s) for s in slugs]),
            deadline_sweeper(settings.DH_DEADLINE_SWEEP_SECONDS),
        ):
            for number in range(1, options.rounds + 1):
                rows.append(_run_one_round(client, model["id"], slugs, options, number, write))
                if rows[-1]["state"] != "COMPLETED":
                    write(f"Round {number} ended {rows[-1]['state']}: {rows[-1]['reason']}")
                    break
                model = client.call("GET", "/api/models/")[-1]
            summary = _report(data, options, rows, model, write)
            if options.serve:
                write(
                    f"\nThe portal keeps serving at {base_url}/ (password in {credentials}); Ctrl-C stops it."
                )
                _wait_for_interrupt()
    return summary


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _report(data: DemoData, options: DemoOptions, rows: list[dict], model: dict, write) -> dict[str, Any]:
    """Prints the table per round and writes the --json summary and the --plot."""
    write("")
    _print_table(rows, write)
    summary = {
        "data": data.description,
        "hospitals": options.hospitals,
        "partition": options.partition,
        "aggregation": options.aggregation or settings.DH_AGGREGATION,
        "proofs": settings.DH_PROOFS,
        "chain": settings.DH_CHAIN,
        "rounds": rows,
        "final_model": {k: model[k] for k in ("id", "version", "weights_digest", "metrics")},
    }
    if options.json_out:
        Path(options.json_out).write_text(json.dumps(summary, indent=2))
        write(f"Summary written to {options.json_out}")
    if options.plot_out:
        write(f"Plot of accuracy over rounds written to {plot_accuracy(rows, Path(options.plot_out))}")
    return summary


def _run_one_round(
    client: CoordinatorClient, model_id: int, slugs: list[str], options: DemoOptions, number: int, write
) -> dict[str, Any]:
    started = time.perf_counter()
    deadline = timezone.now() + timedelta(seconds=options.round_timeout)
    body = {
        "base_model": model_id,
        "config": options.config,
        "participants": slugs,
        "quorum": len(slugs),
        "deadline": deadline.isoformat(),
    }
    if options.aggregation:
        body["aggregation"] = options.aggregation
    round_ = client.call("POST", "/api/rounds/", json=body)
    client.call("POST", f"/api/rounds/{round_['id']}/approve/")
    steps = len(slugs) + 2  # each submission, then aggregation, then completion
    with tqdm(total=steps, desc=f"Round {number}/{options.rounds}", unit="step", leave=True) as bar:
        while True:
            round_ = client.call("GET", f"/api/rounds/{round_['id']}/")
            done = (
                len(round_["submitted"])
                + (round_["state"] in ("AGGREGATING", "COMPLETED"))
                + (round_["state"] == "COMPLETED")
            )
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{round_['state']}, {len(round_['submitted'])}/{len(slugs)} submitted")
            if round_["state"] in TERMINAL_STATES:
                break
            if time.perf_counter() - started > options.round_timeout:
                raise DemoError(f"round {round_['id']} did not finish within {options.round_timeout:.0f} s")
            time.sleep(0.5)
    submissions = client.call("GET", f"/api/rounds/{round_['id']}/submissions/")
    row = _round_row(round_, submissions, time.perf_counter() - started)
    if row["val_accuracy"] is not None:
        write(f"Round {number}: validation accuracy {row['val_accuracy']:.4f}, AUC {row['val_auc']:.4f}")
    if round_.get("chain"):
        audit = client.call("GET", f"/api/rounds/{round_['id']}/audit/")
        row["chain_consistent"] = audit["consistent"]
        write(
            f"Round {number} on chain: {len(round_['chain']['transactions'])} transactions, "
            f"{row['gas']:,} gas; audit: "
            + ("chain and database agree" if audit["consistent"] else f"{audit['differences']}")
        )
    return row
