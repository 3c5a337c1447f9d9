"""Storey's q-values and π₀ estimates, as Bioconductor's ``qvalue`` package computes them.

The q-value of a p-value is the smallest false discovery rate at which it is called significant
(Storey 2002; Storey & Tibshirani 2003). With π₀, the proportion of true null hypotheses,
estimated from the p-values above a threshold λ, the q-values are π₀ times the Benjamini–Hochberg
adjusted p-values. ``qvalue`` follows R's ``qvalue::qvalue`` / ``qvalue::pi0est`` (version 2.30)
step by step, including its cubic smoothing spline (``smooth.spline(λ, π₀(λ), df = 3)``), so that
pipelines that called R for q-values get the same numbers (the tests pin R's outputs).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import ReadOnlyArrays

from ._smooth_spline import smooth_spline_df
from ._validation import show_value, as_pvalues, check_choice, check_probability

__all__ = ["QValueResult", "qvalue"]

#: R's ``seq(0.05, 0.95, 0.05)``, bit for bit
DEFAULT_LAMBDA = np.minimum(0.05 + np.arange(19) * 0.05, 0.95)
PI0_METHODS = ("smoother", "bootstrap")


@dataclass(frozen=True, repr=False)
class QValueResult(ReadOnlyArrays):
    """Result of ``qvalue``.

    Attributes
    ----------
    qvalues : ndarray or pandas.Series
        The q-values, float64, in the input's shape (a Series keeps its index); NaN where the
        input was NaN (``nan_policy='omit'``).
    pi0 : float
        The estimate of π₀ used (or the ``pi0`` that was given).
    pi0_method : {'smoother', 'bootstrap', 'given'}
        How π₀ was obtained (``'given'`` when ``pi0`` was passed).
    lambda_ : ndarray or None
        The λ values, sorted (None when ``pi0`` was given).
    pi0_lambda : ndarray or None
        π₀(λ) = #{p ≥ λ} / (m (1 − λ)) at each λ.
    pi0_smooth : ndarray or None
        The smoothed π₀(λ) (smoother method only).
    fdr_level : float or None
        The level given, if any.
    significant : ndarray, pandas.Series or None
        ``qvalues <= fdr_level`` (False at NaN) when ``fdr_level`` was given.
    pfdr : bool
        Whether the q-values are for the positive FDR.
    """

    qvalues: Any
    pi0: float
    pi0_method: str
    lambda_: np.ndarray | None
    pi0_lambda: np.ndarray | None
    pi0_smooth: np.ndarray | None
    fdr_level: float | None
    significant: Any
    pfdr: bool

    def __repr__(self) -> str:
        m = int(np.count_nonzero(~np.isnan(np.asarray(self.qvalues))))
        text = f"QValueResult(m={m}, pi0={self.pi0:.6g}, pi0_method={self.pi0_method!r}"
        if self.fdr_level is not None:
            text += f", significant={int(np.count_nonzero(np.asarray(self.significant)))} at fdr_level={self.fdr_level:g}"
        return text + ")"


def qvalue(p, *, fdr_level: float | None = None, pi0: float | None = None, lambda_=None,
           pi0_method: str = "smoother", smooth_df: float = 3, smooth_log_pi0: bool = False,
           pfdr: bool = False, nan_policy: str = "raise") -> QValueResult:
    """Storey's q-values, with π₀ estimated as by Bioconductor's ``qvalue``.

    Parameters
    ----------
    p : array_like or pandas.Series
        P-values in [0, 1], any shape (one family).
    fdr_level : float, optional
        A level in (0, 1]; the result then flags ``significant = qvalues <= fdr_level``.
    pi0 : float, optional
        π₀ in (0, 1] to use instead of estimating it.
    lambda_ : float or array_like, optional
        The λ values in [0, 1) for the estimate π₀(λ) = #{p ≥ λ} / (m (1 − λ)): one value (π₀ is
        then π₀(λ), capped at 1) or at least four. Default ``0.05, 0.10, …, 0.95``.
    pi0_method : {'smoother', 'bootstrap'}
        'smoother' (default): π₀ is a cubic smoothing spline with ``smooth_df`` degrees of
        freedom through π₀(λ), read at the largest λ (Storey & Tibshirani 2003). 'bootstrap': the
        π₀(λ) minimising the closed-form mean squared error estimate of the ``qvalue`` package
        (no random draws; Storey, Taylor & Siegmund 2004).
    smooth_df : float
        Degrees of freedom of the smoothing spline, in (1, number of distinct λ].
    smooth_log_pi0 : bool
        Smooth log π₀(λ) instead of π₀(λ).
    pfdr : bool
        Q-values for the positive FDR (Storey 2002): each BH term is divided by
        1 − (1 − p)^m. For p = 0 the limit is used (R returns NaN there) and 1 − (1 − p)^m is
        computed without cancellation (R's direct formula loses all digits for p below ~1e-16).
    nan_policy : {'raise', 'omit'}
        'omit' leaves NaN untested (NaN q-values) and uses the others, as R does with NA.

    Returns
    -------
    QValueResult
        ``qvalues``, ``pi0`` and the intermediate π₀(λ) values; ``significant`` with
        ``fdr_level``.

    Raises
    ------
    ValueError
        For p-values outside [0, 1] or NaN (under ``nan_policy='raise'``), λ outside [0, 1)
        or of length 2 or 3, no p-value at or above the largest λ (π₀(λ) is 0 there and R stops
        too), an estimated π₀ ≤ 0, and any other argument outside its range.

    Notes
    -----
    The q-values are ``pi0 * min(1, min_{j >= i} p_(j) m / j)`` over the sorted p-values, i.e. π₀
    times the BH adjusted p-values; with ``pi0=1`` they equal ``mtest.adjust(p, "BH")`` up to
    rounding. Agreement with R ``qvalue`` 2.30 (R 4.2.2): π₀ and q-values to about 1e-12
    relative with the smoother (R's spline is solved by banded LINPACK routines here replaced
    by dense ones; the search for the smoothing parameter takes the same steps), exactly with the
    bootstrap method and with a given π₀. R's local FDR (``lfdr``, a kernel density estimate) is
    not computed.

    References
    ----------
    .. [1] J. D. Storey and R. Tibshirani, "Statistical significance for genomewide studies",
           PNAS 100(16):9440–9445, 2003.
    .. [2] J. D. Storey, "A direct approach to false discovery rates", JRSS B 64(3):479–498,
           2002.
    .. [3] J. D. Storey, J. E. Taylor and D. Siegmund, "Strong control, conservative point
           estimation and simultaneous conservative consistency of false discovery rates",
           JRSS B 66(1):187–205, 2004.
    .. [4] J. D. Storey, A. J. Bass, A. Dabney and D. Robinson, ``qvalue``: Q-value estimation
           for false discovery rate control, Bioconductor R package.

    Examples
    --------
    >>> import numpy as np
    >>> import mtest
    >>> rng = np.random.default_rng(0)
    >>> p = np.concatenate([rng.uniform(size=800), rng.beta(0.1, 5, size=200)])
    >>> res = mtest.qvalue(p, fdr_level=0.05)
    >>> res
    QValueResult(m=1000, pi0=0.874639, pi0_method='smoother', significant=149 at fdr_level=0.05)
    >>> round(res.pi0, 10)  # R: qvalue(p, fdr.level = 0.05)$pi0 is 0.87463880368031
    0.8746388037
    >>> bool(np.all(res.qvalues <= mtest.adjust(p, "BH")))  # π₀ <= 1 shrinks the BH values
    True
    """
    flat, shape, index, n_nan = as_pvalues(p, nan_policy, name="p")
    if fdr_level is not None:
        fdr_level = check_probability("fdr_level", fdr_level, low_open=True)
    if pi0 is not None:
        pi0 = check_probability("pi0", pi0, low_open=True)
    pi0_method = check_choice("pi0_method", pi0_method, PI0_METHODS)
    for name, flag in (("smooth_log_pi0", smooth_log_pi0), ("pfdr", pfdr)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {show_value(flag)}")
    lambdas = _iv_lambda(lambda_)

    present = ~np.isnan(flat) if n_nan else None
    values = np.array(flat[present] if n_nan else flat, dtype=np.float64)  # a copy: never the input
    m = values.size
    if m == 0:
        raise ValueError(f"p has no p-values to use; got {show_value(p)}")

    if pi0 is None:
        pi0, pi0_lambda, pi0_smooth = _pi0est(values, lambdas, pi0_method, smooth_df, bool(smooth_log_pi0))
        method = pi0_method
    else:
        pi0_lambda = pi0_smooth = lambdas = None
        method = "given"

    q = _qvalues(values, pi0, bool(pfdr))
    if n_nan:
        out = np.full(flat.size, np.nan)
        out[present] = q
    else:
        out = q
    significant = None
    if fdr_level is not None:
        significant = _wrap(out <= fdr_level, shape, index)  # NaN compares False
    return QValueResult(qvalues=_wrap(out, shape, index), pi0=float(pi0), pi0_method=method,
                        lambda_=_frozen(lambdas), pi0_lambda=_frozen(pi0_lambda),
                        pi0_smooth=_frozen(pi0_smooth), fdr_level=fdr_level,
                        significant=significant, pfdr=bool(pfdr))


# --- steps ----------------------------------------------------------------------------------------

def _iv_lambda(lambda_) -> np.ndarray:
    if lambda_ is None:
        return DEFAULT_LAMBDA.copy()
    try:
        lambdas = np.array(lambda_, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lambda_ must be a number or an array of numbers; got {show_value(lambda_)}") from exc
    if lambdas.size == 0 or lambdas.size in (2, 3):
        raise ValueError(f"lambda_ must have one value or at least four; got {lambdas.size} ({show_value(lambda_)})")
    if not np.all(np.isfinite(lambdas)) or lambdas.min() < 0 or lambdas.max() >= 1:
        raise ValueError(f"lambda_ values must lie in [0, 1); got {show_value(lambda_)}")
    return np.sort(lambdas)


def _pi0est(p, lambdas, method, smooth_df, smooth_log):
    """R's ``pi0est``: π₀(λ) at each λ, then the smoother, the bootstrap rule or the one λ."""
    m = p.size
    n_lambda = lambdas.size
    # counts of p >= lambda_j (R: cumulated findInterval/tabulate from the top)
    bins = np.searchsorted(lambdas, p, side="right")
    at_least = np.cumsum(np.bincount(bins, minlength=n_lambda + 1)[::-1])[::-1][1:].astype(np.float64)
    if n_lambda == 1:
        pi0_lambda = (at_least / m) / (1.0 - lambdas)  # R: mean(p >= lambda) / (1 - lambda)
        pi0 = min(float(pi0_lambda[0]), 1.0)
        smooth = None
    else:
        if at_least[-1] == 0:
            raise ValueError(
                f"no p-value is >= the largest lambda_ ({lambdas[-1]:g}; max p = {p.max():g}), so "
                "pi0 cannot be estimated there (R's qvalue stops too); use smaller lambda_ values "
                "or pass pi0")
        pi0_lambda = at_least / (m * (1.0 - lambdas))
        if method == "smoother":
            distinct = np.unique(lambdas).size
            if distinct < 4:
                raise ValueError(f"lambda_ needs at least four distinct values for the smoother; got {show_value(lambdas.tolist())}")
            if isinstance(smooth_df, (bool, np.bool_)) or not isinstance(smooth_df, numbers.Real) \
                    or not 1 < smooth_df <= distinct:
                raise ValueError(f"smooth_df must be in (1, {distinct}] (the number of distinct "
                                 f"lambda_ values); got {show_value(smooth_df)}")
            if smooth_log:
                if np.any(pi0_lambda == 0):
                    raise ValueError("smooth_log_pi0=True needs pi0(lambda) > 0 at every lambda_; "
                                     f"got pi0(lambda) = {show_value(pi0_lambda.tolist())}")
                spline = smooth_spline_df(lambdas, np.log(pi0_lambda), float(smooth_df))
                smooth = np.exp(spline.predict(lambdas))
            else:
                spline = smooth_spline_df(lambdas, pi0_lambda, float(smooth_df))
                smooth = spline.predict(lambdas)
            pi0 = min(float(smooth[-1]), 1.0)
        else:
            floor = _quantile7(pi0_lambda, 0.1)
            one_minus = 1.0 - lambdas
            mse = (at_least / (float(m) * float(m) * (one_minus * one_minus))) * (1.0 - at_least / m) \
                + (pi0_lambda - floor) ** 2
            pi0 = min(float(pi0_lambda[mse == mse.min()].min()), 1.0)
            smooth = None
    if not pi0 > 0:
        raise ValueError(f"the estimated pi0 is {pi0:g} <= 0; check the p-values or use other "
                         "lambda_ values (or pass pi0)")
    return pi0, pi0_lambda, smooth


def _quantile7(x, prob):
    """R's ``quantile(x, prob)`` (type 7), with R's rounding order."""
    x = np.sort(x)
    index = 1.0 + max(x.size - 1, 0) * prob
    lo, hi = math.floor(index), math.ceil(index)
    low, high = x[lo - 1], x[hi - 1]
    if index > lo and high != low:
        h = index - lo
        return (1.0 - h) * low + h * high
    return low


def _qvalues(p, pi0, pfdr):
    """``pi0 * min(1, cummin(p_(i) m / i))`` from the largest p down (R's formula and order)."""
    m = p.size
    order = np.argsort(p, kind="stable")[::-1]
    ranks = np.arange(m, 0, -1, dtype=np.float64)
    sorted_p = p[order]
    raw = sorted_p * float(m)
    if pfdr:
        # 1 - (1 - p)^m without cancellation; its p -> 0 limit m p gives the term 1 / i
        with np.errstate(invalid="ignore", divide="ignore"):
            at_least_one = -np.expm1(m * np.log1p(-sorted_p))  # p = 1: log1p(-1) = -inf, term 1
            raw = np.where(sorted_p > 0, raw / (ranks * at_least_one), 1.0 / ranks)
    else:
        raw = raw / ranks
    q = np.empty(m)
    q[order] = pi0 * np.minimum(np.minimum.accumulate(raw), 1.0)
    return q


def _wrap(flat, shape, index):
    out = flat.reshape(shape)
    if index is not None:
        import pandas as pd

        return pd.Series(out, index=index)
    out.setflags(write=False)
    return out


def _frozen(array):
    if array is not None:
        array.setflags(write=False)
    return array
