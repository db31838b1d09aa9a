"""`python -m demo [options]`: the demo's entry point, which fixes its whole configuration before Django starts.

How the configuration flows: the launcher parses the options (demo/options.py), resolves DH_DATA_DIR and
DH_SHARED_DIR as the settings do, locates the data (demo/data.py, no Django), picks the portal's port and, with
DH_CHAIN=local, a port for the demo's own hardhat node, and writes DH_DATA_DIR, DH_SHARED_DIR,
DH_VALIDATION_DATA, DH_CHAIN_RPC_URL and DH_CHAIN_ID into the environment; unless DH_PTAU_PATH is set, also the
smallest dev powers-of-tau file of DH_SHARED_DIR/zk that the data's class count needs. Only then does it call
django.setup(): the settings read these once, like any deployment's, and nothing assigns a setting afterwards
(a settings module that ignores them is refused). The hardhat node itself starts with the portal, once the
database is known to be empty (demo/run.py); the settings already point at its port.

`python manage.py demo ...` (bench/secure_round.py) is the same demo: the management command replaces its
process with `python -m demo` and the same arguments before doing anything else, because by the time a
management command runs, Django has read its settings; scripts/demo.sh calls `python -m demo` directly. The
demo owns its database: once Django is set up it applies the migrations (quietly; nothing to do on a migrated
one), so a fresh DH_DATA_DIR or DATABASE_URL needs no `manage.py migrate` first.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import django

from demo.data import DemoData, locate_data
from demo.embedded import free_port
from demo.options import DemoError, DemoOptions, add_arguments, demo_options

REPO_ROOT = Path(__file__).resolve().parent.parent
# Per-transaction and per-upload lines would drown the progress bars; -v 2 shows them.
QUIET_LOGGERS = (
    "contracts",
    "rounds",
    "hospitals",
    "node",
    "ledger",
    "committee",
    "registry",
    "proofs",
    "events",
    "crypto",
    "celery",
)


@dataclass(frozen=True)
class Launch:
    """What the launcher fixed before Django started, for run_demo."""

    data: DemoData
    work_dir: Path  # DH_DATA_DIR/demo: credentials, the hospitals' data files, downloads
    port: int  # the portal's
    chain_port: int | None  # the demo's own hardhat node with DH_CHAIN=local, else None


def portal_dir(name: str, default: Path) -> Path:
    """DH_DATA_DIR (default var/) or DH_SHARED_DIR (default ../shared), read as dhportal/settings/base.py
    reads them, for code that needs the folder before django.setup() (the demo, tests/browser/serve_portal.py)."""
    raw = os.environ.get(name)
    # Resolved either way: the settings resolve what the environment says, so a folder behind a symbolic link
    # must be written there as its target.
    return (Path(raw).expanduser() if raw else default).resolve()


def data_dir() -> Path:
    return portal_dir("DH_DATA_DIR", REPO_ROOT / "var")


def shared_dir() -> Path:
    return portal_dir("DH_SHARED_DIR", REPO_ROOT.parent / "shared")


def prepare(options: DemoOptions) -> tuple[Launch, dict[str, str]]:
    """The demo's data and ports, and the environment that tells the settings about them; no Django."""
    portal_data, shared = data_dir(), shared_dir()
    work_dir = portal_data / "demo"
    work_dir.mkdir(parents=True, exist_ok=True)
    data = locate_data(
        options.data, shared, work_dir, (options.model_family, options.head_features, options.normalisation)
    )
    port = options.port or free_port()
    environment = {
        "DH_DATA_DIR": str(portal_data),
        "DH_SHARED_DIR": str(shared),
        "DH_VALIDATION_DATA": str(data.validation_file),
        # The nodes on this machine ask for work every second: a round starts as soon as it opens.
        "DH_NODE_POLL_SECONDS": os.environ.get("DH_NODE_POLL_SECONDS", "1"),
    }
    if "DH_PTAU_PATH" not in os.environ and os.environ.get("DH_PROOFS", "groth16") == "groth16":
        ptau = proving_ptau(shared / "zk", data.train.num_classes)
        if ptau is not None:
            environment["DH_PTAU_PATH"] = str(ptau)
    chain_port = None
    if os.environ.get("DH_CHAIN", "local") == "local":
        from contracts.localchain import HARDHAT_CHAIN_ID

        chain_port = free_port()
        while chain_port == port:
            chain_port = free_port()
        environment["DH_CHAIN_RPC_URL"] = f"http://127.0.0.1:{chain_port}"
        environment["DH_CHAIN_ID"] = str(HARDHAT_CHAIN_ID)
    return Launch(data, work_dir, port, chain_port), environment


def proving_ptau(zk_dir: Path, classes: int) -> Path | None:
    """The ptau the demo's proofs need for a head of `classes` classes: 2^15 holds up to 7 classes with the default
    batch of 8 (two classes: 4 steps per proof), 8 to 11 need 2^16. Compiles the circuit (cached) to count its
    constraints."""
    from crypto.zk import CircuitShape, build_circuit
    from crypto.zk.dev import smallest_dev_ptau
    from fl.models import FEATURE_DIM
    from fl.training import DEFAULT_TRAIN_CONFIG

    shape = CircuitShape.for_head(FEATURE_DIM, max(classes, 2), DEFAULT_TRAIN_CONFIG.batch_size)
    return smallest_dev_ptau(zk_dir, build_circuit(shape).constraints)


def start_django(environment: dict[str, str], arguments: argparse.Namespace) -> None:
    """Exports `environment`, then sets Django up and runs its system checks (as any management command does);
    refuses settings that did not take the values."""
    os.environ.update(environment)
    if arguments.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = arguments.settings
    if arguments.pythonpath:
        sys.path.insert(0, arguments.pythonpath)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhportal.settings")
    django.setup()
    if not arguments.skip_checks:
        from django.core.management.base import BaseCommand, CommandError

        try:
            BaseCommand().check()
        except CommandError as exc:
            raise DemoError(str(exc)) from None
    from django.conf import settings

    names = {"DH_DATA_DIR": "DATA_DIR", "DH_SHARED_DIR": "SHARED_DIR"}
    ignored = [
        variable
        for variable, value in environment.items()
        if str(getattr(settings, names.get(variable, variable), None)) != value
    ]
    if ignored:
        raise DemoError(f"{settings.SETTINGS_MODULE} does not read {', '.join(ignored)} from the environment")


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run complete federated rounds with several hospitals on real data, on this machine.",
    )
    add_arguments(result)
    result.add_argument(
        "-v", "--verbosity", type=int, choices=[0, 1, 2, 3], default=1, help="2 or more: every log line"
    )
    # Django's own command options, so that `manage.py demo` takes what it always took.
    result.add_argument("--version", action="version", version=django.get_version())
    result.add_argument("--settings", help="a settings module (default: DJANGO_SETTINGS_MODULE)")
    result.add_argument("--pythonpath", help="a folder to add to the import path first")
    result.add_argument("--traceback", action="store_true", help="raise the demo's errors with a traceback")
    result.add_argument(
        "--no-color", "--force-color", action="store_true", help="no effect (nothing is coloured)"
    )
    result.add_argument("--skip-checks", action="store_true", help="skip Django's system checks")
    return result


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    write = functools.partial(print, flush=True)
    try:
        options = demo_options(arguments)
        launch, environment = prepare(options)
        start_django(environment, arguments)
        if arguments.verbosity < 2:
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.WARNING)
            logging.getLogger("kombu").setLevel(logging.ERROR)  # "no hostname": the in-memory broker has none
        from django.core.management import call_command

        # Before anything reads a table (the empty-database check in run_demo, --reset's flush).
        call_command("migrate", interactive=False, verbosity=0)
        if arguments.reset:
            call_command("flush", interactive=False, verbosity=0)
        from demo.run import run_demo

        run_demo(options, launch, write=write)
    except DemoError as exc:
        if arguments.traceback:
            raise
        print(f"CommandError: {exc}", file=sys.stderr)
        return 1
    return 0
