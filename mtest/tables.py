"""Multiple testing of discrete p-values given as ``table[index]``: a histogram replaces the sort.

When p-values take few distinct values — binomial tests of counts that share n take n + 1 — a
tied block that starts at sorted rank i is rejected by a step-down procedure iff its value passes
the i-th critical value, so rejections cost O(N + len(table)). SEGCERTIFY (paper Alg. 2) and the
power studies use these paths.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ._validation import ReadOnlyArrays

from . import _repr
from ._lazy import kernels_module
from ._stepwise import critical_values, decide_sorted, threshold
from ._validation import as_int_array, check_alpha, read_pvalues
from .multitest import MultipleTestResult, check_k_for, check_k_within, representable_threshold, run
from .registry import SpecialProcedure, get_procedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["reject_table", "reject_table_rows", "RowsResult"]


def reject_table(table, index, alpha: float = 0.05, method: str = "holm", *,
                 k: int = 1) -> MultipleTestResult:
    """Multiple testing of discrete p-values given as ``table[index]``, in O(N + len(table)).

    When p-values take few distinct values — binomial tests of counts that share n take n + 1 —
    a histogram of ``index`` replaces the sort: a tied block that starts at sorted rank i is
    rejected by a step-down procedure iff its value passes the i-th critical value. Results equal
    ``reject(table[index], ...)`` exactly. SEGCERTIFY (paper Alg. 2) uses this path.

    Parameters
    ----------
    table : array_like of float
        The distinct possible p-values, in [0, 1], any order.
    index : array_like of int
        Any shape; ``0 <= index < len(table)``. The p-value of component i is ``table[index[i]]``.
    alpha, method, k
        As in ``reject``.

    Returns
    -------
    MultipleTestResult
        Equal to ``reject(table[index], alpha, method, k=k)``, of ``index``'s shape.

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Algorithm 2.
    .. [2] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
           Scandinavian Journal of Statistics 6(2), 65-70.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> table = mtest.binom_pvalue_table(100, 0.75, "greater")
    >>> count = np.array([[100, 99], [80, 60]])
    >>> mtest.reject_table(table, count, alpha=0.001).reject
    array([[ True,  True],
           [False, False]])
    """
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    table_in = read_pvalues(table, name="table")
    table_flat = table_in.flat.astype(np.float64, copy=False)
    index = as_int_array("index", index)
    shape = index.shape
    flat_index = np.ascontiguousarray(index).reshape(-1)
    m = flat_index.size
    if m and (flat_index.min() < 0 or flat_index.max() >= table_flat.size):
        raise ValueError(f"index must lie in [0, {table_flat.size - 1}]; got values from "
                         f"{flat_index.min()} to {flat_index.max()}")
    check_k_within(k, m)
    pvalues = np.empty(m, dtype=np.float64)
    _kernels.gather(table_flat, flat_index, pvalues)
    if isinstance(proc, SpecialProcedure) or m == 0:
        res = run(pvalues.reshape(shape), alpha, proc, k, "raise")
        # run saw float64 values; the caller compares in the table's dtype
        thr = representable_threshold(res.threshold, table_in.dtype)
        return res if thr == res.threshold else dataclasses.replace(res, threshold=thr)
    mult = np.bincount(flat_index, minlength=table_flat.size)
    present = np.flatnonzero(mult)
    order = np.argsort(table_flat[present], kind="stable")
    values, mults = table_flat[present][order], mult[present][order]
    r = decide_sorted(values, mults, 1, proc, m, k, alpha)
    thr = representable_threshold(threshold(proc, r, m, k, alpha), table_in.dtype)
    mask = np.empty(m, dtype=bool)
    _kernels.less_equal(pvalues, thr, mask)
    pvalues.flags.writeable = False  # private, and shared with SEGCERTIFY's result
    return MultipleTestResult(mask.reshape(shape), thr, r, m, proc.name, alpha, k,
                              proc.guarantee(k, alpha), (pvalues, shape, None, 0, None, proc))


@dataclass(frozen=True)
class RowsResult(ReadOnlyArrays):
    """Per-row outcome of ``reject_table_rows``: rejections and threshold of each row.

    Attributes
    ----------
    n_rejected : ndarray of int
        Rejections per row.
    threshold : ndarray of float
        Per row: every p-value ``<= threshold`` is rejected (NaN when nothing was tested).
    method, alpha, k : str, float, int
        The procedure's canonical name, the level and k of k-FWER.
    """

    n_rejected: np.ndarray
    threshold: np.ndarray
    method: str
    alpha: float
    k: int

    def __repr__(self) -> str:
        n_rejected = np.asarray(self.n_rejected)
        return (f"RowsResult(method={self.method!r}, alpha={self.alpha}, k={self.k}, "
                f"rows={n_rejected.size}, n_rejected={int(n_rejected.sum())} in total "
                f"(per row {_repr.interval(n_rejected)}))")


def reject_table_rows(table, index, alpha: float = 0.05, method: str = "holm", *,
                      k: int = 1) -> RowsResult:
    """``reject_table`` for many independent families at once (rows of a 2-D ``index``).

    Each row is one family of m = ``index.shape[1]`` hypotheses; rows run in parallel in one
    Numba kernel (simulations and power studies). Row ``j`` rejects exactly
    ``table[index[j]] <= threshold[j]``, equal to ``reject_table(table, index[j], ...)``.

    Parameters
    ----------
    table : array_like of float
        The distinct possible p-values, in [0, 1].
    index : array_like of int
        Shape (rows, m): row j is one family, p-values ``table[index[j]]``.
    alpha : float
        Level in (0, 1).
    method : str
        A registered stepwise procedure.
    k : int
        k of k-FWER; at most the row length m (k > m is refused, as in ``reject``).

    Returns
    -------
    RowsResult
        ``n_rejected`` and ``threshold`` per row.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> table = mtest.binom_pvalue_table(100, 0.75, "greater")
    >>> mtest.reject_table_rows(table, np.array([[100, 99, 60], [70, 60, 50]]), 0.001).n_rejected
    array([2, 0])
    """
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    if isinstance(proc, SpecialProcedure):
        raise ValueError(f"method {proc.name!r} has no row-wise table path; use reject() per row")
    table_in = read_pvalues(table, name="table")
    table_flat = table_in.flat.astype(np.float64, copy=False)
    index = as_int_array("index", index)
    if index.ndim != 2:
        raise ValueError(f"index must be a 2-D integer array (rows = families); got dtype "
                         f"{index.dtype} and shape {index.shape}")
    n_rows, m = index.shape
    if n_rows:
        check_k_within(k, m, " per row")
    if index.size and (index.min() < 0 or index.max() >= table_flat.size):
        raise ValueError(f"index must lie in [0, {table_flat.size - 1}]; got values from "
                         f"{index.min()} to {index.max()}")
    out_r = np.zeros(n_rows, dtype=np.int64)
    out_thr = np.full(n_rows, np.nan)
    if m:
        single = proc.step == "single"
        ranks = np.array([1]) if single else np.arange(1, m + 1)
        crit = critical_values(proc, ranks, m, k, alpha)
        perm = np.argsort(table_flat, kind="stable")
        _kernels.decide_table_rows(np.ascontiguousarray(index), table_flat, perm, crit,
                                   single, proc.step == "up", out_r, out_thr)
        if table_in.dtype != np.float64:  # thresholds exact in the table's dtype, as in reject
            low = out_thr.astype(table_in.dtype)
            low = np.where(low > out_thr, np.nextafter(low, low.dtype.type(-np.inf)), low)
            out_thr = low.astype(np.float64)
    return RowsResult(n_rejected=out_r, threshold=out_thr, method=proc.name, alpha=alpha, k=k)
