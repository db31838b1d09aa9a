"""Attack 4 (in part), a hospital inflating its weight: a huge n_h, or a model-replacing update scaled x100.

Defence: the round plan caps n_h (Round.max_samples) and, where the portal can see the update (the "plaintext"
scheme), the L2 norm of n_h * delta_h (Round.update_norm_bound). Under ckks the portal sees no norm: the key
parties check it in MPC (tests/adversarial/test_model_replacement_job.py, and whole rounds in
tests/rounds/test_encrypted_rounds.py).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from crypto import plain
from rounds.models import DEFAULT_MAX_SAMPLES, DEFAULT_UPDATE_NORM_BOUND, Round, Submission
from rounds.services import lifecycle

pytestmark = [pytest.mark.unit]

S = Round.State
# The demo's largest honest ||n_h * delta_h||: 6355 (Dirichlet split, 2321 samples, round 1); IID: 3731.
HONEST_NORM = 6_355.0


def collecting(consortium, **extra) -> Round:
    round_ = consortium.plan_round(**extra)
    for state in (S.APPROVED, S.OPEN, S.COLLECTING):
        lifecycle.transition(round_, state, "test")
    return round_


def honest_update(round_: Round) -> np.ndarray:
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(round_.base_model.architecture.parameter_count)
    return vector * (HONEST_NORM / np.linalg.norm(vector))


def upload(consortium, round_: Round, vector: np.ndarray, num_samples: int = 1569, slug: str = "hospital-a"):
    data = {"update": io.BytesIO(plain.encode(vector)), "num_samples": num_samples, "metrics": "{}"}
    return consortium.client(f"node_{slug}").post(
        f"/api/node/rounds/{round_.pk}/submission/", data, format="multipart"
    )


def refused(response, reason: str, round_: Round) -> None:
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"], response.json()["detail"]
    assert not Submission.objects.filter(round=round_).exists()


def test_a_model_replacing_update_scaled_x100_is_refused_under_plaintext(consortium):
    round_ = collecting(consortium)
    assert round_.protection == "plaintext" and round_.update_norm_bound == DEFAULT_UPDATE_NORM_BOUND
    update = honest_update(round_)
    refused(
        upload(consortium, round_, 100 * update),
        f"update L2 norm {100 * HONEST_NORM:.6g} exceeds the round plan's update_norm_bound "
        f"{DEFAULT_UPDATE_NORM_BOUND:.6g}",
        round_,
    )
    response = upload(consortium, round_, update)  # the honest update is well inside the default bound
    assert response.status_code == 201, response.content


def test_the_plan_sets_the_norm_bound_and_the_round_shows_it(consortium):
    round_ = collecting(consortium, update_norm_bound=1_000.0)
    shown = consortium.client("coordinator").get(f"/api/rounds/{round_.pk}/").json()
    assert shown["update_norm_bound"] == 1_000.0 and shown["max_samples"] == DEFAULT_MAX_SAMPLES
    refused(
        upload(consortium, round_, honest_update(round_)),
        "exceeds the round plan's update_norm_bound 1000",
        round_,
    )


def test_a_norm_bound_beyond_what_ckks_encodes_cannot_be_planned(consortium):
    """A bound so large that an update within it could overflow the CKKS sum (a value above ckks.MAX_ABS_VALUE)."""
    from crypto.ckks import MAX_ABS_VALUE
    from web.errors import InvalidInput

    for bound in (2 * MAX_ABS_VALUE, float("inf"), 0.0):
        with pytest.raises(
            InvalidInput, match=f"update_norm_bound must be a positive number up to {MAX_ABS_VALUE:.0f}"
        ):
            consortium.plan_round(update_norm_bound=bound)
    assert consortium.plan_round(update_norm_bound=MAX_ABS_VALUE).update_norm_bound == MAX_ABS_VALUE


def test_a_sample_count_above_the_plan_is_refused_with_the_figure(consortium):
    round_ = collecting(consortium)
    update = honest_update(round_) / 100
    refused(
        upload(consortium, round_, update, num_samples=DEFAULT_MAX_SAMPLES + 1),
        f"num_samples {DEFAULT_MAX_SAMPLES + 1} exceeds the round plan's max_samples {DEFAULT_MAX_SAMPLES}",
        round_,
    )
    capped = collecting(consortium, max_samples=500, hospitals=[consortium.hospital_b, consortium.hospital_c])
    refused(
        upload(consortium, capped, update, num_samples=501, slug="hospital-b"),
        "num_samples 501 exceeds the round plan's max_samples 500",
        capped,
    )
    assert upload(consortium, capped, update, num_samples=500, slug="hospital-b").status_code == 201


def test_default_limits_leave_the_plan_hash_as_it_was(consortium):
    """A default plan hashes exactly as before the limits existed; a non-default one hashes differently."""
    from protocol.plan import config_hash

    default = consortium.plan_round()
    assert default.config_hash == config_hash(
        default.config, default.base_model.architecture.architecture_hash
    )
    capped = consortium.plan_round(max_samples=500)
    assert capped.config_hash != default.config_hash
