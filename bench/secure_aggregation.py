"""Secure aggregation (CKKS + threshold decryption in MPyC) beside plaintext federated averaging.

    python bench/secure_aggregation.py                 # 100k and 1M parameters x 5 and 20 hospitals
    python bench/secure_aggregation.py --quick         # 10k and 100k parameters x 3 and 5 hospitals
    python bench/secure_aggregation.py --params 100000 --hospitals 5 --json out.json

For each configuration: encryption time per hospital, upload bytes, aggregation time (checking every blob,
then adding), threshold decryption (3 key parties as separate processes over TCP on localhost: wall time,
time per party, MPyC bytes sent per party, peak memory per party), the portal's peak traced memory while
aggregating, and the largest error of the decrypted average against the plaintext average. Each party's time
is split into its checks of the job (every blob parsed, every hospital's signature verified, the sum recomputed,
and the well-formedness and norm check of crypto.wellformed: its share of every ciphertext's projections, computed
from the share of the randomness sealed to it, then opened in the MPC and checked, each update's squared norm
compared with the plan's bound over secure integers, every hospital's shared proven head hashed in MPC and compared
with its proof's commitment (--head-size values, 34 as in the demo's rounds with proofs), the key's ledger
charged) and the
decryption itself (partial decryption, smudging, MPC), with their ratio: the checked decryption against decryption
alone, measured in the same run.
Targets (100k parameters, 5 hospitals): encryption < 0.5 s per hospital, aggregation < 1 s, threshold
decryption < 15 s in total, the whole checked decryption no more than twice decryption alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto import ckks, keyparty  # noqa: E402
from crypto.decryption_job import split_result  # noqa: E402
from crypto.tests.signed_jobs import (  # noqa: E402  (each blob signed by its own hospital key)
    LocalCommittee,
    fresh_round_id,
    signed_terms,
    write_signed_job,
)

FULL = {"params": [100_000, 1_000_000], "hospitals": [5, 20]}
QUICK = {"params": [10_000, 100_000], "hospitals": [3, 5]}
MB = 1e6


def run_configuration(
    params: int, hospitals: int, committee: LocalCommittee, seed: int, head_size: int = 34
) -> dict:
    public_context, party_dirs = committee.public_context, committee.party_dirs
    rng = np.random.default_rng(seed)  # benchmark data only, not key material
    deltas = [rng.normal(scale=0.01, size=params) for _ in range(hospitals)]
    counts = [int(n) for n in rng.integers(50, 1000, size=hospitals)]
    heads = [[int(v) for v in rng.integers(-(2**23), 2**23, size=head_size)] for _ in range(hospitals)]

    started = time.perf_counter()
    weighted = [n * delta for n, delta in zip(counts, deltas, strict=True)]
    plain_average = np.sum(weighted, axis=0) / sum(counts)
    plain_aggregation_s = time.perf_counter() - started

    encrypt_times, blobs = [], []
    for vector, head in zip(weighted, heads, strict=True):
        started = time.perf_counter()
        # Ciphertexts, a witness share per key party, the proven head's shares.
        blobs.append(committee.encrypt(vector, head=head))
        encrypt_times.append(time.perf_counter() - started)

    tracemalloc.start()
    started = time.perf_counter()
    summed = ckks.sum_blobs(public_context, blobs, params, ckks.blob_size(params))  # checks every blob
    aggregation_s = time.perf_counter() - started
    _, portal_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    with tempfile.TemporaryDirectory(prefix="dh-bench-") as job_dir:
        terms = signed_terms(fresh_round_id(), blobs, counts=counts, proven_heads=heads if head_size else ())
        job = write_signed_job(
            Path(job_dir), public_context, blobs, params, terms=terms, sum_digest=ckks.blob_digest(summed)
        )
        started = time.perf_counter()
        opened, opened_heads = split_result(keyparty.decrypt_sum(job, party_dirs, timeout=1800), params)
        decrypt_wall_s = time.perf_counter() - started
        reports = [json.loads((job / f"report-party{i}.json").read_text()) for i in range(len(party_dirs))]

    return {
        "params": params,
        "hospitals": hospitals,
        "key_parties": len(party_dirs),
        "ciphertexts_per_hospital": ckks.ciphertext_count(params),
        "encrypt_s_per_hospital": float(np.mean(encrypt_times)),
        "upload_bytes_per_hospital": len(blobs[0]),
        "plain_upload_bytes_per_hospital": weighted[0].astype(np.float64).nbytes,
        "aggregation_s": aggregation_s,
        "plain_aggregation_s": plain_aggregation_s,
        "portal_peak_traced_bytes": portal_peak,
        "decrypt_wall_s": decrypt_wall_s,
        "decrypt_s_per_party": max(report["total_s"] for report in reports),
        "decrypt_mpc_s_per_party": max(report["mpc_s"] for report in reports),
        "checks_s_per_party": max(
            report["check_and_sum_s"] + report["projection_mpc_s"] for report in reports
        ),
        "wellformed_s_per_party": max(
            report["projection_s"] + report["projection_mpc_s"] for report in reports
        ),
        "decryption_alone_s_per_party": max(report["share_s"] + report["mpc_s"] for report in reports),
        "mpc_bytes_sent_per_party": max(report["mpc_bytes_sent"] for report in reports),
        "party_peak_rss_bytes": max(report["peak_rss_bytes"] for report in reports),
        "max_error_vs_plain_average": float(np.abs(opened / sum(counts) - plain_average).max()),
        "head_size": head_size,
        "heads_sum_exact": opened_heads.tolist()
        == [sum(n * head[i] for n, head in zip(counts, heads, strict=True)) for i in range(head_size)],
        "party_reports": reports,
    }


COLUMNS = [
    ("params", "params", "{:,}"),
    ("hosp", "hospitals", "{}"),
    ("enc s/hosp", "encrypt_s_per_hospital", "{:.3f}"),
    ("upload MB", "upload_bytes_per_hospital", "mb"),
    ("plain MB", "plain_upload_bytes_per_hospital", "mb"),
    ("agg s", "aggregation_s", "{:.3f}"),
    ("plain agg s", "plain_aggregation_s", "{:.4f}"),
    ("portal peak MB", "portal_peak_traced_bytes", "mb"),
    ("decrypt wall s", "decrypt_wall_s", "{:.1f}"),
    ("s/party", "decrypt_s_per_party", "{:.1f}"),
    ("MPC s/party", "decrypt_mpc_s_per_party", "{:.1f}"),
    ("checks s/party", "checks_s_per_party", "{:.2f}"),
    ("of which well-formed", "wellformed_s_per_party", "{:.2f}"),
    ("MPC MB sent/party", "mpc_bytes_sent_per_party", "mb"),
    ("party peak MB", "party_peak_rss_bytes", "mb"),
    ("max error", "max_error_vs_plain_average", "{:.1e}"),
]


def _cell(value, style: str) -> str:
    return f"{value / MB:.1f}" if style == "mb" else style.format(value)


def table(rows: list[dict]) -> str:
    cells = [[title for title, _, _ in COLUMNS]]
    cells += [[_cell(row[key], style) for _, key, style in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        " | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def ratios(row: dict) -> str:
    upload = row["upload_bytes_per_hospital"] / row["plain_upload_bytes_per_hospital"]
    aggregation = row["aggregation_s"] / max(row["plain_aggregation_s"], 1e-9)
    return (
        f"{row['params']:,} params x {row['hospitals']} hospitals: upload x{upload:.1f}, "
        f"aggregation x{aggregation:.0f} (plus {row['decrypt_wall_s']:.1f} s threshold decryption, "
        f"none in plaintext FedAvg); the key parties' checks {row['checks_s_per_party']:.2f} s (well-formedness "
        f"{row['wellformed_s_per_party']:.2f} s) beside "
        f"{row['decryption_alone_s_per_party']:.1f} s of decryption: checked decryption "
        f"x{(row['checks_s_per_party'] + row['decryption_alone_s_per_party']) / row['decryption_alone_s_per_party']:.2f}"
        " of decryption alone"
        + (
            f"; {row['head_size']}-value heads' weighted sum exact: {row['heads_sum_exact']}"
            if row["head_size"]
            else ""
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes: 10k and 100k params, 3 and 5 hospitals"
    )
    parser.add_argument("--params", type=int, nargs="+", help="parameter counts (overrides the defaults)")
    parser.add_argument("--hospitals", type=int, nargs="+", help="hospital counts (overrides the defaults)")
    parser.add_argument("--parties", type=int, default=3, help="key parties (default 3)")
    parser.add_argument(
        "--head-size",
        type=int,
        default=34,
        help="values of each shared proven head (default 34; 0: no proofs)",
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    params_list = args.params or sizes["params"]
    hospitals_list = args.hospitals or sizes["hospitals"]

    with tempfile.TemporaryDirectory(prefix="dh-bench-keys-") as key_dir:
        started = time.perf_counter()
        committee = LocalCommittee.make(Path(key_dir), parties=args.parties)
        keygen_s = time.perf_counter() - started
        print(f"dealer-free key generation, {args.parties} parties: {keygen_s:.2f} s", flush=True)
        rows = []
        for params in params_list:
            for hospitals in hospitals_list:
                rows.append(run_configuration(params, hospitals, committee, len(rows), args.head_size))
                print(f"done: {params:,} params x {hospitals} hospitals", flush=True)

    print()
    print(table(rows))
    print()
    for row in rows:
        print(ratios(row))
    if args.json:
        args.json.write_text(
            json.dumps({"keygen_s": keygen_s, "key_parties": args.parties, "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
