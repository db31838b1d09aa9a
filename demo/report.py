"""The demo's report: a row per round, the table, the --json summary and the --plot of accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from demo.data import DemoData
from demo.options import DemoOptions


def round_row(round_: dict, submissions: list[dict], wall_seconds: float) -> dict[str, Any]:
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
        "upload_bytes": max((submission["blob_size"] for submission in submissions), default=None),
        # Gas of the round's transactions on chain (open, submissions, close), None with DH_CHAIN=off.
        "gas": (round_.get("chain") or {}).get("gas_used"),
    }


def print_table(rows: list[dict], write) -> None:
    stages = [
        "zk_setup",
        "training",
        "protection",
        "proof",
        "upload_checks",
        "zk_verify",
        "aggregation",
        "decryption",
        "evaluation",
        "total",
    ]
    header = (
        f"{'round':>5} {'state':<10} {'val acc':>7} {'val auc':>7} {'val loss':>8} "
        + " ".join(f"{s[:10]:>10}" for s in stages)
        + f" {'upload MB':>9} {'gas':>9}"
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
            + f" {fmt(row['upload_bytes'] and row['upload_bytes'] / 1e6, '9.1f')} {row.get('gas') or '-':>9}"
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


def report(data: DemoData, options: DemoOptions, rows: list[dict], model: dict, write) -> dict[str, Any]:
    """Prints the table per round and writes the --json summary and the --plot."""
    write("")
    print_table(rows, write)
    summary = {
        "data": data.description,
        "architecture": data.architecture,
        "classes": data.train.num_classes,
        "hospitals": options.hospitals,
        "partition": options.partition,
        "protection": options.protection or settings.DH_PROTECTION,
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
