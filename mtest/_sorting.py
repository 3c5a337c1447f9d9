"""Argsort of p-values for the adjusted p-values that need a full sort.

Two paths: packed uint64 keys (the top bits of each value with its index) sorted by numpy's
vectorized integer sort on two threads and merged, or, for NaN and values too close for the
truncated keys, two argsorted halves merged. Both return the sorted values (float64) and an
argsort order, NaN last.
"""
from __future__ import annotations

import os

import numpy as np

from . import _kernels

__all__ = ["PARALLEL_SORT_MIN", "sort_packed", "sort_with_order", "sorted_keys"]

#: above this size argsort runs as two halves on two threads (numpy releases the GIL) plus a merge
PARALLEL_SORT_MIN = 1_000_000


def _sort_u64(keys: np.ndarray) -> np.ndarray:
    """Ascending uint64 keys: two halves on two threads (numpy's sort releases the GIL), then one
    merge into a new array (the only extra memory: 8 bytes per key)."""
    if keys.size >= PARALLEL_SORT_MIN and (os.cpu_count() or 1) >= 2:
        from concurrent.futures import ThreadPoolExecutor

        half = keys.size // 2
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(np.ndarray.sort, (keys[:half], keys[half:])))
        return _kernels.merge_u64(keys[:half], keys[half:])
    keys.sort()
    return keys


def sorted_keys(values: np.ndarray, below: float | None = None, size: int | None = None):
    """The elements of ``values`` (p-values in [0, 1], NaN allowed) as uint64 keys in ascending
    value order, and the number of low bits that hold each element's index.

    A key is the value's bit pattern above its index: float32 fits whole (31 value bits, up to
    33 index bits), float64 is truncated to its top 64 - index bits, and runs of keys whose kept
    bits tie are then ordered by the values themselves. With ``below``, only the ``size``
    elements with ``values <= below`` get keys; NaN never does. Memory: 8 bytes per key, plus 8
    during the merge — no separate order, values or raw arrays (docs/performance.md).
    """
    index_bits = max(1, int(values.size - 1).bit_length())
    if values.dtype == np.float32 and index_bits <= 33:
        bits, shift, drop, exact = values.view(np.uint32), 0, 0, True
    else:
        values = values.astype(np.float64, copy=False)
        bits, shift, drop, exact = values.view(np.uint64), 2, index_bits, index_bits <= 2
    if below is None:
        keys = _kernels.pack_value_keys(bits, shift, drop, index_bits)
    else:
        keys = _kernels.pack_value_keys_where(values, bits, below, size, shift, drop, index_bits)
    keys = _sort_u64(keys)
    if not exact:
        _kernels.order_tied_prefixes(keys, index_bits, values, bits)
    return keys, index_bits


def sort_packed(values: np.ndarray):
    """Argsort of p-values in [0, 1] (no NaN) through one ``np.sort`` of uint64 keys.

    The key holds the top bits of the value and the element's index, so numpy's vectorized integer
    sort does the work; elements whose truncated keys tie are put in order by an insertion pass.
    Returns None (caller falls back) if that pass would need more than 8 moves per element.
    """
    index_bits = max(1, int(values.size - 1).bit_length())
    bits = values.astype(np.float64, copy=False).view(np.uint64)
    keys = _kernels.pack_keys(bits, 64 - index_bits, index_bits)
    if (os.cpu_count() or 1) >= 2:
        # two halves sorted on two threads (numpy's sort releases the GIL), then one merge
        from concurrent.futures import ThreadPoolExecutor

        half = keys.size // 2
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(np.ndarray.sort, (keys[:half], keys[half:])))
        keys = _kernels.merge_u64(keys[:half], keys[half:])
    else:
        keys.sort()
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
