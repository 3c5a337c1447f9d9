"""Cautionary examples: a k-FWER procedure that is *not* valid under arbitrary dependence, and the
dependence structure that breaks it.

The paper's reference script steps down with the constants k alpha / (m - i + 1) for i > k (up to
k alpha for the last test) instead of Lehmann–Romano's k alpha / (m + k - i). No Gaussian copula we
searched makes the lenient constants fail (docs/testing-your-procedure.md), but
``staggered_blocks`` does: it is a valid joint law (every true null is exactly Uniform(0, 1))
under which P(k or more false rejections) of the lenient procedure is m0 alpha / (m0 - k + 1) > alpha.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_alpha, check_positive_int
from ..registry import StepwiseProcedure
from .dependence import SimulatedPValues

__all__ = ["lenient_kfwer", "staggered_blocks"]


def _lenient_factor(ranks, m, k):
    ranks = np.asarray(ranks)
    return np.where(ranks <= k, m / k, (m - ranks + 1) / k)


#: Step-down with alpha_i = k alpha / m (i <= k) and k alpha / (m - i + 1) (i > k): the reference
#: script's constants. Not registered; pass the object itself as ``method``. It declares the k-FWER
#: under independence only as the claim to test: that is unproven, and under the (dependent)
#: staggered_blocks law it exceeds alpha.
lenient_kfwer = StepwiseProcedure(
    name="lenient-kfwer",
    step="down",
    error_rate="kfwer",
    dependence="independent",
    raw=lambda values, ranks, m, k: np.asarray(values, dtype=np.float64) * _lenient_factor(ranks, m, k),
    critical_guess=lambda rank, m, k, alpha: alpha / _lenient_factor(rank, m, k),
    reference="the paper's reference script (App. B.2); compare Lehmann & Romano (2005), Thm 2.2",
)


def staggered_blocks(reps: int, *, n_null: int, n_false: int, k: int, alpha: float,
                     seed=None) -> SimulatedPValues:
    """p-values with ``n_false`` false nulls (p = 0) and ``n_null`` true nulls in blocks of k.

    With c = k alpha / (n_null - k + 1), one shared V ~ U(0, 1) picks at most one block b (when
    V < B c, B = n_null // k blocks); that block's k p-values are c * frac(W + j/k), j = 0..k-1,
    with W = V / c - b, so each is U(0, c) and the sorted ones satisfy p_(j) <= c j / k; every other
    true null is U(c, 1), drawn independently. Each true null is therefore exactly U(0, 1). Nulls
    left over when k does not divide n_null are independent uniforms.

    Examples
    --------
    >>> from mtest.testing.examples import staggered_blocks
    >>> sim = staggered_blocks(4, n_null=10, n_false=5, k=5, alpha=0.1, seed=0)
    >>> sim.pvalues.shape
    (4, 15)
    """
    reps = check_positive_int("reps", reps)
    n_null = check_positive_int("n_null", n_null)
    n_false = check_positive_int("n_false", n_false, 0)
    k = check_positive_int("k", k)
    alpha = check_alpha(alpha)
    if 2 * k > n_null + 1:
        raise ValueError(f"k must be at most (n_null + 1) / 2 = {(n_null + 1) / 2}; got {k}")
    rng = np.random.default_rng(seed)
    c = k * alpha / (n_null - k + 1)
    blocks = n_null // k
    if blocks * c > 1:
        raise ValueError(f"alpha too large for this construction: {blocks} blocks of probability {c}")
    v = rng.random(reps)
    nulls = c + (1 - c) * rng.random((reps, n_null))  # U(c, 1) unless a block is picked
    picked = v < blocks * c
    b = np.minimum((v / c).astype(np.int64), blocks - 1)
    w = v / c - b
    offsets = np.arange(k) / k
    rows = np.flatnonzero(picked)
    cols = b[rows, None] * k + np.arange(k)[None, :]
    nulls[rows[:, None], cols] = c * np.mod(w[rows, None] + offsets[None, :], 1.0)
    leftover = n_null - blocks * k
    if leftover:
        nulls[:, blocks * k:] = rng.random((reps, leftover))
    pvalues = np.concatenate([nulls, np.zeros((reps, n_false))], axis=1)
    is_null = np.concatenate([np.ones(n_null, bool), np.zeros(n_false, bool)])
    return SimulatedPValues(pvalues=pvalues, is_null=is_null, dependence="staggered-blocks", rho=float("nan"))
