"""The public multiple-testing API: ``reject``, ``adjust`` and one function per common procedure.

A public function validates its input once (:mod:`mtest._validation`), runs the stepwise engine
(:mod:`mtest._stepwise`) for the procedure looked up in the registry (:mod:`mtest.registry`), and
wraps the outcome in a frozen :class:`MultipleTestResult`. Definitions follow ``docs/theory.md``
and the paper (Fischer et al., ICML 2021, §5 and §5.2).

References
----------
.. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
       Scandinavian Journal of Statistics 6(2), 65-70.
.. [2] Lehmann, E. L. and Romano, J. P. (2005). Generalizations of the familywise error rate.
       Annals of Statistics 33(3), 1138-1154.
.. [3] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
       randomized smoothing. ICML. §5, §5.2, App. B.2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from . import _axis, _kernels, _torch_backend, procedures as _procedures  # noqa: F401  (registers the built-ins)
from ._stepwise import adjusted_flat, count_rejections, threshold
from ._validation import as_pvalues, check_alpha, check_k, fingerprint_of, read_pvalues
from .registry import PROCEDURES, Guarantee, SpecialProcedure, get_procedure

__all__ = [
    "MultipleTestResult",
    "reject",
    "adjust",
    "bonferroni",
    "holm",
    "lehmann_romano",
    "check_k_for",
    "run",
    "wrap",
    "representable_threshold",
]


@dataclass(frozen=True, repr=False)
class MultipleTestResult:
    """Outcome of a multiple-testing procedure.

    Attributes
    ----------
    reject : ndarray of bool or pandas.Series
        Same shape as the input (same index for a Series); ``True`` where the null is rejected.
    threshold : float or ndarray
        Every tested p-value ``<= threshold`` is rejected and every one above it is not, and
        ``p <= threshold`` evaluated on your own array gives exactly ``reject``: the threshold is
        a value of the input's dtype (the largest float32 at or below the critical value for
        float32 input), so NumPy's casting of a Python float cannot move it. NaN when nothing
        was tested. With ``axis``: one threshold per family, an array of the input's shape
        without that axis (``np.expand_dims(threshold, axis)`` broadcasts against the input).
    n_rejected : int or ndarray
        Number of rejections (per family with ``axis``).
    n_tests : int or ndarray
        Number of hypotheses tested (NaN excluded under ``nan_policy='omit'``; per family with
        ``axis``).
    method, alpha, k, axis
        The procedure's canonical name and the parameters it ran with (``axis`` None: the
        whole input is one family).
    guarantee : Guarantee
        What the rejections control, e.g. ``FWER <= 0.05 under arbitrary dependence``.
    pvalues_adjusted : ndarray or pandas.Series
        Adjusted p-values (R ``p.adjust`` semantics), computed on first access only.
        ``reject == (pvalues_adjusted <= alpha)`` holds exactly. The result never changes after
        it is returned: it keeps a private copy of an input below 65 536 values; for a larger
        input that is not copied, it keeps a 64-bit fingerprint of the values and refuses
        (``RuntimeError``) to compute adjusted values from an input modified since.
    """

    reject: Any
    threshold: float
    n_rejected: int
    n_tests: int
    method: str
    alpha: float
    k: int = 1
    guarantee: Guarantee | None = None
    _source: tuple = field(default=(), compare=False, repr=False)
    axis: int | None = None

    @cached_property
    def pvalues_adjusted(self):
        flat, shape, index, n_nan, fingerprint, proc = self._source
        if fingerprint is not None and fingerprint_of(flat) != fingerprint:
            raise RuntimeError(
                f"the input array was modified after {self.method}() returned, so its adjusted "
                "p-values can no longer be computed from it (the rejections and threshold are "
                "those of the original values); call mtest.adjust on the original values, or "
                "read pvalues_adjusted before modifying the array")
        # the procedure object itself: an unregistered one may share a registered one's name
        adjusted = adjusted_flat(flat, proc, self.k, n_nan, self.alpha)
        return wrap(adjusted, shape, index)

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k != 1 else ""
        if self.axis is not None:
            families = np.shape(self.n_tests)
            return (f"MultipleTestResult(method={self.method!r}, alpha={self.alpha}{k}, axis={self.axis}, "
                    f"families={families}, n_tests={int(np.sum(self.n_tests))}, "
                    f"n_rejected={int(np.sum(self.n_rejected))})")
        return (f"MultipleTestResult(method={self.method!r}, alpha={self.alpha}{k}, "
                f"n_tests={self.n_tests}, n_rejected={self.n_rejected}, "
                f"threshold={self.threshold!r})")


def wrap(flat: np.ndarray, shape, index):
    out = flat.reshape(shape)
    if index is not None:
        import pandas as pd

        return pd.Series(out, index=index)
    return out


def representable_threshold(thr: float, dtype) -> float:
    """The largest value of ``dtype`` at or below ``thr``, as a Python float.

    For p-values of that dtype ``p <= thr`` and ``p <= result`` agree, and NumPy's conversion of
    the Python float to ``dtype`` (NumPy 2 casts a Python scalar to the array's dtype) is exact.
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64 or not np.isfinite(thr):
        return float(thr)
    t = dtype.type(thr)
    if float(t) > thr:
        t = np.nextafter(t, dtype.type(-np.inf))
    return float(t)


def check_k_for(proc: Procedure, k: Any) -> int:
    k = check_k(k)
    if k != 1 and not proc.uses_k:
        users = ", ".join(repr(p.name) for p in PROCEDURES.values() if p.uses_k)
        raise ValueError(f"k ({k}) is only defined for the k-FWER procedures {users}; "
                         f"method {proc.name!r} takes k=1")
    return k


def representable_thresholds(thr, dtype) -> np.ndarray:
    """:func:`representable_threshold` of every element of a float64 array (NaN kept)."""
    thr = np.asarray(thr, dtype=np.float64)
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return thr
    low = thr.astype(dtype)
    over = low.astype(np.float64) > thr
    low[over] = np.nextafter(low[over], dtype.type(-np.inf))
    return low.astype(np.float64)


def _run_along(pvalues, alpha, proc, k, nan_policy, axis) -> MultipleTestResult:
    """Families along ``axis`` (see :mod:`mtest._axis`): arrays of thresholds and counts."""
    v = read_pvalues(pvalues, nan_policy, protect=False)
    arr = v.flat.reshape(v.shape)
    axis = _axis.check_axis(axis, arr.ndim)
    rows = _axis.to_families(arr, axis)
    adjusted, sizes, ordered = _axis.adjusted_families(rows, proc, k, alpha)
    mask = adjusted <= alpha
    r = np.count_nonzero(mask, axis=1)
    thr = representable_thresholds(_axis.thresholds(proc, r, sizes, ordered, k, alpha), v.dtype)
    family_shape = tuple(n for i, n in enumerate(arr.shape) if i != axis)
    result = MultipleTestResult(
        wrap(_axis.from_families(mask, arr.shape, axis), v.shape, v.index),
        thr.reshape(family_shape), r.reshape(family_shape), sizes.reshape(family_shape),
        proc.name, alpha, k, proc.guarantee(k, alpha), (), axis)
    object.__setattr__(result, "pvalues_adjusted",
                       wrap(np.ascontiguousarray(_axis.from_families(adjusted, arr.shape, axis)), v.shape,
                            v.index))
    return result


def run(pvalues, alpha, method, k, nan_policy, axis=None, log_p=None) -> MultipleTestResult:
    """Validate, decide and wrap: the common body of every public procedure function."""
    if log_p is not None or type(pvalues).__module__.startswith("dask"):  # docs/scale.md
        if axis is not None:
            raise ValueError(f"axis ({axis!r}) is not supported with log_p or Dask arrays; give "
                             "one family (axis=None) or adjust each family on its own")
        return _scaled().run_scaled(pvalues, alpha, method, k, nan_policy, log_p)
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    if axis is not None:
        return _run_along(pvalues, alpha, proc, k, nan_policy, axis)
    special = isinstance(proc, SpecialProcedure)
    # the adjusted values of a stepwise procedure are computed later, from flat: protect it
    v = read_pvalues(pvalues, nan_policy, protect=not special)
    flat, shape, index, n_nan = v.flat, v.shape, v.index, v.n_nan
    if v.fingerprint is None and flat.flags.writeable:
        flat.flags.writeable = False  # private: nothing may change it through a result
    m = flat.size - n_nan
    guarantee = proc.guarantee(k, alpha)
    if special:
        adjusted = adjusted_flat(flat, proc, k, n_nan, alpha)
        mask = adjusted <= alpha
        r = int(np.count_nonzero(mask))
        values = np.sort(flat)[:m]
        thr = threshold(proc, r, m, k, alpha, lambda j: values[j - 1])
        thr = representable_threshold(thr, v.dtype)
        result = MultipleTestResult(wrap(mask, shape, index), thr, r, m, proc.name, alpha, k,
                                    guarantee, (flat, shape, index, n_nan, None, proc))
        object.__setattr__(result, "pvalues_adjusted", wrap(adjusted, shape, index))
        return result
    mask = np.empty(flat.size, dtype=bool)
    r, masked = count_rejections(flat, proc, m, k, alpha, mask)  # the counting passes write mask
    thr = representable_threshold(threshold(proc, r, m, k, alpha), v.dtype)
    if not masked:
        if m:
            _kernels.less_equal(flat, thr, mask)
        else:
            mask[:] = False
    return MultipleTestResult(wrap(mask, shape, index), thr, r, m, proc.name, alpha, k,
                              guarantee, (flat, shape, index, n_nan, v.fingerprint, proc))


def _scaled():
    from . import _logscale  # log-scale input and Dask arrays (docs/scale.md)

    return _logscale


def reject(pvalues, alpha: float = 0.05, method: str = "holm", *, k: int = 1, axis: int | None = None,
           nan_policy: str = "raise", log_p: str | None = None) -> MultipleTestResult:
    """Apply a registered multiple-testing procedure.

    A hypothesis is rejected exactly when its adjusted p-value is ``<= alpha`` (R's ``p.adjust``
    convention). Equivalently, for a stepwise procedure with transform g_i (docs/theory.md), the
    i-th critical value alpha_i is the largest double t with g_i(t) <= alpha computed in floating
    point; it can be one ulp away from the rounded textbook constant (e.g. alpha/(m - i + 1)),
    and ``reject`` and ``threshold`` follow alpha_i, not the constant.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and any real dtype; float32 input is read without an
        upcast copy. A masked array's masked entries are missing values (as NaN, under
        ``nan_policy``). A DataFrame is refused: use :func:`mtest.adjust_frame`.
    alpha : float
        Level in (0, 1).
    method : str
        A name or alias from :data:`PROCEDURES` (e.g. ``'holm'``, ``'bonferroni'``, ``'lr'``).
    k : int
        k of k-FWER (control P(k or more false rejections)); only for k-FWER procedures.
    axis : int or None
        ``None`` (default): the whole input is one family (a segmentation map is one family).
        An int: the 1-D slices along that axis are separate families (scipy's
        ``false_discovery_control`` convention); results keep the input's shape, and
        ``threshold``, ``n_rejected`` and ``n_tests`` are arrays with one entry per family.
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p (<= 0; -inf is p = 0): exact far below 1e-308; the
        threshold and adjusted values come back in the same scale (docs/scale.md).

    Returns
    -------
    MultipleTestResult
        For a ``torch.Tensor`` a ``TorchTestResult`` on the tensor's device, bitwise this result.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.reject([0.001, 0.02, 0.04, 0.3], alpha=0.05, method="holm")
    >>> res.reject
    array([ True, False, False, False])
    >>> res.n_rejected, res.threshold
    (1, 0.0125)

    Families along an axis (here each row):

    >>> res = mtest.reject([[0.001, 0.02, 0.04, 0.3], [0.01, 0.011, 0.012, 0.013]], axis=1,
    ...                    method="hochberg")
    >>> res.n_rejected, res.reject[1]
    (array([1, 4]), array([ True,  True,  True,  True]))

    Log-scale input, exact far below the smallest double:

    >>> mtest.reject([-1151.29, -4.0, -2.0], method="holm", log_p="ln").reject   # p = 1e-500
    array([ True,  True, False])
    """
    if _torch_backend.is_tensor(pvalues):  # stays on its device (mtest._torch_backend)
        return _torch_backend.reject_torch(pvalues, alpha, method, k=k, axis=axis, nan_policy=nan_policy)
    return run(pvalues, alpha, method, k, nan_policy, axis, log_p)


def bonferroni(pvalues, alpha: float = 0.05, *, k: int = 1, axis: int | None = None,
               nan_policy: str = "raise",
               log_p: str | None = None) -> MultipleTestResult:
    """Bonferroni single-step test: reject (m/k)*p <= alpha, i.e. p <= k*alpha/m up to one
    rounding (k = 1: classic FWER control).

    With ``k > 1`` it controls the k-FWER, P(k or more false rejections) <= alpha, under any
    dependence (Lehmann & Romano 2005, Thm 2.1). Adjusted p-values are ``min(1, m*p/k)``.
    The paper's SEGCERTIFYBON and INDIVCLASS use it (§4, §5).

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in :func:`reject`).
    alpha : float
        Level in (0, 1).
    k : int
        k-FWER: controls P(k or more false rejections); ``k = 1`` is the FWER.
    axis : int or None
        ``None``: one family; an int: families along that axis (see :func:`reject`).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md).

    Returns
    -------
    MultipleTestResult

    Examples
    --------
    >>> import mtest
    >>> mtest.bonferroni([0.001, 0.02, 0.04, 0.3]).reject
    array([ True, False, False, False])
    >>> mtest.bonferroni([0.001, 0.02, 0.04, 0.3], k=2).n_rejected
    2
    """
    return run(pvalues, alpha, "bonferroni", k, nan_policy, axis, log_p)


def holm(pvalues, alpha: float = 0.05, *, axis: int | None = None, nan_policy: str = "raise",
         log_p: str | None = None) -> MultipleTestResult:
    """Holm's step-down procedure: critical values alpha/(m - i + 1); FWER <= alpha always.

    Rejects the r smallest p-values where r + 1 is the first sorted index with
    (m - i + 1)*p(i) > alpha [1]_, i.e. p(i) above the critical value alpha_i, the largest double t
    with (m - i + 1)*t <= alpha (alpha/(m - i + 1) up to one rounding; reject follows the
    adjusted p-values, as R's ``p.adjust``). The paper's SEGCERTIFYHOLM (§5, §6.1). Rejections take a few
    counting passes over the data and no full sort.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in :func:`reject`).
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see :func:`reject`).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md).

    Returns
    -------
    MultipleTestResult

    References
    ----------
    .. [1] Holm, S. (1979). Scand. J. Statist. 6(2), 65-70.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.holm([0.01, 0.04, 0.03, 0.005])
    >>> res.reject
    array([ True, False, False,  True])
    >>> res.pvalues_adjusted
    array([0.03, 0.06, 0.06, 0.02])
    """
    return run(pvalues, alpha, "holm", 1, nan_policy, axis, log_p)


def lehmann_romano(pvalues, alpha: float = 0.05, *, k: int, axis: int | None = None,
                   nan_policy: str = "raise",
                   log_p: str | None = None) -> MultipleTestResult:
    """Lehmann–Romano step-down k-FWER procedure: P(k or more false rejections) <= alpha.

    Transform g_i(p) = (m/k)*p for i <= k and ((m + k - i)/k)*p for i > k; a hypothesis is
    rejected iff its adjusted p-value is ``<= alpha``. The critical value alpha_i is the largest
    double t with g_i(t) <= alpha: mathematically k*alpha/m for i <= k and k*alpha/(m + k - i)
    after, but computed so that ``p <= alpha_i`` and ``g_i(p) <= alpha`` agree for every double p
    (the rounded constants can be one ulp lower; see the example). Valid under
    any dependence [1]_ and the procedure the paper plugs into SEGCERTIFY (§5.2, App. B.2).
    ``k = 1`` is exactly Holm. Note the convention: k counts the false rejections that are *not*
    tolerated ("k or more"); some texts shift it by one. The lenient constants
    k*alpha/(m - i + 1) of the paper's reference script are not proven for arbitrary dependence
    and are not used.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in :func:`reject`).
    alpha : float
        Level in (0, 1).
    k : int
        At least 1 (keyword-only, required): P(k or more false rejections) <= alpha.
    axis : int or None
        ``None``: one family; an int: families along that axis (see :func:`reject`).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md).

    Returns
    -------
    MultipleTestResult

    References
    ----------
    .. [1] Lehmann, E. L. and Romano, J. P. (2005). Ann. Statist. 33(3), 1138-1154, Thm 2.2.

    Examples
    --------
    >>> import mtest
    >>> p = [0.001, 0.012, 0.02, 0.03, 0.5]
    >>> mtest.lehmann_romano(p, k=1).n_rejected   # Holm
    2
    >>> mtest.lehmann_romano(p, k=2).n_rejected
    4

    One ulp above the rounded constant 3*0.01/13, (13/3)*p still rounds to 0.01 <= alpha:

    >>> p = [0.002307692307692308] * 3 + [0.5] * 10
    >>> p[0] > 3 * 0.01 / 13
    True
    >>> res = mtest.lehmann_romano(p, k=3, alpha=0.01)
    >>> res.n_rejected, res.threshold >= p[0], bool(res.pvalues_adjusted[0] <= 0.01)
    (3, True, True)
    """
    return run(pvalues, alpha, "lehmann-romano", k, nan_policy, axis, log_p)


def adjust(pvalues, method: str = "holm", *, alpha: float | None = None, k: int = 1,
           axis: int | None = None, nan_policy: str = "raise", log_p: str | None = None):
    """Adjusted p-values, with R ``p.adjust`` semantics (and the k-FWER procedures).

    Returns an array of the input's shape (a Series with its index for a Series input), float64,
    NaN kept in place under ``nan_policy='omit'``. ``adjust(p, m) <= alpha`` is exactly the
    rejection set of ``reject(p, alpha, m)``. A ``torch.Tensor`` gives a float64 tensor on its
    device (``mtest._torch_backend.adjust_torch``).

    ``alpha`` is needed only by the two-stage adaptive FDR procedures (``'fdr_tsbh'``,
    ``'fdr_tsbky'``), whose adjusted p-values depend on the level and are valid for that
    ``alpha`` only (as statsmodels'); every other procedure ignores it.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in :func:`reject`).
    method : str
        A name or alias from ``mtest.PROCEDURES``.
    alpha : float, optional
        Level in (0, 1); only for the level-dependent two-stage procedures.
    k : int
        k of k-FWER procedures.
    axis : int or None
        ``None``: one family; an int: families along that axis (see :func:`reject`).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, and stays NaN (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md).

    Returns
    -------
    ndarray or pandas.Series
        float64 adjusted p-values of the input's shape.

    Examples
    --------
    >>> import mtest
    >>> mtest.adjust([0.01, 0.04, 0.03, 0.005], method="bonferroni")
    array([0.04, 0.16, 0.12, 0.02])
    >>> mtest.adjust([0.01, 0.04, 0.03, 0.005], method="fdr_tsbky", alpha=0.05)
    array([0.021, 0.042, 0.042, 0.021])

    ``log_p='log10'`` (or ``'ln'``): log p-values in, adjusted values in the same scale out:

    >>> mtest.adjust([-500.0, -3.0], method="bonferroni", log_p="log10")
    array([-499.69897,   -2.69897])
    """
    if _torch_backend.is_tensor(pvalues):  # stays on its device (mtest._torch_backend)
        return _torch_backend.adjust_torch(pvalues, method, k=k, axis=axis, nan_policy=nan_policy,
                                           alpha=alpha)
    if log_p is not None or type(pvalues).__module__.startswith("dask"):
        if axis is not None:
            raise ValueError(f"axis ({axis!r}) is not supported with log_p or Dask arrays")
        return _scaled().adjust_scaled(pvalues, method, k, nan_policy, log_p)
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    alpha = None if alpha is None else check_alpha(alpha)
    if axis is not None:
        v = read_pvalues(pvalues, nan_policy, protect=False)
        arr = v.flat.reshape(v.shape)
        axis = _axis.check_axis(axis, arr.ndim)
        if getattr(proc, "alpha_dependent", False) and alpha is None:
            adjusted_flat(v.flat[:0], proc, k, 0, None)  # the engine's error for a missing alpha
        adjusted, _, _ = _axis.adjusted_families(_axis.to_families(arr, axis), proc, k, alpha)
        return wrap(np.ascontiguousarray(_axis.from_families(adjusted, arr.shape, axis)), v.shape, v.index)
    flat, shape, index, n_nan = as_pvalues(pvalues, nan_policy)
    return wrap(adjusted_flat(flat, proc, k, n_nan, alpha), shape, index)
