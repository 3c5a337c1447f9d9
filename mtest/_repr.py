"""Compact reprs for result objects: shapes, counts and the guarantee, never an array dump.

A 64 × 64 certification result prints in one short line; the arrays stay one attribute away.
"""
from __future__ import annotations

import numpy as np


def array(a) -> str:
    """``int64[64x64]``-style summary of an array (a scalar prints as itself)."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        return _scalar(arr[()])
    return f"{arr.dtype}[{'x'.join(map(str, arr.shape))}]"


def _scalar(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(v)


def value(v) -> str:
    """A field's value: arrays summarised, floats to 4 significant digits, strings quoted."""
    if isinstance(v, np.ndarray) or (hasattr(v, "shape") and hasattr(v, "dtype") and v.shape != ()):
        return array(v)
    if isinstance(v, (float, np.floating, int, np.integer, bool, np.bool_)):
        return _scalar(v)
    if isinstance(v, str):
        return repr(v)
    if v is None:
        return "None"
    text = str(v)
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


def compact(obj, **fields) -> str:
    """``Name(field=value, ...)`` with every value through ``value``."""
    inner = ", ".join(f"{k}={value(v)}" for k, v in fields.items())
    return f"{type(obj).__name__}({inner})"


def interval(a) -> str:
    """``[min, max]`` of the finite values of an array (``[]`` when none)."""
    arr = np.asarray(a, dtype=float)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return "[]"
    return f"[{finite.min():.4g}, {finite.max():.4g}]"
