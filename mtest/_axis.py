"""Many families at once: ``axis=`` of the public API (scipy ``false_discovery_control`` convention).

The families are the 1-D slices along ``axis``; each is adjusted on its own. One vectorized argsort
along the axis orders every family, the procedure's transform is applied to all of them at once
(ranks broadcast), and the running maximum (step-down) or minimum from the top (step-up) is one
``accumulate`` along the axis — no Python loop over families. With ``nan_policy='omit'`` families
can have different sizes m; they are processed in one batch per distinct m. Special procedures
(Hommel) loop over families.

The arithmetic is the one-family engine's, element for element, so the results are bitwise equal
to adjusting each family with ``axis=None``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._stepwise import critical_values, special_sorted
from .registry import Procedure, SpecialProcedure

__all__ = ["check_axis", "to_families", "from_families", "family_sizes", "family_namer",
           "adjusted_families", "thresholds"]


def check_axis(axis, ndim: int) -> int:
    """A valid axis for an array of ``ndim`` dimensions, normalised to be non-negative."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"axis must be None or an integer; got {axis!r}")
    if ndim == 0:
        raise ValueError(f"axis ({axis!r}) needs an array of at least one dimension; got a scalar")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis ({axis!r}) is out of bounds for an array of {ndim} dimension(s)")
    return int(axis) % ndim


def to_families(arr: np.ndarray, axis: int) -> np.ndarray:
    """(F, m) view or copy with one family per row."""
    moved = np.moveaxis(arr, axis, -1)
    n_families = int(np.prod(moved.shape[:-1], dtype=np.int64))
    return moved.reshape(n_families, moved.shape[-1])


def from_families(rows: np.ndarray, shape: tuple, axis: int) -> np.ndarray:
    """Inverse of ``to_families`` for an array of the input's ``shape``."""
    moved_shape = tuple(np.delete(np.asarray(shape), axis)) + (shape[axis],)
    return np.moveaxis(rows.reshape(moved_shape), -1, axis)


def family_sizes(values: np.ndarray) -> np.ndarray:
    """Tested hypotheses per family (NaN is not tested) of the (F, m) ``values``."""
    return values.shape[1] - np.count_nonzero(np.isnan(values), axis=1)


def family_namer(family_shape: tuple, axis: int):
    """``names(i)``: the i-th family (row of ``to_families``) in words, for errors."""
    def name(i: int) -> str:
        index = tuple(int(j) for j in np.unravel_index(i, family_shape)) if family_shape else ()
        return f"at {index} (the 1-D slice along axis {axis})"
    return name


def adjusted_families(values: np.ndarray, proc: Procedure, k: int, alpha: float | None = None):
    """Adjusted p-values of every row of ``values`` (F, m), float64, NaN kept; and the sizes m_f."""
    n_families, width = values.shape
    sizes = family_sizes(values)
    order = np.argsort(values, axis=1, kind="stable")  # NaN last in every row
    ordered = np.take_along_axis(values, order, axis=1).astype(np.float64, copy=False)
    out_sorted = np.full((n_families, width), np.nan)
    for m in np.unique(sizes):
        m = int(m)
        if m == 0:
            continue
        rows = np.flatnonzero(sizes == m)
        block = ordered[rows, :m]
        if isinstance(proc, SpecialProcedure):
            adjusted = np.stack([special_sorted(proc, np.ascontiguousarray(row), k, alpha) for row in block])
        elif proc.step == "single":
            adjusted = np.minimum(proc.raw(block, None, m, k), 1.0)
        else:
            ranks = np.arange(1, m + 1, dtype=np.int64)[None, :]
            raw = np.broadcast_to(proc.raw(block, ranks, m, k), block.shape)
            if proc.step == "down":
                adjusted = np.maximum.accumulate(raw, axis=1)
            else:
                adjusted = np.minimum.accumulate(raw[:, ::-1], axis=1)[:, ::-1]
            adjusted = np.minimum(adjusted, 1.0)
        out_sorted[rows, :m] = adjusted
    out = np.empty_like(out_sorted)
    np.put_along_axis(out, order, out_sorted, axis=1)
    return out, sizes, ordered


def thresholds(proc: Procedure, n_rejected: np.ndarray, sizes: np.ndarray, ordered: np.ndarray,
               k: int, alpha: float) -> np.ndarray:
    """Per family, the threshold t with {p <= t} equal to its rejection set (NaN if m_f = 0).

    Stepwise procedures: the critical value of rank max(r, 1) — one critical-value vector per
    distinct family size. Special procedures: the r-th smallest p-value, or just below the
    smallest when nothing is rejected (as ``mtest._stepwise.threshold``).
    """
    out = np.full(sizes.shape, np.nan)
    for m in np.unique(sizes):
        m = int(m)
        if m == 0:
            continue
        rows = np.flatnonzero(sizes == m)
        rank = np.maximum(n_rejected[rows], 1)
        if isinstance(proc, SpecialProcedure):
            value = ordered[rows, rank - 1]
            out[rows] = np.where(n_rejected[rows] == 0, np.nextafter(value, -1.0), value)
        elif proc.step == "single":
            out[rows] = critical_values(proc, np.array([1]), m, k, alpha)[0]
        else:
            needed = np.unique(rank)
            crit = critical_values(proc, needed, m, k, alpha)
            out[rows] = crit[np.searchsorted(needed, rank)]
    return out
