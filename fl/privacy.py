"""Differential privacy's accounting: the (epsilon, delta) a run of rounds spends, with Opacus' RDP accountant.

Each round opens the sum of the hospitals' updates, each clipped by its node to the plan's update_norm_bound C,
with Gaussian noise of std z * C added inside the key parties' MPC (crypto.threshold): a Gaussian mechanism of
noise multiplier z on a sum whose sensitivity to one hospital is C, every hospital in every round (sample rate
1). Rounds compose; the accountant adds up their Renyi DP and converts it to (epsilon, delta).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=256)
def epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """The epsilon `rounds` rounds of noise multiplier `noise_multiplier` spend at `delta`; infinite without
    noise."""
    if noise_multiplier <= 0:
        return float("inf")
    if rounds <= 0:
        return 0.0
    from opacus.accountants import RDPAccountant  # imports torch: only where DP is asked for

    accountant = RDPAccountant()
    accountant.history = [(float(noise_multiplier), 1.0, int(rounds))]
    return float(accountant.get_epsilon(delta=float(delta)))


def noise_for_epsilon(target: float, rounds: int, delta: float) -> float:
    """The smallest noise multiplier (to 0.1%) whose `rounds` rounds spend at most `target` epsilon at `delta`."""
    low, high = 1e-3, 1e3  # epsilon falls as the noise grows
    while high / low > 1.001:
        middle = (low * high) ** 0.5
        low, high = (low, middle) if epsilon(middle, rounds, delta) <= target else (middle, high)
    return high
