"""Argsort of p-values for the adjusted p-values that need a full sort.

``sorted_keys`` (stepwise procedures): packed uint64 keys (the top bits of each value with
its index) in two value ranges, sorted by numpy's vectorized integer sort on two threads.
``sort_with_order`` (procedures with their own sorted-input rule, e.g. Hommel): the sorted
values and an argsort order, NaN last, from packed keys merged after a two-thread sort or, for
NaN and values too close for the truncated keys, two argsorted halves merged.
"""
from __future__ import annotations

import os

import numpy as np

from ._lazy import kernels_module

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["PARALLEL_SORT_MIN", "sort_packed", "sort_with_order", "sorted_keys"]

#: above this size sorts run as two parts on two threads (numpy releases the GIL)
PARALLEL_SORT_MIN = 1_000_000


#: values sampled to choose the pivot that splits the keys into two parts sorted on two threads
_PIVOT_SAMPLE = 4097


def _pivot(values: np.ndarray, below: float) -> float:
    """About the median of the values ``<= below`` (from a strided sample), at most ``below``."""
    sample = values[::max(1, values.size // _PIVOT_SAMPLE)].astype(np.float64)
    sample = sample[sample <= below]  # NaN never
    if sample.size == 0:
        return below
    return min(float(np.partition(sample, sample.size // 2)[sample.size // 2]), below)


def _subnormals_compare() -> bool:
    """Whether this thread compares subnormal doubles as themselves (no denormals-are-zero)."""
    tiny = np.array([5e-324, 0.0])
    return bool(tiny[0] > tiny[1])


def _sort_keys(keys: np.ndarray) -> None:
    """Sort uint64 keys below 2^63 in place.

    Such a key read as a float64 is a finite non-negative double (its exponent field is at most
    0x7fe for the keys of ``sorted_keys``), and those order like their bit patterns, so numpy's
    float64 sort gives the integer order; on AVX2 it is ~25 % faster than the uint64 sort, which
    lacks native 64-bit min/max. Where a library has switched this thread to denormals-are-zero,
    subnormal keys would compare equal, so the integer sort runs instead.
    """
    if _subnormals_compare():
        keys.view(np.float64).sort()
    else:
        keys.sort()


def sorted_keys(values: np.ndarray, below: float | None = None, size: int | None = None,
                fix_ties: bool = True):
    """The elements of ``values`` (p-values in [0, 1], NaN allowed) as uint64 keys in ascending
    value order, the number of low bits that hold each element's index, and whether the keys
    are exact.

    A key is the value's bit pattern above its index: float32 fits whole (31 value bits, up to
    33 index bits), float64 is truncated to its top 63 - index bits, and runs of keys whose kept
    bits tie are then ordered by the values themselves (``fix_ties=False`` leaves that to the
    caller, chunk by chunk: ``mtest._kernels.fix_and_gather``). With ``below``, only the
    ``size`` elements with ``values <= below`` get keys; NaN never does.

    Large inputs on two or more cores: the keys are written in two parts split at a sampled
    median value (one parallel counting pass gives every chunk its offsets), and the parts are
    sorted by numpy's vectorized sort on two threads (numpy releases the GIL; ``_sort_keys``). The
    parts are consecutive value ranges, so no merge follows. Memory: 8 bytes per key and
    nothing else (docs/performance.md).
    """
    index_bits = max(1, int(values.size - 1).bit_length())
    if values.dtype == np.float32 and index_bits <= 33:
        bits, shift, drop, exact = values.view(np.uint32), 0, 0, True
    else:
        values = values.astype(np.float64, copy=False)
        # the top 63 - index_bits bits of the pattern's bits 61..0 (bits 63 and 62 are 0 for
        # [0, 1], -0.0 aside): every key stays below 2^63, so it sorts as a float64 (_sort_keys)
        bits, shift, drop, exact = values.view(np.uint64), 2, index_bits + 1, index_bits <= 1
    if below is None:
        below = np.inf
    two = values.size >= PARALLEL_SORT_MIN and (os.cpu_count() or 1) >= 2
    pivot = _pivot(values, below) if two and (size is None or size >= PARALLEL_SORT_MIN) else below
    chunks = 64 if values.size >= _kernels.PARALLEL_MIN else 1
    low, high = _kernels.partition_counts(values, pivot, below, chunks)
    n_low = int(low.sum())
    low_start = np.cumsum(low) - low
    high_start = n_low + np.cumsum(high) - high
    keys = np.empty(n_low + int(high.sum()), dtype=np.uint64)
    _kernels.pack_partition(values, bits, pivot, below, low_start, high_start, shift, drop,
                            index_bits, keys)
    if min(n_low, keys.size - n_low) > 0:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_sort_keys, (keys[:n_low], keys[n_low:])))
    else:
        _sort_keys(keys)
    if fix_ties and not exact:
        _kernels.order_tied_prefixes(keys, index_bits, values, bits)
    return keys, index_bits, exact


def sort_packed(values: np.ndarray):
    """Argsort of p-values in [0, 1] (no NaN) through one ``np.sort`` of uint64 keys.

    The key holds the top bits of the value and the element's index, so numpy's vectorized integer
    sort does the work; elements whose truncated keys tie are put in order by an insertion pass.
    Returns None (caller falls back) if that pass would need more than 8 moves per element.
    """
    index_bits = max(1, int(values.size - 1).bit_length())
    bits = values.astype(np.float64, copy=False).view(np.uint64)
    keys = _kernels.pack_keys(bits, 63 - index_bits, index_bits)  # below 2^63: _sort_keys
    if (os.cpu_count() or 1) >= 2:
        # two halves sorted on two threads (numpy's sort releases the GIL), then one merge
        from concurrent.futures import ThreadPoolExecutor

        half = keys.size // 2
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_sort_keys, (keys[:half], keys[half:])))
        keys = _kernels.merge_u64(keys[:half], keys[half:])
    else:
        _sort_keys(keys)
    order = np.empty(values.size, dtype=np.int64)
    ordered = np.empty(values.size, dtype=np.float64)
    _kernels.unpack_order(keys, index_bits, values.astype(np.float64, copy=False), order, ordered)
    del keys
    if not _kernels.insertion_fix(ordered, order, 8 * values.size):
        return None
    return ordered, order


def sort_with_order(values: np.ndarray, n_nan: int = -1):
    """(sorted values as float64, argsort order), NaN last; fast paths for large inputs.

    Without NaN (``n_nan == 0``): one vectorized sort of packed uint64 keys (``sort_packed``).
    Otherwise, or when that gives up: two halves argsorted on two threads, then merged.
    """
    if values.size >= PARALLEL_SORT_MIN and n_nan == 0 and values.size < 2**40:
        packed = sort_packed(values)
        if packed is not None:
            return packed
    if values.size < PARALLEL_SORT_MIN or (os.cpu_count() or 1) < 2:
        order = np.argsort(values)
        return values[order].astype(np.float64, copy=False), order
    from concurrent.futures import ThreadPoolExecutor

    def run(part):
        order = np.argsort(part)
        return part[order], order

    half = values.size // 2
    with ThreadPoolExecutor(2) as pool:
        left = pool.submit(run, values[:half])
        right = pool.submit(run, values[half:])
        (lv, li), (rv, ri) = left.result(), right.result()
    ri += half
    return _kernels.merge_sorted(lv, li, rv, ri)
