"""p-values with known truth from a Gaussian copula, vectorized over repetitions.

Each repetition draws z ~ N(mu, Sigma) with unit variances and returns one-sided p-values
``p = 1 - Phi(z)``. True nulls have mu = 0, so their p-values are exactly uniform whatever the
dependence; false nulls have mu = ``effect``. The correlation structures:

``'independent'``
    Sigma = I.
``'equicorrelated'``
    Sigma_ij = rho for i != j (rho in [0, 1)): one shared factor, positive dependence.
``'block'``
    Equicorrelated with ``rho`` inside consecutive blocks of ``block_size``, independent across.
``'negative'``
    Inside blocks of ``block_size`` the exchangeable structure with the most negative possible
    correlation, -1/(block_size - 1) (block_size = 2: antithetic pairs z, -z).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .._validation import check_choice, check_positive_int, check_probability

__all__ = ["DEPENDENCE", "SimulatedPValues", "gaussian_pvalues"]

DEPENDENCE = ("independent", "equicorrelated", "block", "negative")


@dataclass(frozen=True)
class SimulatedPValues:
    """p-values of ``reps`` repetitions (rows) of ``m`` hypotheses; ``is_null`` marks true nulls.

    Attributes
    ----------
    pvalues : ndarray of float
        Shape (reps, m).
    is_null : ndarray of bool
        Shape (m,): which hypotheses are true nulls.
    dependence : str
        The dependence that generated them.
    rho : float
        Its correlation parameter.
    """

    pvalues: np.ndarray
    is_null: np.ndarray
    dependence: str
    rho: float


def _null_mask(m, n_null, null_mask):
    if null_mask is not None:
        mask = np.asarray(null_mask, dtype=bool)
        if mask.shape != (m,):
            raise ValueError(f"null_mask must have shape ({m},); got {mask.shape}")
        return mask
    n_null = m if n_null is None else check_positive_int("n_null", n_null, 0)
    if n_null > m:
        raise ValueError(f"n_null must be <= m ({m}); got {n_null}")
    mask = np.zeros(m, dtype=bool)
    mask[:n_null] = True
    return mask


def gaussian_pvalues(reps: int, m: int, *, n_null: int | None = None, null_mask=None,
                     effect: float = 3.0, dependence: str = "independent", rho: float = 0.5,
                     block_size: int = 10, seed=None, dtype=np.float64) -> SimulatedPValues:
    """Simulate one-sided p-values under a Gaussian copula (see the module docstring).

    Parameters
    ----------
    reps, m : int
        Repetitions and hypotheses per repetition.
    n_null : int, optional
        The first ``n_null`` hypotheses are true nulls (default: all). Or give ``null_mask``.
    null_mask : array_like of bool, optional
        Shape (m,): which hypotheses are true nulls (instead of ``n_null``).
    effect : float
        Mean shift of the false nulls' z-statistics.
    dependence : {'independent', 'equicorrelated', 'block', 'negative'}
    rho : float
        Correlation for 'equicorrelated' and 'block', in [0, 1).
    block_size : int
        Block length for 'block' and 'negative' (at least 2 for 'negative').
    seed : int or numpy.random.Generator
    dtype : {numpy.float64, numpy.float32}

    Returns
    -------
    SimulatedPValues

    Examples
    --------
    >>> from mtest.testing import gaussian_pvalues
    >>> sim = gaussian_pvalues(reps=3, m=5, n_null=4, dependence="equicorrelated", rho=0.5, seed=1)
    >>> sim.pvalues.shape, int(sim.is_null.sum())
    ((3, 5), 4)
    """
    reps = check_positive_int("reps", reps)
    m = check_positive_int("m", m)
    check_choice("dependence", dependence, DEPENDENCE)
    rho = check_probability("rho", rho, high=1.0, high_open=True)
    block_size = check_positive_int("block_size", block_size, 2 if dependence == "negative" else 1)
    is_null = _null_mask(m, n_null, null_mask)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((reps, m))
    if dependence == "equicorrelated":
        z *= np.sqrt(1.0 - rho)
        z += np.sqrt(rho) * rng.standard_normal((reps, 1))
    elif dependence in ("block", "negative"):
        n_blocks = -(-m // block_size)
        block = np.repeat(np.arange(n_blocks), block_size)[:m]
        if dependence == "block":
            z *= np.sqrt(1.0 - rho)
            z += np.sqrt(rho) * rng.standard_normal((reps, n_blocks))[:, block]
        else:
            sizes = np.bincount(block)
            means = np.add.reduceat(z, np.arange(0, m, block_size), axis=1) / sizes
            # centring inside a block of size b gives correlation -1/(b-1); rescale to unit variance
            scale = np.where(sizes > 1, np.sqrt(sizes / np.maximum(sizes - 1, 1)), 1.0)
            z = np.where(sizes[block] > 1, (z - means[:, block]) * scale[block], z)
    z[:, ~is_null] += effect
    pvalues = ndtr(-z).astype(dtype, copy=False)
    return SimulatedPValues(pvalues=pvalues, is_null=is_null, dependence=dependence,
                            rho=rho if dependence in ("equicorrelated", "block") else
                            (-1.0 / (block_size - 1) if dependence == "negative" else 0.0))
