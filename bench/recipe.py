"""Three choices of the training recipe, measured on validation data: each image standardised by the model or
not, a learning-rate schedule across rounds, and a decision threshold chosen on validation against the model's
own argmax.

    python bench/recipe.py                  # the demo's default run, seeds 0 and 1
    python bench/recipe.py --seeds 0 1 2 --splits 500 --parts normalisation

On validation data only (no test split is used), for each seed, the demo's default federation (fl.simulation:
--hospitals hospitals on a Dirichlet --alpha split of PneumoniaMNIST's train split, --rounds rounds):
- normalisations (fl.models.NORMALISATIONS): the CNN on the raw [0, 1] pixels and the CNN that standardises
  each image first, validation accuracy and AUC after the last round, on the validation split as it is and on
  copies whose intensities are changed as another scanner might (gain and offset, clipped to [0, 1]);
- schedules (on the raw pixels): the body's and the head's learning rates multiplied in round r of R by 1 (constant, the default),
  by a cosine from 1 down to 0.1, or by steps (1 to round R/2, 0.3 to 0.8 R, then 0.1): validation accuracy and
  AUC after the last round, side by side;
- thresholds, on the constant schedule's model: --splits random halvings of the validation split. On one half a
  threshold on the logit difference z1 - z0 is
chosen (Youden's J, i.e. balanced accuracy; or plain accuracy), and on the other half the accuracy of each rule
is measured beside the argmax (threshold 0): under the half's own class prior, and resampled to --shifted-prior
positives (PneumoniaMNIST's official test split holds 62.5% pneumonia against 74% in train and validation; the
figure is public, the split is not used). Prints one row per seed and rule, and the means.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from fl.data import load_medmnist_npz, partition_dirichlet  # noqa: E402
from fl.models import NORMALISATIONS, architecture_for_input  # noqa: E402
from fl.simulation import run_simulation  # noqa: E402
from fl.training import DEFAULT_TRAIN_CONFIG, TrainConfig, evaluate, predict_logits  # noqa: E402

DEFAULT_NPZ = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "pneumoniamnist.npz"
RULES = ("argmax", "youden", "accuracy")
SCHEDULES = ("constant", "cosine", "steps")
PARTS = ("normalisation", "schedules")  # the thresholds come with the schedules (the constant one's model)
# Intensity changes of the validation images (gain, offset): darker, brighter and flatter than the training data.
INTENSITY_SHIFTS = {"as is": (1.0, 0.0), "darker": (0.8, 0.0), "brighter": (0.8, 0.2), "flatter": (0.6, 0.2)}


def schedule_factor(schedule: str, round_number: int, rounds: int) -> float:
    if schedule == "cosine":
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (round_number - 1) / rounds))
    if schedule == "steps":
        return 1.0 if round_number <= rounds / 2 else 0.3 if round_number <= 0.8 * rounds else 0.1
    return 1.0


def scheduled(schedule: str, rounds: int, base: TrainConfig):
    """The training configuration of each round under the schedule (the head's rate on its 2^-16 grid)."""

    def config(round_number: int) -> TrainConfig:
        factor = schedule_factor(schedule, round_number, rounds)
        if factor == 1.0:
            return base
        return replace(base, lr=base.lr * factor, head_lr=round(base.head_lr * factor * 2**16) / 2**16)

    return config


def chosen_threshold(rule: str, score: np.ndarray, labels: np.ndarray) -> float:
    """The threshold on score (predict positive at or above it) that the rule picks on (score, labels)."""
    if rule == "argmax":
        return 0.0
    candidates = np.unique(score)
    predicted = score[None, :] >= candidates[:, None]
    positive = labels == 1
    if rule == "youden":
        gain = predicted[:, positive].mean(axis=1) + (~predicted[:, ~positive]).mean(axis=1)
    else:
        gain = (predicted == positive[None, :]).mean(axis=1)
    return float(candidates[int(np.argmax(gain))])


def accuracy(threshold: float, score: np.ndarray, labels: np.ndarray) -> float:
    return float(((score >= threshold) == (labels == 1)).mean())


def compare_rules(
    score: np.ndarray, labels: np.ndarray, splits: int, shifted_prior: float, seed: int
) -> dict[str, tuple[float, float]]:
    """{rule: (mean held-out accuracy under the half's prior, under shifted_prior positives)}."""
    rng = np.random.default_rng(seed)
    natural: dict[str, list[float]] = {rule: [] for rule in RULES}
    shifted: dict[str, list[float]] = {rule: [] for rule in RULES}
    for _ in range(splits):
        order = rng.permutation(len(labels))
        choose, held = order[: len(labels) // 2], order[len(labels) // 2 :]
        positives, negatives = held[labels[held] == 1], held[labels[held] == 0]
        wanted = int(round(len(negatives) * shifted_prior / (1 - shifted_prior)))
        resampled = np.concatenate(
            [rng.choice(positives, wanted, replace=wanted > len(positives)), negatives]
        )
        for rule in RULES:
            threshold = chosen_threshold(rule, score[choose], labels[choose])
            natural[rule].append(accuracy(threshold, score[held], labels[held]))
            shifted[rule].append(accuracy(threshold, score[resampled], labels[resampled]))
    return {rule: (float(np.mean(natural[rule])), float(np.mean(shifted[rule]))) for rule in RULES}


def compare_normalisations(
    train, validation, seeds: list[int], hospitals: int, alpha: float, rounds: int
) -> None:
    shifted = {
        name: replace(validation, inputs=np.clip(validation.inputs * gain + offset, 0, 1).astype(np.float32))
        for name, (gain, offset) in INTENSITY_SHIFTS.items()
    }
    print(f"{'seed':>4} {'normalisation':>13} " + " ".join(f"{name + ' acc / AUC':>20}" for name in shifted))
    for seed in seeds:
        parts = partition_dirichlet(train.labels, hospitals, alpha, seed)
        for normalisation in NORMALISATIONS:
            arch_id = architecture_for_input(train.sample_shape, normalisation=normalisation)
            state, _ = run_simulation(
                arch_id, DEFAULT_TRAIN_CONFIG, [train.subset(p) for p in parts], validation, rounds, seed
            )
            figures = [evaluate(state, arch_id, data) for data in shifted.values()]
            print(
                f"{seed:>4} {normalisation:>13} "
                + " ".join(f"{f['accuracy']:>11.4f} / {f['auc']:.4f}" for f in figures),
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--hospitals", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--shifted-prior", type=float, default=0.625)
    parser.add_argument("--parts", choices=PARTS, nargs="+", default=list(PARTS))
    args = parser.parse_args(argv)

    train = load_medmnist_npz(args.npz, "train")
    validation = load_medmnist_npz(args.npz, "val", num_classes=train.num_classes)
    if "normalisation" in args.parts:
        compare_normalisations(train, validation, args.seeds, args.hospitals, args.alpha, args.rounds)
    if "schedules" not in args.parts:
        return
    if train.num_classes != 2:
        raise SystemExit("a threshold on one score needs two classes")
    arch_id = architecture_for_input(train.sample_shape)
    print()
    print(f"{'seed':>4} {'schedule':>9} {'val acc':>8} {'val AUC':>8}")
    logits_by_seed = {}
    for seed in args.seeds:
        parts = partition_dirichlet(train.labels, args.hospitals, args.alpha, seed)
        hospitals = [train.subset(p) for p in parts]
        for schedule in SCHEDULES:
            state, reports = run_simulation(
                arch_id,
                DEFAULT_TRAIN_CONFIG,
                hospitals,
                validation,
                args.rounds,
                seed,
                round_config=scheduled(schedule, args.rounds, DEFAULT_TRAIN_CONFIG),
            )
            last = reports[-1]
            print(f"{seed:>4} {schedule:>9} {last['accuracy']:>8.4f} {last['auc']:>8.4f}", flush=True)
            if schedule == "constant":
                logits_by_seed[seed] = predict_logits(state, arch_id, validation.inputs)

    print(f"\n{'seed':>4} {'rule':>9} {'held-out acc':>13} {'at prior ' + str(args.shifted_prior):>15}")
    totals: dict[str, list[tuple[float, float]]] = {rule: [] for rule in RULES}
    for seed, logits in logits_by_seed.items():
        figures = compare_rules(
            logits[:, 1] - logits[:, 0], validation.labels, args.splits, args.shifted_prior, seed
        )
        for rule, (natural, shifted) in figures.items():
            totals[rule].append((natural, shifted))
            print(f"{seed:>4} {rule:>9} {natural:>13.4f} {shifted:>15.4f}", flush=True)
    for rule, rows in totals.items():
        natural, shifted = np.mean(rows, axis=0)
        print(f"{'mean':>4} {rule:>9} {natural:>13.4f} {shifted:>15.4f}")


if __name__ == "__main__":
    main()
