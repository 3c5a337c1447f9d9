"""Argument checks shared by the public API.

Every check names the argument and echoes the offending value, so that a user reading the
traceback knows what to fix without opening the source (scipy ``_iv_*`` style).
"""
from __future__ import annotations

import numbers
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _small
from ._lazy import kernels_module

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = [
    "freeze",
    "ReadOnlyArrays",
    "show_value",
    "first_bad",
    "as_pvalues",
    "check_alpha",
    "check_k",
    "check_choice",
    "check_nan_policy",
    "check_probability",
    "check_positive",
    "check_positive_int",
    "as_int_array",
    "as_label_array",
    "label_dtype",
    "read_pvalues",
    "PValues",
    "COPY_BELOW",
]


def show_value(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages that echo the bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_choice(name: str, value: Any, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming the valid ones."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} ({show_value(value)}) not recognized; use one of {valid}")
    return value


def check_nan_policy(nan_policy: Any) -> str:
    return check_choice("nan_policy", nan_policy, ("raise", "omit"))


def _as_real_scalar(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {show_value(value)}")
    return float(value)


def check_alpha(alpha: Any, name: str = "alpha") -> float:
    """A significance level strictly inside (0, 1)."""
    value = _as_real_scalar(name, alpha)
    if not (0.0 < value < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1; got {show_value(alpha)}")
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
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}; got {show_value(value)}")
    return v


def check_positive(name: str, value: Any) -> float:
    """A finite real number > 0 (not bool)."""
    v = float("nan") if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) else float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number; got {show_value(value)}")
    return v


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer (not bool, not float) that is at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {show_value(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {show_value(value)}")
    return int(value)


def check_k(k: Any) -> int:
    """k of k-FWER: reject while P(k or more false rejections) <= alpha; k >= 1."""
    return check_positive_int("k", k, 1)


def first_bad(flat: np.ndarray, bad: np.ndarray) -> str:
    """The first flagged value and its flat index, e.g. ``'-0.5 at flat index 3'``, for errors."""
    idx = int(np.flatnonzero(bad)[0])
    return f"{flat[idx].item()!r} at flat index {idx}"


#: below this many p-values a result keeps a private copy of the input (cheap); above it, a
#: 64-bit fingerprint taken in the validation pass guards the lazily computed adjusted values
COPY_BELOW = 1 << 16


@dataclass(frozen=True)
class PValues:
    """Validated p-values (see ``read_pvalues``).

    ``flat`` is 1-D float32/float64, a view of the caller's memory when ``fingerprint`` is not
    ``None`` (then never written to) and private otherwise. ``dtype`` is the dtype in which the
    caller's own ``p <= threshold`` is evaluated (the input's float dtype, float64 for integers).
    """

    flat: np.ndarray
    shape: tuple
    index: Any
    n_nan: int
    dtype: np.dtype
    fingerprint: int | None = None
    #: with ``read_pvalues(band=...)``: ``(codes, t_lo, t_hi, c_lo, c_band)`` from the same pass,
    #: codes (uint8) LOW = 1 (p <= t_lo), BAND = 2 (t_lo < p <= t_hi), ABOVE = 0 (else, NaN too);
    #: c_lo = #LOW, c_band = #BAND
    band: tuple | None = None


def _refuse_containers(pvalues: Any, name: str) -> None:
    if hasattr(pvalues, "columns") and hasattr(pvalues, "to_numpy"):
        raise ValueError(
            f"{name} must be one family of p-values (array or Series); got a {type(pvalues).__name__} "
            f"with columns {list(pvalues.columns)[:5]!r}: use mtest.adjust_frame(df, column, method, "
            "by=...) to adjust a column (within groups), or pass df[column]")


def _masked_to_nan(arr: np.ndarray, name: str) -> np.ndarray:
    """A masked array as plain floats with NaN where masked (masked = missing)."""
    data = np.ma.getdata(arr)
    if data.dtype.kind not in "iuf" or data.dtype.kind == "b":
        raise ValueError(f"{name} must be a numeric array of p-values; got a masked array of dtype "
                         f"{data.dtype}")
    dtype = np.float32 if data.dtype == np.float32 else np.float64
    out = data.astype(dtype)  # a private copy
    out[np.ma.getmaskarray(arr)] = np.nan
    return out


def read_pvalues(pvalues: Any, nan_policy: str = "raise", name: str = "pvalues", *,
                 protect: bool = False, band=None) -> PValues:
    """Validate p-values; see ``PValues``.

    Raises ``ValueError`` naming ``name`` for non-numeric, non-finite or out-of-range values, for
    a DataFrame (pointing to ``mtest.adjust_frame``) and (with ``nan_policy='raise'``) for
    NaN. Masked entries of a masked array are missing values, like NaN. ``protect``: the caller
    keeps ``flat`` beyond this call; the result then is a private copy (small input) or carries
    a fingerprint of the caller's values taken in the same pass (large input). ``band``: a
    function ``flat -> (t_lo, t_hi)`` (it may read a sample of ``flat``, not validated yet;
    ``_stepwise.band_thresholds``); the same pass then also counts p <= t_lo and
    t_lo < p <= t_hi and codes each value (``PValues.band``), so that the rejection path's first
    counting pass costs no extra pass over memory; not below ``mtest._small.SMALL_BELOW`` values
    (``PValues.band`` is then None: small inputs are checked by numpy, with no kernel).
    """
    check_nan_policy(nan_policy)
    _refuse_containers(pvalues, name)
    index = None
    owned = isinstance(pvalues, (list, tuple, numbers.Number))  # np.asarray makes a new array
    if hasattr(pvalues, "index") and hasattr(pvalues, "to_numpy") and getattr(pvalues, "ndim", 1) == 1:
        index = pvalues.index
        if not isinstance(pvalues.dtype, np.dtype) and pvalues.dtype.kind in "iuf":
            # nullable extension dtypes (Float64, Int64): <NA> is a missing value, like NaN
            pvalues = pvalues.to_numpy(dtype=np.float64, na_value=np.nan)
            owned = True
        else:
            pvalues = pvalues.to_numpy()
    if isinstance(pvalues, np.ma.MaskedArray):
        arr = _masked_to_nan(pvalues, name)
        owned = True
        masked = int(np.ma.count_masked(pvalues))
    else:
        masked = 0
        try:
            arr = np.asarray(pvalues)
        except Exception as exc:  # ragged lists and the like
            raise ValueError(f"{name} must be an array of numbers; got {show_value(pvalues)}") from exc
    input_dtype = arr.dtype
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric; got {show_value(pvalues)}") from exc
        owned = True
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a numeric array of p-values; got dtype {arr.dtype} ({show_value(pvalues)})")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        # a long double p-value may not survive the float64 the procedures compute in
        raise ValueError(f"{name} of dtype {arr.dtype} is not supported (computations are in "
                         "float64); convert with .astype(numpy.float64) first")
    compare = np.dtype(input_dtype.newbyteorder("=")) if input_dtype.kind == "f" else np.dtype(np.float64)
    if arr.dtype not in (np.float32, np.float64):  # integers, float16, byte-swapped floats
        arr = arr.astype(np.float32 if arr.dtype.kind == "f" and arr.dtype.itemsize == 4 else np.float64)
        owned = True
    shape = arr.shape
    flat = arr.reshape(-1)  # a view for contiguous input, a copy otherwise
    owned = owned or not np.may_share_memory(flat, arr)
    fingerprint = None
    if protect and not owned and flat.size < COPY_BELOW:
        flat = flat.copy()
        owned = True
    banded = None
    small = _small.is_small(flat.size)  # numpy, no kernel (mtest._small); copied if protected
    if band is not None and not small:
        t_lo, t_hi = band(flat)
        codes = np.empty(flat.size, dtype=np.uint8)
        n_nan, n_bad, c_lo, c_band, fingerprint = _kernels.banded_scan(
            flat, t_lo, t_hi, codes, protect and not owned)
        n_low = n_high = n_inf = 0
        if n_bad:  # an error follows: count each kind for its message
            n_nan, n_low, n_high, n_inf = _kernels.scan_pvalues(flat)
        banded = (codes, t_lo, t_hi, c_lo, c_band)
    elif protect and not owned:
        n_nan, n_low, n_high, n_inf, fingerprint = _kernels.scan_pvalues_fingerprint(flat)
    elif small:
        n_nan, n_low, n_high, n_inf = _small.scan_pvalues(flat)
    else:
        n_nan, n_low, n_high, n_inf = _kernels.scan_pvalues(flat)
    if n_inf:
        raise ValueError(f"{name} must be finite; got {first_bad(flat, np.isinf(flat))}")
    if n_low or n_high:
        raise ValueError(f"{name} must lie in [0, 1]; got {first_bad(flat, (flat < 0) | (flat > 1))}")
    if n_nan and nan_policy == "raise":
        if masked:
            raise ValueError(
                f"{name} is a masked array with {masked} masked of {flat.size}; masked values are "
                "missing: pass nan_policy='omit' to leave them untested (or fill them)")
        raise ValueError(
            f"{name} contains NaN ({n_nan} of {flat.size}), first {first_bad(flat, np.isnan(flat))}; "
            "pass nan_policy='omit' to leave NaN untested (R semantics)")
    return PValues(flat, shape, index, int(n_nan), compare, fingerprint, banded)


def fingerprint_of(flat: np.ndarray) -> int:
    """The fingerprint ``read_pvalues`` records, recomputed (one pass)."""
    return _kernels.scan_pvalues_fingerprint(flat)[4]


def as_pvalues(pvalues: Any, nan_policy: str = "raise", name: str = "pvalues"):
    """Validate p-values and return ``(flat, shape, index, n_nan)`` (see ``read_pvalues``).

    ``flat`` is a 1-D float32/float64 view of the input when possible (never a copy of a
    contiguous float array, and never written to). ``index`` is the pandas index of a Series,
    else ``None``.
    """
    v = read_pvalues(pvalues, nan_policy, name)
    return v.flat, v.shape, v.index, v.n_nan


def _int_input(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        raise ValueError(f"{name} must be a plain integer array; got a masked array (fill or "
                         f"compress it first: masked components cannot be certified or counted)")
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):
        raise ValueError(f"{name} must be an integer array; got a {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an integer array; got {show_value(value)}") from exc
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array; got dtype {arr.dtype} ({show_value(value)})")
    return arr


_INT64_MAX = np.iinfo(np.int64).max


def as_int_array(name: str, value: Any) -> np.ndarray:
    """An integer array as native int64 (a view when it already is; bool and float refused, even
    floats holding whole numbers). Any integer dtype and byte order is accepted; uint64 values
    beyond int64 are refused. Arithmetic on the result cannot wrap around (uint8 counts would)."""
    arr = _int_input(name, value)
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > _INT64_MAX:
        raise ValueError(f"{name} must fit in int64; got {int(arr.max())}")
    return arr.astype(np.int64, copy=False)


def label_dtype(dtype: np.dtype) -> np.dtype:
    """The smallest signed integer dtype that holds every label of ``dtype`` and -1 (ABSTAIN):
    int8/16/32/64 stay; uint8 -> int16, uint16 -> int32, uint32 and uint64 -> int64."""
    dtype = np.dtype(dtype).newbyteorder("=")
    if dtype.kind == "i":
        return dtype
    return np.dtype({1: np.int16, 2: np.int32}.get(dtype.itemsize, np.int64))


def as_label_array(name: str, value: Any) -> np.ndarray:
    """Class labels (non-negative integers) in ``label_dtype`` of their dtype, native byte
    order; a uint8 label 255 stays 255 and can never be confused with ABSTAIN (-1)."""
    arr = _int_input(name, value)
    if arr.size:
        if arr.dtype == np.uint64 and int(arr.max()) > _INT64_MAX:
            raise ValueError(f"{name} must hold class labels that fit in int64; got {int(arr.max())}")
        if arr.dtype.kind == "i":
            low = int(arr.min())
            if low < 0:
                i = int(np.flatnonzero(arr.reshape(-1) < 0)[0])
                raise ValueError(f"{name} must hold class labels >= 0; got {arr.reshape(-1)[i]} at flat index {i} "
                                 "(-1 = ABSTAIN marks abstentions in results, never in a guess)")
    return arr.astype(label_dtype(arr.dtype), copy=False)


def freeze(value):
    """Make ``value`` read-only in place where it is an ndarray (or a tuple, list or dict of
    them); return it. Results never change after they are returned (users call ``.copy()``)."""
    if isinstance(value, np.ndarray):
        if value.flags.writeable:
            value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for item in value:
            freeze(item)
    elif isinstance(value, dict):
        for item in value.values():
            freeze(item)
    return value


class ReadOnlyArrays:
    """Mixin of the public result dataclasses: every public ndarray field is made read-only when
    the result is built (nested results freeze their own). Private fields are left alone.

    A pandas Series or DataFrame (results of Series input keep the index) cannot be frozen, and
    pandas copies on write into the same object: ``r.reject.iloc[0] = True`` would change the
    result. So each read of a public pandas attribute returns a new shallow copy of it (no data
    copied; under copy-on-write an edit copies the data into that object only, and without it
    the read-only array refuses the edit): the result itself never changes."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if not f.name.startswith("_"):
                freeze(getattr(self, f.name))

    def __getattribute__(self, name):
        value = object.__getattribute__(self, name)
        if name[0] != "_" and type(value).__module__.startswith("pandas") and hasattr(value, "copy"):
            return value.copy(deep=False)
        return value
