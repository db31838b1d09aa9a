"""The demo's run: a consortium on one machine, run through the same API, services and tasks as production.

A coordinator and N hospitals are created, one dataset is split across the hospitals (each gets its own file,
as a real hospital holds its own data), the portal serves its API and UI on localhost with an embedded worker,
and R rounds are planned, approved and completed through the REST API while a progress bar shows each round.
Runs after demo/launcher.py has fixed the configuration and set Django up.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.utils import timezone
from tqdm import tqdm

from demo.committee import local_committee
from demo.consortium import CoordinatorClient, consortium_services, register_hospitals
from demo.data import split
from demo.embedded import portal_server
from demo.options import DemoError, DemoOptions
from demo.report import report, round_row
from fl import privacy
from fl.models import describe_input
from hospitals.models import User
from hospitals.services import create_coordinator, issue_api_token

if TYPE_CHECKING:
    from demo.launcher import Launch

TERMINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED"}


@contextmanager
def demo_chain(chain_port: int | None, write) -> Iterator[None]:
    """With DH_CHAIN=local, a hardhat node of the demo's own for as long as the portal runs, on the port the
    launcher put in DH_CHAIN_RPC_URL."""
    if settings.DH_CHAIN == "off":
        write("Chain: off (DH_CHAIN=off): rounds are not recorded on chain")
        yield
        return
    if settings.DH_CHAIN == "sepolia":
        write(f"Chain: Sepolia (chain id {settings.DH_CHAIN_ID}) through DH_CHAIN_RPC_URL")
        yield
        return
    from contracts.localchain import HARDHAT_CHAIN_ID, LocalChain

    with LocalChain(port=chain_port) as local_chain:
        if local_chain.url != settings.DH_CHAIN_RPC_URL:
            raise DemoError(
                f"DH_CHAIN_RPC_URL is {settings.DH_CHAIN_RPC_URL}, not the demo's {local_chain.url}"
            )
        write(
            f"Chain: local hardhat node at {local_chain.url} (chain id {HARDHAT_CHAIN_ID}); every round is recorded "
            "in a RoundRegistry contract, each hospital's node signing its own submission with its own key"
        )
        yield


def run_demo(options: DemoOptions, launch: Launch, write=print) -> dict[str, Any]:
    if User.objects.exists():
        raise DemoError(
            "The demo needs an empty portal database; this one has users. Run `python manage.py demo --reset` "
            "to erase it, or point DH_DATA_DIR (SQLite) or DATABASE_URL at an empty one."
        )
    data, work_dir = launch.data, launch.work_dir
    for stale in ("keyparties", "nodes"):  # an earlier demo's homes: shares and tokens of a database now gone
        shutil.rmtree(work_dir / stale, ignore_errors=True)
    write(
        f"Data: {data.description}: {len(data.train)} training and {len(data.validation)} validation samples of "
        f"{describe_input(data.train.sample_shape)}, {data.train.num_classes} classes; model {data.architecture}"
    )
    shares = split(data, options)

    password = secrets.token_urlsafe(12)
    coordinator = create_coordinator("coordinator", password)
    credentials = work_dir / "credentials.txt"
    credentials.write_text(f"coordinator {password}\n")
    credentials.chmod(0o600)
    if settings.DH_PROOFS != "none":
        write(
            f"Proofs of training: {settings.DH_PROOFS}; phase 1 from {Path(settings.DH_PTAU_PATH).name}, phase 2 "
            "made by the hospitals' nodes, each contributing in turn, then a beacon from a later block "
            "(docs/PROOFS.md)"
        )

    with (
        portal_server(launch.port) as base_url,
        demo_chain(launch.chain_port, write),
        ExitStack() as committee,
    ):
        client = CoordinatorClient.for_coordinator(base_url, coordinator, "demo")
        write(f"Portal: {base_url}/ (log in as coordinator; the password is in {credentials})")
        if (options.protection or settings.DH_PROTECTION) == "ckks":
            party_homes = work_dir / "keyparties"
            token = issue_api_token(coordinator, "demo-committee")
            committee_id = committee.enter_context(local_committee(base_url, token, party_homes))
            write(
                f"Key committee {committee_id}: 3 key parties, each its own process (python -m keyparty serve) "
                f"with its own share and TLS identity, homes under {party_homes}; the portal holds no share"
            )
        # Nodes take plaintext rounds only when the demo runs them on purpose (--protection plaintext).
        plaintext = (options.protection or settings.DH_PROTECTION) == "plaintext"
        hospitals = register_hospitals(client, shares, work_dir, allow_plaintext=plaintext)
        for hospital, share in zip(hospitals, shares, strict=True):
            write(f"  {hospital.name}: {len(share)} samples, classes {np.bincount(share.labels).tolist()}")
        slugs = [hospital.slug for hospital in hospitals]
        model = client.create_model(data.architecture, data.train.num_classes, options.seed)
        rows: list[dict] = []
        homes = [hospital.node_home for hospital in hospitals]
        write(f"Nodes: one process per hospital (python -m node run), homes under {work_dir / 'nodes'}")
        with consortium_services(homes, settings.DH_DEADLINE_SWEEP_SECONDS):
            if options.campaign:
                rows = _run_campaign(client, model["id"], slugs, options, write)
            else:
                for number in range(1, options.rounds + 1):
                    rows.append(_run_one_round(client, model["id"], slugs, options, number, write))
                    if rows[-1]["state"] != "COMPLETED":
                        write(f"Round {number} ended {rows[-1]['state']}: {rows[-1]['reason']}")
                        break
                    model = client.call("GET", "/api/models/")[-1]
            model = client.call("GET", "/api/models/")[-1]
            summary = report(data, options, rows, model, write)
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


def _plan(model_id: int, slugs: list[str], options: DemoOptions) -> dict[str, Any]:
    """The round plan the demo asks for (a round's, or a campaign's first round's)."""
    body: dict[str, Any] = {
        "base_model": model_id,
        "config": options.config,
        "participants": slugs,
        "quorum": len(slugs),
    }
    if options.protection:
        body["protection"] = options.protection
    if options.server_strategy:
        body["server_strategy"] = options.server_strategy
    if options.dp_noise_multiplier:
        body["dp_noise_multiplier"] = options.dp_noise_multiplier
    if options.update_norm_bound:
        body["update_norm_bound"] = options.update_norm_bound
    return body


def _run_campaign(
    client: CoordinatorClient, model_id: int, slugs: list[str], options: DemoOptions, write
) -> list[dict[str, Any]]:
    """One campaign of options.rounds rounds, approved once: the portal plans and approves each next round
    itself; the demo only follows them."""
    body = {
        **_plan(model_id, slugs, options),
        "name": "demo campaign",
        "rounds": options.rounds,
        "round_seconds": int(options.round_timeout),
    }
    if options.target_auc is not None:
        body["target_auc"] = options.target_auc
    campaign = client.call("POST", "/api/campaigns/", json=body)
    campaign = client.call("POST", f"/api/campaigns/{campaign['id']}/approve/")
    write(
        f"Campaign {campaign['id']}: up to {options.rounds} rounds from this one approval"
        + (f", stopping at validation AUC {options.target_auc}" if options.target_auc is not None else "")
    )
    rows: list[dict[str, Any]] = []
    while True:
        started = time.perf_counter()
        while len(campaign["rounds"]) <= len(rows) and campaign["state"] == "RUNNING":
            if time.perf_counter() - started > options.round_timeout:
                raise DemoError(f"campaign {campaign['id']} planned no round {len(rows) + 1}")
            time.sleep(0.5)
            campaign = client.call("GET", f"/api/campaigns/{campaign['id']}/")
        if len(campaign["rounds"]) <= len(rows):
            break
        round_ = client.call("GET", f"/api/rounds/{campaign['rounds'][len(rows)]['round']}/")
        rows.append(_follow_round(client, round_, slugs, options, len(rows) + 1, started, write))
        campaign = client.call("GET", f"/api/campaigns/{campaign['id']}/")
    write(f"Campaign {campaign['id']} {campaign['state']}: {campaign['reason']}")
    return rows


def _run_one_round(
    client: CoordinatorClient, model_id: int, slugs: list[str], options: DemoOptions, number: int, write
) -> dict[str, Any]:
    started = time.perf_counter()
    deadline = timezone.now() + timedelta(seconds=options.round_timeout)
    round_ = client.start_round({**_plan(model_id, slugs, options), "deadline": deadline.isoformat()})
    return _follow_round(client, round_, slugs, options, number, started, write)


def _follow_round(
    client: CoordinatorClient,
    round_: dict[str, Any],
    slugs: list[str],
    options: DemoOptions,
    number: int,
    started: float,
    write,
) -> dict[str, Any]:
    """A progress bar while the round runs, then its row of the report."""
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
    row = round_row(round_, submissions, time.perf_counter() - started)
    if row["val_accuracy"] is not None:
        write(f"Round {number}: validation accuracy {row['val_accuracy']:.4f}, AUC {row['val_auc']:.4f}")
    if round_.get("dp_epsilon") is not None:
        # The accountant's (fl.privacy) epsilon for the rounds so far: each opened one sum with the plan's noise.
        row["epsilon"] = privacy.epsilon(round_["dp_noise_multiplier"], number, round_["dp_delta"])
        write(
            f"Round {number}: differential privacy, noise multiplier {round_['dp_noise_multiplier']:g}: epsilon "
            f"{row['epsilon']:.3g} (delta {round_['dp_delta']:g}) after {number} round(s)"
        )
    if round_.get("chain"):
        audit = client.call("GET", f"/api/rounds/{round_['id']}/audit/")
        row["chain_consistent"] = audit["consistent"]
        write(
            f"Round {number} on chain: {len(round_['chain']['transactions'])} transactions, "
            f"{row['gas']:,} gas; audit: "
            + ("chain and database agree" if audit["consistent"] else f"{audit['differences']}")
        )
    return row
