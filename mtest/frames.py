"""pandas in and out: adjust a p-value column, optionally within groups (families).

Many families are adjusted in one vectorized pass: rows are sorted once by (family, p), the
registry's transform ``raw(values, ranks, m, k)`` is applied to all families of the same size m at
once, and one Numba kernel takes the running maximum (step-down) or minimum (step-up) within
each family (below ``mtest._small.SMALL_BELOW`` rows its Python port, which compiles nothing).
The values are bitwise those of ``mtest.adjust`` run family by family.
"""
from __future__ import annotations

import decimal
import numbers

import numpy as np

from . import _small
from ._lazy import kernels_module
from .multitest import check_k_for, check_k_within, run
from .registry import SpecialProcedure, get_procedure
from ._validation import check_alpha, check_nan_policy

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["adjust_frame", "group_codes", "check_k_per_family"]

#: kernel modes of the procedures adjusted by the vectorized grouped path
_MODES = {"single": 0, "down": 1, "up": 2}


def _label(index, position: int) -> str:
    return repr(index[position])


def _unique_column(df, name, what: str):
    """``df[name]`` as one Series; a clear error for a missing or duplicated column name."""
    if name not in df.columns:
        raise ValueError(f"{what} ({name!r}) not found; the columns are {list(df.columns)}")
    hits = int(np.count_nonzero(df.columns == name))
    if hits > 1:
        raise ValueError(f"{what} ({name!r}) names {hits} columns of df; column names used by "
                         "adjust_frame must be unique")
    return df[name]


def _is_real(value) -> bool:
    return (isinstance(value, (numbers.Real, decimal.Decimal))
            and not isinstance(value, (bool, np.bool_)))


def _pvalue_array(values, column: str, nan_policy: str) -> np.ndarray:
    """The p-value column as float64 (NaN where missing), validated; errors name the row label.

    Numeric dtypes (nullable ones too) and object columns of real numbers (``Decimal`` included,
    as ``mtest.holm`` accepts them) are read; booleans, strings and the like are refused.
    """
    import pandas as pd

    index = values.index
    if pd.api.types.is_bool_dtype(values.dtype):
        raise ValueError(f"column {column!r} must be numeric; got dtype {values.dtype}")
    if values.dtype == object:
        missing = values.isna().to_numpy()
        for position in np.flatnonzero(~missing):  # cheap unless the column is object-typed
            item = values.iloc[position]
            if not _is_real(item):
                raise ValueError(f"column {column!r} must hold numbers; got {item!r} at row label "
                                 f"{_label(index, position)}")
        p = np.full(len(values), np.nan)
        p[~missing] = [float(v) for v in values.to_numpy()[~missing]]
    elif pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_complex_dtype(values.dtype):
        p = values.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        raise ValueError(f"column {column!r} must be numeric; got dtype {values.dtype}")
    nan = np.isnan(p)
    bad = ~nan & ~((p >= 0) & (p <= 1))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise ValueError(f"column {column!r} must lie in [0, 1]; got {float(p[position])!r} at row label "
                         f"{_label(index, position)} ({int(bad.sum())} such rows)")
    if nan.any() and nan_policy == "raise":
        position = int(np.flatnonzero(nan)[0])
        raise ValueError(f"column {column!r} contains NaN ({int(nan.sum())} of {p.size}), first at "
                         f"row label {_label(index, position)}; pass nan_policy='omit' to leave "
                         "NaN untested (R semantics)")
    return p


def group_codes(df, keys):
    """(family code of each row, number of families); a missing key is a key value of its own.

    Shared with the CLI's ``--by`` on pandas input.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    keys : list of str
        Grouping columns (empty: one family).

    Returns
    -------
    codes : ndarray of int64
        Family of each row.
    n_groups : int
        Number of families.
    """
    if not keys:
        return np.zeros(len(df), dtype=np.int64), 1 if len(df) else 0
    grouped = df.groupby(keys, sort=False, dropna=False)
    return grouped.ngroup().to_numpy(dtype=np.int64), int(grouped.ngroups)


def _first_row(codes, g: int) -> int:
    """The first row of family ``g`` (for errors)."""
    return int(np.flatnonzero(codes == g)[0])


def check_k_per_family(p, codes, n_groups, k, names=None) -> None:
    """Refuse k above a family's number of tested (not NaN) p-values (``check_k_within``),
    naming the family by ``names(g)`` (default: the first row of it)."""
    if n_groups > 1 and k > 1:
        tested = codes[~np.isnan(p)]
        if names is None:
            def names(g):
                return f"(the one of row {_first_row(codes, g)})"
        check_k_within(k, np.bincount(tested, minlength=n_groups), names=names)


def adjust_groups(p, codes, n_groups, proc, alpha, k, names=None):
    """(adjusted p-values, rejections) of float64 ``p`` (NaN: untested) in families ``codes``.

    Bitwise equal to ``mtest.reject(p[family], alpha, proc, k=k, nan_policy='omit')`` and its
    ``pvalues_adjusted`` for every family. ``k`` larger than a family's size is refused
    (``check_k_per_family``).
    """
    check_k_per_family(p, codes, n_groups, k, names)
    if n_groups <= 1:
        res = run(p, alpha, proc, k, "omit")
        # the caller's columns: writeable arrays of their own, not the read-only result's
        return np.array(res.pvalues_adjusted, dtype=np.float64), np.array(res.reject, dtype=bool)
    adjusted = np.empty(p.size, dtype=np.float64)
    reject = np.zeros(p.size, dtype=bool)
    nan = np.isnan(p)
    kernels = _small if _small.is_small(p.size) else _kernels  # small: no kernel (mtest._small)
    if isinstance(proc, SpecialProcedure):
        # no vectorized form (Hommel): one registry call per family
        rows, starts = kernels.bucket_order(np.arange(p.size, dtype=np.int64), codes, n_groups)
        for g in range(n_groups):
            family = rows[starts[g]:starts[g + 1]]
            res = run(p[family], alpha, proc, k, "omit")
            adjusted[family] = res.pvalues_adjusted
            reject[family] = res.reject
        return adjusted, reject
    # families ordered by their number of tested hypotheses m, so that one registry call per
    # distinct m (at most ~sqrt(2 N) of them) covers all families of that size
    m_of = np.bincount(codes[~nan], minlength=n_groups).astype(np.int64)
    by_m = np.argsort(m_of, kind="stable")
    position = np.empty(n_groups, dtype=np.int64)
    position[by_m] = np.arange(n_groups, dtype=np.int64)
    if proc.step == "single":  # no order needed, only the NaN rows last
        within = np.concatenate([np.flatnonzero(~nan), np.flatnonzero(nan)])
    else:  # NaN sorts last; among tied p-values only the order of -0.0 and 0.0 can change a
        # value (the sign of a zero adjusted value): they keep the row order, as in mtest.adjust
        within = np.argsort(p, kind="stable" if np.signbit(p).any() else None)
    del nan
    rows, starts = kernels.bucket_order(within, position[codes], n_groups)  # by (family, p)
    del within
    values = p[rows]
    m_sorted = m_of[by_m]
    sizes = np.diff(starts)
    raw = np.empty(p.size, dtype=np.float64)
    size_change = np.flatnonzero(np.diff(m_sorted)) + 1
    for a, b in zip(np.r_[0, size_change], np.r_[size_change, n_groups]):
        lo, hi = int(starts[a]), int(starts[b])
        m = int(m_sorted[a])
        if m == 0 or lo == hi:
            continue
        ranks = np.arange(lo + 1, hi + 1, dtype=np.int64) - np.repeat(starts[a:b], sizes[a:b])
        tested = ranks <= m  # each family's NaN rows sit after its m tested ones
        if tested.all():
            raw[lo:hi] = proc.raw(values[lo:hi], None if proc.step == "single" else ranks, m, k)
        else:
            raw[lo:hi][tested] = proc.raw(values[lo:hi][tested],
                                          None if proc.step == "single" else ranks[tested], m, k)
    del values
    kernels.segmented_adjust(raw, starts, m_sorted, _MODES[proc.step], raw)  # in place
    adjusted[rows] = raw
    np.less_equal(adjusted, alpha, out=reject)
    return adjusted, reject


def adjust_frame(df, column: str = "p", method: str = "holm", *, alpha: float = 0.05, k: int = 1,
                 by=None, nan_policy: str = "raise", adjusted_column: str = "p_adjusted",
                 reject_column: str = "reject"):
    """Adjust the p-values in ``df[column]`` and return a new DataFrame with two more columns.

    Each group of ``by`` (e.g. one image, one gene set) is its own family; without ``by`` the whole
    column is one family. Rows whose ``by`` value is missing (NaN, None) form a family of their
    own. The input DataFrame is not modified; row order and index are kept. Every family gets
    bitwise the adjusted p-values and rejections of ``mtest.adjust`` / ``mtest.reject``
    on that family alone; many families are adjusted in one vectorized pass (see the module
    docstring), not one call per family.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str
        The p-value column: a numeric dtype (nullable ones too; missing values count as NaN) or
        an object column of real numbers such as ``decimal.Decimal``.
    method, alpha, k, nan_policy
        As in ``mtest.reject``; k larger than a family's number of tested p-values is refused,
        naming the family.
    by : str or list of str, optional
        Grouping column(s).
    adjusted_column, reject_column : str
        Names of the added columns.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        For a missing or duplicated column name, a non-numeric p column, p-values outside
        [0, 1], or NaN with ``nan_policy='raise'``; the message names the frame's row label.

    Examples
    --------
    >>> import pandas as pd, mtest
    >>> df = pd.DataFrame({"image": [1, 1, 2, 2], "p": [0.01, 0.04, 0.03, 0.2]})
    >>> mtest.adjust_frame(df, "p", "holm", by="image")
       image     p  p_adjusted  reject
    0      1  0.01        0.02    True
    1      1  0.04        0.04    True
    2      2  0.03        0.06   False
    3      2  0.20        0.20   False
    """
    from ._optional import require

    pd = require("pandas", "mtest.adjust_frame")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    values = _unique_column(df, column, "column")
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    missing = [c for c in keys if c not in df.columns]
    if missing:
        raise ValueError(f"by ({missing!r}) not found; the columns are {list(df.columns)}")
    for key in keys:
        _unique_column(df, key, "by")
    for name in (adjusted_column, reject_column):
        if name in df.columns:
            raise ValueError(f"output column {name!r} already exists in df; choose another name")
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    nan_policy = check_nan_policy(nan_policy)
    p = _pvalue_array(values, column, nan_policy)
    codes, n_groups = group_codes(df, keys)
    adjusted, reject = adjust_groups(
        p, codes, n_groups, proc, alpha, k,
        names=lambda g: repr(dict(zip(keys, df[keys].iloc[_first_row(codes, g)].tolist()))))
    out = df.copy()
    out[adjusted_column] = adjusted
    out[reject_column] = reject
    return out


