"""Whole rounds, encrypted (CKKS + threshold decryption) beside the plaintext baseline, in one run.

    python bench/secure_round.py                       # 3 hospitals x 5 rounds on PneumoniaMNIST
    python bench/secure_round.py --rounds 2 --json out.json

Runs `manage.py demo` twice with the same data and seeds, each on a fresh portal (its own SQLite file and
blob store), once with --protection plaintext and once with --protection ckks, and prints the seconds per
round and stage side by side, the ratio of the whole round's time, and the largest difference between the two
final global models per parameter. Target: a secure round at most 1.5 x the plaintext round; the final models
within 1e-4 per parameter.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fl.serialization import weights_from_bytes  # noqa: E402

SCHEMES = ("plaintext", "ckks")


def run_demo(scheme: str, work: Path, args: argparse.Namespace, extra: tuple[str, ...] = ()) -> dict:
    """`manage.py demo` with `scheme` on a fresh portal under `work` (and `extra` demo arguments): its summary,
    with the final global weights."""
    data_dir = work / scheme
    env = {**os.environ, "DH_DATA_DIR": str(data_dir)}
    manage = [sys.executable, str(REPO_ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], env=env, check=True)
    summary_path = data_dir / "summary.json"
    command = [
        *manage,
        "demo",
        "--protection",
        scheme,
        "--hospitals",
        str(args.hospitals),
        "--rounds",
        str(args.rounds),
        "--json",
        str(summary_path),
        *extra,
    ]
    if args.data:
        command += ["--data", str(args.data)]
    print(f"[bench] {scheme}: {' '.join(command[2:])}", flush=True)
    # The demo's progress bars would fill this bench's output: keep its output, show it only if it fails.
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"[bench] the {scheme} demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    summary = json.loads(summary_path.read_text())
    digest = summary["final_model"]["weights_digest"]
    summary["final_weights"] = weights_from_bytes((data_dir / "blobs" / digest[:2] / digest).read_bytes())
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", help="MedMNIST-format .npz (default: the demo's)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dh-bench-round-") as work:
        runs = {scheme: run_demo(scheme, Path(work), args) for scheme in SCHEMES}
    rows = []
    print(
        f"\n{'round':>5} | {'plain s':>8} | {'ckks s':>8} | {'ratio':>5} | {'plain agg s':>11} | {'ckks agg s':>10}"
        f" | {'plain acc':>9} | {'ckks acc':>8}"
    )
    for plain, secure in zip(runs["plaintext"]["rounds"], runs["ckks"]["rounds"], strict=True):
        row = {
            "round": len(rows) + 1,
            "plaintext_seconds": plain["seconds"]["total"],
            "ckks_seconds": secure["seconds"]["total"],
            "ratio": secure["seconds"]["total"] / plain["seconds"]["total"],
            "plaintext_aggregation_seconds": plain["seconds"].get("aggregation"),
            "ckks_aggregation_seconds": secure["seconds"].get("aggregation"),
            "plaintext_val_accuracy": plain["val_accuracy"],
            "ckks_val_accuracy": secure["val_accuracy"],
        }
        rows.append(row)
        print(
            f"{row['round']:>5} | {row['plaintext_seconds']:>8.2f} | {row['ckks_seconds']:>8.2f} | "
            f"{row['ratio']:>5.2f} | {row['plaintext_aggregation_seconds']:>11.2f} | "
            f"{row['ckks_aggregation_seconds']:>10.2f} | {row['plaintext_val_accuracy']:>9.4f} | "
            f"{row['ckks_val_accuracy']:>8.4f}"
        )
    total_ratio = sum(r["ckks_seconds"] for r in rows) / sum(r["plaintext_seconds"] for r in rows)
    difference = float(np.max(np.abs(runs["ckks"]["final_weights"] - runs["plaintext"]["final_weights"])))
    print(f"\nwhole run: secure / plaintext time = {total_ratio:.2f} (target <= 1.5)")
    print(f"final global models: largest difference per parameter = {difference:.3g} (target <= 1e-4)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rounds": rows, "time_ratio": total_ratio, "max_parameter_difference": difference}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
