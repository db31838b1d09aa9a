"""Exact fixed-point arithmetic of the classifier head: the statement the proof-of-training circuit proves.

Every value is an integer at scale 2^16. Truncation is floor division (Python //), never int(), so the
Python reference, the training loop and the Circom circuit agree bit for bit. The loss is squared error on
one-hot targets, L = 1/(2B) * sum_s ||z_s - t_s||^2, whose gradient needs no exp or log.

One step on a batch X (B x d features, quantised), labels y (B), head W (k x d), bias b (k), learning rate lr_q:
    z  = (X @ W.T) // S + b                     logits, scale S
    e  = z - S * onehot(y)                      error, scale S
    W' = W - (lr_q * (e.T @ X)) // (S * S * B)
    b' = b - (lr_q * sum_s e_s) // (S * B)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALE_BITS = 16
SCALE = 1 << SCALE_BITS
# |W|, |b| < 2^24 (a real weight below 256); features in [-1, 1]; 0 < lr <= 1. The circuit range-checks these.
WEIGHT_BOUND = 1 << 24
FEATURE_BOUND = SCALE
LR_BOUND = SCALE


class HeadRangeError(ValueError):
    """A value left the range the circuit can prove (it would wrap modulo the field)."""


def quantise_features(features: np.ndarray) -> np.ndarray:
    """Float features (expected in [-1, 1]) to integers at scale 2^16, clipped to the provable range."""
    quantised = np.floor(np.asarray(features, dtype=np.float64) * SCALE).astype(np.int64)
    return np.clip(quantised, -FEATURE_BOUND, FEATURE_BOUND)


def quantise_lr(lr: float) -> int:
    lr_q = int(np.floor(lr * SCALE))
    if not 0 < lr_q <= LR_BOUND:
        raise HeadRangeError(f"learning rate {lr} must be in (2^-16, 1] for the fixed-point head")
    return lr_q


def quantise_head(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w_q = np.floor(np.asarray(weight, dtype=np.float64) * SCALE).astype(np.int64)
    b_q = np.floor(np.asarray(bias, dtype=np.float64) * SCALE).astype(np.int64)
    check_head_range(w_q, b_q)
    return w_q, b_q


def dequantise(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) / SCALE


def check_head_range(weight_q: np.ndarray, bias_q: np.ndarray) -> None:
    if np.abs(weight_q).max(initial=0) >= WEIGHT_BOUND or np.abs(bias_q).max(initial=0) >= WEIGHT_BOUND:
        raise HeadRangeError("head weight outside (-256, 256): the step cannot be proven")


def logits(weight_q: np.ndarray, bias_q: np.ndarray, features_q: np.ndarray) -> np.ndarray:
    """z = (X @ W.T) // S + b, exact (int64 is enough: |X @ W.T| < 16 * 2^24 * 2^16 = 2^44 for d <= 16)."""
    return (features_q @ weight_q.T) // SCALE + bias_q


def error(weight_q: np.ndarray, bias_q: np.ndarray, features_q: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits(weight_q, bias_q, features_q)
    targets = np.zeros_like(z)
    targets[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = SCALE
    return z - targets


@dataclass(frozen=True)
class HeadStep:
    """One SGD step's inputs: the witness of one proof. Arrays are int64."""

    weight: np.ndarray  # k x d, before the step
    bias: np.ndarray  # k
    features: np.ndarray  # B x d, quantised
    labels: np.ndarray  # B
    lr_q: int


def sgd_step(step: HeadStep) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (weight', bias', error). Products that can exceed int64 are done in Python ints."""
    check_head_range(step.weight, step.bias)
    batch = len(step.labels)
    e = error(step.weight, step.bias, step.features, step.labels)
    grad_w = (e.astype(object).T @ step.features.astype(object)) * step.lr_q
    grad_b = e.astype(object).sum(axis=0) * step.lr_q
    new_weight = step.weight - (grad_w // (SCALE * SCALE * batch)).astype(np.int64)
    new_bias = step.bias - (grad_b // (SCALE * batch)).astype(np.int64)
    return new_weight, new_bias, e


def feature_gradient(weight_q: np.ndarray, e: np.ndarray) -> np.ndarray:
    """dL/dX in float (B x d), what the CNN body back-propagates: W^T e / B in real units."""
    return (e.astype(np.float64) @ weight_q.astype(np.float64)) / (SCALE * SCALE * len(e))
