"""A round's wall time with every party on its own network host, beside the single-machine demo, in one run.

    python bench/separate_hosts.py            # needs root (network namespaces), PostgreSQL and Redis
    python bench/separate_hosts.py --json out.json

1. The demo (`python -m demo --rounds 1 --hospitals 3`: CKKS, Groth16, local chain; its parties are processes
   on this host talking over loopback) on a fresh portal. It writes each hospital's share of the data.
2. tests/hosts/test_separate_hosts.py on the same hospital files and the same round plan and seeds: the portal
   in the root namespace, 3 hospitals and 3 key parties each in a network namespace of its own, every party
   started with its deployment command (DH_HOSTS_DATA_DIR, DH_HOSTS_REPORT tell the test).
Prints round 1 of each side by side (both include the hospitals' trusted-setup ceremony, which the first round
waits for), the ratio, and the global validation accuracy of both (the same data and seeds give the same model).
Needs DATABASE_URL (postgres://) and REDIS_URL for step 2, as the test does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    "zk_setup",
    "training",
    "protection",
    "proof",
    "upload_checks",
    "zk_verify",
    "aggregation",
    "evaluation",
)


def run_demo(work: Path) -> tuple[dict, Path]:
    data_dir = work / "demo"
    env = {**os.environ, "DH_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)  # the demo's own SQLite portal
    summary = work / "demo-summary.json"
    subprocess.run(
        [sys.executable, "-m", "demo", "--rounds", "1", "--hospitals", "3", "--json", str(summary)],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    return json.loads(summary.read_text())["rounds"][0], data_dir / "demo" / "data"


def run_across_namespaces(work: Path, shares: Path, validation: str) -> dict:
    report = work / "hosts-report.json"
    env = {
        **os.environ,
        "DH_HOSTS_DATA_DIR": str(shares),
        "DH_HOSTS_REPORT": str(report),
        "DH_VALIDATION_DATA": validation,
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/hosts/test_separate_hosts.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO_ROOT,
        env=env,
        check=True,
    )
    return json.loads(report.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", dest="json_out", help="write both rounds' figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hosts-") as scratch:
        work = Path(scratch)
        demo_row, shares = run_demo(work)
        validation = os.environ.get("DH_VALIDATION_DATA") or str(
            Path(os.environ.get("DH_SHARED_DIR", REPO_ROOT.parent / "shared"))
            / "datasets"
            / "pneumoniamnist.npz"
        )
        hosts = run_across_namespaces(work, shares, validation)
    demo_stages = demo_row["seconds"]
    host_stages = dict(hosts["stage_seconds"])
    for node in hosts["node_seconds"].values():  # the slowest hospital per stage, as the demo reports it
        for stage, value in node.items():
            host_stages[stage] = max(host_stages.get(stage, 0.0), value)
    print("\nRound 1 (3 hospitals, CKKS with 3 key parties, Groth16, local chain), seconds:")
    print(f"{'stage':<16}{'one host':>12}{'namespaces':>12}")
    for stage in STAGES:
        print(f"{stage:<16}{demo_stages.get(stage, 0.0):>12.2f}{host_stages.get(stage, 0.0):>12.2f}")
    print(f"{'round (wall)':<16}{demo_stages['total']:>12.2f}{hosts['seconds']:>12.2f}")
    print(f"namespaces / one host: {hosts['seconds'] / demo_stages['total']:.2f}")
    print(f"validation accuracy: one host {demo_row['val_accuracy']}, namespaces {hosts['val_accuracy']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"one_host": demo_row, "namespaces": hosts}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
