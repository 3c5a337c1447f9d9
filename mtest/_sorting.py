"""Sorting p-values for the adjusted p-values that need a full sort.

``partition_buckets`` and ``sort_bucket`` (stepwise procedures): the values split by their
leading bits into consecutive value ranges of ~``BUCKET_TARGET`` values each, then each range
sorted in cache by numpy's vectorized sort of exact local keys (mtest._stepwise._adjusted_pass).
``sort_with_order`` (procedures with their own sorted-input rule, e.g. Hommel): the sorted
values and an argsort order, NaN last, from packed keys merged after a two-thread sort or, for
NaN and values too close for the truncated keys, two argsorted halves merged.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from ._lazy import kernels_module

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["BUCKET_TARGET", "CHUNK_VALUES", "IN_ORDER", "PARALLEL_SORT_MIN", "BucketRoom", "Buckets",
           "partition_buckets", "sort_bucket", "sort_packed", "sort_with_order"]

#: above this size sorts run as two parts on two threads (numpy releases the GIL)
PARALLEL_SORT_MIN = 1_000_000

#: values per bucket aimed at: a bucket's records, keys and indices (32 B a value) stay in
#: L2 or L3; measured here, 2^16 beat 2^15 by ~5 % and 2^17 (and below 2^14 the Python
#: work per bucket shows)
BUCKET_TARGET = 1 << 16

#: input positions per chunk of ``partition_buckets``: the output range that the final scatter of
#: one chunk writes (8 B a position) stays in L2 or L3 (mtest._kernels.scatter_chunks)
CHUNK_VALUES = 1 << 17

#: most (chunk, bucket) pairs
_MAX_SEGMENTS = 1 << 22

#: most buckets (their numbers are uint16 in the lookup table)
_MAX_BUCKETS = 65535

#: sampled values per bucket when the bucket bounds are chosen
_SAMPLE_PER_BUCKET = 32


def _subnormals_compare() -> bool:
    """Whether this thread compares subnormal doubles as themselves (no denormals-are-zero)."""
    tiny = np.array([5e-324, 0.0])
    return bool(tiny[0] > tiny[1])


def _sort_keys(keys: np.ndarray) -> None:
    """Sort uint64 keys in place whose float64 reading is finite (below 0x7ff0...: every key
    made here, ``sort_packed``'s and ``sort_bucket``'s).

    Finite non-negative doubles order like their bit patterns, so numpy's float64 sort gives
    the integer order; on AVX2 it is ~25 % faster than the uint64 sort, which lacks native
    64-bit min/max. Where a library has switched this thread to denormals-are-zero, subnormal
    keys would compare equal, so the integer sort runs instead.
    """
    if _subnormals_compare():
        keys.view(np.float64).sort()
    else:
        keys.sort()


class Buckets(NamedTuple):
    """Values split into consecutive value ranges: bucket ``b`` is rows ``[starts[b],
    starts[b + 1])`` of ``records`` (uint64, two columns: the float64 bit pattern with its
    sign, and the input position). Every value of bucket b is below every value of bucket
    b + 1, and equal values share a bucket; within a bucket the rows are in input order, those
    of input chunk c (the c-th of ``counts.shape[0]`` equal ranges of positions) from row
    ``offsets[c, b]``, ``counts[c, b]`` of them."""
    records: np.ndarray
    starts: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray


def _bucket_table(values: np.ndarray, below: float, size: int, target: int):
    """(lookup table: bucket of each leading-bits prefix, shift giving the prefix, buckets).

    The prefix is the top bits of the pattern below its sign (exponent and leading mantissa
    bits: 12 to 22 of them, more for larger inputs). From a strided sample of the values
    ``<= below``, consecutive prefixes are grouped into buckets of about ``target`` values; a
    prefix the sample missed joins the bucket of the prefix before it. The grouping is a
    monotone map, so the buckets are consecutive value ranges whatever the sample: a bad
    sample costs time (a large bucket), never order.
    """
    prefix_bits = min(22, max(12, int(values.size).bit_length() - 6))  # ~2^6 values a prefix
    shift = 62 - prefix_bits  # patterns of [0, 1] are below 2^62
    # at most goal slots, plus two bucket bounds per hot prefix (fewer than goal of them)
    goal = max(1, min(_MAX_BUCKETS // 3, size // max(1, target)))
    sample = values[::max(1, values.size // (goal * _SAMPLE_PER_BUCKET))].astype(np.float64)
    sample = sample[sample <= below]  # NaN never; compared in float64, as the kernels do
    table = np.zeros(1 << prefix_bits, dtype=np.uint16)
    if sample.size == 0 or goal == 1:
        return table, shift, 1
    prefixes = np.sort((sample.view(np.uint64) & np.uint64(0x7FFFFFFFFFFFFFFF)) >> np.uint64(shift))
    first, counts = np.unique(prefixes, return_counts=True)
    before = np.cumsum(counts) - counts
    # slot < goal: ``before // (sample.size // goal)`` ran up to twice goal, past the uint16 table
    slot = (before * goal) // sample.size
    # a hot prefix (more than a bucket's share of the sample: often one repeated value, such as
    # p = 1 from discrete tests) is a bucket of its own, so that its values are not mixed with
    # others (a bucket of equal values needs no sort and no room, ``sort_bucket``)
    hot = counts * goal > sample.size
    opens = (slot[1:] != slot[:-1]) | hot[1:] | hot[:-1]
    new = np.flatnonzero(opens) + 1  # the sampled prefixes that open a bucket
    table[first[new]] = 1
    np.cumsum(table, out=table)
    return table, shift, new.size + 1


def partition_buckets(values: np.ndarray, below: float = np.inf, size: int | None = None,
                      target: int | None = None) -> Buckets:
    """The values ``<= below`` (``size`` of them if known; NaN never) split into buckets.

    Two passes over ``values`` (parallel over chunks): counts per chunk and bucket, then each
    value's record written at its chunk's offset in its bucket. Memory: 16 bytes per kept
    value (one record: writing pattern and index as one stream per bucket is twice as fast as
    two streams), plus the counts. float32 values are widened to float64 as they are read.
    """
    values = np.asarray(values).reshape(-1)
    n = values.size
    if not below >= 0:  # nothing kept (a p-value is never below -0.0)
        empty = np.zeros((1, 1), dtype=np.int64)
        return Buckets(np.empty((0, 2), dtype=np.uint64), np.zeros(2, dtype=np.int64), empty, empty)
    size = n if size is None else size
    table, shift, n_buckets = _bucket_table(values, below, size, BUCKET_TARGET if target is None else target)
    below_bits = np.array(abs(below), dtype=np.float64).view(np.uint64)[()]  # inf: NaN lies above
    chunks = _chunks(n, n_buckets)
    counts = _kernels.bucket_counts(values, below_bits, table, shift, n_buckets, chunks)
    starts = np.zeros(n_buckets + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=starts[1:])
    offsets = starts[:-1] + (np.cumsum(counts, axis=0) - counts)
    records = np.empty((int(starts[-1]), 2), dtype=np.uint64)
    check = records.shape[0] < n  # something (NaN, or values above ``below``) is left out
    _kernels.bucket_write(values, below_bits, check, table, shift, offsets, records)
    return Buckets(records, starts, offsets, counts)


def _chunks(n: int, n_buckets: int) -> int:
    """Input chunks of ``partition_buckets``: one below the kernels' parallel size, else about
    ``CHUNK_VALUES`` positions each (at least 16, for the two passes' threads), but no more
    than ``_MAX_SEGMENTS`` (chunk, bucket) pairs, whose counts and offsets take 16 B each."""
    if n < _kernels.PARALLEL_MIN:
        return 1
    return max(16, min(n // CHUNK_VALUES, _MAX_SEGMENTS // max(1, n_buckets)))


class BucketRoom:
    """Per-thread room for ``sort_bucket``: keys (then the sorted values) and rows, grown to the
    largest bucket seen."""

    def __init__(self):
        self.keys = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.uint64)

    def take(self, n: int):
        if self.keys.size < n:
            self.keys = np.empty(n, dtype=np.uint64)
            self.rows = np.empty(n, dtype=np.uint64)
        return self.keys[:n], self.rows[:n]


#: ``sort_bucket``'s rows of a bucket of equal values: they are in order already
IN_ORDER = np.empty(0, dtype=np.uint64)


def sort_bucket(records: np.ndarray, spare: BucketRoom):
    """One bucket's values (float64, ascending) and their rows in the bucket, ordered by
    (value, input position) — -0.0 and 0.0 by position — as views that stay valid until the
    next call; the values do not share memory with ``records``, except for a bucket of equal
    values, already in order: its own value column and ``IN_ORDER`` (empty) are returned.

    Keys are the value relative to the bucket's lowest, above the row in the bucket, sorted by
    numpy's vectorized sort (``_sort_keys``). When they hold every value bit (the bucket spans
    less than 2^(62 - row bits) patterns, as a bucket of a dense range does) the values are
    rebuilt from them, unless a -0.0 needs its sign; otherwise runs that tie in the kept bits
    are ordered by the dropped ones, and the values are taken from the records (in cache).
    """
    n = records.shape[0]
    low, high, index_bits, drop = _kernels.bucket_key_layout(records) if n else (0, 0, 1, 0)
    if low == high:  # equal values (or -0.0 and 0.0): position order is value order
        return records[:, 0].view(np.float64), IN_ORDER
    low = np.uint64(low)  # a Python int would reach the kernels as int64 (and uint64 + int64 is a float)
    keys, rows = spare.take(n)
    _kernels.bucket_keys(records, low, index_bits, drop, keys)
    _sort_keys(keys)
    if drop:
        _kernels.bucket_order_ties(keys, index_bits, drop, records, low, records.view(np.float64)[:, 0])
    negative_zero = low == 0 and bool(np.any(records[:, 0] == np.uint64(1 << 63)))
    _kernels.bucket_unpack(keys, index_bits, drop == 0 and not negative_zero, low, records, rows)
    return keys.view(np.float64), rows


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
