"""Reusable assertions about multiple-testing procedures (use them in your own tests).

A *procedure* here is a callable ``(pvalues, alpha) -> boolean reject mask``;
``procedure`` turns a registered method into one.
"""
from __future__ import annotations

import numpy as np

__all__ = ["procedure", "assert_rejections_contain", "assert_monotone_in_alpha",
           "assert_permutation_equivariant", "assert_consistent_with_adjusted", "pvalues_with_ties"]


def procedure(method, k: int = 1, nan_policy: str = "raise"):
    """``(pvalues, alpha) -> reject mask`` for a registered method.

    Parameters
    ----------
    method : str or Procedure
        A registered name or alias, or a procedure object.
    k : int
        k of k-FWER.
    nan_policy : {'raise', 'omit'}
        As in ``mtest.reject``.

    Returns
    -------
    callable
        ``(pvalues, alpha) -> reject mask`` (a NumPy bool array).
    """
    from ..multitest import reject
    from ..registry import get_procedure

    proc = get_procedure(method)

    def run(pvalues, alpha):
        return np.asarray(reject(pvalues, alpha, proc, k=k, nan_policy=nan_policy).reject)

    run.__name__ = proc.name
    return run


def _where(mask) -> str:
    idx = np.flatnonzero(mask)
    return f"{idx.size} hypotheses, first at indices {idx[:5].tolist()}"


def assert_rejections_contain(larger, smaller, pvalues, alpha: float) -> None:
    """Every hypothesis ``smaller`` rejects, ``larger`` rejects too (e.g. Holm ⊇ Bonferroni).

    Parameters
    ----------
    larger, smaller : callable
        ``(pvalues, alpha) -> reject mask``; ``larger`` must reject everything ``smaller`` does.
    pvalues : array_like of float
        p-values.
    alpha : float
        The level.

    Returns
    -------
    None
        Raises ``AssertionError`` naming a hypothesis rejected by ``smaller`` only.
    """
    big, small = np.asarray(larger(pvalues, alpha)), np.asarray(smaller(pvalues, alpha))
    extra = small & ~big
    if extra.any():
        raise AssertionError(f"{getattr(smaller, '__name__', smaller)} rejects {_where(extra)} that "
                             f"{getattr(larger, '__name__', larger)} does not (alpha={alpha})")


def assert_monotone_in_alpha(proc, pvalues, alphas) -> None:
    """Rejections grow with alpha.

    Parameters
    ----------
    proc : callable
        ``(pvalues, alpha) -> reject mask`` (e.g. ``procedure('holm')``).
    pvalues : array_like of float
        p-values.
    alphas : sequence of float
        Increasing levels.

    Returns
    -------
    None
        Raises ``AssertionError`` when a larger level rejects less.
    """
    alphas = sorted(alphas)
    prev = None
    for a in alphas:
        cur = np.asarray(proc(pvalues, a))
        if prev is not None and (prev[1] & ~cur).any():
            raise AssertionError(f"{getattr(proc, '__name__', proc)} rejects {_where(prev[1] & ~cur)} "
                                 f"at alpha={prev[0]} but not at the larger alpha={a}")
        prev = (a, cur)


def assert_permutation_equivariant(proc, pvalues, alpha: float, seed=None) -> None:
    """Permuting the p-values permutes the rejections the same way.

    Parameters
    ----------
    proc : callable
        ``(pvalues, alpha) -> reject mask``.
    pvalues : array_like of float
        p-values.
    alpha : float
        The level.
    seed : int or numpy.random.Generator, optional
        Randomness of the permutation.

    Returns
    -------
    None
        Raises ``AssertionError`` when the rejections do not follow the permutation.
    """
    pvalues = np.asarray(pvalues)
    perm = np.random.default_rng(seed).permutation(pvalues.size)
    a = np.asarray(proc(pvalues, alpha))[perm]
    b = np.asarray(proc(pvalues[perm], alpha))
    if not np.array_equal(a, b):
        raise AssertionError(f"{getattr(proc, '__name__', proc)} is not permutation-equivariant: "
                             f"{_where(a != b)} differ after permuting (alpha={alpha})")


def assert_consistent_with_adjusted(reject, adjusted, alpha: float, pvalues=None, threshold=None) -> None:
    """reject == (adjusted <= alpha) where tested; adjusted in [0, 1]; and, if given, the rejection
    set equals {p <= threshold}. NaN adjusted values must not be rejected.

    Parameters
    ----------
    reject : array_like of bool
        A procedure's rejections.
    adjusted : array_like of float
        Its adjusted p-values (NaN where not tested).
    alpha : float
        The level.
    pvalues : array_like of float, optional
        The p-values, to check the rejection set against ``threshold``.
    threshold : float, optional
        The reported threshold.

    Returns
    -------
    None
        Raises ``AssertionError`` on the first inconsistency.
    """
    reject = np.asarray(reject)
    adjusted = np.asarray(adjusted, dtype=np.float64)
    tested = ~np.isnan(adjusted)
    expected = np.where(tested, adjusted <= alpha, False)
    if not np.array_equal(reject, expected):
        raise AssertionError(f"reject differs from adjusted <= {alpha} at {_where(reject != expected)}")
    if np.any((adjusted[tested] < 0) | (adjusted[tested] > 1)):
        raise AssertionError("adjusted p-values outside [0, 1]")
    if pvalues is not None and threshold is not None:
        p = np.asarray(pvalues, dtype=np.float64)
        by_threshold = np.where(tested, p <= threshold, False)
        if not np.array_equal(reject, by_threshold):
            raise AssertionError(f"rejections differ from p <= threshold ({threshold!r}) at "
                                 f"{_where(reject != by_threshold)}")


def pvalues_with_ties(size: int, *, ties: bool = True, seed=None) -> np.ndarray:
    """Uniform p-values with ties, exact 0 and 1 and tiny values mixed in (for differential tests).

    ``seed`` is anything ``numpy.random.default_rng`` takes (a ``Generator`` is used as is).

    Parameters
    ----------
    size : int
        Number of p-values.
    ties : bool
        Mix in ties, exact 0 and 1 and tiny values (False: plain uniform values).
    seed : int or numpy.random.Generator, optional
        Randomness.

    Returns
    -------
    ndarray
        float64 p-values in [0, 1].

    Examples
    --------
    >>> from mtest.testing import pvalues_with_ties
    >>> pvalues_with_ties(1000, seed=0).shape
    (1000,)
    """
    rng = np.random.default_rng(seed)
    p = rng.random(size)
    if ties and size > 3:
        pool = rng.random(max(1, size // 10))
        idx = rng.random(size) < 0.3
        p[idx] = pool[rng.integers(0, pool.size, idx.sum())]
        p[rng.random(size) < 0.05] = 0.0
        p[rng.random(size) < 0.05] = 1.0
        tiny = rng.random(size) < 0.2
        p[tiny] = 10.0 ** rng.uniform(-10, -2, tiny.sum())
    return p
