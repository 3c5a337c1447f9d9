"""p-values given as ln p or log10 p (``log_p='ln'`` / ``'log10'``), exact far below 1e-308.

What is exact (docs/scale.md, "Log scale"):

* A stored value v denotes the p-value ``P(v) = np.exp(v)`` (``np.power(10.0, v)`` for log10),
  0 for v = -inf. The log critical value of rank i is the largest double v with
  ``P(v) <= alpha_i`` (found by bisection over the doubles), so the rejections are exact
  comparisons of v and equal those of the linear engine on ``P(v)`` bit for bit — also where
  ``P(v)`` underflows, because every critical value is a normal double.
* Adjusted values come back in the same scale. Where ``P(v)`` is a normal double (>= 2.2e-308)
  the raw value of rank i is ``log(g_i(P(v)))`` with the linear transform g_i, so the adjusted
  values are exactly ``log`` of the linear adjusted values of ``P(v)``. Below that the raw value
  is ``log(c_i) + v`` where c_i = g_i(t)/t is the transform's slope at 0 (Holm: m - i + 1, BH:
  m/i, Šidák: m), within one rounding of the exact log of ``c_i * p``: the relative error in p is
  ~1e-13 at v = -1151 (−log10 p = 500), the spacing of the stored values themselves.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _small
from ._lazy import kernels_module
from ._counting import (DeferredResult, drive, in_memory_adjusted, rejections)
from ._stepwise import adjusted_flat, threshold
from ._validation import (COPY_BELOW, first_bad, check_alpha, check_choice, check_nan_policy,
                          fingerprint_of, show_value)
from .registry import SpecialProcedure, get_procedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["LOG_BASES", "LogScale", "scale_for", "as_log_pvalues", "run_scaled", "adjust_scaled",
           "run_scaled_along", "adjust_scaled_along"]

LOG_BASES = ("ln", "log10")
_TINY = np.finfo(np.float64).tiny
_SIGN = 1 << 63


def _key_to_double(key: int) -> float:
    bits = key if key >= 0 else ((-key) | _SIGN)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _double_to_key(x: float) -> int:
    bits = int(np.array([x], dtype=np.float64).view(np.uint64)[0])
    return bits if bits < _SIGN else -(bits & (_SIGN - 1))


class LogScale:
    """Stored values are ln p or log10 p (<= 0; -inf is p = 0)."""

    one = 0.0

    def __init__(self, base: str):
        self.name = base
        self._log = np.log if base == "ln" else np.log10

    def to_linear(self, values):
        v = np.asarray(values, dtype=np.float64)
        with np.errstate(under="ignore"):
            return np.exp(v) if self.name == "ln" else np.power(10.0, v)

    def le_bound(self, x: float) -> float:
        """The largest double v <= 0 with ``to_linear(v) <= x`` (x >= 0), by bisection."""
        x = float(x)
        if self.to_linear(np.array([0.0]))[0] <= x:
            return 0.0
        lo, hi = _double_to_key(-np.inf), _double_to_key(0.0)  # P(lo) = 0 <= x < P(hi)
        while hi - lo > 1:
            mid = lo + (hi - lo) // 2
            if self.to_linear(np.array([_key_to_double(mid)]))[0] <= x:
                lo = mid
            else:
                hi = mid
        return _key_to_double(lo)

    def raw(self, proc, values, ranks, m, k):
        """Raw adjusted values in the scale: log g_i(P(v)), or log(slope_i) + v below 2.2e-308."""
        v = np.asarray(values).astype(np.float64, copy=False)
        p = self.to_linear(v)
        with np.errstate(divide="ignore", under="ignore", invalid="ignore"):
            out = self._log(proc.raw(p, ranks, m, k))
        out = np.asarray(out, dtype=np.float64)
        if out.shape != v.shape:
            out = np.broadcast_to(out, v.shape).copy()
        deep = ~(p >= _TINY) & ~np.isnan(v) & (v > -np.inf)
        if deep.any():
            slope = _slope(proc, None if ranks is None else np.asarray(ranks)[deep], m, k,
                           int(np.count_nonzero(deep)))
            out[deep] = self._log(slope) + v[deep]
        if not proc.adjusted_below_p:  # exp then log can round one ulp below v: adjusted >= raw
            np.maximum(out, v, out=out)
        return out


def _slope(proc, ranks, m, k, n):
    """g_i(t)/t at t = 2^-600 and 2^-700 (exact scalings); they must agree (linear near 0)."""
    slopes = []
    for e in (-600, -700):
        t = np.full(n, 2.0 ** e)
        slopes.append(np.broadcast_to(np.asarray(proc.raw(t, ranks, m, k), dtype=np.float64), (n,))
                      / t)
    if not np.array_equal(slopes[0], slopes[1]):
        raise ValueError(f"method {proc.name!r} cannot adjust p-values below 1e-308 in log scale: "
                         "its transform is not proportional to p near 0")
    return slopes[0]


_SCALES = {b: LogScale(b) for b in LOG_BASES}


def scale_for(log_p):
    """The scale object of ``log_p`` (None: linear)."""
    from ._counting import LINEAR

    if log_p is None:
        return LINEAR
    return _SCALES[check_choice("log_p", log_p, LOG_BASES)]


def as_log_pvalues(values, nan_policy: str = "raise", name: str = "pvalues"):
    """Validate log p-values: ``(flat float64, shape, index, n_nan)``; every value <= 0 or -inf."""
    check_nan_policy(nan_policy)
    index = None
    if hasattr(values, "index") and hasattr(values, "to_numpy") and getattr(values, "ndim", 1) == 1:
        index = values.index
        values = values.to_numpy()
    try:
        arr = np.asarray(values)
    except Exception as exc:
        raise ValueError(f"{name} must be an array of numbers; got {show_value(values)}") from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric; got {show_value(values)}") from exc
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a numeric array of log p-values; got dtype {arr.dtype} "
                         f"({show_value(values)})")
    shape = arr.shape
    flat = arr.astype(np.float64, copy=False).reshape(-1)
    bad = flat > 0
    if bad.any():
        raise ValueError(f"{name} holds log p-values, which must be <= 0 (-inf for p = 0); got "
                         f"{first_bad(flat, bad)}")
    nan = np.isnan(flat)
    n_nan = int(np.count_nonzero(nan))
    if n_nan and nan_policy == "raise":
        raise ValueError(
            f"{name} contains NaN ({n_nan} of {flat.size}), first {first_bad(flat, nan)}; "
            "pass nan_policy='omit' to leave NaN untested (R semantics)")
    return flat, shape, index, n_nan


def _protect(pvalues, flat):
    """``(flat, fingerprint)`` for a result that computes its adjusted values later from
    ``flat``: as ``read_pvalues(protect=True)`` does for p-values, a private copy below
    ``COPY_BELOW`` values, else the caller's memory and a fingerprint of it (``None`` when
    ``flat`` does not share the caller's memory: a list, or a converted copy)."""
    if isinstance(pvalues, (list, tuple, numbers.Number)):
        return flat, None  # np.asarray made a new array
    if hasattr(pvalues, "index") and hasattr(pvalues, "to_numpy"):
        pvalues = pvalues.to_numpy()
    if not np.may_share_memory(flat, np.asarray(pvalues)):
        return flat, None
    if flat.size < COPY_BELOW:
        return flat.copy(), None
    return flat, fingerprint_of(flat)


def _check_unchanged(flat, fingerprint, method):
    if fingerprint is not None and fingerprint_of(flat) != fingerprint:
        raise RuntimeError(
            f"the input array was modified after {method}() returned, so its adjusted "
            "p-values can no longer be computed from it (the rejections and threshold are "
            "those of the original values); call mtest.adjust on the original values, or "
            "read pvalues_adjusted before modifying the array")


def _gather(flat, lo, hi):
    keep = flat <= hi
    if lo is not None:
        keep &= flat > lo
    return np.sort(flat[keep])


def run_scaled(pvalues, alpha, method, k, nan_policy, log_p):
    """``reject`` for log-scale input or a Dask array (the early branch of ``mtest.reject``)."""
    from .multitest import check_k_for, check_k_within, wrap

    if type(pvalues).__module__.startswith("dask"):
        from ._dask import run as dask_run

        return dask_run(pvalues, alpha, method, k, nan_policy, log_p)
    scale = scale_for(log_p)
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    flat, shape, index, n_nan = as_log_pvalues(pvalues, nan_policy)
    m = flat.size - n_nan
    check_k_within(k, m)
    guarantee = proc.guarantee(k, alpha)
    if isinstance(proc, SpecialProcedure):
        linear = _special_adjusted(flat, proc, k, n_nan, scale, alpha)
        mask = linear <= alpha
        adjusted = _special_log(linear, flat, proc, scale)
        r = int(np.count_nonzero(mask))
        values = np.sort(flat)[:m]
        thr = threshold(proc, r, m, k, alpha,
                        lambda j: float(scale.to_linear(values[j - 1: j])[0]))
        thr = scale.le_bound(thr) if m else thr
        return DeferredResult(wrap(mask, shape, index), thr, r, m, proc.name, alpha, k, guarantee,
                              (lambda: wrap(adjusted, shape, index),))
    # the adjusted values are computed later, from flat: protect it (as read_pvalues does)
    flat, fingerprint = _protect(pvalues, flat)
    if _small.is_small(flat.size):  # flat is float64: numpy's count is the kernel's
        def count(t):
            return int(np.count_nonzero(flat <= t))
    else:
        def count(t):
            return int(_kernels.count_le(flat, t))
    r = drive(rejections(proc, m, k, alpha, scale), count, lambda lo, hi: _gather(flat, lo, hi))
    thr = threshold(proc, r, m, k, alpha)
    thr = scale.le_bound(thr) if m else thr
    mask = flat <= thr

    def adjusted():
        _check_unchanged(flat, fingerprint, proc.name)
        return wrap(in_memory_adjusted(flat, proc, k, n_nan, scale), shape, index)

    return DeferredResult(wrap(mask, shape, index), thr, r, m, proc.name, alpha, k, guarantee,
                          (adjusted,))


def _special_adjusted(flat, proc, k, n_nan, scale, alpha=None):
    p = scale.to_linear(flat)
    deep = (p < _TINY) & (flat > -np.inf)
    if deep.any():
        raise ValueError(f"method {proc.name!r} cannot adjust log p-values below 1e-308 (got "
                         f"{first_bad(flat, deep)}): its adjusted values are not a per-rank "
                         "transform; use a stepwise method such as 'hochberg' or 'holm'")
    return adjusted_flat(p, proc, k, n_nan, alpha)  # alpha: the level-dependent two-stage FDR


def _special_log(linear, flat, proc, scale):
    """A special procedure's adjusted values in the log scale, not below the input's values (the
    round trip through the linear scale can round one ulp below) unless below p by design."""
    with np.errstate(divide="ignore"):
        adjusted = scale._log(linear)
    if not proc.adjusted_below_p:
        np.maximum(adjusted, flat, out=adjusted)
    return adjusted


def adjust_scaled(pvalues, method, k, nan_policy, log_p, alpha=None):
    """``adjust`` for log-scale input or a Dask array (``alpha``: the level-dependent procedures)."""
    from .multitest import check_k_for, check_k_within, wrap

    if type(pvalues).__module__.startswith("dask"):
        from ._dask import adjusted as dask_adjusted

        return dask_adjusted(pvalues, method, k, nan_policy, log_p)
    scale = scale_for(log_p)
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    flat, shape, index, n_nan = as_log_pvalues(pvalues, nan_policy)
    check_k_within(k, flat.size - n_nan)
    if isinstance(proc, SpecialProcedure):
        linear = _special_adjusted(flat, proc, k, n_nan, scale, alpha)
        return wrap(_special_log(linear, flat, proc, scale), shape, index)
    return wrap(in_memory_adjusted(flat, proc, k, n_nan, scale), shape, index)


def _log_families(pvalues, method, k, nan_policy, log_p, axis):
    """Validated log p-values as (F, m) families along ``axis`` (``mtest._axis``), k checked
    against every family's size."""
    from . import _axis
    from .multitest import check_k_for, check_k_within

    scale_for(log_p)
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    flat, shape, index, n_nan = as_log_pvalues(pvalues, nan_policy)
    arr = flat.reshape(shape)
    axis = _axis.check_axis(axis, arr.ndim)
    rows = _axis.to_families(arr, axis)
    family_shape = tuple(n for i, n in enumerate(shape) if i != axis)
    check_k_within(k, _axis.family_sizes(rows), names=_axis.family_namer(family_shape, axis))
    return proc, k, rows, shape, index, axis, family_shape


def run_scaled_along(pvalues, alpha, method, k, nan_policy, log_p, axis):
    """``reject(..., axis=, log_p=)``: each family run by ``run_scaled`` on its own, so every
    family's rejections, threshold and adjusted values are bitwise those of one-family calls."""
    from . import _axis
    from .multitest import wrap

    alpha = check_alpha(alpha)
    proc, k, rows, shape, index, axis, family_shape = _log_families(pvalues, method, k, nan_policy,
                                                                    log_p, axis)
    results = [run_scaled(row, alpha, proc, k, nan_policy, log_p) for row in rows]
    width = rows.shape[1]

    def stacked(get, dtype):
        out = np.empty((len(results), width), dtype=dtype)
        for f, res in enumerate(results):
            out[f] = get(res)
        return np.ascontiguousarray(_axis.from_families(out, shape, axis))

    thr = np.array([res.threshold for res in results], dtype=np.float64).reshape(family_shape)
    r = np.array([res.n_rejected for res in results], dtype=np.int64).reshape(family_shape)
    m = np.array([res.n_tests for res in results], dtype=np.int64).reshape(family_shape)
    mask = wrap(stacked(lambda res: res.reject, bool), shape, index)
    return DeferredResult(mask, thr, r, m, proc.name, alpha, k, proc.guarantee(k, alpha),
                          (lambda: wrap(stacked(lambda res: res.pvalues_adjusted, np.float64), shape,
                                        index),), axis)


def adjust_scaled_along(pvalues, method, k, nan_policy, log_p, alpha, axis):
    """``adjust(..., axis=, log_p=)``: ``adjust_scaled`` of each family, bitwise."""
    from . import _axis
    from .multitest import wrap

    proc, k, rows, shape, index, axis, _ = _log_families(pvalues, method, k, nan_policy, log_p, axis)
    out = np.empty(rows.shape, dtype=np.float64)
    for f, row in enumerate(rows):
        out[f] = adjust_scaled(row, proc, k, nan_policy, log_p, alpha)
    return wrap(np.ascontiguousarray(_axis.from_families(out, shape, axis)), shape, index)
