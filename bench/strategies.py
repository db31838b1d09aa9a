"""Server strategies side by side: rounds to reach a validation AUC, on a label-skewed split.

    python bench/strategies.py                          # 5 hospitals, Dirichlet alpha 0.3, 10 rounds, target 0.95
    python bench/strategies.py --rounds 6 --strategies fedavg fedadam --plot strategies.png

Each strategy runs the same federated simulation (fl.simulation: the nodes' client_update, the sum of the
weighted updates, the strategy's server_update and published_state, as the portal runs them; the encryption
changes nothing of the result, tests/rounds/test_encrypted_rounds.py) from the same seed and split of the
training data, with its default hyperparameters or --eta for the adaptive ones; the validation split measures
AUC and accuracy after every round. Prints a table (rounds to the target AUC, best AUC and its round, final
accuracy) and, with --plot, AUC over rounds per strategy.

    python bench/strategies.py --epsilons 1 4 8 --plot privacy.png    # differential privacy's cost

With --epsilons, the first strategy runs once without noise and once per target epsilon: each node's weighted
update clipped to --norm-bound C and Gaussian noise of std z C on the sum (what the key parties add inside
their MPC), z the smallest noise multiplier whose rounds spend at most that epsilon at delta 1e-5 (fl.privacy,
Opacus' RDP accountant); a table of accuracy and AUC against epsilon, and with --plot, accuracy against epsilon.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fl import privacy  # noqa: E402
from fl.data import load_medmnist_npz, partition_dirichlet  # noqa: E402
from fl.models import architecture_for_input  # noqa: E402
from fl.simulation import run_simulation  # noqa: E402
from fl.strategy import SERVER_PARAMETERS, ServerConfig  # noqa: E402
from fl.training import DEFAULT_TRAIN_CONFIG  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pneumoniamnist.npz"
DELTA = 1e-5


def run_strategy(
    name: str,
    eta: float | None,
    train,
    validation,
    parts,
    rounds: int,
    seed: int,
    dp: tuple[float, float] | None = None,
) -> dict:
    parameters = {"name": name}
    if eta is not None and name != "fedavg":
        parameters["server_lr" if name == "fedavgm" else "eta"] = eta
    server = ServerConfig.from_dict(parameters)
    started = time.perf_counter()
    _, reports = run_simulation(
        architecture_for_input(train.sample_shape),
        DEFAULT_TRAIN_CONFIG,
        [train.subset(part) for part in parts],
        validation,
        rounds,
        seed,
        strategy=server.strategy(),
        dp=dp,
    )
    return {
        "strategy": server.as_dict(),
        "reports": reports,
        "seconds": time.perf_counter() - started,
        "dp": dp,
    }


def rounds_to(reports: list[dict], target: float) -> int | None:
    return next((report["round"] for report in reports if report["auc"] >= target), None)


def table(results: list[dict], target: float) -> str:
    lines = [f"{'strategy':<11} | rounds to AUC {target} | best AUC (round) | final acc | final AUC | s"]
    for result in results:
        reports = result["reports"]
        best = max(reports, key=lambda report: report["auc"])
        reached = rounds_to(reports, target)
        lines.append(
            f"{result['strategy']['name']:<11} | {reached if reached else 'not reached':>19} | "
            f"{best['auc']:.4f} ({best['round']:>2})    | {reports[-1]['accuracy']:.4f}    | "
            f"{reports[-1]['auc']:.4f}    | {result['seconds']:.0f}"
        )
    return "\n".join(lines)


def plot(results: list[dict], target: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for result in results:
        reports = result["reports"]
        axis.plot(
            [r["round"] for r in reports],
            [r["auc"] for r in reports],
            marker="o",
            label=result["strategy"]["name"],
        )
    axis.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target}")
    axis.set_xlabel("round")
    axis.set_ylabel("validation AUC")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def privacy_table(results: list[dict], rounds: int) -> str:
    lines = ["target epsilon | noise multiplier | epsilon spent | final acc | final AUC | best AUC"]
    for result in results:
        reports = result["reports"]
        spent = "none" if result["dp"] is None else f"{privacy.epsilon(result['dp'][0], rounds, DELTA):.2f}"
        noise = "none" if result["dp"] is None else f"{result['dp'][0]:.3f}"
        lines.append(
            f"{result.get('target_epsilon', 'no DP')!s:>14} | {noise:>16} | {spent:>13} | "
            f"{reports[-1]['accuracy']:.4f}    | {reports[-1]['auc']:.4f}    | {max(r['auc'] for r in reports):.4f}"
        )
    return "\n".join(lines)


def privacy_plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    private = [result for result in results if result["dp"] is not None]
    axis.plot(
        [result["target_epsilon"] for result in private],
        [result["reports"][-1]["accuracy"] for result in private],
        marker="o",
        label="with DP noise",
    )
    for result in results:
        if result["dp"] is None:
            axis.axhline(
                result["reports"][-1]["accuracy"], color="grey", linestyle="--", label="without noise"
            )
    axis.set_xscale("log")
    axis.set_xlabel("epsilon after all rounds (delta 1e-5)")
    axis.set_ylabel("final validation accuracy")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="MedMNIST .npz (default PneumoniaMNIST)"
    )
    parser.add_argument("--hospitals", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.3, help="Dirichlet label skew")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.95, help="validation AUC to reach")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--strategies", nargs="+", choices=sorted(SERVER_PARAMETERS), default=sorted(SERVER_PARAMETERS)
    )
    parser.add_argument("--eta", type=float, help="server learning rate of every strategy but fedavg")
    parser.add_argument("--plot", type=Path, help="write AUC over rounds per strategy here (PNG)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--epsilons",
        type=float,
        nargs="+",
        help="differential privacy: the first strategy at these target epsilons",
    )
    parser.add_argument(
        "--norm-bound",
        type=float,
        default=2000.0,
        help="with --epsilons: the clipping bound C (default 2000)",
    )
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} not found: pass --data (a MedMNIST-format .npz with train and val splits)")
    train = load_medmnist_npz(args.data, "train")
    validation = load_medmnist_npz(args.data, "val", num_classes=train.num_classes)
    parts = partition_dirichlet(train.labels, args.hospitals, args.alpha, args.seed)
    print(
        f"{args.data.name}: {len(train.labels)} training images in {args.hospitals} hospitals "
        f"(Dirichlet alpha {args.alpha}: {[len(part) for part in parts]}), {args.rounds} rounds",
        flush=True,
    )
    results = []
    if args.epsilons:
        name = args.strategies[0]
        results.append(run_strategy(name, args.eta, train, validation, parts, args.rounds, args.seed))
        print(f"done: {name} without noise ({results[-1]['seconds']:.0f} s)", flush=True)
        for target in args.epsilons:
            z = privacy.noise_for_epsilon(target, args.rounds, DELTA)
            dp = (z, args.norm_bound)
            results.append(run_strategy(name, args.eta, train, validation, parts, args.rounds, args.seed, dp))
            results[-1]["target_epsilon"] = target
            print(f"done: {name} at epsilon {target} (noise multiplier {z:.3f})", flush=True)
        print()
        print(privacy_table(results, args.rounds))
        if args.plot:
            privacy_plot(results, args.plot)
            print(f"plot: {args.plot}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    for name in args.strategies:
        results.append(run_strategy(name, args.eta, train, validation, parts, args.rounds, args.seed))
        print(f"done: {name} ({results[-1]['seconds']:.0f} s)", flush=True)
    print()
    print(table(results, args.target))
    if args.plot:
        plot(results, args.target, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
