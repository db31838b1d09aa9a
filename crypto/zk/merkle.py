"""Merkle commitment to a training run's steps and the Fiat-Shamir choice of the steps to prove.

Leaf i (0 <= i < S) is Poseidon(i, hash(W_i, b_i), hash(batch_i)); leaf S is Poseidon(S, hash(W_S, b_S), 0), the
head after the last step. Leaves are padded with zeros to a power of two; inner nodes are Poseidon(left, right)
(two inputs, so a different permutation width from the three-input leaves: a node cannot pass for a leaf).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak

from crypto.zk.poseidon import FIELD_PRIME, poseidon

INDEX_DOMAIN = b"decentrahealth/zk/spot-check-indices/v1"
CONTEXT_TAG = keccak(b"decentrahealth/zk/round-context/v2")  # as the contract: keccak256("...")


def leaf_hash(index: int, weight_hash: int, batch_hash: int) -> int:
    return poseidon([index, weight_hash, batch_hash])


def node_hash(left: int, right: int) -> int:
    return poseidon([left, right])


@dataclass(frozen=True)
class MerkleTree:
    levels: tuple[tuple[int, ...], ...]  # levels[0] = padded leaves, levels[-1] = (root,)
    leaf_count: int

    @classmethod
    def build(cls, leaves: Sequence[int]) -> MerkleTree:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        level = list(leaves) + [0] * ((1 << tree_depth(len(leaves))) - len(leaves))
        levels = [tuple(level)]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            levels.append(tuple(level))
        return cls(levels=tuple(levels), leaf_count=len(leaves))

    @property
    def root(self) -> int:
        return self.levels[-1][0]

    def path(self, index: int) -> list[int]:
        """Siblings from the leaf level up."""
        if not 0 <= index < self.leaf_count:
            raise IndexError(f"leaf {index} outside 0..{self.leaf_count - 1}")
        return [level[(index >> height) ^ 1] for height, level in enumerate(self.levels[:-1])]


def tree_depth(leaf_count: int) -> int:
    return max(1, (leaf_count - 1).bit_length())


def root_from_path(leaf: int, index: int, path: Sequence[int]) -> int:
    node = leaf
    for height, sibling in enumerate(path):
        node = node_hash(sibling, node) if (index >> height) & 1 else node_hash(node, sibling)
    return node


ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class ProofContext:
    """What every proof of one hospital's run in one round is bound to.

    round_id, sender (the hospital's chain address: the account that submits on chain) and model_hash (hex
    SHA-256 of the global model's weights, as the chain records the round's model) are what the RoundRegistry
    contract can check itself; text names the rest (hospital, head, S, n_h, the portal's challenge), which the
    chain sees only as its SHA-256 (run_hash). A bare string is a context with zero chain parts (tests, tools).
    """

    text: str
    round_id: int = 0
    sender: str = ZERO_ADDRESS
    model_hash: str = "00" * 32

    @property
    def run_hash(self) -> bytes:
        return hashlib.sha256(self.text.encode()).digest()

    def field(self) -> int:
        """The circuit's public `context` signal; the contract computes the same value (RoundRegistry
        _contextOf): keccak256(abi.encode(CONTEXT_TAG, roundId, sender, modelHash, runHash)) mod p."""
        encoded = abi_encode(
            ["bytes32", "uint256", "address", "bytes32", "bytes32"],
            [CONTEXT_TAG, self.round_id, self.sender, bytes.fromhex(self.model_hash), self.run_hash],
        )
        return int.from_bytes(keccak(encoded), "big") % FIELD_PRIME


def as_context(context: ProofContext | str) -> ProofContext:
    return context if isinstance(context, ProofContext) else ProofContext(text=context)


def context_field(context: ProofContext | str) -> int:
    """The context as the field element each proof binds (its last public signal)."""
    return as_context(context).field()


def derive_indices(
    merkle_root: int, step_count: int, round_context: ProofContext | str, count: int
) -> list[int]:
    """min(count, step_count) distinct step indices in [0, step_count), sorted, from SHA-256 of the root, the step
    count and the context (rejection sampling, so uniform)."""
    if step_count < 1 or count < 1:
        raise ValueError("need at least one step and one index")
    wanted = min(count, step_count)
    seed = hashlib.sha256(
        INDEX_DOMAIN
        + merkle_root.to_bytes(32, "big")
        + step_count.to_bytes(8, "big")
        + context_field(round_context).to_bytes(32, "big")
    ).digest()
    limit = (1 << 64) - (1 << 64) % step_count
    chosen: set[int] = set()
    counter = 0
    while len(chosen) < wanted:
        draw = int.from_bytes(hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()[:8], "big")
        counter += 1
        if draw < limit:
            chosen.add(draw % step_count)
    return sorted(chosen)
