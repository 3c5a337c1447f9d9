"""Simultaneously valid radius maps: every component certified at the largest tau of a grid.

SEGCERTIFY (Fischer et al., ICML 2021, Alg. 2) certifies every component at one threshold tau and
one radius R(tau). From the same counts, ``segcertify_radius_map`` certifies each component
at the *largest* tau_j of a grid tau_1 < ... < tau_J whose null H_ij: p_A,i <= tau_j it rejects,
and all these certificates hold together with probability at least 1 - alpha — without paying
J times in alpha.

Why no factor J: per component the nulls are nested (p <= tau_j implies p <= tau_j' for every
j' > j), the p-values P(Bin(n, tau_j) >= count) increase with j, and the certified level is the
last of a prefix of rejections. So a component's certificate can only be wrong through one
hypothesis, its first true null, and a step-down over *components* (Holm with the number of
components not yet certified at the top level in the denominator) controls the FWER over all N J
hypotheses. Proof in docs/theory.md ("Beyond the paper"); with J = 1 it is SEGCERTIFY exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validation import ReadOnlyArrays

from .binomial import pvalue_table as _binom_table
from .certify import ABSTAIN, apply_radius, check_guess_count, radius_function
from .multitest import check_k_within
from .registry import Guarantee, get_procedure
from ._validation import check_alpha, check_positive_int

__all__ = ["RadiusMapResult", "segcertify_radius_map", "nested_levels", "nested_step_down",
           "familywise_method"]


def _check_taus(taus) -> np.ndarray:
    arr = np.asarray(taus, dtype=np.float64).reshape(-1) if np.ndim(taus) <= 1 else None
    if arr is None or arr.size == 0:
        raise ValueError(f"taus must be a non-empty 1-D sequence of thresholds; got {taus!r}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.5 or arr.max() >= 1.0:
        raise ValueError(f"taus must lie in [0.5, 1); got {taus!r}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"taus must be strictly increasing; got {taus!r}")
    return arr


def familywise_method(method, k: int, alpha: float) -> tuple[str, Guarantee]:
    """The certifying procedure's name and guarantee for the nested-levels paths (radius maps,
    hierarchies): Holm or Bonferroni (any k), after ``mtest.certify.certifying_procedure``.

    Parameters
    ----------
    method : str
        A registry name or alias.
    k : int
        k of k-FWER.
    alpha : float
        Level.

    Returns
    -------
    name : str
        ``'holm'`` or ``'bonferroni'``.
    guarantee : Guarantee
        What the certified components control.
    """
    from .certify import holm_or_bonferroni

    return holm_or_bonferroni(method, k, alpha, "nested-levels", "'holm' or 'bonferroni' (any k)")


def nested_step_down(pv: np.ndarray, alpha: float, method: str, k: int = 1, weights=None) -> np.ndarray:
    """Step-down over components for nested nulls: the highest level with every level up to it
    rejected, per row of ``pv`` (-1: none).

    ``pv`` (R, J) holds one row of p-values per component (or per distinct component, with
    ``weights`` the number of components sharing the row), nondecreasing along the levels (level
    J - 1 is the hardest). 'holm': reject ``multiplier * p <= alpha`` with the number of
    components whose top level is not rejected as the multiplier, recounted until nothing moves;
    'bonferroni': the multiplier N / k throughout. The one implementation behind
    ``segcertify_radius_map`` and ``mtest.hierarchical_segcertify`` (proof in
    docs/theory.md, "Simultaneously valid radius maps").
    """
    pv = np.asarray(pv, dtype=np.float64)
    J = pv.shape[1]
    weights = np.ones(pv.shape[0], dtype=np.int64) if weights is None else np.asarray(weights)
    N = int(weights.sum())

    def levels(multiplier: float) -> np.ndarray:
        # a level counts only if every lower level is rejected too (a prefix)
        return np.logical_and.accumulate(pv * multiplier <= alpha, axis=1).sum(axis=1) - 1

    if method == "bonferroni":
        return levels(N / k)
    active = N
    while True:
        lvl = levels(float(active))
        now = int(weights[lvl < J - 1].sum())
        if now == active or now == 0:
            return lvl
        active = now


def nested_levels(table: np.ndarray, index: np.ndarray, alpha: float, method: str, k: int = 1) -> np.ndarray:
    """Certified level per component for nested nulls, from a (J, V) table of p-values.

    ``table[j, v]`` is the p-value of level j for a component whose statistic is ``v``; it must be
    nondecreasing in j (level J - 1 is the hardest). ``index`` holds each component's v. Returns
    the highest level with every level up to it rejected (-1: none), by ``nested_step_down``
    on the V distinct rows weighted by how many components have each. Levels that no component
    could reach (smallest p-value > alpha) are dropped first.
    """
    N = index.size
    # a level whose smallest p-value exceeds alpha cannot be rejected even with multiplier 1; it
    # depends on (n, alpha, grid) only, so dropping it fixes another grid in advance (valid), and
    # it keeps hopeless top levels from holding every component in Holm's multiplier
    J = int(np.count_nonzero(table.min(axis=1) <= alpha))
    if J == 0:
        return np.full(N, -1)
    hist = np.bincount(index, minlength=table.shape[1])
    by_value = nested_step_down(table[:J].T, alpha, method, k, weights=hist)
    return by_value[index]


@dataclass(frozen=True, repr=False)
class RadiusMapResult(ReadOnlyArrays):
    """Outcome of ``segcertify_radius_map``.

    Attributes
    ----------
    labels : ndarray of int
        The guess where some level is certified, ``mtest.ABSTAIN`` (-1) elsewhere.
    level : ndarray of int
        Index into ``taus`` of each component's certified threshold (-1: abstains).
    tau : ndarray of float
        Certified threshold per component (NaN where abstained).
    radius : ndarray of float
        R(tau) per component (NaN where abstained or without sigma/radius).
    taus : ndarray
        The grid.
    n_certified_per_level : ndarray of int
        How many components have each level as their certified one.
    guarantee : Guarantee
        With probability >= 1 - alpha every component's p_A,i exceeds its certified tau (all
        components and levels at once; k-FWER: fewer than k components overstated).
    n, alpha : int, float
        Counting samples and level.
    method, k : str, int
        The procedure's canonical name and k of k-FWER.
    """

    labels: np.ndarray
    level: np.ndarray
    tau: np.ndarray
    radius: np.ndarray
    taus: np.ndarray
    n_certified_per_level: np.ndarray
    n: int
    alpha: float
    method: str
    k: int
    guarantee: Guarantee

    @property
    def n_certified(self) -> int:
        return int(np.count_nonzero(self.level >= 0))

    @property
    def abstain_rate(self) -> float:
        return 1.0 - self.n_certified / self.level.size

    def certified_at(self, tau: float) -> np.ndarray:
        """Mask of components certified at a threshold of at least ``tau`` (a level of the grid)."""
        return np.where(self.level >= 0, self.tau, -np.inf) >= tau

    def __repr__(self):
        return (f"RadiusMapResult(method={self.method!r}, n={self.n}, alpha={self.alpha}, k={self.k}, "
                f"levels={self.taus.size}, components={self.level.size}, n_certified={self.n_certified}, "
                f"abstain_rate={self.abstain_rate:.4f}, guarantee='{self.guarantee}')")


def segcertify_radius_map(guess, count, *, n: int, taus, alpha: float, method: str = "holm", k: int = 1,
                          sigma: float | None = None, radius: Callable | None = None) -> RadiusMapResult:
    """Certify every component at the largest tau of a grid, all certificates valid together.

    For component i and level j the null is H_ij: p_A,i <= tau_j with p-value
    P(Bin(n, tau_j) >= count_i). Each component's certified level is the highest j such that
    H_i1, ..., H_ij are all rejected by a step-down over components: at each step the
    multiplier is the number of components whose top level tau_J is not yet rejected ('holm'),
    or N / k throughout ('bonferroni'). With probability at least 1 - alpha every certified
    component has p_A,i > tau(level_i) and is robust within R(tau(level_i)) — a radius *map*
    whose certified-accuracy-vs-radius curve is simultaneously valid. With ``taus=[tau]`` this is
    SEGCERTIFY (same rejections). Proof: docs/theory.md.

    Parameters
    ----------
    guess, count : array_like of int
        As in ``mtest.segcertify`` (guess from n0 separate samples; 0 <= count <= n).
    n : int
        Counting samples.
    taus : sequence of float
        Strictly increasing thresholds in [0.5, 1).
    alpha : float
        Level in (0, 1).
    method : {'holm', 'bonferroni'} or alias
        Only FWER/k-FWER procedures valid under arbitrary dependence are accepted.
    k : int
        k-FWER with 'bonferroni'; at most the number of components (k > N is refused).
    sigma, radius
        Radius function as in ``mtest.segcertify``.

    Returns
    -------
    RadiusMapResult

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Algorithm 2 (one threshold; here a grid of nested ones).

    Examples
    --------
    >>> import numpy as np, mtest
    >>> res = mtest.segcertify_radius_map([0, 1, 2, 1], [100, 97, 60, 90], n=100,
    ...                                   taus=[0.5, 0.75, 0.9], alpha=0.001, sigma=0.25)
    >>> res.tau
    array([0.9 , 0.75,  nan, 0.75])
    >>> np.round(res.radius, 3)
    array([0.32 , 0.169,   nan, 0.169])
    >>> res.labels
    array([ 0,  1, -1,  1])
    """
    n = check_positive_int("n", n)
    alpha = check_alpha(alpha)
    k = check_positive_int("k", k)
    taus = _check_taus(taus)
    name, g = familywise_method(method, k, alpha)
    fn = radius_function(sigma, radius)
    guess, count = check_guess_count(guess, count, n)
    if count.size == 0:
        raise ValueError("count must hold at least one component; got an empty array")
    check_k_within(k, count.size, " (components)")
    table = np.stack([_binom_table(n, t, "greater") for t in taus])
    # p-values grow with tau mathematically; a running max keeps rounding from breaking that
    table = np.maximum.accumulate(table, axis=0)
    flat = count.reshape(-1).astype(np.intp)
    level = nested_levels(table, flat, alpha, name, k).reshape(count.shape)
    certified = level >= 0
    tau = np.where(certified, taus[np.maximum(level, 0)], np.nan)
    rad = np.where(certified, apply_radius(fn, np.where(certified, tau, taus[0])), np.nan)
    per_level = np.bincount(level[certified].reshape(-1), minlength=taus.size)
    return RadiusMapResult(labels=np.where(certified, guess, ABSTAIN), level=level, tau=tau, radius=rad,
                           taus=taus.copy(), n_certified_per_level=per_level, n=n, alpha=alpha, method=name,
                           k=k, guarantee=g)
