"""Merkle commitment paths and Fiat-Shamir step indices."""

from __future__ import annotations

import pytest

from crypto.zk.merkle import MerkleTree, context_field, derive_indices, root_from_path, tree_depth

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize("leaf_count", [1, 2, 5, 8, 9])
def test_every_path_leads_to_the_root(leaf_count):
    leaves = [1000 + i for i in range(leaf_count)]
    tree = MerkleTree.build(leaves)
    for index, leaf in enumerate(leaves):
        path = tree.path(index)
        assert len(path) == tree_depth(leaf_count)
        assert root_from_path(leaf, index, path) == tree.root
        assert root_from_path(leaf + 1, index, path) != tree.root
        if leaf_count > 1:
            assert root_from_path(leaf, index ^ 1, path) != tree.root or leaves[
                index ^ 1 : index ^ 1 + 1
            ] == [leaf]
        tampered = [path[0] + 1, *path[1:]]
        assert root_from_path(leaf, index, tampered) != tree.root
    with pytest.raises(IndexError):
        tree.path(leaf_count)


def test_indices_are_distinct_sorted_and_bound_to_root_and_context():
    indices = derive_indices(12345, 200, "round 1|hospital a", 4)
    assert indices == sorted(set(indices)) and len(indices) == 4
    assert all(0 <= i < 200 for i in indices)
    assert derive_indices(12345, 200, "round 1|hospital a", 4) == indices
    others = [
        derive_indices(12346, 200, "round 1|hospital a", 4),
        derive_indices(12345, 200, "round 1|hospital b", 4),
        derive_indices(12345, 201, "round 1|hospital a", 4),
    ]
    assert all(other != indices for other in others)
    assert derive_indices(7, 3, "c", 10) == [0, 1, 2]


def test_indices_cover_the_steps_uniformly():
    counts = [0] * 10
    for root in range(2000):
        for index in derive_indices(root, 10, "ctx", 1):
            counts[index] += 1
    assert min(counts) > 150 and max(counts) < 250


def test_context_is_a_field_element_that_depends_on_every_character():
    assert context_field("round 1|hospital a") != context_field("round 1|hospital b")
