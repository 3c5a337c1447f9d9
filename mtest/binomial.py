"""Exact binomial tests and Clopper–Pearson bounds, vectorized.

``BINPVALUE`` and ``LOWERCONFBND`` of the paper's Algorithms 1 and 2 (Fischer et al., ICML 2021,
§3 and §5). When many components share ``n`` and ``p`` — the SEGCERTIFY case — the n + 1 possible
p-values are computed once as a table and gathered, never one scipy call per component. When the
table would cost more than the question (few counts, huge n), each p-value is computed directly
(two-sided: scipy's binary search with the pmf evaluated, not tabulated), so n = 10^9 costs
milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import ReadOnlyArrays
from scipy.special import betainc, betaincc, betainccinv, betaincinv
from scipy.stats import binom

from . import _repr
from ._lazy import kernels_module
from ._validation import as_int_array, check_alpha, check_choice

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["binom_pvalue", "binom_pvalue_table", "clopper_pearson", "ConfidenceInterval",
           "binomtest", "BinomTestResult", "pvalue_table", "table_and_index"]

_ALTERNATIVES = ("greater", "less", "two-sided")


def _check_n(n) -> np.ndarray:
    arr = as_int_array("n", n)
    if arr.size and arr.min() < 1:
        raise ValueError(f"n must be >= 1; got {arr.min()}")
    return arr


def _check_k(k, n) -> np.ndarray:
    arr = as_int_array("k", k)
    if arr.size and np.ndim(n) == 0 and arr.min() >= 0 and arr.max() <= n:
        return arr  # two reductions, no temporaries: the common case of a shared n
    if arr.size:
        bad = (arr < 0) | (arr > n)
        if np.any(bad):
            i = np.flatnonzero(np.broadcast_to(bad, np.broadcast_shapes(arr.shape, np.shape(n))))[0]
            kb = np.broadcast_to(arr, np.broadcast_shapes(arr.shape, np.shape(n))).ravel()[i]
            nb = np.broadcast_to(n, np.broadcast_shapes(arr.shape, np.shape(n))).ravel()[i]
            raise ValueError(f"k must satisfy 0 <= k <= n; got k={kb} with n={nb} at flat index {i}")
    return arr


def _check_p(p) -> np.ndarray:
    try:
        raw = None if isinstance(p, (bool, np.bool_, str)) else np.asarray(p)
        # bool, complex, strings: refused rather than reinterpreted
        arr = raw.astype(np.float64) if raw is not None and raw.dtype.kind in "iufO" else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or not np.all((arr >= 0) & (arr <= 1)):
        raise ValueError(f"p must lie in [0, 1]; got {p!r}")
    return arr


def binom_pvalue_table(n: int, p: float, alternative: str = "greater") -> np.ndarray:
    """The exact p-values for every k in 0..n (length n + 1), as scipy ``binomtest`` computes them.

    Parameters
    ----------
    n : int
        Trials (>= 0).
    p : float
        Success probability under the null, in [0, 1].
    alternative : {'greater', 'less', 'two-sided'}
        ``'greater'``: P(X >= k); ``'less'``: P(X <= k); ``'two-sided'``: scipy's rule (the
        probability of outcomes no more likely than k).

    Returns
    -------
    ndarray
        float64, length n + 1: the p-value of every k in 0..n.

    Examples
    --------
    >>> from mtest import binom_pvalue_table
    >>> binom_pvalue_table(3, 0.5, "greater")
    array([1.   , 0.875, 0.5  , 0.125])
    """
    n_arr, p_arr = _check_n(n), _check_p(p)
    if n_arr.ndim or p_arr.ndim:
        raise ValueError(f"n and p must be single numbers (one table); got n={n!r}, p={p!r}")
    check_choice("alternative", alternative, _ALTERNATIVES)
    return pvalue_table(int(n_arr), float(p_arr), alternative)


def pvalue_table(n: int, p: float, alternative: str) -> np.ndarray:
    """The n + 1 binomial p-values of the counts 0..n, without validation.

    The shared internal of ``binom_pvalue_table``, certification, power and radius maps:
    callers have validated ``n`` (int >= 0), ``p`` and ``alternative``.

    Parameters
    ----------
    n : int
        Trials.
    p : float
        Success probability under the null.
    alternative : {'greater', 'less', 'two-sided'}
        As in ``binom_pvalue``.

    Returns
    -------
    ndarray
        float64 p-values of k = 0..n.
    """
    x = np.arange(n + 1)
    if alternative == "greater":
        return binom.sf(x - 1, n, p)
    if alternative == "less":
        return binom.cdf(x, n, p)
    pmf = binom.pmf(x, n, p)
    x_pad = np.arange(-1, n + 1)  # cdf/sf at x = -1 .. n
    return _kernels.binom_two_sided_table(pmf, binom.cdf(x_pad, n, p), binom.sf(x_pad, n, p), n, p)


def binom_pvalue(k, n, p, alternative: str = "greater") -> np.ndarray:
    """Exact binomial test p-values, vectorized over ``k`` (and ``n``, ``p``).

    Equal to ``scipy.stats.binomtest(k, n, p, alternative).pvalue`` element by element
    (two-sided: the sum of the probabilities of outcomes no more likely than ``k``, with scipy's
    relative tolerance 1e-7). SEGCERTIFY uses ``alternative='greater'``: H0: p_A <= tau.

    Parameters
    ----------
    k : array_like of int
        Successes, ``0 <= k <= n``.
    n : int or array_like of int
        Trials, at least 1; broadcast against ``k``.
    p : float or array_like
        Success probability under the null, in [0, 1].
    alternative : {'greater', 'less', 'two-sided'}

    Returns
    -------
    ndarray of float64, the broadcast shape of ``k``, ``n``, ``p``.

    References
    ----------
    .. [1] Lehmann, E. L. and Romano, J. P. (2005). Testing Statistical Hypotheses, 3rd ed.
           Springer. §3.4 (one-sided), §4.4 (two-sided binomial tests).

    Examples
    --------
    >>> import mtest
    >>> mtest.binom_pvalue([7, 10], 10, 0.5, alternative="greater")
    array([0.171875  , 0.00097656])
    >>> float(mtest.binom_pvalue(2, 10, 0.5, alternative="two-sided"))
    0.109375
    """
    check_choice("alternative", alternative, _ALTERNATIVES)
    n_arr = _check_n(n)
    p_arr = _check_p(p)
    k_arr = _check_k(k, n_arr)
    if n_arr.ndim == 0 and p_arr.ndim == 0 and _table_pays(k_arr.size, int(n_arr), alternative):
        table = pvalue_table(int(n_arr), float(p_arr), alternative)
        index = np.ascontiguousarray(k_arr).reshape(-1)
        out = np.empty(index.size, dtype=np.float64)
        _kernels.gather(table, index, out)
        return out.reshape(k_arr.shape)
    k_b, n_b, p_b = np.broadcast_arrays(k_arr, n_arr, p_arr)
    if alternative != "two-sided" or k_b.size == 0:
        return _direct(k_b, n_b, p_b, alternative)
    # two-sided with varying (n, p): one table per distinct pair where that is cheaper
    pairs = np.stack([n_b.ravel().astype(np.float64), p_b.ravel()], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    if _TWO_SIDED_TABLE_COST * (uniq[:, 0] + 1).sum() > k_b.size * _two_sided_direct_cost(uniq[:, 0].max()):
        return _direct(k_b, n_b, p_b, alternative)
    out = np.empty(k_b.shape, dtype=np.float64)
    flat_k = k_b.ravel()
    flat_out = out.reshape(-1)
    for j, (nj, pj) in enumerate(uniq):
        sel = inverse.ravel() == j
        flat_out[sel] = pvalue_table(int(nj), float(pj), "two-sided")[flat_k[sel]]
    return out


#: cost of one two-sided table entry (pmf, cdf and sf), in pmf evaluations
_TWO_SIDED_TABLE_COST = 3


def _two_sided_direct_cost(n) -> float:
    """pmf evaluations of one direct two-sided p-value: a binary search over half the support."""
    return float(np.log2(float(n) + 2.0)) + 4.0


def _table_pays(size: int, n: int, alternative: str) -> bool:
    """Whether tabulating all n + 1 p-values is cheaper than ``size`` direct evaluations."""
    if alternative == "two-sided":
        return _TWO_SIDED_TABLE_COST * (n + 1) <= size * _two_sided_direct_cost(n)
    return n + 1 <= size


def table_and_index(k, n: int, p: float, alternative: str):
    """(table, index) with ``table[index]`` the p-values of the counts ``k`` (shared n and p).

    The full table of n + 1 p-values (index = k) when the counts are many enough to pay for it;
    otherwise the p-values of the distinct counts only, so a huge n costs nothing. Either way
    ``mtest.reject_table`` gives the same answer.
    """
    k = np.asarray(k)
    if _table_pays(k.size, n, alternative):
        return pvalue_table(n, p, alternative), k
    distinct, index = np.unique(k, return_inverse=True)
    return _direct(distinct, n, p, alternative), index.reshape(k.shape)


def _direct(k, n, p, alternative: str) -> np.ndarray:
    """The p-values element by element (k, n, p broadcast), as scipy ``binomtest`` computes them."""
    k, n, p = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64),
                                  np.asarray(p, dtype=np.float64))
    if alternative == "greater":
        return binom.sf(k - 1, n, p)
    if alternative == "less":
        return binom.cdf(k, n, p)
    return _two_sided(k, n, p)


def _two_sided(k, n, p) -> np.ndarray:
    """scipy's two-sided ``binomtest`` p-values, vectorized: P(outcomes no more likely than k),
    relative tolerance 1e-7, with the binary search over the far side of the mode evaluating the
    pmf directly (O(log n) evaluations per p-value, no table)."""
    shape = k.shape
    k, n, p = k.ravel(), n.ravel(), p.ravel()
    rerr = 1.0 + 1e-7
    d = binom.pmf(k, n, p)
    pn = p * n
    out = np.ones(k.size)
    below = np.flatnonzero(k < pn)
    above = np.flatnonzero(k > pn)
    if below.size:  # the terms above the mode that are no more likely than k
        nb, pb = n[below], p[below]
        ix = _search(nb, pb, -1.0, -d[below] * rerr, np.ceil(pn[below]), nb.copy())
        y = nb - ix + (d[below] * rerr == binom.pmf(ix, nb, pb))
        out[below] = binom.cdf(k[below], nb, pb) + binom.sf(nb - y, nb, pb)
    if above.size:  # the terms below the mode that are no more likely than k
        na, pa = n[above], p[above]
        y = _search(na, pa, 1.0, d[above] * rerr, np.zeros(above.size), np.floor(pn[above])) + 1
        out[above] = binom.cdf(y - 1, na, pa) + binom.sf(k[above] - 1, na, pa)
    return np.minimum(out, 1.0).reshape(shape)


def _search(n, p, sign, target, lo, hi):
    """scipy's ``_binary_search_for_binom_tst`` on a(x) = sign * pmf(x), all elements at once:
    the i in [lo - 1, hi] with a(i) <= target < a(i + 1) (lo, hi: float arrays of integers)."""
    result = np.empty(lo.size)
    done = np.zeros(lo.size, dtype=bool)
    while True:
        idx = np.flatnonzero(~done & (lo < hi))
        if idx.size == 0:
            break
        mid = lo[idx] + np.floor((hi[idx] - lo[idx]) / 2)
        midval = sign * binom.pmf(mid, n[idx], p[idx])
        less = midval < target[idx]
        more = midval > target[idx]
        equal = ~less & ~more
        lo[idx[less]] = mid[less] + 1
        hi[idx[more]] = mid[more] - 1
        result[idx[equal]] = mid[equal]
        done[idx[equal]] = True
    rest = np.flatnonzero(~done)
    if rest.size:
        at_lo = sign * binom.pmf(lo[rest], n[rest], p[rest]) <= target[rest]
        result[rest] = np.where(at_lo, lo[rest], lo[rest] - 1)
    return result


@dataclass(frozen=True)
class ConfidenceInterval(ReadOnlyArrays):
    """Bounds of a confidence interval (arrays of the inputs' broadcast shape).

    Attributes
    ----------
    low, high : ndarray
        Lower and upper bounds.
    """

    low: np.ndarray
    high: np.ndarray

    def __repr__(self) -> str:
        if np.size(self.low) <= 1 and np.size(self.high) <= 1:
            return f"ConfidenceInterval(low={_repr.value(self.low)}, high={_repr.value(self.high)})"
        return (f"ConfidenceInterval(shape={np.shape(self.low)}, low in {_repr.interval(self.low)}, "
                f"high in {_repr.interval(self.high)})")


def clopper_pearson(k, n, alpha: float, alternative: str = "greater") -> ConfidenceInterval:
    """Exact Clopper–Pearson confidence bounds for a binomial proportion.

    ``'greater'``: the one-sided lower bound at confidence 1 - alpha (``LOWERCONFBND`` of Cohen's
    CERTIFY, paper Alg. 1), ``high`` = 1; equal to statsmodels
    ``proportion_confint(k, n, alpha=2*alpha, method='beta')[0]``. ``'less'``: the one-sided upper
    bound, ``low`` = 0. ``'two-sided'``: the equal-tailed interval at 1 - alpha.

    Parameters
    ----------
    k, n : array_like of int
    alpha : float in (0, 1)
    alternative : {'greater', 'less', 'two-sided'}

    Returns
    -------
    ConfidenceInterval

    References
    ----------
    .. [1] Clopper, C. J. and Pearson, E. S. (1934). Biometrika 26(4), 404-413.

    Examples
    --------
    >>> import mtest
    >>> ci = mtest.clopper_pearson(95, 100, alpha=0.001)
    >>> round(float(ci.low), 6)
    0.844633
    """
    alpha = check_alpha(alpha)
    check_choice("alternative", alternative, _ALTERNATIVES)
    n_arr = _check_n(n)
    k_arr = _check_k(k, n_arr)
    if n_arr.ndim == 0 and k_arr.size > 2 * (int(n_arr) + 1):
        # shared n: n + 1 bounds, then a gather (the same values, elementwise)
        table = clopper_pearson(np.arange(int(n_arr) + 1), n_arr, alpha, alternative)
        flat = np.ascontiguousarray(k_arr).reshape(-1)
        low = np.empty(flat.size)
        high = np.empty(flat.size)
        _kernels.gather(np.asarray(table.low, dtype=np.float64), flat, low)
        _kernels.gather(np.asarray(table.high, dtype=np.float64), flat, high)
        return ConfidenceInterval(low=low.reshape(k_arr.shape), high=high.reshape(k_arr.shape))
    k_f, n_f = np.broadcast_arrays(k_arr.astype(np.float64), n_arr.astype(np.float64))
    tail = alpha / 2 if alternative == "two-sided" else alpha
    low = np.zeros(k_f.shape)
    high = np.ones(k_f.shape)
    if alternative in ("greater", "two-sided"):
        pos = k_f > 0
        # P(Bin(n, low) >= k) = tail: the regularized incomplete beta I_low(k, n - k + 1)
        low[pos] = _solve_tail(k_f[pos], n_f[pos] - k_f[pos] + 1, tail, upper=False)
    if alternative in ("less", "two-sided"):
        below = k_f < n_f
        # P(Bin(n, high) <= k) = tail: the complement 1 - I_high(k + 1, n - k), never 1 - tiny
        high[below] = _solve_tail(k_f[below] + 1, n_f[below] - k_f[below], tail, upper=True)
    if k_f.ndim == 0:
        low, high = low[()], high[()]
    return ConfidenceInterval(low=low, high=high)


#: relative accuracy a closed-form inverse must show to be kept (else: bisection)
_CP_RTOL = 1e-12


def _solve_tail(a, b, tail: float, *, upper: bool) -> np.ndarray:
    """Clopper–Pearson bound: x with I_x(a, b) = tail (lower) or 1 - I_x(a, b) = tail (upper).

    scipy's inverse (``betaincinv`` / ``betainccinv``) answers almost everywhere; for tiny tails
    it can return NaN or a wrong root (``beta.ppf(1e-100, 2, 4)`` is 3.6x too large). Each
    answer is therefore checked against the forward function, which stays accurate there: the
    true root must lie within a relative 1e-12 of it. Where not, a bisection over the doubles
    finds the bound, the largest x with I_x <= tail (lower) or the smallest with
    1 - I_x <= tail (upper), so the bound errs on the conservative side.
    """
    fun, inverse = (betaincc, betainccinv) if upper else (betainc, betaincinv)
    with np.errstate(all="ignore"):
        x = inverse(a, b, tail)
        ok = np.isfinite(x) & (x >= 0) & (x <= 1)
        x = np.where(ok, x, 0.5)
        below = fun(a, b, x * (1 - _CP_RTOL))
        above = fun(a, b, np.minimum(1.0, x * (1 + _CP_RTOL)))
        # I_x increases in x, its complement decreases: the root is bracketed by the two
        ok &= (above <= tail) & (tail <= below) if upper else (below <= tail) & (tail <= above)
    if not ok.all():
        x[~ok] = _bisect_tail(fun, a[~ok], b[~ok], tail, upper)
    return x


def _bisect_tail(fun, a, b, tail: float, upper: bool) -> np.ndarray:
    """Bisection over the bit patterns of the doubles in [0, 1] (at most 64 steps)."""
    lo = np.zeros(a.shape, dtype=np.int64)                      # 0.0
    hi = np.full(a.shape, np.float64(1.0).view(np.int64))       # 1.0
    with np.errstate(all="ignore"):
        while True:
            open_ = hi - lo > 1
            if not open_.any():
                break
            mid = lo + (hi - lo) // 2
            value = fun(a, b, mid.view(np.float64))
            # lower: keep I_lo <= tail < I_hi; upper: keep 1 - I_lo > tail >= 1 - I_hi
            go_up = value > tail if upper else value <= tail
            lo = np.where(open_ & go_up, mid, lo)
            hi = np.where(open_ & ~go_up, mid, hi)
    return (hi if upper else lo).view(np.float64)


@dataclass(frozen=True)
class BinomTestResult(ReadOnlyArrays):
    """One exact binomial test (scipy ``BinomTestResult`` style).

    Attributes
    ----------
    k, n, p : int, int, float
        Successes, trials and the null probability of success.
    alternative : {'two-sided', 'greater', 'less'}
        The alternative hypothesis.
    statistic : float
        The estimated proportion k / n.
    pvalue : float
        The exact p-value.
    """

    k: int
    n: int
    p: float
    alternative: str
    statistic: float
    pvalue: float

    def proportion_ci(self, confidence_level: float = 0.95) -> ConfidenceInterval:
        """Clopper–Pearson interval for the success probability, matching ``alternative``."""
        alt = {"two-sided": "two-sided", "greater": "greater", "less": "less"}[self.alternative]
        return clopper_pearson(self.k, self.n, 1 - confidence_level, alternative=alt)


def binomtest(k: int, n: int, p: float = 0.5, alternative: str = "two-sided") -> BinomTestResult:
    """A single exact binomial test with a result object (as ``scipy.stats.binomtest``).

    Parameters
    ----------
    k : int
        Successes.
    n : int
        Trials (>= k).
    p : float
        Success probability under the null.
    alternative : {'two-sided', 'greater', 'less'}
        The alternative hypothesis.

    Returns
    -------
    BinomTestResult
        ``pvalue``, ``statistic`` (k / n) and the inputs; ``proportion_ci`` gives the
        Clopper–Pearson interval.

    References
    ----------
    .. [1] Clopper, C. J. and Pearson, E. S. (1934). The use of confidence or fiducial limits
           illustrated in the case of the binomial. Biometrika 26(4), 404-413.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.binomtest(7, 10, 0.5, alternative="greater")
    >>> res.pvalue, res.statistic
    (0.171875, 0.7)
    """
    for name, v in (("k", k), ("n", n)):
        if np.ndim(v) != 0:
            raise ValueError(f"{name} must be a single integer; use binom_pvalue for arrays; got {v!r}")
    pvalue = float(binom_pvalue(k, n, p, alternative))
    return BinomTestResult(k=int(k), n=int(n), p=float(p), alternative=alternative,
                           statistic=int(k) / int(n), pvalue=pvalue)
