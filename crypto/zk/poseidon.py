"""Poseidon over BN254's scalar field, equal to circomlib's Poseidon(n) (and circomlibjs' poseidon).

Uses circomlibjs' optimised constants (poseidon_constants_opt.json: the sparse-matrix form from neptune), which
makes the partial rounds linear in the width instead of quadratic: about 1 ms per 16-input hash in Python.
Values are integers mapped to the field with negatives as p - |v| (Python's v % p), the same mapping the
circuit uses for its signed signals.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

FIELD_PRIME = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
MAX_INPUTS = 16
_FULL_ROUNDS = 8
_PARTIAL_ROUNDS = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)
_REPO_ROOT = Path(__file__).resolve().parents[2]
CONSTANTS_PATH = _REPO_ROOT / "node_modules" / "circomlibjs" / "src" / "poseidon_constants_opt.json"
# circomlibjs 0.1.7's file (package-lock.json pins that release), whoever delivers it: a key party hashes heads
# with these constants in MPC, and other constants could make the opened digest show the head.
CONSTANTS_SHA256 = "da1b82330e196f931d30dd304b3ec547fe041c2fac2226c7204e286a5db27ed0"
CONSTANTS_ENV = "DH_POSEIDON_CONSTANTS"


class PoseidonConstantsError(RuntimeError):
    """Poseidon's constants are missing or not circomlibjs 0.1.7's."""


@dataclass(frozen=True)
class _Constants:
    round_constants: tuple[int, ...]
    sparse: tuple[int, ...]
    mds_columns: tuple[tuple[int, ...], ...]  # M[j][i] read as columns: new[i] = sum_j M[j][i] * state[j]
    pre_sparse_columns: tuple[tuple[int, ...], ...]


def constants_path() -> Path:
    """Where the constants are read: $DH_POSEIDON_CONSTANTS, else the repository's node_modules (npm ci)."""
    return Path(os.environ.get(CONSTANTS_ENV) or CONSTANTS_PATH)


@cache
def _all_constants() -> dict:
    path = constants_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PoseidonConstantsError(
            f"Poseidon's constants are not at {path} ({exc.strerror}): run `npm ci` in the repository, or set "
            f"{CONSTANTS_ENV} to circomlibjs 0.1.7's src/poseidon_constants_opt.json (docs/DEPLOY.md)"
        ) from None
    if hashlib.sha256(data).hexdigest() != CONSTANTS_SHA256:
        raise PoseidonConstantsError(
            f"{path} is not circomlibjs 0.1.7's poseidon_constants_opt.json (SHA-256 "
            f"{hashlib.sha256(data).hexdigest()}, expected {CONSTANTS_SHA256}): refusing other constants"
        )
    return json.loads(data)


@cache
def _constants(width: int) -> _Constants:
    raw = _all_constants()
    index = width - 2

    def ints(values: Iterable[str]) -> tuple[int, ...]:
        return tuple(int(v, 16) for v in values)

    def columns(matrix: list[list[str]]) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(int(matrix[j][i], 16) for j in range(width)) for i in range(width))

    return _Constants(
        round_constants=ints(raw["C"][index]),
        sparse=ints(raw["S"][index]),
        mds_columns=columns(raw["M"][index]),
        pre_sparse_columns=columns(raw["P"][index]),
    )


def _mix(state: list[int], columns: tuple[tuple[int, ...], ...]) -> list[int]:
    p = FIELD_PRIME
    return [sum(m * a for m, a in zip(column, state, strict=True)) % p for column in columns]


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib Poseidon(len(inputs)) of field elements (1 to 16 of them)."""
    if not 0 < len(inputs) <= MAX_INPUTS:
        raise ValueError(f"Poseidon takes 1 to {MAX_INPUTS} inputs, got {len(inputs)}")
    p = FIELD_PRIME
    width = len(inputs) + 1
    partial_rounds = _PARTIAL_ROUNDS[width - 2]
    consts = _constants(width)
    c = consts.round_constants
    half = _FULL_ROUNDS // 2

    state = [(a + c[i]) % p for i, a in enumerate([0, *(int(v) % p for v in inputs)])]
    for r in range(half - 1):
        state = [pow(a, 5, p) for a in state]
        state = [a + c[(r + 1) * width + i] for i, a in enumerate(state)]
        state = _mix(state, consts.mds_columns)
    state = [pow(a, 5, p) for a in state]
    state = [a + c[half * width + i] for i, a in enumerate(state)]
    state = _mix(state, consts.pre_sparse_columns)
    s = consts.sparse
    stride = 2 * width - 1
    for r in range(partial_rounds):
        first = (pow(state[0], 5, p) + c[(half + 1) * width + r]) % p
        state[0] = first
        row = s[stride * r : stride * r + width]
        new_first = sum(m * a for m, a in zip(row, state, strict=True)) % p
        tail = s[stride * r + width : stride * (r + 1)]
        state = [new_first, *((a + first * m) % p for a, m in zip(state[1:], tail, strict=True))]
    for r in range(half - 1):
        state = [pow(a, 5, p) for a in state]
        base = (half + 1) * width + partial_rounds + r * width
        state = [a + c[base + i] for i, a in enumerate(state)]
        state = _mix(state, consts.mds_columns)
    state = [pow(a, 5, p) for a in state]
    return sum(m * a for m, a in zip(consts.mds_columns[0], state, strict=True)) % p


def _prepend(digest: int, values: Sequence[int]) -> list[int]:
    return [digest, *values]


def hash_chain(
    values: Sequence, hasher: Callable[[Any], Any] = poseidon, prepend: Callable[[Any, Any], Any] = _prepend
) -> Any:
    """Poseidon over any number of values, as the circuit's HashChain: the first 16, then the running hash
    with the next 15 at a time. `hasher` and `prepend` (the running hash before the next values): for values
    other than a list of integers, such as the rows of secret-shared heads (crypto.keyparty)."""
    if not len(values):
        raise ValueError("nothing to hash")
    digest = hasher(values[:MAX_INPUTS])
    for start in range(MAX_INPUTS, len(values), MAX_INPUTS - 1):
        digest = hasher(prepend(digest, values[start : start + MAX_INPUTS - 1]))
    return digest


def permute_columns(state: Any, power5: Callable[[Any], Any], stack: Callable[[list], Any]) -> Any:
    """poseidon() of every column of `state` (1 to 16 rows of field elements) at once, in whole-array operations:
    products with the public constants and one fifth power per round, so that in MPC each round costs a few
    operations on secure arrays, whatever the number of columns (crypto.keyparty hashes every hospital's shared
    head in one pass). For arrays that reduce themselves mod FIELD_PRIME (MPyC's secure field arrays); `stack`
    joins rows into one array. Returns the digests, one per column."""
    width = state.shape[0] + 1
    consts = _constants(width)
    c = np.array(consts.round_constants, dtype=object)
    mds = np.array(consts.mds_columns, dtype=object)  # new state = mds @ state
    half = _FULL_ROUNDS // 2
    partial_rounds = _PARTIAL_ROUNDS[width - 2]

    def constants(start: int) -> np.ndarray:
        return c[start : start + width, None]

    state = stack([state[:1] * 0, state]) + constants(0)
    for r in range(half - 1):
        state = mds @ (power5(state) + constants((r + 1) * width))
    state = np.array(consts.pre_sparse_columns, dtype=object) @ (power5(state) + constants(half * width))
    stride = 2 * width - 1
    for r in range(partial_rounds):
        first = power5(state[0]) + c[(half + 1) * width + r]
        row = np.array(consts.sparse[stride * r : stride * r + width], dtype=object)
        tail = np.array(consts.sparse[stride * r + width : stride * (r + 1)], dtype=object)
        rest = state[1:]
        state = stack([(row[0] * first + row[1:] @ rest)[None, :], rest + tail[:, None] * first[None, :]])
    for r in range(half - 1):
        state = mds @ (power5(state) + constants((half + 1) * width + partial_rounds + r * width))
    return mds[0] @ power5(state)


def _ints(array: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(array).reshape(-1)]


def head_values(weight: np.ndarray, bias: np.ndarray) -> list[int]:
    """A quantised head as one list: W (k x d) row-major, then b (k); what its hash and its shares cover."""
    return _ints(weight) + _ints(bias)


def head_hash(weight: np.ndarray, bias: np.ndarray) -> int:
    """Hash of a quantised head (head_values)."""
    return hash_chain(head_values(weight, bias))


BATCH_SLOT_BITS = 18  # a feature + 2^16 lies in [0, 2^17]; a label index in [0, classes)
BATCH_SLOTS = 14  # 14 x 18 = 252 bits, below the field's 254


def pack_batch(features: np.ndarray, labels: np.ndarray) -> list[int]:
    """A quantised batch as the circuit hashes it: X + 2^16 (B x d, row-major) then the label indices y (B),
    14 values of 18 bits to a field element, the first value in the lowest bits. Injective on the ranges the
    circuit checks (|X| <= 2^16, y >= 0), which are checked here too."""
    offset = 1 << 16
    shifted = [v + offset for v in _ints(features)]
    labels = _ints(labels)
    if any(not 0 <= v <= 2 * offset for v in shifted) or any(
        not 0 <= v < 1 << BATCH_SLOT_BITS for v in labels
    ):
        raise ValueError("a batch to hash needs features within +-2^16 and label indices from 0 below 2^18")
    values = shifted + labels
    return [
        sum(v << (BATCH_SLOT_BITS * slot) for slot, v in enumerate(values[start : start + BATCH_SLOTS]))
        for start in range(0, len(values), BATCH_SLOTS)
    ]


def batch_hash(features: np.ndarray, labels: np.ndarray) -> int:
    """Hash of a quantised batch: hash_chain of its packing (pack_batch)."""
    return hash_chain(pack_batch(features, labels))
