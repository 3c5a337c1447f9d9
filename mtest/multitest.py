"""The public multiple-testing API: ``reject``, ``adjust`` and one function per common procedure.

A public function validates its input once (``mtest._validation``), runs the stepwise engine
(``mtest._stepwise``) for the procedure looked up in the registry (``mtest.registry``), and
wraps the outcome in a frozen ``MultipleTestResult``. Definitions follow ``docs/theory.md``
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

from . import _axis, _small, _torch_backend, procedures as _procedures  # noqa: F401  (registers the built-ins)
from ._lazy import kernels_module
from ._stepwise import adjusted_flat, band_thresholds, banded_rejections, threshold
from ._validation import ReadOnlyArrays, as_pvalues, check_alpha, check_k, fingerprint_of, freeze, read_pvalues
from .registry import PROCEDURES, Guarantee, SpecialProcedure, get_procedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = [
    "MultipleTestResult",
    "reject",
    "adjust",
    "bonferroni",
    "holm",
    "lehmann_romano",
    "sidak",
    "holm_sidak",
    "hochberg",
    "hommel",
    "benjamini_hochberg",
    "benjamini_yekutieli",
    "benjamini_krieger_yekutieli",
    "gavrilov_benjamini_sarkar",
    "check_k_for",
    "check_k_within",
    "decide",
    "run",
    "wrap",
    "representable_threshold",
]


@dataclass(frozen=True, repr=False)
class MultipleTestResult(ReadOnlyArrays):
    """Outcome of a multiple-testing procedure.

    Every array of a result (``reject``, ``pvalues_adjusted``, the per-family arrays with
    ``axis``) is read-only and no view of the input: call ``.copy()`` to edit one.

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
        (``RuntimeError``) to compute adjusted values from an input modified since. Never below
        the raw values (same scale), except for the adaptive FDR procedures
        (``Procedure.adjusted_below_p``).
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
        return wrap(freeze(adjusted), shape, index)

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


def check_k_within(k: int, m, what: str = "", names=None) -> None:
    """Refuse ``k > m`` (k >= 2): with fewer than k tested hypotheses there cannot be k false
    rejections, so k-FWER control is vacuous, almost surely a mistake (and the k-FWER adjusted
    values (m/k) p would fall below the p-values).

    ``m`` is one family's size or an array of sizes (one per family); ``what`` names the
    hypotheses (e.g. ``' (components)'``) and ``names(i)`` the i-th family of an array of sizes.
    k = 1 with m = 0 (nothing tested) is allowed, as everywhere.
    """
    if k < 2:
        return
    sizes = np.asarray(m)
    over = np.flatnonzero(sizes.reshape(-1) < k)
    if over.size == 0:
        return
    i = int(over[0])
    size = int(sizes.reshape(-1)[i])
    where = ""
    if sizes.ndim:
        where = f" of family {names(i) if names is not None else i}"
        if over.size > 1:
            where += f" (and {over.size - 1} more famil{'y' if over.size == 2 else 'ies'})"
    raise ValueError(
        f"k ({k}) exceeds the number of tested hypotheses{what} m ({size}){where}: with k > m "
        f"there cannot be k false rejections, so k-FWER control is vacuous; use k <= m (k=1 is "
        f"the FWER)")


def representable_thresholds(thr, dtype) -> np.ndarray:
    """``representable_threshold`` of every element of a float64 array (NaN kept)."""
    thr = np.asarray(thr, dtype=np.float64)
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return thr
    low = thr.astype(dtype)
    over = low.astype(np.float64) > thr
    low[over] = np.nextafter(low[over], dtype.type(-np.inf))
    return low.astype(np.float64)


def _run_along(pvalues, alpha, proc, k, nan_policy, axis) -> MultipleTestResult:
    """Families along ``axis`` (see ``mtest._axis``): arrays of thresholds and counts."""
    v = read_pvalues(pvalues, nan_policy, protect=False)
    arr = v.flat.reshape(v.shape)
    axis = _axis.check_axis(axis, arr.ndim)
    rows = _axis.to_families(arr, axis)
    family_shape = tuple(n for i, n in enumerate(arr.shape) if i != axis)
    check_k_within(k, _axis.family_sizes(rows), names=_axis.family_namer(family_shape, axis))
    adjusted, sizes, ordered = _axis.adjusted_families(rows, proc, k, alpha)
    mask = adjusted <= alpha
    r = np.count_nonzero(mask, axis=1)
    thr = representable_thresholds(_axis.thresholds(proc, r, sizes, ordered, k, alpha), v.dtype)
    result = MultipleTestResult(
        wrap(_axis.from_families(mask, arr.shape, axis), v.shape, v.index),
        thr.reshape(family_shape), r.reshape(family_shape), sizes.reshape(family_shape),
        proc.name, alpha, k, proc.guarantee(k, alpha), (), axis)
    object.__setattr__(result, "pvalues_adjusted",
                       wrap(freeze(np.ascontiguousarray(_axis.from_families(adjusted, arr.shape, axis))),
                            v.shape, v.index))
    return result


def run(pvalues, alpha, method, k, nan_policy, axis=None, log_p=None) -> MultipleTestResult:
    """Validate, decide and wrap: the common body of every public procedure function."""
    if log_p is not None or type(pvalues).__module__.startswith("dask"):  # docs/scale.md
        if axis is not None:
            if type(pvalues).__module__.startswith("dask"):
                raise ValueError(f"axis ({axis!r}) is not supported for Dask arrays; give one "
                                 "family (axis=None) or adjust each family on its own")
            return _scaled().run_scaled_along(pvalues, alpha, method, k, nan_policy, log_p, axis)
        return _scaled().run_scaled(pvalues, alpha, method, k, nan_policy, log_p)
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    if axis is not None:
        return _run_along(pvalues, alpha, proc, k, nan_policy, axis)
    special = isinstance(proc, SpecialProcedure)
    # the adjusted values of a stepwise procedure are computed later, from flat: protect it;
    # its first counting pass runs inside the validation pass (the band, docs/performance.md)
    band = None if special else (lambda flat: band_thresholds(proc, flat, k, alpha))
    v = read_pvalues(pvalues, nan_policy, protect=not special, band=band)
    flat, shape, index, n_nan = v.flat, v.shape, v.index, v.n_nan
    if v.fingerprint is None and flat.flags.writeable:
        flat.flags.writeable = False  # private: nothing may change it through a result
    m = flat.size - n_nan
    check_k_within(k, m)
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
        object.__setattr__(result, "pvalues_adjusted", wrap(freeze(adjusted), shape, index))
        return result
    if v.band is None:  # a small input: no band, numpy alone (mtest._small)
        r, mask, thr = _small.rejections(flat, proc, m, k, alpha)
    else:
        r, mask = banded_rejections(flat, v.band, proc, m, k, alpha)  # the mask in the codes' bytes
        thr = threshold(proc, r, m, k, alpha)
    thr = representable_threshold(thr, v.dtype)
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
        ``nan_policy``). A DataFrame is refused: use ``mtest.adjust_frame``.
    alpha : float
        Level in (0, 1).
    method : str
        A name or alias from ``PROCEDURES`` (e.g. ``'holm'``, ``'bonferroni'``, ``'lr'``).
    k : int
        k of k-FWER (control P(k or more false rejections)); only for k-FWER procedures;
        at most the number m of tested hypotheses (per family with ``axis``): with k > m
        there cannot be k false rejections, so k > m is refused (``ValueError``).
    axis : int or None
        ``None`` (default): the whole input is one family (a segmentation map is one family).
        An int: the 1-D slices along that axis are separate families (scipy's
        ``false_discovery_control`` convention); results keep the input's shape, and
        ``threshold``, ``n_rejected`` and ``n_tests`` are arrays with one entry per family.
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p (<= 0; -inf is p = 0): exact far below 1e-308; the
        threshold and adjusted values come back in the same scale (docs/scale.md). Combines
        with ``axis``: each family's results are bitwise those of the family on its own.

    Returns
    -------
    MultipleTestResult
        For a ``torch.Tensor`` a ``TorchTestResult`` on the tensor's device, bitwise this result.

    References
    ----------
    .. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
           Scandinavian Journal of Statistics 6(2), 65-70.
    .. [2] Wright, S. P. (1992). Adjusted p-values for simultaneous inference. Biometrics 48(4),
           1005-1013.
    .. [3] Lehmann, E. L. and Romano, J. P. (2005). Generalizations of the familywise error rate.
           Annals of Statistics 33(3), 1138-1154.

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
    return decide(pvalues, alpha, method, k, nan_policy, axis, log_p)


def decide(pvalues, alpha, method, k, nan_policy, axis=None, log_p=None):
    """The one code path of ``reject`` and every per-procedure function: a ``torch.Tensor``
    stays on its device (``mtest._torch_backend``), anything else goes through ``run``."""
    if _torch_backend.is_tensor(pvalues):
        if log_p is not None:
            raise ValueError(f"log_p ({log_p!r}) is not supported for torch tensors; give p-values "
                             "or a NumPy array of log p-values")
        return _torch_backend.reject_torch(pvalues, alpha, method, k=k, axis=axis, nan_policy=nan_policy)
    return run(pvalues, alpha, method, k, nan_policy, axis, log_p)


def bonferroni(pvalues, alpha: float = 0.05, *, k: int = 1, axis: int | None = None,
               nan_policy: str = "raise",
               log_p: str | None = None) -> MultipleTestResult:
    """Bonferroni single-step test: reject p <= k*alpha/m (up to one rounding); FWER <= alpha
    (k-FWER for k > 1) under arbitrary dependence.

    A hypothesis is rejected when (m/k)*p <= alpha.

    With ``k > 1`` it controls the k-FWER, P(k or more false rejections) <= alpha, under any
    dependence [2]_; ``k = 1`` is Bonferroni's inequality [1]_: FWER <= alpha under arbitrary
    dependence. Adjusted p-values are ``min(1, m*p/k)``.
    The paper's SEGCERTIFYBON and INDIVCLASS use it (§4, §5).

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``).
    alpha : float
        Level in (0, 1).
    k : int
        k-FWER: controls P(k or more false rejections); ``k = 1`` is the FWER; k is
        at most the number m of tested hypotheses (per family with ``axis``): with k > m
        there cannot be k false rejections, so k > m is refused (``ValueError``).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FWER <= alpha (k-FWER for k > 1) under arbitrary dependence.

    References
    ----------
    .. [1] Bonferroni, C. E. (1936). Teoria statistica delle classi e calcolo delle probabilità.
           Pubblicazioni del R. Istituto Superiore di Scienze Economiche e Commerciali di Firenze 8,
           3-62.
    .. [2] Lehmann, E. L. and Romano, J. P. (2005). Generalizations of the familywise error rate.
           Annals of Statistics 33(3), 1138-1154, Thm 2.1.

    Examples
    --------
    >>> import mtest
    >>> mtest.bonferroni([0.001, 0.02, 0.04, 0.3]).reject
    array([ True, False, False, False])
    >>> mtest.bonferroni([0.001, 0.02, 0.04, 0.3], k=2).n_rejected
    2
    """
    return decide(pvalues, alpha, "bonferroni", k, nan_policy, axis, log_p)


def holm(pvalues, alpha: float = 0.05, *, axis: int | None = None, nan_policy: str = "raise",
         log_p: str | None = None) -> MultipleTestResult:
    """Holm's step-down procedure: critical values alpha/(m - i + 1); FWER <= alpha always.

    Rejects the r smallest p-values where r + 1 is the first sorted index with
    (m - i + 1)*p(i) > alpha [1]_, i.e. p(i) above the critical value alpha_i, the largest double t
    with (m - i + 1)*t <= alpha (alpha/(m - i + 1) up to one rounding; reject follows the
    adjusted p-values, as R's ``p.adjust``). The paper's SEGCERTIFYHOLM (§5, §6.1). Rejections take a few
    counting passes over the data and no full sort (below 65 536 values: one numpy sort, and no
    Numba kernel to compile).

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``).
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

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
    return decide(pvalues, alpha, "holm", 1, nan_policy, axis, log_p)


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
        p-values in [0, 1], any shape and real dtype (as in ``reject``).
    alpha : float
        Level in (0, 1).
    k : int
        At least 1 (keyword-only, required): P(k or more false rejections) <= alpha; k is
        at most the number m of tested hypotheses (per family with ``axis``): with k > m
        there cannot be k false rejections, so k > m is refused (``ValueError``).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

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
    return decide(pvalues, alpha, "lehmann-romano", k, nan_policy, axis, log_p)


# The per-procedure functions below are explicit one-line definitions (not generated in a loop) so
# that their signatures and docstrings are visible to static tools: the documentation site's
# parser (griffe), IDEs and ``help()``. Each body is a call of the one code path, ``decide``.

def sidak(pvalues, alpha: float = 0.05, *, axis: int | None = None, nan_policy: str = "raise",
          log_p: str | None = None) -> MultipleTestResult:
    """Šidák single-step test: reject p <= 1 - (1 - alpha)^(1/m); FWER <= alpha under independence
    or positive orthant dependence.

    Adjusted p-values are 1 - (1 - p)^m, computed as ``-expm1(m * log1p(-p))`` without
    cancellation (statsmodels' ``'sidak'``) [1]_. Slightly more powerful than Bonferroni; the
    guarantee needs independence or positive orthant dependence [2]_ (use ``bonferroni`` or
    ``holm`` under arbitrary dependence, e.g. for certification).

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FWER <= alpha under independence or positive orthant dependence.

    References
    ----------
    .. [1] Šidák, Z. (1967). Rectangular confidence regions for the means of multivariate normal
           distributions. Journal of the American Statistical Association 62(318), 626-633.
    .. [2] Holland, B. S. and Copenhaver, M. D. (1987). An improved sequentially rejective
           Bonferroni test procedure. Biometrics 43(2), 417-423.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.sidak([0.01, 0.04, 0.03, 0.005])
    >>> res.reject
    array([ True, False, False,  True])
    >>> round(res.threshold, 6)   # 1 - 0.95 ** (1/4)
    0.012741
    >>> str(res.guarantee)
    'FWER <= 0.05 under independence or positive orthant dependence'
    """
    return decide(pvalues, alpha, "sidak", 1, nan_policy, axis, log_p)


def holm_sidak(pvalues, alpha: float = 0.05, *, axis: int | None = None, nan_policy: str = "raise",
               log_p: str | None = None) -> MultipleTestResult:
    """Holm–Šidák step-down procedure: critical values 1 - (1 - alpha)^(1/(m - i + 1)); FWER <=
    alpha under independence or positive orthant dependence.

    Holm's step-down scheme [1]_ with Šidák's constants in place of alpha/(m - i + 1); adjusted
    p-values are the running maximum of 1 - (1 - p(i))^(m - i + 1) (statsmodels' ``'hs'``, the
    default of ``multipletests``). The guarantee needs independence or positive orthant
    dependence [2]_; under arbitrary dependence use ``holm``.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FWER <= alpha under independence or positive orthant dependence.

    References
    ----------
    .. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
           Scandinavian Journal of Statistics 6(2), 65-70.
    .. [2] Holland, B. S. and Copenhaver, M. D. (1987). An improved sequentially rejective
           Bonferroni test procedure. Biometrics 43(2), 417-423.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.holm_sidak([0.01, 0.04, 0.03, 0.005])
    >>> res.reject
    array([ True, False, False,  True])
    >>> res.pvalues_adjusted.round(4)
    array([0.0297, 0.0591, 0.0591, 0.0199])
    """
    return decide(pvalues, alpha, "holm-sidak", 1, nan_policy, axis, log_p)


def hochberg(pvalues, alpha: float = 0.05, *, axis: int | None = None, nan_policy: str = "raise",
             log_p: str | None = None) -> MultipleTestResult:
    """Hochberg's step-up procedure: critical values alpha/(m - i + 1); FWER <= alpha under
    independence or positive regression dependence (PRDS).

    Rejects the r smallest p-values where r is the largest i with (m - i + 1)*p(i) <= alpha [1]_:
    Holm's constants, stepping up instead of down, so it rejects at least what ``holm``
    rejects. Its validity rests on Simes' inequality, proven under PRDS [2]_; it is not valid under
    arbitrary dependence. Adjusted p-values as R's ``p.adjust(method = "hochberg")``.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FWER <= alpha under independence or PRDS.

    References
    ----------
    .. [1] Hochberg, Y. (1988). A sharper Bonferroni procedure for multiple tests of
           significance. Biometrika 75(4), 800-802.
    .. [2] Sarkar, S. K. (2008). On the Simes inequality and its generalization. IMS Collections
           1, 231-242.

    Examples
    --------
    >>> import mtest
    >>> p = [0.01, 0.04, 0.03, 0.005]
    >>> mtest.hochberg(p).reject          # all four: p(4) = 0.04 <= 0.05
    array([ True,  True,  True,  True])
    >>> mtest.holm(p).n_rejected          # Holm stops at p(3) = 0.03 > 0.05/2
    2
    """
    return decide(pvalues, alpha, "hochberg", 1, nan_policy, axis, log_p)


def hommel(pvalues, alpha: float = 0.05, *, axis: int | None = None, nan_policy: str = "raise",
           log_p: str | None = None) -> MultipleTestResult:
    """Hommel's procedure: the closed testing procedure of Simes tests; FWER <= alpha under
    independence or positive regression dependence (PRDS).

    Rejects H_i when every intersection hypothesis containing it is rejected by Simes' test [1]_.
    It rejects at least what ``hochberg`` rejects. The adjusted p-values equal R's
    ``p.adjust(method = "hommel")`` and are computed in O(m) after sorting [2]_. Like Hochberg's,
    its validity rests on Simes' inequality (PRDS) [3]_.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        is processed on the CPU and the result returned on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FWER <= alpha under independence or PRDS.

    References
    ----------
    .. [1] Hommel, G. (1988). A stagewise rejective multiple test procedure based on a modified
           Bonferroni test. Biometrika 75(2), 383-386.
    .. [2] Meijer, R. J., Krebs, T. J. P. and Goeman, J. J. (2019). Hommel's procedure in linear
           time. Biometrical Journal 61(1), 73-82.
    .. [3] Sarkar, S. K. (2008). On the Simes inequality and its generalization. IMS Collections
           1, 231-242.

    Examples
    --------
    >>> import mtest
    >>> p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    >>> res = mtest.hommel(p)
    >>> res.n_rejected
    1
    >>> res.pvalues_adjusted.round(3)
    array([0.008, 0.056, 0.111, 0.111, 0.111, 0.12 , 0.148, 0.205])
    """
    return decide(pvalues, alpha, "hommel", 1, nan_policy, axis, log_p)


def benjamini_hochberg(pvalues, alpha: float = 0.05, *, axis: int | None = None,
                       nan_policy: str = "raise", log_p: str | None = None) -> MultipleTestResult:
    """Benjamini–Hochberg step-up procedure: critical values i*alpha/m; FDR <= alpha under
    independence or positive regression dependence (PRDS).

    Rejects the r smallest p-values where r is the largest i with (m/i)*p(i) <= alpha [1]_. The
    false discovery rate (the expected share of false rejections among the rejections) is at most
    (m0/m)*alpha under independence [1]_ and under PRDS [2]_ (Thm 1.2). An FDR bound is an average
    over repetitions, not a statement about one run's rejections: certification needs a
    familywise procedure (``holm``). Registry name ``'fdr_bh'``; R's ``"BH"``, scipy's
    ``false_discovery_control(method='bh')``.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FDR <= alpha under independence or PRDS.

    References
    ----------
    .. [1] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate: a
           practical and powerful approach to multiple testing. Journal of the Royal Statistical
           Society B 57(1), 289-300.
    .. [2] Benjamini, Y. and Yekutieli, D. (2001). The control of the false discovery rate in
           multiple testing under dependency. Annals of Statistics 29(4), 1165-1188.

    Examples
    --------
    >>> import mtest
    >>> p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    >>> res = mtest.benjamini_hochberg(p)
    >>> res.reject
    array([ True,  True, False, False, False, False, False, False])
    >>> res.pvalues_adjusted.round(4)
    array([0.008 , 0.032 , 0.0672, 0.0672, 0.0672, 0.08  , 0.0846, 0.205 ])
    """
    return decide(pvalues, alpha, "fdr_bh", 1, nan_policy, axis, log_p)


def benjamini_yekutieli(pvalues, alpha: float = 0.05, *, axis: int | None = None,
                        nan_policy: str = "raise", log_p: str | None = None) -> MultipleTestResult:
    """Benjamini–Yekutieli step-up procedure: critical values i*alpha/(m*H_m), H_m = 1 + 1/2 + ...
    + 1/m; FDR <= alpha under arbitrary dependence.

    Benjamini–Hochberg at level alpha/H_m, which controls the FDR whatever the dependence among
    the p-values [1]_ (Thm 1.3). The harmonic sum is computed as R's ``p.adjust(method = "BY")``
    does, so the adjusted values agree with R to the last digit. Registry name ``'fdr_by'``.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FDR <= alpha under arbitrary dependence.

    References
    ----------
    .. [1] Benjamini, Y. and Yekutieli, D. (2001). The control of the false discovery rate in
           multiple testing under dependency. Annals of Statistics 29(4), 1165-1188.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.benjamini_yekutieli([0.01, 0.04, 0.03, 0.005])
    >>> res.reject
    array([ True, False, False,  True])
    >>> res.pvalues_adjusted.round(4)   # H_4 = 25/12
    array([0.0417, 0.0833, 0.0833, 0.0417])
    >>> str(res.guarantee)
    'FDR <= 0.05 under arbitrary dependence'
    """
    return decide(pvalues, alpha, "fdr_by", 1, nan_policy, axis, log_p)


def benjamini_krieger_yekutieli(pvalues, alpha: float = 0.05, *, axis: int | None = None,
                                nan_policy: str = "raise",
                                log_p: str | None = None) -> MultipleTestResult:
    """Benjamini–Krieger–Yekutieli two-stage adaptive step-up procedure; FDR <= alpha under
    independence.

    Stage 1: Benjamini–Hochberg at alpha' = alpha/(1 + alpha) gives r1 rejections. If 0 < r1 < m,
    stage 2 runs Benjamini–Hochberg at alpha' m/m0 with the estimate m0 = m - r1 of the number of
    true nulls [1]_ (Definition 6); FDR <= alpha under independence [1]_ (Theorem 2). More
    powerful than ``benjamini_hochberg`` when many nulls are false. Registry name
    ``'fdr_tsbky'`` (statsmodels' ``multipletests(method='fdr_tsbky')``, bit for bit). The
    adjusted p-values depend on alpha (statsmodels': "specific to the given alpha").

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FDR <= alpha under independence.

    References
    ----------
    .. [1] Benjamini, Y., Krieger, A. M. and Yekutieli, D. (2006). Adaptive linear step-up
           procedures that control the false discovery rate. Biometrika 93(3), 491-507.

    Examples
    --------
    >>> import mtest
    >>> p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    >>> res = mtest.benjamini_krieger_yekutieli(p)
    >>> res.n_rejected, res.threshold
    (2, 0.008)
    >>> str(res.guarantee)
    'FDR <= 0.05 under independence'
    """
    return decide(pvalues, alpha, "fdr_tsbky", 1, nan_policy, axis, log_p)


def gavrilov_benjamini_sarkar(pvalues, alpha: float = 0.05, *, axis: int | None = None,
                              nan_policy: str = "raise",
                              log_p: str | None = None) -> MultipleTestResult:
    """Gavrilov–Benjamini–Sarkar adaptive step-down procedure: critical values
    i*alpha/(m + 1 - i*(1 - alpha)); FDR <= alpha under independence.

    Step-down: rejects p(1), ..., p(r) where r + 1 is the first i with p(i) above its critical
    value [1]_; FDR <= alpha under independence [1]_ (Theorem 1). Adjusted p-values are the
    running maximum of ((m + 1 - i)/i) * p(i)/(1 - p(i)), as statsmodels'
    ``multipletests(method='fdr_gbs')``. Registry name ``'fdr_gbs'``.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape and real dtype (as in ``reject``); a ``torch.Tensor``
        stays on its device.
    alpha : float
        Level in (0, 1).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    MultipleTestResult
        ``guarantee`` states FDR <= alpha under independence.

    References
    ----------
    .. [1] Gavrilov, Y., Benjamini, Y. and Sarkar, S. K. (2009). An adaptive step-down procedure
           with proven FDR control under independence. Annals of Statistics 37(2), 619-629.

    Examples
    --------
    >>> import mtest
    >>> p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    >>> res = mtest.gavrilov_benjamini_sarkar(p)
    >>> res.reject
    array([ True,  True, False, False, False, False, False, False])
    >>> res.pvalues_adjusted.round(4)
    array([0.008 , 0.0282, 0.0812, 0.0812, 0.0812, 0.0812, 0.0812, 0.0812])
    """
    return decide(pvalues, alpha, "fdr_gbs", 1, nan_policy, axis, log_p)


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
        p-values in [0, 1], any shape and real dtype (as in ``reject``).
    method : str
        A name or alias from ``mtest.PROCEDURES``.
    alpha : float, optional
        Level in (0, 1); only for the level-dependent two-stage procedures.
    k : int
        k of k-FWER procedures; at most the number m of tested hypotheses (per family with ``axis``): with k > m
        there cannot be k false rejections, so k > m is refused (``ValueError``).
    axis : int or None
        ``None``: one family; an int: families along that axis (see ``reject``).
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, and stays NaN (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p; thresholds and adjusted values in the same scale
        (docs/scale.md). Combines with ``axis`` (each family bitwise as on its own).

    Returns
    -------
    ndarray or pandas.Series
        float64 adjusted p-values of the input's shape.

    References
    ----------
    .. [1] Wright, S. P. (1992). Adjusted p-values for simultaneous inference. Biometrics 48(4),
           1005-1013.
    .. [2] R Core Team. ``p.adjust``: adjust p-values for multiple comparisons. R package stats.

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
        if log_p is not None:
            raise ValueError(f"log_p ({log_p!r}) is not supported for torch tensors; give p-values "
                             "or a NumPy array of log p-values")
        return _torch_backend.adjust_torch(pvalues, method, k=k, axis=axis, nan_policy=nan_policy,
                                           alpha=alpha)
    if log_p is not None or type(pvalues).__module__.startswith("dask"):
        alpha = None if alpha is None else check_alpha(alpha)
        if axis is not None:
            if type(pvalues).__module__.startswith("dask"):
                raise ValueError(f"axis ({axis!r}) is not supported for Dask arrays; give one "
                                 "family (axis=None) or adjust each family on its own")
            return _scaled().adjust_scaled_along(pvalues, method, k, nan_policy, log_p, alpha, axis)
        return _scaled().adjust_scaled(pvalues, method, k, nan_policy, log_p, alpha)
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    alpha = None if alpha is None else check_alpha(alpha)
    if axis is not None:
        v = read_pvalues(pvalues, nan_policy, protect=False)
        arr = v.flat.reshape(v.shape)
        axis = _axis.check_axis(axis, arr.ndim)
        if getattr(proc, "alpha_dependent", False) and alpha is None:
            adjusted_flat(v.flat[:0], proc, k, 0, None)  # the engine's error for a missing alpha
        rows = _axis.to_families(arr, axis)
        family_shape = tuple(n for i, n in enumerate(arr.shape) if i != axis)
        check_k_within(k, _axis.family_sizes(rows), names=_axis.family_namer(family_shape, axis))
        adjusted, _, _ = _axis.adjusted_families(rows, proc, k, alpha)
        return wrap(np.ascontiguousarray(_axis.from_families(adjusted, arr.shape, axis)), v.shape, v.index)
    flat, shape, index, n_nan = as_pvalues(pvalues, nan_policy)
    check_k_within(k, flat.size - n_nan)
    return wrap(adjusted_flat(flat, proc, k, n_nan, alpha), shape, index)
