"""Development helpers for tests, benches and demos: a dev ceremony and synthetic head-step traces.

The dev key comes from a dev powers-of-tau file (one contributor: whoever made it could forge proofs) and two
named dev contributions: fine on this machine, never for production.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crypto.zk.build import DEFAULT_SHAPE, PUBLIC_SIGNALS, Ceremony, CircuitShape, ProvingKey, build_circuit
from fl.fixed_head import FEATURE_BOUND, SCALE, HeadStep, sgd_step

DEV_PARTICIPANTS = ("dev-hospital-a", "dev-hospital-b")
DEV_BEACON = "6465766265616f6e" * 4  # fixed, so the whole dev ceremony is cached


def smallest_dev_ptau(zk_dir: Path, constraints: int) -> Path | None:
    """The smallest dev powers-of-tau file (pot<power>_dev_final.ptau) in zk_dir that holds a circuit of
    `constraints` constraints, or None: Groth16 needs a domain of at least the constraints, one per public signal
    and one more."""
    fitting = []
    for path in zk_dir.glob("pot*_dev_final.ptau"):
        power = path.name.removeprefix("pot").removesuffix("_dev_final.ptau")
        if power.isdigit() and constraints + len(PUBLIC_SIGNALS) + 1 <= 2 ** int(power):
            fitting.append((int(power), path))
    return min(fitting)[1].resolve() if fitting else None


def dev_proving_key(ptau: Path, shape: CircuitShape = DEFAULT_SHAPE) -> ProvingKey:
    """The dev ceremony's key (about a minute for the default circuit the first time, then cached)."""
    ceremony = Ceremony(build_circuit(shape), ptau)
    for name in DEV_PARTICIPANTS:
        ceremony.contribute(name)
    return ceremony.finalize(DEV_BEACON)


def synthetic_trace(
    steps: int, shape: CircuitShape = DEFAULT_SHAPE, lr_q: int = SCALE // 8, seed: int = 0
) -> list[HeadStep]:
    """A run of `steps` exact head steps on random data: features anywhere in [-1, 1] (both bounds included,
    so floor division meets negative and exact cases), a random head of about unit size, random labels."""
    rng = np.random.default_rng(seed)
    weight = rng.integers(-SCALE, SCALE, size=(shape.classes, shape.features), dtype=np.int64)
    bias = rng.integers(-SCALE // 4, SCALE // 4, size=shape.classes, dtype=np.int64)
    trace = []
    for _ in range(steps):
        features = rng.integers(
            -FEATURE_BOUND, FEATURE_BOUND + 1, size=(shape.batch, shape.features), dtype=np.int64
        )
        features[rng.random(features.shape) < 0.05] = FEATURE_BOUND
        features[rng.random(features.shape) < 0.05] = -FEATURE_BOUND
        labels = rng.integers(0, shape.classes, size=shape.batch, dtype=np.int64)
        step = HeadStep(weight=weight, bias=bias, features=features, labels=labels, lr_q=lr_q)
        trace.append(step)
        weight, bias, _ = sgd_step(step)
    return trace


def final_head(trace: list[HeadStep]) -> tuple[np.ndarray, np.ndarray]:
    """The head a run ends at: the result of its last step."""
    weight, bias, _ = sgd_step(trace[-1])
    return weight, bias


def rechained(start: tuple[np.ndarray, np.ndarray], batches: list[HeadStep]) -> list[HeadStep]:
    """Honest steps from the head `start` = (weight, bias) on the batches (features, labels, lr) of `batches`:
    what a run continues as after a jump, and the only witness a segment holding a jump takes."""
    steps = []
    for batch in batches:
        steps.append(HeadStep(*start, batch.features, batch.labels, batch.lr_q))
        start = sgd_step(steps[-1])[:2]
    return steps
