"""Drop-in replacements for the multiple-testing functions of statsmodels, R and scipy.

* ``multipletests`` — ``statsmodels.stats.multitest.multipletests``: the same 4-tuple for
  every statsmodels method name and alias.
* ``p_adjust`` — R's ``stats::p.adjust``, including ``n`` larger than the number of p-values
  (adjusting only the smallest p-values of a larger family) and ``"none"``.
* ``false_discovery_control`` — ``scipy.stats.false_discovery_control``, with ``axis``.

Each runs mtest's own procedures (``mtest.procedures``, R's arithmetic), so the numbers equal
the reference library's (see each function for how exactly) while mtest's validation applies:
NaN, values outside [0, 1] and input the reference would silently mis-handle raise a
``ValueError`` that says why. See docs/migrating.md for the mapping of every name.

References
----------
.. [1] statsmodels, ``statsmodels/stats/multitest.py`` (``multipletests``,
       ``fdrcorrection_twostage``, ``local_fdr_correction``).
.. [2] R Core Team, ``stats::p.adjust`` (R 4.2).
.. [3] scipy, ``scipy.stats.false_discovery_control`` (1.11+).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._validation import as_pvalues, check_alpha
from .multitest import reject as _reject, wrap
from .procedures_fdr import two_stage_sorted
from .registry import get_procedure

__all__ = ["multipletests", "p_adjust", "false_discovery_control", "STATSMODELS_METHODS",
           "P_ADJUST_METHODS"]

#: every method name and alias of statsmodels' ``multipletests`` -> the mtest procedure
#: (``'lfdr'`` is computed here: it estimates local FDRs and has no proven guarantee)
STATSMODELS_METHODS = {
    **dict.fromkeys(("b", "bonf", "bonferroni"), "bonferroni"),
    **dict.fromkeys(("s", "sidak"), "sidak"),
    **dict.fromkeys(("h", "holm"), "holm"),
    **dict.fromkeys(("hs", "holm-sidak"), "holm-sidak"),
    **dict.fromkeys(("sh", "simes-hochberg"), "hochberg"),
    **dict.fromkeys(("ho", "hommel"), "hommel"),
    **dict.fromkeys(("fdr_bh", "fdr_i", "fdr_p", "fdri", "fdrp"), "fdr_bh"),
    **dict.fromkeys(("fdr_by", "fdr_n", "fdr_c", "fdrn", "fdrcorr"), "fdr_by"),
    **dict.fromkeys(("fdr_tsbh", "fdr_2sbh"), "fdr_tsbh"),
    **dict.fromkeys(("fdr_tsbky", "fdr_2sbky", "fdr_twostage"), "fdr_tsbky"),
    "fdr_gbs": "fdr_gbs",
    **dict.fromkeys(("lfdr", "lfdr_sl"), "lfdr"),
}

#: R's ``p.adjust.methods``, in R's order (the first is the default)
P_ADJUST_METHODS = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "fdr", "none")

_TWO_STAGE = {"fdr_tsbh": "bh", "fdr_tsbky": "bky"}
_AxisError = getattr(np, "exceptions", np).AxisError  # numpy < 1.25 has it at the top level


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- statsmodels ---------------------------------------------------------------------------------

def _iv_multipletests(pvals, alpha, method, maxiter, is_sorted, returnsorted):
    arr = np.asarray(pvals) if not hasattr(pvals, "to_numpy") else pvals.to_numpy()
    if arr.ndim != 1:
        raise ValueError(
            f"pvals must be 1-dimensional; got shape {arr.shape}. (statsmodels sorts a 2-D array "
            "row by row but reads it as flat and counts rows as tests, returning wrong values.) "
            "Pass one family at a time, or adjust the whole array as one family with mtest.adjust")
    flat, _, _, n_nan = as_pvalues(arr, "omit", name="pvals")
    if n_nan:
        first = int(np.flatnonzero(np.isnan(flat))[0])
        raise ValueError(
            f"pvals contains NaN ({n_nan} of {flat.size}, first at index {first}); statsmodels "
            "counts NaN as tests and returns NaN-corrupted results. Drop them, or use "
            "mtest.reject(pvals, alpha, method, nan_policy='omit') to leave them untested")
    alpha = check_alpha(alpha)
    if not isinstance(method, str):
        raise ValueError(f"method must be a string; got {_show(method)}")
    name = STATSMODELS_METHODS.get(method.lower())
    if name is None:
        name = get_procedure(method).name  # the rest of mtest's registry (ValueError lists it)
    for arg, value in (("is_sorted", is_sorted), ("returnsorted", returnsorted)):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{arg} must be True or False; got {_show(value)}")
    if name in _TWO_STAGE:
        if maxiter is None or (not isinstance(maxiter, (bool, np.bool_)) and maxiter == -1):
            maxiter = flat.size  # statsmodels: -1 or None iterate fully
        elif not isinstance(maxiter, numbers.Integral) or maxiter < 0:
            raise ValueError(f"maxiter must be an integer >= -1 or None; got {_show(maxiter)}")
        maxiter = int(maxiter)  # statsmodels: False is 0 stages after the first, True is 1
    values = flat.astype(np.float64)
    if is_sorted and values.size > 1 and np.any(values[1:] < values[:-1]):
        first = int(np.flatnonzero(values[1:] < values[:-1])[0])
        raise ValueError(
            f"is_sorted=True but pvals are not ascending (pvals[{first}] = {values[first]!r} > "
            f"pvals[{first + 1}] = {values[first + 1]!r}); statsmodels would return wrong values. "
            "Pass is_sorted=False")
    return values, alpha, name, maxiter


def _lfdr_sorted(values: np.ndarray) -> np.ndarray:
    """statsmodels' local FDR (Grenander estimate, null proportion 1) of ascending p-values."""
    try:
        from scipy.optimize import isotonic_regression
    except ImportError as exc:  # scipy < 1.12
        raise ImportError("method 'lfdr' needs scipy >= 1.12 (scipy.optimize."
                          "isotonic_regression), as statsmodels does") from exc
    nobs = values.size
    if nobs == 0:
        return np.empty(0, dtype=np.float64)
    if values[0] == 0.0:
        raise ValueError("method 'lfdr' is undefined when a p-value is 0 (the Grenander density "
                         "estimate is infinite there; statsmodels fails with 'Weights w must be "
                         "strictly positive')")
    # ties share one support point of the ECDF, weighted by their count
    uniq, counts = np.unique(values, return_counts=True)
    gaps = np.diff(uniq, prepend=0)
    requirements = ("C_CONTIGUOUS", "ALIGNED", "OWNDATA", "WRITEABLE")
    density = np.require(counts / (nobs * gaps), dtype=float, requirements=requirements)
    weights = np.require(gaps, dtype=float, requirements=requirements)
    slopes = isotonic_regression(density, weights=weights, increasing=False).x
    return np.minimum(1, 1.0 / np.repeat(slopes, counts))


def multipletests(pvals, alpha=0.05, method="hs", maxiter=1, is_sorted=False, returnsorted=False):
    """statsmodels' ``multipletests``: rejections and adjusted p-values of one family.

    Same signature, same 4-tuple, every statsmodels method name and alias
    (``STATSMODELS_METHODS``; mtest's other registry names are accepted too).

    Parameters
    ----------
    pvals : array_like, 1-D
        p-values in [0, 1]; NaN, other shapes and values outside [0, 1] raise ``ValueError``
        (statsmodels returns wrong or NaN-corrupted values for them).
    alpha : float
        Level in (0, 1).
    method : str
        ``'b'``/``'bonferroni'``, ``'s'``/``'sidak'``, ``'h'``/``'holm'``, ``'hs'``/``'holm-sidak'``
        (the default, as in statsmodels), ``'sh'``/``'simes-hochberg'``, ``'ho'``/``'hommel'``,
        ``'fdr_bh'``, ``'fdr_by'``, ``'fdr_tsbh'``, ``'fdr_tsbky'``, ``'fdr_gbs'``, ``'lfdr'`` and
        their aliases (case-insensitive).
    maxiter : int, bool or None
        Stages of the two-stage methods after the first (statsmodels' meaning: 1 is the two-stage
        procedure, 0 the first stage only, -1 or None iterate until stable); ignored otherwise.
    is_sorted : bool
        ``True`` promises ascending ``pvals`` (checked: unsorted input raises ``ValueError``).
    returnsorted : bool
        Return ``reject`` and ``pvals_corrected`` in ascending order of the p-values.

    Returns
    -------
    reject : ndarray of bool
    pvals_corrected : ndarray of float64
        Adjusted p-values; for ``'fdr_tsbh'`` and ``'fdr_tsbky'`` valid for this ``alpha`` only.
    alphacSidak : float
        ``1 - (1 - alpha)**(1/m)`` (NaN for m = 0).
    alphacBonf : float
        ``alpha / m`` (NaN for m = 0).

    Notes
    -----
    Equality with statsmodels 0.14–0.15: adjusted p-values are identical bit for bit for
    Bonferroni, Šidák, Holm, Holm–Šidák, Hochberg, the two-stage methods, GBS and lfdr; for BH,
    BY and Hommel mtest uses R's arithmetic and they agree to a few units in the last place.
    ``reject == (pvals_corrected <= alpha)`` always holds here; statsmodels compares p with
    ``alpha``-side critical values instead, so a p-value within rounding of its critical value
    can be decided differently (never otherwise). ``'lfdr'`` (statsmodels >= 0.15) is an
    empirical-Bayes estimate without a proven error-rate guarantee and is not in mtest's
    registry. ``pvals_corrected`` is always float64 (statsmodels keeps float32 for some methods
    and an integer dtype for integer input).

    References
    ----------
    .. [1] statsmodels ``statsmodels.stats.multitest.multipletests``.

    Examples
    --------
    >>> from mtest.compat import multipletests
    >>> reject, corrected, alpha_sidak, alpha_bonf = multipletests(
    ...     [0.01, 0.04, 0.03, 0.005], alpha=0.05, method="fdr_bh")
    >>> reject
    array([ True,  True,  True,  True])
    >>> corrected
    array([0.02, 0.04, 0.04, 0.02])
    >>> alpha_bonf
    0.0125
    """
    values, alpha, name, maxiter = _iv_multipletests(pvals, alpha, method, maxiter, is_sorted,
                                                     returnsorted)
    m = values.size
    if m:
        alphac_sidak = 1 - np.power((1.0 - alpha), 1.0 / m)
        alphac_bonf = alpha / float(m)
    else:
        alphac_sidak = alphac_bonf = np.nan
    if name == "lfdr" or (name in _TWO_STAGE and maxiter != 1):
        order = np.arange(m) if is_sorted else np.argsort(values, kind="stable")
        ascending = values[order]
        if name == "lfdr":
            adjusted_sorted = _lfdr_sorted(ascending)
        else:
            adjusted_sorted = two_stage_sorted(ascending, alpha, _TWO_STAGE[name], maxiter)[0]
        corrected = np.empty(m, dtype=np.float64)
        corrected[order] = adjusted_sorted
        rejected = corrected <= alpha
    else:
        result = _reject(values, alpha, name)
        # statsmodels returns arrays of its own: writeable copies of the read-only result's
        rejected = np.array(result.reject)
        corrected = np.array(result.pvalues_adjusted, dtype=np.float64)
    if returnsorted and not is_sorted:
        order = np.argsort(values, kind="stable")
        rejected, corrected = rejected[order], corrected[order]
    return rejected, corrected, alphac_sidak, alphac_bonf


# --- R -------------------------------------------------------------------------------------------

def _match_arg(method: Any) -> str:
    """R's ``match.arg``: an exact name, else a unique prefix of one (case-sensitive)."""
    if isinstance(method, str):
        if method in P_ADJUST_METHODS:
            return method
        hits = [name for name in P_ADJUST_METHODS if method and name.startswith(method)]
        if len(hits) == 1:
            return hits[0]
    hint = ""
    if isinstance(method, str) and method.lower() in {n.lower() for n in P_ADJUST_METHODS}:
        hint = " (R's names are case-sensitive: 'BH', 'BY')"
    raise ValueError(f"method ({_show(method)}) not recognized{hint}; use one of "
                     f"{', '.join(map(repr, P_ADJUST_METHODS))} or an unambiguous prefix, as R's "
                     "p.adjust")


def _check_n(n: Any, lp: int) -> int:
    if n is None:
        return lp
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Real) or not np.isfinite(n) \
            or float(n) != int(n):
        raise ValueError(f"n must be a whole number (the number of tests in the family); "
                         f"got {_show(n)}")
    n = int(n)
    if n < lp:
        raise ValueError(f"n ({n}) must be at least the number of non-missing p-values ({lp}), "
                         "as R's p.adjust requires (stopifnot(n >= lp))")
    return n


def p_adjust(p, method: str = "holm", n=None):
    """R's ``p.adjust(p, method, n)``: adjusted p-values with R's semantics and arithmetic.

    Parameters
    ----------
    p : array_like or pandas.Series
        p-values in [0, 1]; NaN (R's ``NA``) is kept in place and not counted.
    method : {'holm', 'hochberg', 'hommel', 'bonferroni', 'BH', 'BY', 'fdr', 'none'}
        Case-sensitive, and a unique prefix is enough (R's ``match.arg``); ``'fdr'`` is ``'BH'``.
    n : int, optional
        Number of tests in the family, at least the number of non-missing p-values (default:
        that number). ``n`` larger than that adjusts the given p-values as the smallest of a
        family of ``n`` (e.g. only the top hits of a genome-wide scan were kept): R's formulas
        with ``n`` in place of the length; ``'hommel'`` pads the family with p-values of 1.

    Returns
    -------
    ndarray or pandas.Series
        float64, the input's shape (a Series keeps its index, as R keeps names).

    Notes
    -----
    Equal to R 4.2 to the last digit (tests pin R's outputs). As in R, ``n <= 1`` returns the
    p-values unchanged and ``n == 2`` turns ``'hommel'`` into ``'hochberg'``. Unlike R, values
    outside [0, 1] and non-numeric input raise ``ValueError`` instead of being adjusted.

    References
    ----------
    .. [1] R Core Team, ``stats::p.adjust``; Wright, S. P. (1992). Adjusted p-values for
           simultaneous inference. Biometrics 48, 1005-1013.

    Examples
    --------
    >>> from mtest.compat import p_adjust
    >>> p_adjust([0.01, 0.02, None, 0.04], "BH")
    array([0.03, 0.03,  nan, 0.04])
    >>> p_adjust([0.01, 0.02], "bonferroni", n=100)     # two hits kept out of 100 tests
    array([1., 1.])
    >>> p_adjust([0.0001, 0.0002], "BH", n=100)
    array([0.01, 0.01])
    """
    method = _match_arg(method)
    if method == "fdr":
        method = "BH"
    flat, shape, index, n_nan = as_pvalues(p, "omit", name="p")
    out = flat.astype(np.float64)  # a copy: the input is never written to
    valid = np.flatnonzero(~np.isnan(out))
    lp = valid.size
    n = _check_n(n, lp)
    if n <= 1 or method == "none" or lp == 0:
        return wrap(out, shape, index)
    if n == 2 and method == "hommel":
        method = "hochberg"
    values = out[valid]
    order = np.argsort(values, kind="stable")  # R's order() is stable
    ascending = values[order]
    if method == "hommel":
        padded = np.concatenate([ascending, np.ones(n - lp)])  # R: p <- c(p, rep.int(1, n - lp))
        adjusted = get_procedure("hommel").adjust_sorted(padded, 1)[:lp]
    else:
        proc = get_procedure({"BH": "fdr_bh", "BY": "fdr_by"}.get(method, method))
        if method == "bonferroni":
            adjusted = proc.raw(ascending, None, n, 1)
        else:
            raw = proc.raw(ascending, np.arange(1, lp + 1, dtype=np.int64), n, 1)
            if method == "holm":
                adjusted = np.maximum.accumulate(raw)
            else:  # hochberg, BH, BY: step-up
                adjusted = np.minimum.accumulate(raw[::-1])[::-1]
        adjusted = np.minimum(adjusted, 1.0)
    out[valid[order]] = adjusted
    return wrap(out, shape, index)


# --- scipy ---------------------------------------------------------------------------------------

def false_discovery_control(ps, *, axis=0, method="bh"):
    """scipy's ``stats.false_discovery_control``: BH or BY adjusted p-values along an axis.

    Parameters
    ----------
    ps : array_like
        p-values in [0, 1] (real or integer dtype); anything else raises scipy's ``ValueError``
        ("`ps` must include only numbers between 0 and 1."), NaN included.
    axis : int or None
        Families are the slices along ``axis`` (default 0, scipy's); ``None`` adjusts the
        flattened array as one family and returns it flat. Negative values count from the end;
        an axis outside the array raises ``numpy.exceptions.AxisError`` (an ``IndexError``, as
        scipy's, and a ``ValueError``).
    method : {'bh', 'by'}
        Benjamini–Hochberg or Benjamini–Yekutieli (case-insensitive).

    Returns
    -------
    ndarray
        Adjusted p-values, the input's shape (flat for ``axis=None``) and floating dtype
        (float64 for integer input, which scipy rejects with a casting error).

    Notes
    -----
    BH values equal scipy's bit for bit for float64 input; BY values use R's arithmetic and agree
    to a few units in the last place; float32 and float16 input are computed in float64 and
    rounded once (scipy computes in the input's precision). As in scipy, input with at most one
    element, or with at most one p-value per family, is returned unchanged (here as a copy).

    References
    ----------
    .. [1] Benjamini, Y. and Hochberg, Y. (1995). JRSS B 57(1), 289-300.
    .. [2] Benjamini, Y. and Yekutieli, D. (2001). Ann. Statist. 29(4), 1165-1188, Thm 1.3.

    Examples
    --------
    >>> import numpy as np
    >>> from mtest.compat import false_discovery_control
    >>> false_discovery_control([0.5, 0.6, 0.1, 0.001])
    array([0.6  , 0.6  , 0.2  , 0.004])
    >>> false_discovery_control(np.array([[0.01, 0.5], [0.02, 0.5]]), axis=1)
    array([[0.02, 0.5 ],
           [0.04, 0.5 ]])
    """
    ps = np.asarray(ps)
    if ps.dtype.kind not in "iuf" or not bool(np.all(ps == np.clip(ps, 0.0, 1.0))):
        raise ValueError("`ps` must include only numbers between 0 and 1.")
    if not isinstance(method, str) or method.lower() not in ("bh", "by"):
        raise ValueError(f"Unrecognized `method` {_show(method)}; method must be one of 'bh', 'by'.")
    proc = get_procedure("fdr_" + method.lower())
    if axis is None:
        axis = 0
        ps = ps.ravel()
    try:
        axis_array = np.asarray(axis)
    except Exception:  # noqa: BLE001  (anything that is not an integer)
        axis_array = np.asarray(None)
    if axis_array.dtype.kind not in "iu" or axis_array.ndim != 0:
        raise ValueError(f"`axis` must be an integer or `None`; got {_show(axis)}")
    axis = int(axis_array)
    if ps.size <= 1:
        return ps[()] if ps.ndim == 0 else ps.copy()
    if not -ps.ndim <= axis < ps.ndim:
        raise _AxisError(axis, ps.ndim, "axis")
    if ps.shape[axis] <= 1:
        return ps.copy()
    out_dtype = ps.dtype if ps.dtype.kind == "f" else np.dtype(np.float64)
    families = np.moveaxis(ps, axis, -1).astype(np.float64)
    m = families.shape[-1]
    order = np.argsort(families, axis=-1, kind="stable")
    ascending = np.take_along_axis(families, order, axis=-1)
    raw = proc.raw(ascending, np.arange(1, m + 1, dtype=np.int64), m, 1)
    adjusted = np.minimum(np.minimum.accumulate(raw[..., ::-1], axis=-1)[..., ::-1], 1.0)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return np.moveaxis(out, -1, axis).astype(out_dtype, copy=False)
