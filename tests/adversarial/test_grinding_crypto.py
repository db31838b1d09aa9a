"""Attack 3 at the crypto level, in pure Python: with S free after the challenge, a node that faked step f
can grind S until the derived spot-checks miss f; with S committed, verify_training accepts only that S."""

from __future__ import annotations

import numpy as np
import pytest

from crypto.zk import ProofError, verify_training
from crypto.zk.build import PUBLIC_SIGNALS
from crypto.zk.merkle import derive_indices
from crypto.zk.training_proof import BUNDLE_VERSION

pytestmark = [pytest.mark.unit]

ROOT = 0x1234_5678_9ABC_DEF0
CONTEXT = "decentrahealth|round 7|hospital hospital-a|model abc|head 1|challenge ff"
FAKED = 3  # the one step the node did not run honestly
CHECKS = 2


def test_grinding_s_finds_a_step_count_whose_checks_miss_the_faked_step():
    """Why S must be fixed before the challenge: many S values avoid the faked step."""
    evading = [s for s in range(8, 64) if FAKED not in derive_indices(ROOT, s, CONTEXT, CHECKS)]
    assert len(evading) > 40  # almost every S evades: grinding is free


def test_verify_training_accepts_only_the_committed_step_count():
    vkey = {"protocol": "groth16", "nPublic": len(PUBLIC_SIGNALS)}
    head = (np.zeros((2, 16), dtype=np.int64), np.zeros(2, dtype=np.int64))
    committed = 10
    refusals = {}
    for step_count in range(8, 64):
        bundle = {
            "version": BUNDLE_VERSION,
            "step_count": step_count,
            "merkle_root": str(ROOT),
            "leaves": [],
            "proofs": [],
            "indices": derive_indices(ROOT, step_count, CONTEXT, CHECKS),
            "lr_q": 1,
        }
        with pytest.raises(ProofError) as refused:
            verify_training(
                bundle, CONTEXT, vkey, 0, head, 1, CHECKS, steps_per_proof=1, expected_steps=committed
            )
        refusals[step_count] = refused.value.reason
    for step_count, reason in refusals.items():
        if step_count != committed:
            assert reason == f"the run has {step_count} steps, the round implies {committed}"
    # The committed S passes the step-count and index checks and is refused only later (this bundle holds no
    # proofs): the step count is no longer the node's choice.
    assert refusals[committed] == "the bundle does not hold exactly one proof per derived segment"
