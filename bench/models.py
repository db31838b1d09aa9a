"""Model bodies side by side: parameters, local training, upload bytes, encryption, decryption and accuracy.

    python bench/models.py                                    # cnn, resnet18w16, resnet18 at 28 and 64 px
    python bench/models.py --families cnn resnet18w16 --sizes 28 --rounds 2
    python bench/models.py --encrypted-rounds resnet18w16     # whole encrypted rounds through the demo

For each registered body (fl.models) at each image size, on PneumoniaMNIST's train split cut into --hospitals IID
shares (the demo's split; at 64 px the 28 px images resized bilinearly, as no 64 px file is at hand):
- parameters, and the bytes of one hospital's CKKS upload per parameter;
- local training: the seconds of one hospital's local epoch (the demo's training configuration: the fixed-point
  head whose steps are proven, the body with Adam), the mean over the hospitals of the first round;
- encryption (one hospital's upload: ciphertexts, sealed witness shares, norm shares) and threshold decryption of
  the sum of --hospitals uploads by 3 key parties, each its own process, with every check they make
  (bench/secure_aggregation.py's run_configuration). Updates of more than --crypto-cap parameters are measured on
  their first --crypto-cap values and scaled by the ciphertext count (both costs are linear in it), marked "~";
- validation accuracy and AUC after --rounds federated rounds (fl.simulation: the nodes' client_update and the
  server's FedAvg, the sum taken in the clear: the encryption changes the model by less than 1e-4 per parameter,
  bench/secure_round.py).

With --encrypted-rounds FAMILY the bench runs `manage.py demo --model FAMILY` instead (whole rounds: CKKS, key
parties, every head step proven, local chain) and prints its rows: seconds per stage, upload bytes, accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.secure_aggregation import run_configuration  # noqa: E402
from bench.secure_round import run_demo  # noqa: E402
from crypto import ckks  # noqa: E402
from crypto.tests.signed_jobs import LocalCommittee  # noqa: E402
from fl.data import Dataset, load_medmnist_npz, partition_iid  # noqa: E402
from fl.models import MODEL_FAMILIES, build_model, image_arch_id  # noqa: E402
from fl.params import parameter_count  # noqa: E402
from fl.simulation import run_simulation  # noqa: E402
from fl.training import DEFAULT_TRAIN_CONFIG  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets" / "pneumoniamnist.npz"
MB = 1e6


def resized(dataset: Dataset, size: int) -> Dataset:
    """The images resized to size x size (bilinear); the same images at 28 px stay as they are."""
    if dataset.inputs.shape[-1] == size:
        return dataset
    images = F.interpolate(torch.from_numpy(dataset.inputs), size=(size, size), mode="bilinear")
    return Dataset(images.numpy(), dataset.labels, dataset.num_classes, dataset.class_names)


def crypto_costs(params: int, hospitals: int, cap: int, cache: dict) -> dict:
    """Encryption per hospital and checked threshold decryption of the sum, for `params` values (scaled by the
    ciphertext count from the first `cap` when more; measurements cached by the values measured). Each
    measurement has a committee of its own: a key serves a bounded number of decryptions (its smudging budget)."""
    measured = min(params, cap)
    if measured not in cache:
        with tempfile.TemporaryDirectory(prefix="dh-bench-keys-") as key_dir:
            committee = LocalCommittee.make(Path(key_dir), parties=3)
            cache[measured] = run_configuration(measured, hospitals, committee, seed=measured)
    row = cache[measured]
    scale = ckks.ciphertext_count(params) / ckks.ciphertext_count(measured)
    return {
        "scaled": scale != 1,
        "upload_bytes": row["upload_bytes_per_hospital"] * scale,
        "encrypt_s": row["encrypt_s_per_hospital"] * scale,
        "decrypt_s": row["decrypt_wall_s"] * scale,
        "max_error": row["max_error_vs_plain_average"],
    }


def measure(family: str, size: int, args: argparse.Namespace, data: tuple, cache: dict) -> dict:
    train, validation, parts = data
    arch_id = image_arch_id(family, 1, size)
    params = parameter_count(build_model(arch_id, train.num_classes).state_dict())
    train_sized, validation_sized = resized(train, size), resized(validation, size)
    hospitals = [train_sized.subset(part) for part in parts]
    print(
        f"[bench] {arch_id}: {params:,} parameters, {args.rounds} rounds x {len(parts)} hospitals", flush=True
    )
    started = time.perf_counter()
    _, reports = run_simulation(
        arch_id, DEFAULT_TRAIN_CONFIG, hospitals, validation_sized, args.rounds, seed=args.seed
    )
    simulation_s = time.perf_counter() - started
    crypto = crypto_costs(params, len(parts), args.crypto_cap, cache)
    return {
        "arch_id": arch_id,
        "size": size,
        "params": params,
        "bytes_per_param": crypto["upload_bytes"] / params,
        "upload_bytes": crypto["upload_bytes"],
        "portal_limit_bytes": ckks.blob_size(params),
        "epoch_s": float(np.mean(reports[0]["training_seconds"])),
        "epoch_samples": int(np.mean([len(part) for part in parts])),
        "encrypt_s": crypto["encrypt_s"],
        "decrypt_s": crypto["decrypt_s"],
        "crypto_scaled": crypto["scaled"],
        "max_error": crypto["max_error"],
        "val_accuracy": reports[-1]["accuracy"],
        "val_auc": reports[-1]["auc"],
        "simulation_s": simulation_s,
        "rounds": [{k: v for k, v in report.items() if k != "training_seconds"} for report in reports],
    }


def table(rows: list[dict]) -> str:
    header = (
        f"{'model':<22} {'params':>11} {'B/param':>8} {'upload MB':>10} {'epoch s':>8} {'encrypt s':>10} "
        f"{'decrypt s':>10} {'val acc':>8} {'val AUC':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        mark = "~" if row["crypto_scaled"] else ""
        lines.append(
            f"{row['arch_id']:<22} {row['params']:>11,} {row['bytes_per_param']:>8.1f} "
            f"{mark + format(row['upload_bytes'] / MB, '.1f'):>10} {row['epoch_s']:>8.1f} "
            f"{mark + format(row['encrypt_s'], '.2f'):>10} {mark + format(row['decrypt_s'], '.1f'):>10} "
            f"{row['val_accuracy']:>8.4f} {row['val_auc']:>8.4f}"
        )
    return "\n".join(lines)


def encrypted_rounds(args: argparse.Namespace) -> int:
    """`manage.py demo --model FAMILY` on a fresh portal (bench/secure_round.py's run_demo); its rows printed
    with the upload bytes."""
    with tempfile.TemporaryDirectory(prefix="dh-bench-models-") as work:
        started = time.perf_counter()
        summary = run_demo("ckks", Path(work), args, ("--model", args.encrypted_rounds))
        wall_s = time.perf_counter() - started
        summary.pop("final_weights")
    print(
        f"\n{summary['architecture']}: {summary['hospitals']} hospitals, {summary['protection']}, proofs "
        f"{summary['proofs']}, chain {summary['chain']}; {wall_s:.0f} s in all"
    )
    stages = ("training", "protection", "proof", "upload_checks", "zk_verify", "decryption", "total")
    print(
        f"{'round':>5} {'state':<10} {'val acc':>7} {'val AUC':>7} {'upload MB':>9} "
        + " ".join(f"{stage[:10]:>10}" for stage in stages)
    )
    for row in summary["rounds"]:
        print(
            f"{row['number']:>5} {row['state']:<10} {row['val_accuracy'] or 0:>7.4f} {row['val_auc'] or 0:>7.4f} "
            f"{(row['upload_bytes'] or 0) / MB:>9.1f} "
            + " ".join(f"{row['seconds'].get(stage, math.nan):>10.1f}" for stage in stages)
        )
    if args.json:
        args.json.write_text(json.dumps({"encrypted_rounds": summary, "wall_s": wall_s}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=MODEL_FAMILIES, default=list(MODEL_FAMILIES))
    parser.add_argument("--sizes", nargs="+", type=int, choices=(28, 64), default=[28, 64])
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="federated rounds (the demo's default, 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PneumoniaMNIST-format .npz (28 px)")
    parser.add_argument(
        "--crypto-cap",
        type=int,
        default=128 * ckks.VALUES_PER_CIPHERTEXT,
        help="measure encryption and decryption on at most this many values, scaling up beyond (default 1M)",
    )
    parser.add_argument("--encrypted-rounds", choices=MODEL_FAMILIES, help="whole rounds through the demo")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        sys.exit(
            f"[bench] {args.data} does not exist: give --data, a MedMNIST-format .npz with train and val"
        )
    if args.encrypted_rounds:
        return encrypted_rounds(args)

    train = load_medmnist_npz(args.data, "train")
    validation = load_medmnist_npz(args.data, "val", num_classes=train.num_classes)
    data = (train, validation, partition_iid(train.labels, args.hospitals, args.seed))
    rows, cache = [], {}
    for family in args.families:
        for size in args.sizes:
            rows.append(measure(family, size, args, data, cache))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(
        f"\n{args.hospitals} hospitals of about {rows[0]['epoch_samples']:,} images each, {args.rounds} rounds, "
        "3 key parties; ~: scaled from the first "
        f"{args.crypto_cap:,} values by the ciphertext count\n"
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
