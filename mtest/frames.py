"""pandas in and out: adjust a p-value column, optionally within groups (families)."""
from __future__ import annotations

import numpy as np

from .multitest import check_k_for, run
from .registry import get_procedure
from ._validation import check_alpha

__all__ = ["adjust_frame"]


def adjust_frame(df, column: str = "p", method: str = "holm", *, alpha: float = 0.05, k: int = 1,
                 by=None, nan_policy: str = "raise", adjusted_column: str = "p_adjusted",
                 reject_column: str = "reject"):
    """Adjust the p-values in ``df[column]`` and return a new DataFrame with two more columns.

    Each group of ``by`` (e.g. one image, one gene set) is its own family; without ``by`` the whole
    column is one family. The input DataFrame is not modified; row order and index are kept.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str
        The p-value column.
    method, alpha, k, nan_policy
        As in :func:`mtest.reject`.
    by : str or list of str, optional
        Grouping column(s).
    adjusted_column, reject_column : str
        Names of the added columns.

    Returns
    -------
    pandas.DataFrame

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
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame; got {type(df).__name__}")
    if column not in df.columns:
        raise ValueError(f"column ({column!r}) not found; the columns are {list(df.columns)}")
    keys = [] if by is None else ([by] if isinstance(by, str) else list(by))
    missing = [c for c in keys if c not in df.columns]
    if missing:
        raise ValueError(f"by ({missing!r}) not found; the columns are {list(df.columns)}")
    for name in (adjusted_column, reject_column):
        if name in df.columns:
            raise ValueError(f"output column {name!r} already exists in df; choose another name")
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    values = df[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(f"column {column!r} must be numeric; got dtype {values.dtype}")
    p = values.to_numpy(dtype=np.float64, na_value=np.nan)
    adjusted = np.empty(p.size)
    reject = np.zeros(p.size, dtype=bool)
    groups = [np.arange(p.size)] if not keys else df.groupby(keys, sort=False, dropna=False).indices.values()
    for rows in groups:
        res = run(p[rows], alpha, proc, k, nan_policy)
        reject[rows] = res.reject
        adjusted[rows] = res.pvalues_adjusted
    out = df.copy()
    out[adjusted_column] = adjusted
    out[reject_column] = reject
    return out
