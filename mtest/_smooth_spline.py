"""R's ``smooth.spline`` (penalized cubic smoothing spline), as far as ``qvalue`` needs it.

Written from the description of R's algorithm (Hastie & Tibshirani 1990, ch. 2; Green & Silverman
1994; R's documentation of ``smooth.spline``): x is mapped to [0, 1]; the basis is the cubic
B-splines on the unique x values (all of them up to 49, fewer beyond, by R's ``.nknots.smspl``
rule); for a penalty ``lam`` the coefficients solve ``(B'WB + lam Ω) c = B'Wy`` with Ω the Gram
matrix of the basis' second derivatives; ``lam = r · 256^(3 spar − 1)`` with r = tr(B'WB)/tr(Ω) on
the inner diagonal; and for a target ``df`` the spar in [−1.5, 1.5] minimizes ``3 + (df − tr S)²``
by Brent's golden-section / parabolic search with R's tolerances (tol 1e-4, eps 2e-8, 500
iterations). The search path is reproduced step by step, so the chosen spar, and the fit, agree with
R's to rounding error (the tests pin R's outputs). Dense linear algebra: the basis here has at most
a few hundred functions.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline

__all__ = ["SmoothSpline", "smooth_spline_df"]

_GOLD = 0.381966011250105151795413165634  # (3 - sqrt(5)) / 2
_LOW, _HIGH, _TOL, _EPS, _MAXIT = -1.5, 1.5, 1e-4, 2e-8, 500


def _n_knots(n: int) -> int:
    """R's ``.nknots.smspl``: every unique x below 50, then a slowly growing number."""
    if n < 50:
        return n
    a1, a2, a3, a4 = np.log2(50), np.log2(100), np.log2(140), np.log2(200)
    if n < 200:
        value = 2.0 ** (a1 + (a2 - a1) * (n - 50) / 150)
    elif n < 800:
        value = 2.0 ** (a2 + (a3 - a2) * (n - 200) / 600)
    elif n < 3200:
        value = 2.0 ** (a3 + (a4 - a3) * (n - 800) / 2400)
    else:
        value = 200 + (n - 3200) ** 0.2
    return int(np.trunc(value))


class SmoothSpline:
    """A fitted spline: ``predict(x)`` evaluates it (linear beyond the data range, as R)."""

    def __init__(self, knots, coef, x_min, x_range, spar, lam, df):
        self._spline = BSpline(knots, coef, 3, extrapolate=True)
        self.x_min, self.x_range = x_min, x_range
        self.spar, self.lam, self.df = spar, lam, df

    def predict(self, x) -> np.ndarray:
        xs = (np.asarray(x, dtype=np.float64) - self.x_min) / self.x_range
        out = self._spline(np.clip(xs, 0.0, 1.0))
        outside = (xs < 0) | (xs > 1)
        if outside.any():  # R continues the end values along the end slopes
            slope = self._spline.derivative(1)(np.array([0.0, 1.0]))
            ends = self._spline(np.array([0.0, 1.0]))
            out = np.where(xs < 0, ends[0] + slope[0] * xs, out)
            out = np.where(xs > 1, ends[1] + slope[1] * (xs - 1.0), out)
        return out


def _grouped(x, y):
    """R's handling of x: sort, merge values closer than 1e-6·IQR(x), weight by multiplicity."""
    tol = 1e-6 * float(np.subtract(*np.percentile(x, [75, 25])))
    if not np.isfinite(tol) or tol <= 0:
        raise ValueError(f"lambda_ values have no spread (interquartile range 0; R's smooth.spline "
                         f"refuses them too); got {x.tolist()!r}")
    order = np.argsort(x, kind="stable")
    key = np.round((x - x.mean()) / tol)[order]
    first = np.concatenate([[True], key[:-1] < key[1:]])
    group = np.cumsum(first) - 1
    ux = x[order][first]
    w = np.bincount(group).astype(np.float64)
    ybar = np.bincount(group, weights=y[order]) / w
    return ux, ybar, w


def smooth_spline_df(x, y, df: float) -> SmoothSpline:
    """R's ``smooth.spline(x, y, df = df)`` (unit weights)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ux, ybar, w = _grouped(x, y)
    n = ux.size
    if n < 4:
        raise ValueError(f"a smoothing spline needs at least four distinct x values; got {n}")
    if not 1 < df <= n:
        raise ValueError(f"smooth_df must be in (1, {n}] (the number of distinct lambda_ values); got {df!r}")
    x_range = ux[-1] - ux[0]
    xbar = (ux - ux[0]) / x_range
    n_knots = _n_knots(n)
    inner = xbar[np.trunc(1 + np.arange(n_knots) * ((n - 1) / (n_knots - 1))).astype(int) - 1] \
        if n_knots < n else xbar
    knots = np.concatenate([[xbar[0]] * 3, inner, [xbar[-1]] * 3])
    nk = n_knots + 2

    basis = BSpline(knots, np.eye(nk), 3, extrapolate=True)
    design = basis(xbar)                                     # n x nk
    xtwx = design.T @ (w[:, None] * design)
    xtwy = design.T @ (w * ybar)
    omega = _penalty_gram(basis, knots)
    ratio = np.trace(xtwx[2:nk - 3, 2:nk - 3]) / np.trace(omega[2:nk - 3, 2:nk - 3])
    # leverages are evaluated just inside the right end, as R does (its basis search needs it)
    lev_design = basis(np.where(xbar >= 1.0, 1.0 - 1e-11, xbar))

    def fit(spar):
        lam = ratio * 16.0 ** (spar * 6.0 - 2.0)
        system = xtwx + lam * omega
        try:
            chol = np.linalg.cholesky(system)
        except np.linalg.LinAlgError:
            return None
        coef = _chol_solve(chol, xtwy)
        inv_b = np.linalg.solve(chol, lev_design.T)        # L^{-1} b_i
        lev = np.einsum("ij,ij->j", inv_b, inv_b) * w
        trace = 0.0
        for value in lev:  # summed in order, as R
            trace += value
        return lam, coef, trace, 3.0 + (df - trace) ** 2

    # Brent's localmin with R's (slightly peculiar) stopping rule; the fit kept is the last one
    # evaluated, as in R's sbart
    a, b = _LOW, _HIGH
    v = w_ = x_ = a + _GOLD * (b - a)
    d = e = 0.0
    last = fit(x_)
    if last is None:
        raise ValueError("smoothing spline: the penalized system is singular")
    fx = fv = fw = last[3]
    for _ in range(_MAXIT + 1):
        xm = 0.5 * (a + b)
        tol1 = _EPS * abs(x_) + _TOL / 3.0
        tol2 = 2.0 * tol1
        if abs(x_ - xm) <= tol2 - 0.5 * (b - a):
            break
        golden = abs(e) <= tol1 or max(fx, fv, fw) >= 1e100
        if not golden:
            r = (x_ - w_) * (fx - fv)
            q = (x_ - v) * (fx - fw)
            p = (x_ - v) * q - (x_ - w_) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            q = abs(q)
            r, e = e, d
            if abs(p) >= abs(0.5 * q * r) or q == 0.0 or p <= q * (a - x_) or p >= q * (b - x_):
                golden = True
            else:
                d = p / q
                u = x_ + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if xm - x_ >= 0 else -tol1
        if golden:
            e = (a - x_) if x_ >= xm else (b - x_)
            d = _GOLD * e
        u = x_ + (d if abs(d) >= tol1 else (tol1 if d >= 0 else -tol1))
        current = fit(u)
        if current is None:  # R stops the search when the system cannot be factorized
            break
        last = current
        fu = current[3] if np.isfinite(current[3]) else 2e100
        if fu <= fx:
            if u >= x_:
                a = x_
            else:
                b = x_
            v, fv, w_, fw, x_, fx = w_, fw, x_, fx, u, fu
        else:
            if u < x_:
                a = u
            else:
                b = u
            if fu <= fw or w_ == x_:
                v, fv, w_, fw = w_, fw, u, fu
            elif fu <= fv or v == x_ or v == w_:
                v, fv = u, fu
    lam, coef, trace, _ = last
    return SmoothSpline(knots, coef, ux[0], x_range, x_, lam, trace)


def _chol_solve(chol, rhs):
    return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))


def _penalty_gram(basis: BSpline, knots) -> np.ndarray:
    """Ω[i, j] = ∫ B_i''(t) B_j''(t) dt, with B'' linear between knots.

    As R's ``sgram``: per interval h·(f₀g₀ + (f₀Δg + Δf g₀)/2 + 0.333·ΔfΔg), i.e. 0.333 where
    the exact integral has 1/3 (R's constant is kept so that the fits agree).
    """
    breaks = np.unique(knots)
    left, h = breaks[:-1], np.diff(breaks)[:, None]
    start = basis.derivative(2)(left)                        # right-continuous values at the left ends
    delta = basis.derivative(3)(left) * h                    # B'' change across the interval
    cross = (start * h).T @ delta
    return (start * h).T @ start + 0.5 * (cross + cross.T) + 0.3330 * (delta * h).T @ delta
