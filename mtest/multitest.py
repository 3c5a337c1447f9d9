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

from . import _kernels, procedures as _procedures  # noqa: F401  (registers the built-ins)
from ._stepwise import adjusted_flat, n_rejected, threshold
from ._validation import as_pvalues, check_alpha, check_k
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
]


@dataclass(frozen=True, repr=False)
class MultipleTestResult:
    """Outcome of a multiple-testing procedure.

    Attributes
    ----------
    reject : ndarray of bool or pandas.Series
        Same shape as the input (same index for a Series); ``True`` where the null is rejected.
    threshold : float
        Every tested p-value ``<= threshold`` is rejected and every one above it is not.
        NaN when nothing was tested.
    n_rejected : int
        Number of rejections.
    n_tests : int
        Number of hypotheses tested (NaN excluded under ``nan_policy='omit'``).
    method, alpha, k
        The procedure's canonical name and the parameters it ran with.
    guarantee : Guarantee
        What the rejections control, e.g. ``FWER <= 0.05 under arbitrary dependence``.
    pvalues_adjusted : ndarray or pandas.Series
        Adjusted p-values (R ``p.adjust`` semantics), computed on first access only.
        ``reject == (pvalues_adjusted <= alpha)`` holds exactly.
    """

    reject: Any
    threshold: float
    n_rejected: int
    n_tests: int
    method: str
    alpha: float
    k: int = 1
    guarantee: Guarantee | None = None
    _source: tuple = field(default=(), compare=False)

    @cached_property
    def pvalues_adjusted(self):
        flat, shape, index, n_nan = self._source
        adjusted = adjusted_flat(flat, get_procedure(self.method), self.k, n_nan)
        return wrap(adjusted, shape, index)

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k != 1 else ""
        return (f"MultipleTestResult(method={self.method!r}, alpha={self.alpha}{k}, "
                f"n_tests={self.n_tests}, n_rejected={self.n_rejected}, "
                f"threshold={self.threshold!r})")


def wrap(flat: np.ndarray, shape, index):
    out = flat.reshape(shape)
    if index is not None:
        import pandas as pd

        return pd.Series(out, index=index)
    return out


def check_k_for(proc: Procedure, k: Any) -> int:
    k = check_k(k)
    if k != 1 and not proc.uses_k:
        users = ", ".join(repr(p.name) for p in PROCEDURES.values() if p.uses_k)
        raise ValueError(f"k ({k}) is only defined for the k-FWER procedures {users}; "
                         f"method {proc.name!r} takes k=1")
    return k


def run(pvalues, alpha, method, k, nan_policy) -> MultipleTestResult:
    if type(pvalues).__module__.startswith("dask"):  # Dask arrays: docs/scale.md
        return _scaled().run_scaled(pvalues, alpha, method, k, nan_policy, None)
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    flat, shape, index, n_nan = as_pvalues(pvalues, nan_policy)
    m = flat.size - n_nan
    guarantee = proc.guarantee(k, alpha)
    if isinstance(proc, SpecialProcedure):
        adjusted = adjusted_flat(flat, proc, k, n_nan)
        mask = adjusted <= alpha
        r = int(np.count_nonzero(mask))
        values = np.sort(flat)[:m]
        thr = threshold(proc, r, m, k, alpha, lambda j: values[j - 1])
        result = MultipleTestResult(wrap(mask, shape, index), thr, r, m, proc.name, alpha, k,
                                    guarantee, (flat, shape, index, n_nan))
        object.__setattr__(result, "pvalues_adjusted", wrap(adjusted, shape, index))
        return result
    r = n_rejected(flat, proc, m, k, alpha)
    thr = threshold(proc, r, m, k, alpha)
    mask = np.empty(flat.size, dtype=bool)
    if m:
        _kernels.less_equal(flat, thr, mask)
    else:
        mask[:] = False
    return MultipleTestResult(wrap(mask, shape, index), thr, r, m, proc.name, alpha, k,
                              guarantee, (flat, shape, index, n_nan))


def _scaled():
    from . import _logscale  # log-scale input and Dask arrays (docs/scale.md)

    return _logscale


def reject(pvalues, alpha: float = 0.05, method: str = "holm", *, k: int = 1,
           nan_policy: str = "raise", log_p: str | None = None) -> MultipleTestResult:
    """Apply a registered multiple-testing procedure.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape; float32 input is read without an upcast copy.
    alpha : float
        Level in (0, 1).
    method : str
        A name or alias from :data:`PROCEDURES` (e.g. ``'holm'``, ``'bonferroni'``, ``'lr'``).
    k : int
        k of k-FWER (control P(k or more false rejections)); only for k-FWER procedures.
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).
    log_p : {None, 'ln', 'log10'}
        The input holds ln p or log10 p (<= 0; -inf is p = 0): exact far below 1e-308; the
        threshold and adjusted values come back in the same scale (docs/scale.md).

    Returns
    -------
    MultipleTestResult

    Examples
    --------
    >>> import mtest
    >>> res = mtest.reject([0.001, 0.02, 0.04, 0.3], alpha=0.05, method="holm")
    >>> res.reject
    array([ True, False, False, False])
    >>> res.n_rejected, res.threshold
    (1, 0.0125)
    >>> mtest.reject([-1151.29, -4.0, -2.0], method="holm", log_p="ln").reject   # p = 1e-500
    array([ True,  True, False])
    """
    if log_p is not None:
        return _scaled().run_scaled(pvalues, alpha, method, k, nan_policy, log_p)
    return run(pvalues, alpha, method, k, nan_policy)


def bonferroni(pvalues, alpha: float = 0.05, k: int = 1, *, nan_policy: str = "raise") -> MultipleTestResult:
    """Bonferroni single-step test: reject p <= k*alpha/m (k = 1: classic FWER control).

    With ``k > 1`` it controls the k-FWER, P(k or more false rejections) <= alpha, under any
    dependence (Lehmann & Romano 2005, Thm 2.1). Adjusted p-values are ``min(1, m*p/k)``.
    The paper's SEGCERTIFYBON and INDIVCLASS use it (§4, §5).

    Parameters
    ----------
    pvalues : array_like or pandas.Series
    alpha : float
    k : int
    nan_policy : {'raise', 'omit'}

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
    return run(pvalues, alpha, "bonferroni", k, nan_policy)


def holm(pvalues, alpha: float = 0.05, *, nan_policy: str = "raise") -> MultipleTestResult:
    """Holm's step-down procedure: critical values alpha/(m - i + 1); FWER <= alpha always.

    Rejects the r smallest p-values where r + 1 is the first sorted index with
    p(i) > alpha/(m - i + 1) [1]_. The paper's SEGCERTIFYHOLM (§5, §6.1). Rejections take a few
    counting passes over the data and no full sort.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
    alpha : float
    nan_policy : {'raise', 'omit'}

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
    return run(pvalues, alpha, "holm", 1, nan_policy)


def lehmann_romano(pvalues, k: int, alpha: float = 0.05, *, nan_policy: str = "raise") -> MultipleTestResult:
    """Lehmann–Romano step-down k-FWER procedure: P(k or more false rejections) <= alpha.

    Critical values alpha_i = k*alpha/m for i <= k and k*alpha/(m + k - i) for i > k; valid under
    any dependence [1]_ and the procedure the paper plugs into SEGCERTIFY (§5.2, App. B.2).
    ``k = 1`` is exactly Holm. Note the convention: k counts the false rejections that are *not*
    tolerated ("k or more"); some texts shift it by one. The lenient constants
    k*alpha/(m - i + 1) of the paper's reference script are not proven for arbitrary dependence
    and are not used.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
    k : int
        At least 1.
    alpha : float
    nan_policy : {'raise', 'omit'}

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
    """
    return run(pvalues, alpha, "lehmann-romano", k, nan_policy)


def adjust(pvalues, method: str = "holm", *, k: int = 1, nan_policy: str = "raise",
           log_p: str | None = None):
    """Adjusted p-values, with R ``p.adjust`` semantics (and the k-FWER procedures).

    Returns an array of the input's shape (a Series with its index for a Series input), float64,
    NaN kept in place under ``nan_policy='omit'``. ``adjust(p, m) <= alpha`` is exactly the
    rejection set of ``reject(p, alpha, m)``.

    Examples
    --------
    >>> import mtest
    >>> mtest.adjust([0.01, 0.04, 0.03, 0.005], method="bonferroni")
    array([0.04, 0.16, 0.12, 0.02])

    ``log_p='log10'`` (or ``'ln'``): log p-values in, adjusted values in the same scale out:

    >>> mtest.adjust([-500.0, -3.0], method="bonferroni", log_p="log10")
    array([-499.69897,   -2.69897])
    """
    if log_p is not None or type(pvalues).__module__.startswith("dask"):
        return _scaled().adjust_scaled(pvalues, method, k, nan_policy, log_p)
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    flat, shape, index, n_nan = as_pvalues(pvalues, nan_policy)
    return wrap(adjusted_flat(flat, proc, k, n_nan), shape, index)
