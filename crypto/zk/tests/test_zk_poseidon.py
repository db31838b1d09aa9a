"""crypto.zk.poseidon equals circomlibjs' Poseidon (the circuit's Poseidon is checked by the witness tests)."""

from __future__ import annotations

import importlib
import json
import random
import subprocess

import numpy as np
import pytest

from crypto.zk.node import REPO_ROOT, node_executable
from crypto.zk.poseidon import FIELD_PRIME, batch_hash, hash_chain, head_hash, poseidon

pytestmark = [pytest.mark.zk]
# The module, not the function crypto.zk exports under the same name.
poseidon_module = importlib.import_module("crypto.zk.poseidon")

CIRCOMLIBJS_POSEIDON = """
import { buildPoseidon } from "circomlibjs";
const poseidon = await buildPoseidon();
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map((c) => poseidon.F.toObject(poseidon(c.map(BigInt))).toString())));
"""


def circomlibjs_poseidon(cases: list[list[int]]) -> list[int]:
    result = subprocess.run(
        [
            node_executable(),
            "--input-type=module",
            "-e",
            CIRCOMLIBJS_POSEIDON,
            json.dumps([[str(v) for v in c] for c in cases]),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(v) for v in json.loads(result.stdout)]


def test_poseidon_equals_circomlibjs_for_every_width():
    rng = random.Random(1)
    cases = [[rng.randrange(FIELD_PRIME) for _ in range(width)] for width in range(1, 17)]
    cases += [[0], [1, 2], [FIELD_PRIME - 1] * 16, list(range(16))]
    assert [poseidon(c) for c in cases] == circomlibjs_poseidon(cases)


def test_negative_values_map_to_p_minus_abs():
    assert poseidon([-5, 3]) == poseidon([FIELD_PRIME - 5, 3])


def test_head_and_batch_hashes_chain_sixteen_then_fifteen():
    values = list(range(-20, 20))
    expected = poseidon(values[:16])
    expected = poseidon([expected, *values[16:31]])
    expected = poseidon([expected, *values[31:]])
    assert hash_chain(values) == expected
    weight = [[1, -2, 3], [4, 5, -6]]
    assert head_hash(np.array(weight), np.array([7, -8])) == hash_chain([1, -2, 3, 4, 5, -6, 7, -8])


def test_batch_hash_packs_fourteen_values_of_eighteen_bits():
    # 2 x 8 features and 2 labels: 18 values, packed as 14 then 4, X shifted by 2^16.
    features = np.arange(-8, 8).reshape(2, 8) * 4096
    labels = np.array([1, 0])
    values = [int(v) + 2**16 for v in features.reshape(-1)] + [1, 0]
    packed = [sum(v << (18 * i) for i, v in enumerate(chunk)) for chunk in (values[:14], values[14:])]
    assert batch_hash(features, labels) == poseidon(packed)
    # Injective on the checked ranges: the largest feature and the smallest label stay in their slots.
    edge = np.full((1, 13), 2**16)
    assert batch_hash(edge, np.array([0])) != batch_hash(edge, np.array([1]))


@pytest.mark.parametrize(
    ("features", "labels"), [([[2**16 + 1]], [0]), ([[-(2**16) - 1]], [0]), ([[0]], [-1]), ([[0]], [2**18])]
)
def test_batch_hash_refuses_values_outside_the_packing(features, labels):
    with pytest.raises(ValueError, match="within"):
        batch_hash(np.array(features), np.array(labels))


@pytest.fixture
def fresh_constants():
    """Poseidon's constants read again from wherever the test points, then again from the default."""
    poseidon_module._all_constants.cache_clear()
    poseidon_module._constants.cache_clear()
    yield
    poseidon_module._all_constants.cache_clear()
    poseidon_module._constants.cache_clear()


def test_constants_other_than_circomlibjs_are_refused(tmp_path, monkeypatch, fresh_constants) -> None:
    """A key party hashes secret heads with these constants and opens the digest: constants of someone else's
    making (all-zero matrices would open the head itself) are refused, and missing ones say how to get them."""
    original = poseidon_module.constants_path().read_text()
    tampered = tmp_path / "poseidon_constants_opt.json"
    tampered.write_text(original.replace('"0x', '"0x0', 1))
    monkeypatch.setenv(poseidon_module.CONSTANTS_ENV, str(tampered))
    with pytest.raises(poseidon_module.PoseidonConstantsError, match="not circomlibjs 0.1.7's"):
        poseidon([1, 2])
    monkeypatch.setenv(poseidon_module.CONSTANTS_ENV, str(tmp_path / "absent.json"))
    poseidon_module._all_constants.cache_clear()
    with pytest.raises(poseidon_module.PoseidonConstantsError, match="run `npm ci`"):
        poseidon([1, 2])
    copy = tmp_path / "copy.json"
    copy.write_text(original)
    monkeypatch.setenv(poseidon_module.CONSTANTS_ENV, str(copy))
    poseidon_module._all_constants.cache_clear()
    poseidon_module._constants.cache_clear()
    assert poseidon([1, 2]) == 7853200120776062878684798364095072458815029376092732009249414926327459813530
