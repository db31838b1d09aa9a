"""Differential privacy in the round plan: the noise multiplier and delta are part of the hashed plan, need
encrypted aggregation, reach each node (which clips and signs the noise level) and the key parties' job; the
accountant (Opacus' RDP) gives each round's and each campaign's epsilon, and a campaign whose rounds would spend
more than its budget is refused with the figures. (The noise itself, added inside the key parties' MPC:
tests/adversarial/test_dp_noise_job.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fl import privacy
from fl.fedavg import UPDATE_GRID, clip_to_norm
from rounds.models import Campaign, Round
from rounds.selectors import node_task
from rounds.services import aggregating, campaigns
from tests.conftest import TINY_CONFIG
from web.errors import InvalidInput

pytestmark = [pytest.mark.unit]

Z = 1.5


def classical_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Mironov's conversion of the Gaussian mechanism's RDP (rounds x alpha / (2 z^2)), minimised over integer
    orders: an upper bound the accountant's tighter conversion must not exceed."""
    return min(
        rounds * alpha / (2 * noise_multiplier**2) + math.log(1 / delta) / (alpha - 1)
        for alpha in range(2, 256)
    )


def test_the_accountant_spends_more_with_rounds_and_less_with_noise() -> None:
    assert privacy.epsilon(0.0, 3, 1e-5) == math.inf
    one, ten = privacy.epsilon(Z, 1, 1e-5), privacy.epsilon(Z, 10, 1e-5)
    assert 0 < one < ten < 10 * one  # composition: more rounds spend more, less than linearly
    assert privacy.epsilon(2 * Z, 10, 1e-5) < ten  # more noise spends less
    assert privacy.epsilon(Z, 10, 1e-3) < ten  # a larger delta, less epsilon
    for z, rounds in ((1.0, 1), (Z, 10), (4.0, 50)):
        assert privacy.epsilon(z, rounds, 1e-5) <= classical_epsilon(z, rounds, 1e-5)
    for target in (1.0, 4.0, 8.0):  # the bench's noise levels: the least noise within each target
        z = privacy.noise_for_epsilon(target, 10, 1e-5)
        assert privacy.epsilon(z, 10, 1e-5) <= target < privacy.epsilon(0.99 * z, 10, 1e-5)


def test_clipping_keeps_an_update_within_the_bound_on_its_grid() -> None:
    update = np.random.default_rng(0).normal(scale=50.0, size=1000)
    update = np.rint(update / UPDATE_GRID) * UPDATE_GRID
    clipped = clip_to_norm(update, 100.0)
    assert np.linalg.norm(clipped) <= 100.0 and np.linalg.norm(clipped) > 99.9
    assert np.array_equal(np.rint(clipped / UPDATE_GRID) * UPDATE_GRID, clipped)
    assert np.array_equal(clip_to_norm(update / 100, 100.0), update / 100)  # within the bound: unchanged


def test_a_dp_plan_reaches_the_nodes_and_the_key_parties(consortium, key_committee) -> None:
    plain = consortium.plan_round(protection_scheme="ckks")
    private = consortium.plan_round(protection_scheme="ckks", dp_noise_multiplier=Z, update_norm_bound=500.0)
    assert private.config_hash != plain.config_hash  # the noise is part of the hashed plan
    assert private.dp_noise_std == Z * 500.0 and private.dp_delta == 1e-5
    task = node_task(private, consortium.hospital_a)
    assert task.protection.dp_noise_std == Z * 500.0 and task.protection.norm_bound == 500.0
    assert aggregating._job_terms(private, []).dp_noise_std == Z * 500.0
    assert aggregating._job_terms(plain, []).dp_noise_std == 0.0


def test_dp_needs_encrypted_aggregation_and_sane_parameters(consortium, key_committee) -> None:
    with pytest.raises(InvalidInput, match="needs encrypted aggregation"):
        consortium.plan_round(protection_scheme="plaintext", dp_noise_multiplier=Z)
    with pytest.raises(InvalidInput, match="dp_delta must be above 0 and at most 0.5"):
        consortium.plan_round(protection_scheme="ckks", dp_noise_multiplier=Z, dp_delta=0.6)


def plan_campaign(consortium, rounds: int, budget: float | None, **plan):
    return campaigns.create_campaign(
        consortium.coordinator,
        f"private {rounds} {budget}",
        rounds,
        600,
        None,
        consortium.model,
        dict(TINY_CONFIG),
        [consortium.hospital_a, consortium.hospital_b],
        epsilon_budget=budget,
        protection_scheme="ckks",
        **plan,
    )


def test_a_campaign_over_its_privacy_budget_is_refused_with_the_figures(
    consortium, key_committee, client
) -> None:
    ten = privacy.epsilon(Z, 10, 1e-5)
    with pytest.raises(
        InvalidInput, match=rf"10 rounds at noise multiplier 1.5 would spend epsilon {ten:.3g}"
    ) as refused:
        plan_campaign(consortium, 10, ten * 0.7, dp_noise_multiplier=Z)
    fitting = max(n for n in range(1, 10) if privacy.epsilon(Z, n, 1e-5) <= ten * 0.7)
    assert f"plan at most {fitting} rounds" in str(refused.value)
    with pytest.raises(InvalidInput, match="A privacy budget needs differential privacy"):
        plan_campaign(consortium, 3, 5.0)
    assert not Campaign.objects.exists() and not Round.objects.exists()  # refused: nothing planned

    campaign = plan_campaign(consortium, 10, ten, dp_noise_multiplier=Z)
    client.force_login(consortium.coordinator)
    shown = client.get(f"/api/campaigns/{campaign.pk}/").json()
    assert shown["epsilon_budget"] == ten
    assert shown["rounds"][0]["epsilon"] == pytest.approx(privacy.epsilon(Z, 1, 1e-5))
    first = client.get(f"/api/rounds/{shown['rounds'][0]['round']}/").json()
    assert first["dp_noise_multiplier"] == Z and first["dp_epsilon"] == pytest.approx(
        privacy.epsilon(Z, 1, 1e-5)
    )
