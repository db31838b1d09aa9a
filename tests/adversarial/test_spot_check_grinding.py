"""Attack 3, spot-check evasion by grinding S: a node fakes one head step and, after seeing the challenge,
picks the step count S (through num_samples) whose derived spot-checks miss the faked step.

Defence: the commitment fixes the Merkle root, S and n_h together before the challenge, the challenged context
names them, and the upload must carry the committed n_h and a proof of the committed S. Each attack is refused
with its reason and leaves nothing stored changed.
"""

from __future__ import annotations

import pytest

from rounds.models import Participant, Submission
from tests.rounds.test_proofs import (
    SAMPLES,
    assert_refused,
    collecting_round,
    commit,
    final_head,
    honest_run,
    prove,
    upload,
)

pytestmark = [pytest.mark.zk]


@pytest.fixture(autouse=True)
def proofs_on(settings, dev_ptau):
    settings.DH_PROOFS = "groth16"
    settings.DH_PTAU_PATH = dev_ptau


def commitment_of(round_, slug: str) -> tuple:
    row = Participant.objects.get(round=round_, hospital__slug=slug)
    return row.proof_root, row.proof_challenge, row.proof_steps, row.proof_samples


def test_a_step_count_chosen_after_the_challenge_is_refused(consortium):
    round_ = collecting_round(consortium)
    # S = 4 steps on n_h = 16 samples: 2 batches of 8, rounded up to a whole proof of 4 steps.
    trace = honest_run(round_, seed=11)
    bundle = prove(consortium, round_, "hospital-a", trace)  # commits (root, S=4, n_h=16), gets the challenge
    head = final_head(trace)
    committed = commitment_of(round_, "hospital-a")
    assert committed[2:] == (4, SAMPLES)
    assert f"|steps 4|samples {SAMPLES}|challenge {committed[1]}" in _context(consortium, round_)

    # Another n_h after the challenge (40 samples: another S = 8) is refused before anything is stored.
    assert_refused(
        upload(consortium, round_, "hospital-a", bundle, head, num_samples=40),
        f"num_samples 40 is not the {SAMPLES} this hospital committed to",
        round_,
    )
    # A bundle claiming another step count (the S a grinder would pick) is refused by name.
    ground = {**bundle, "step_count": 8}
    assert_refused(
        upload(consortium, round_, "hospital-a", ground, head),
        "its step count 8 is not the 4 steps this hospital committed to",
        round_,
    )
    # Re-committing the same root with another S or n_h is refused too: the commitment is fixed once.
    again = commit(consortium, round_, "hospital-a", bundle["merkle_root"], num_steps=8, num_samples=40)
    assert (
        again.status_code == 409
        and "step count and sample count are fixed together" in again.json()["detail"]
    )
    # A commitment whose S is not what the plan implies for its n_h is refused with both figures.
    wrong = commit(consortium, round_, "hospital-b", 12345, num_steps=5, num_samples=SAMPLES)
    assert wrong.status_code == 400
    assert (
        f"num_steps 5 is not what the round plan implies for num_samples {SAMPLES}" in wrong.json()["detail"]
    )
    assert commitment_of(round_, "hospital-a") == committed
    assert commitment_of(round_, "hospital-b") == ("", "", None, None)

    # The honest upload of the committed run still counts.
    response = upload(consortium, round_, "hospital-a", bundle, head)
    assert response.status_code == 201, response.content
    assert Submission.objects.get(round=round_).num_samples == SAMPLES


def _context(consortium, round_) -> str:
    """The challenged context, as the portal answers a repeated (identical) commitment."""
    row = Participant.objects.get(round=round_, hospital__slug="hospital-a")
    response = commit(consortium, round_, "hospital-a", row.proof_root, row.proof_steps, row.proof_samples)
    assert response.status_code == 200, response.content
    return response.json()["context"]
