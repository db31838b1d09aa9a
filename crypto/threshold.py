"""The arithmetic of threshold CKKS decryption, one key party at a time (crypto.keyparty runs it in MPyC).

CKKS decryption is linear in the secret key: for each RNS prime q_j, y_j = c0_j + c1_j * s_j (mod q_j),
pointwise in NTT form. With s = sum s_i, party i's share is y_i = [i == 0] c0 + c1 * s_i + E_i, where E_i is
its smudging noise; the shares add up to y + sum E_i, which is all that is ever opened.

Smudging is mandatory: y without noise reveals s (y - c0 = c1 * s, and c1 is public), and y's own error
e = -u * e_pk + e0 + e1 * s depends on the key. Each party adds ONE integer Gaussian polynomial (std
SMUDGING_STD_TOTAL / sqrt(m)) reduced mod every prime, then put in NTT form, so that the noise is small in the
coefficient domain. How much that hides is a budget per key (docs/THREAT_MODEL.md, "Smudging"): the
statistical distance between what the parties open and the same sums with a key-independent error is at most
sqrt(sum over decryptions of n * B^2 / (4 sigma^2)), where n is the number of coefficients opened, B the bound
on the key-dependent error of the summed ciphertexts, from the norms of their randomness that the hospitals
proved to the parties (error_variance, crypto.wellformed), and sigma the noise of the parties outside a
colluding minority. Each party refuses a decryption that would take a key past 2^-40 in all
(decryption_leakage, KEY_LEAKAGE_BUDGET; crypto.decryption_job keeps the count beside the share).

Differential privacy, distributed: with a noise level in the job (the std of Gaussian noise the opened sum of
updates must carry, signed by every hospital of the sum), each party also adds its own Gaussian noise to every
value of the sum, encoded as a CKKS message (dp_noise_share), of std dp_noise_std / sqrt(m - t) for t = (m - 1) // 2
the colluding minority the MPC tolerates: the noise of the parties outside any such minority alone has the
job's std, no party knows the total, and the sum is never opened without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tenseal.sealapi as sealapi

from crypto import ckks, seal_io

SMUDGING_STD_TOTAL = 2.0**67
# SEAL's error distribution (centred, std 3.2) and a tail of 13 standard deviations: a sub-Gaussian coefficient
# exceeds 13 times its variance proxy's square root with probability below 2^-120.
SEAL_ERROR_STD = ckks.ERROR_STD
ERROR_TAIL_STDS = 13.0
# The statistical distance one key may spend over every coefficient of every decryption it serves, squared.
TARGET_DISTANCE = 2.0**-40
KEY_LEAKAGE_BUDGET = TARGET_DISTANCE**2
FINE_BITS = 24
# The grid the updates travel on (fl.fedavg.UPDATE_GRID; crypto imports nothing of fl): the DP noise is on it too.
DP_NOISE_GRID = 2.0**-12


def error_variance(u_squared: float, e_squared: float, parties: int) -> float:
    """The variance proxy of one coefficient of the key-dependent error -e_pk * u + e1 * s of a ciphertext whose
    u and e1 have squared norms at most `u_squared` and `e_squared` (what crypto.wellformed proves), whatever
    else they are: e_pk is a sum of `parties` SEAL errors (sub-Gaussian, std 3.2) and s a sum of `parties`
    ternary secrets (each product term in [-|e1_k|, |e1_k|], Hoeffding)."""
    return parties * (SEAL_ERROR_STD**2 * u_squared + e_squared)


def decryption_leakage(proven: Sequence[Sequence[tuple[float, float]]], parties: int) -> float:
    """The squared statistical distance one decryption spends: sum over the opened ciphertexts of
    N B^2 / (4 sigma^2) (Pinsker on the Gaussians' KL divergence N B^2 / (2 sigma^2)), B = ERROR_TAIL_STDS
    standard deviations of the summed ciphertexts' error and sigma the noise of the parties outside a
    colluding minority of (parties - 1) // 2, who know their own noise. `proven[h][j]`: the bounds on
    (||u||^2, ||e1||^2) of hospital h's ciphertext j (crypto.wellformed.ProjectionNorms.proven_squares)."""
    honest = parties - (parties - 1) // 2
    sigma = SMUDGING_STD_TOTAL * math.sqrt(honest / parties)
    leakage = 0.0
    for column in zip(*proven, strict=True):  # one ciphertext position, all hospitals
        variance = sum(error_variance(u, e, parties) for u, e in column)
        bound = ERROR_TAIL_STDS * math.sqrt(variance)
        leakage += ckks.POLY_MODULUS_DEGREE * bound**2 / (4 * sigma**2)
    return leakage


def partial_decryption(
    secret_share: sealapi.SecretKey, ciphertexts: np.ndarray, include_c0: bool
) -> np.ndarray:
    """c1 * s_i (plus c0 for exactly one party) per ciphertext, NTT form, shape (count, primes, N), uint64.

    `ciphertexts` has shape (count, 2, primes, N) as in ckks.ParsedBlob. No noise yet: never open this.
    """
    decryptor = sealapi.Decryptor(ckks.seal_context(), secret_share)
    primes = ckks.data_primes()[:, None]
    shares = np.empty((ciphertexts.shape[0], *ciphertexts.shape[2:]), dtype=np.uint64)
    for index, data in enumerate(ciphertexts):
        plaintext = sealapi.Plaintext()
        decryptor.decrypt(ckks.as_ciphertext(data), plaintext)  # c0 + c1 * s_i
        share = seal_io.parse_plaintext(seal_io.save_bytes(plaintext)).data.reshape(shares.shape[1:])
        shares[index] = share if include_c0 else (share + (primes - data[0])) % primes
    return shares


def gaussian_integers(count: int, std: float) -> np.ndarray:
    """`count` integers with a Gaussian spread of `std` (which may exceed 2^63), as Python integers (dtype object).

    A float carries 53 bits, so a float Gaussian of std 2^64 rounds to multiples of about 2^12, and its low bits
    would be constant: it would not hide the low bits of a decryption error. So the sample is a Gaussian on the
    lattice 2^FINE_BITS Z (std `std`) plus a fine integer Gaussian of std 4 * 2^FINE_BITS, which smooths it to
    within far below 2^-100 of a discrete Gaussian of variance std^2 + 2^(2 FINE_BITS + 4)."""
    coarse = ckks.rounded_gaussians(count, std / 2.0**FINE_BITS).astype(object)
    fine = ckks.rounded_gaussians(count, 4.0 * 2.0**FINE_BITS).astype(object)
    return coarse * (1 << FINE_BITS) + fine


def smudging_noise(count: int, parties: int) -> np.ndarray:
    """This party's smudging noise for `count` ciphertexts, NTT form, shape (count, primes, N), uint64."""
    primes = ckks.data_primes()
    integers = gaussian_integers(count * ckks.POLY_MODULUS_DEGREE, SMUDGING_STD_TOTAL / math.sqrt(parties))
    residues = np.stack([(integers % int(prime)).astype(np.uint64) for prime in primes.tolist()])
    return ckks.transform(
        residues.reshape(len(primes), count, ckks.POLY_MODULUS_DEGREE).transpose(1, 0, 2), to_ntt=True
    )


def party_noise_std(dp_noise_std: float, parties: int) -> float:
    """The std of one party's differential-privacy noise, so that the parties outside a colluding minority
    ((parties - 1) // 2 of them) add up to `dp_noise_std` on their own."""
    return dp_noise_std / math.sqrt(parties - (parties - 1) // 2)


def dp_noise_values(length: int, std: float) -> np.ndarray:
    """`length` draws of a Gaussian of std `std` on the updates' grid (DP_NOISE_GRID): integers ~ round(N(0,
    (std / grid)^2)) from the OS's randomness, times the grid. On the grid, not float Gaussians: a float sample's
    low bits are not uniform (Mironov, CCS 2012), and a rounded Gaussian of std >> 1 step is within far below
    2^-40 of the discrete Gaussian that the RDP accounting covers (Canonne, Kamath and Steinke, 2020)."""
    steps = std / DP_NOISE_GRID
    if not 0 < steps < 2.0**59:
        raise ValueError(f"DP noise std {std} is outside (0, 2^47): the grid steps must fit 2^59")
    return ckks.rounded_gaussians(length, steps).astype(np.float64) * DP_NOISE_GRID


def dp_noise_share(length: int, std: float) -> np.ndarray:
    """This party's differential-privacy noise (dp_noise_values) on each of the sum's `length` values, as CKKS
    messages, NTT form, shape (count, primes, N). Never stored."""
    return ckks.encode_values(sealapi.CKKSEncoder(ckks.seal_context()), dp_noise_values(length, std))


def decryption_share(
    secret_share: sealapi.SecretKey,
    ciphertexts: np.ndarray,
    party_index: int,
    parties: int,
    length: int = 0,
    dp_noise_std: float = 0.0,
) -> np.ndarray:
    """What party `party_index` of `parties` inputs to the MPC: partial decryption plus smudging noise and, with
    `dp_noise_std` (the std the opened sum of `length` values must carry), its share of the DP noise."""
    share = partial_decryption(secret_share, ciphertexts, include_c0=party_index == 0)
    ckks.add_mod(share, smudging_noise(share.shape[0], parties))
    if dp_noise_std > 0:
        ckks.add_mod(share, dp_noise_share(length, party_noise_std(dp_noise_std, parties)))
    return share


def decode(opened: np.ndarray, length: int) -> np.ndarray:
    """Decode opened y (shape (count, primes, N), NTT form, mod each prime) into the first `length` values (two a
    slot, as ckks.encode_values packs them)."""
    parms_id = tuple(ckks.seal_context().first_parms_id())
    encoder = sealapi.CKKSEncoder(ckks.seal_context())
    values = []
    for data in opened:
        stream = seal_io.plaintext_bytes(seal_io.PlaintextData(parms_id, ckks.SCALE, data.reshape(-1)))
        plaintext = seal_io.load_into(sealapi.Plaintext(), ckks.seal_context(), stream)
        slots = np.asarray(encoder.decode_complex(plaintext), dtype=np.complex128)
        values.append(np.stack([slots.real, slots.imag], axis=1).reshape(-1))
    return np.concatenate(values)[:length]


def decrypt_with_key(secret_key: sealapi.SecretKey, blob: ckks.ParsedBlob) -> np.ndarray:
    """Plain (non-threshold) decryption with one SEAL secret key; tests use it to show a share alone fails."""
    return decode(partial_decryption(secret_key, blob.ciphertexts, include_c0=True), blob.length)
