"""Argument checks shared by the public API.

Every check names the argument and echoes the offending value, so that a user reading the
traceback knows what to fix without opening the source (scipy ``_iv_*`` style).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import _kernels

__all__ = [
    "as_pvalues",
    "check_alpha",
    "check_k",
    "check_choice",
    "check_nan_policy",
    "check_probability",
    "check_positive",
    "check_positive_int",
    "as_int_array",
]


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_choice(name: str, value: Any, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming the valid ones."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} ({_show(value)}) not recognized; use one of {valid}")
    return value


def check_nan_policy(nan_policy: Any) -> str:
    return check_choice("nan_policy", nan_policy, ("raise", "omit"))


def _as_real_scalar(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {_show(value)}")
    return float(value)


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """A significance level strictly inside (0, 1)."""
    value = _as_real_scalar(name, alpha)
    if not (0.0 < value < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {_show(alpha)}")
    return value


def check_probability(name: str, value: Any, *, low: float = 0.0, high: float = 1.0,
                      low_open: bool = False, high_open: bool = False) -> float:
    """A real number in an interval with chosen open/closed ends."""
    v = _as_real_scalar(name, value)
    too_low = v <= low if low_open else v < low
    too_high = v >= high if high_open else v > high
    if not np.isfinite(v) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}; got {_show(value)}")
    return v


def check_positive(name: str, value: Any) -> float:
    """A finite real number > 0 (not bool)."""
    v = float("nan") if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) else float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number; got {_show(value)}")
    return v


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer (not bool, not float) that is at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {_show(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {_show(value)}")
    return int(value)


def check_k(k: Any) -> int:
    """k of k-FWER: reject while P(k or more false rejections) <= alpha; k >= 1."""
    return check_positive_int("k", k, 1)


def _first_bad(flat: np.ndarray, bad: np.ndarray) -> str:
    idx = int(np.flatnonzero(bad)[0])
    return f"{flat[idx].item()!r} at flat index {idx}"


def as_pvalues(pvalues: Any, nan_policy: str = "raise", name: str = "pvalues"):
    """Validate p-values and return ``(flat, shape, index, n_nan)``.

    ``flat`` is a 1-D float32/float64 view of the input when possible (never a copy of a
    contiguous float array, and never written to). ``index`` is the pandas index of a Series,
    else ``None``. Raises ``ValueError`` naming ``name`` for non-numeric, non-finite or
    out-of-range values and (with ``nan_policy='raise'``) for NaN.
    """
    check_nan_policy(nan_policy)
    index = None
    if hasattr(pvalues, "index") and hasattr(pvalues, "to_numpy") and getattr(pvalues, "ndim", 1) == 1:
        index = pvalues.index
        pvalues = pvalues.to_numpy()
    try:
        arr = np.asarray(pvalues)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an array of numbers; got {_show(pvalues)}") from exc
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric; got {_show(pvalues)}") from exc
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a numeric array of p-values; got dtype {arr.dtype} ({_show(pvalues)})")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    shape = arr.shape
    flat = arr.reshape(-1)  # a view for contiguous input
    n_nan, n_low, n_high, n_inf = _kernels.scan_pvalues(flat)
    if n_inf:
        raise ValueError(f"{name} must be finite; got {_first_bad(flat, np.isinf(flat))}")
    if n_low or n_high:
        raise ValueError(f"{name} must lie in [0, 1]; got {_first_bad(flat, (flat < 0) | (flat > 1))}")
    if n_nan and nan_policy == "raise":
        raise ValueError(
            f"{name} contains NaN ({n_nan} of {flat.size}), first {_first_bad(flat, np.isnan(flat))}; "
            "pass nan_policy='omit' to leave NaN untested (R semantics)")
    return flat, shape, index, int(n_nan)


def as_int_array(name: str, value: Any) -> np.ndarray:
    """An integer array (bool and float refused; floats holding whole numbers are refused too)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array; got dtype {arr.dtype} ({_show(value)})")
    return arr
