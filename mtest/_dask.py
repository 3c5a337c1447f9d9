"""Dask arrays: rejections and adjusted p-values without gathering the array anywhere.

``mtest.reject(x)`` / ``mtest.holm(x)`` / ``mtest.adjust(x)`` with a ``dask.array.Array`` land
here (docs/scale.md). Rejections are the counting engine of ``mtest._counting``, each request
one reduction over the blocks (a count per block, summed on the client); the ``reject`` mask is
lazy (``x <= threshold`` per block). Adjusted values are lazy too:

* single-step: the transform per block;
* step-down: only the *head* below the cutoff (above it every adjusted value is exactly 1) is
  gathered, with (block, position) labels, sorted on the client and scattered back per block;
* step-up, or step-down without a cutoff: a histogram (one reduction) splits the sorted order
  into value ranges of known first rank. In rounds of at most ``ROUND_VALUES`` values, each
  block sends each range its values, each range is sorted on a worker and reduced to a *step
  table* (its adjusted values are nondecreasing in the value, so they change at few points:
  ~1.5·10⁴ for BH over 10⁷ uniform p-values), and a carry between ranges completes the running
  min or max on the client; every block then looks its values up in the one table. Worker
  memory is O(round), not O(N / workers). Where the table would exceed ``TABLE_MAX`` entries
  (adjusted values that nearly all differ), the results go back to their blocks instead: a
  shuffle with (block, position) labels, which holds all values in the workers' memory.

The values are those of the in-memory path bit for bit: the same critical values, the same
transform evaluated on the same doubles, and min/max accumulations (exact in any grouping).
Hommel's procedure needs all m values at once (O(m^2)) and is refused.
"""
from __future__ import annotations

import operator

import numpy as np

from ._lazy import kernels_module
from ._counting import (LINEAR, DeferredResult, bucket_bounds, bucket_of, carries, drive, finish,
                        head_bound, histogram, merge_histograms, plan_ranges, rejections, segment_adjusted,
                        step_table, stepdown_cutoff, table_lookup)
from ._stepwise import threshold
from ._validation import check_alpha, check_nan_policy
from .registry import SpecialProcedure, get_procedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["is_dask", "run", "adjusted", "MIN_RANGE"]

#: smallest number of values per range of the step-up shuffle
MIN_RANGE = 1 << 16
#: at most this many ranges (the shuffle has #blocks x #ranges pieces); ranges ~m / #blocks values
MAX_RANGES = 256
#: values held by the workers at once in the step-table path: ranges are done in rounds of at
#: most this many values (plus one range), each round reading the blocks again (8 bytes a value)
ROUND_VALUES = 1 << 28
#: largest step table (entries, 16 bytes each) sent back to the blocks; beyond it, the shuffle
TABLE_MAX = 1 << 24
#: values per range of the step-table path (a range task holds about five float64 arrays of it)
RANGE_VALUES = 1 << 23


def is_dask(x) -> bool:
    """Whether ``x`` is a Dask collection (checked without importing dask)."""
    return type(x).__module__.startswith("dask")


# ------------------------------------------------------------------------------ block functions


def _flat(block):
    # float64: a float32 block compared with a Python float would round the threshold to float32
    return np.ascontiguousarray(block).reshape(-1).astype(np.float64, copy=False)


def _less_equal(block, t):
    return _flat(block).reshape(np.shape(block)) <= t


def _scan(block, log: bool):
    """(size, #NaN, #invalid, first invalid value or None) of one block."""
    v = _flat(block)
    nan = np.isnan(v)
    bad = (v > 0) if log else (~nan & ((v < 0) | (v > 1) | np.isinf(v)))
    n_bad = int(np.count_nonzero(bad))
    return v.size, int(np.count_nonzero(nan)), n_bad, (v[bad][0].item() if n_bad else None)


def _count_le(block, t):
    return int(_kernels.count_le(_flat(block), t))


def _gather(block, lo, hi):
    v = _flat(block)
    keep = v <= hi
    if lo is not None:
        keep &= v > lo
    return v[keep].astype(np.float64)


def _head(block, hi):
    v = _flat(block)
    idx = np.flatnonzero(v <= hi)
    return idx, v[idx]


def _fill(block, idx, values, one):
    v = _flat(block)
    out = np.where(np.isnan(v), np.nan, one)
    out[idx] = values
    return out.reshape(np.shape(block))


def _single(block, proc, m, k, scale):
    v = _flat(block)
    return np.minimum(scale.raw(proc, v, None, m, k), scale.one).reshape(np.shape(block))


def _split(block, number, lut, n_ranges):
    """This block's values routed to their ranges: per range (block numbers, positions, values)."""
    v = _flat(block)
    idx = np.flatnonzero(~np.isnan(v))
    ranges = lut[bucket_of(v[idx])]
    if n_ranges < 1 << 15:
        ranges = ranges.astype(np.int16)  # numpy's stable sort of int16 is a radix sort
    order = np.argsort(ranges, kind="stable")
    bounds = np.searchsorted(ranges[order], np.arange(n_ranges + 1))
    idx = idx[order]
    return [(np.full(bounds[r + 1] - bounds[r], number, dtype=np.int64), idx[bounds[r]:bounds[r + 1]],
             v[idx[bounds[r]:bounds[r + 1]]].astype(np.float64))
            for r in range(n_ranges)]


def _sort_range(first_rank, proc, m, k, scale, *pieces):
    numbers = np.concatenate([p[0] for p in pieces])
    idx = np.concatenate([p[1] for p in pieces])
    values = np.concatenate([p[2] for p in pieces])
    order = np.argsort(values, kind="stable")
    acc = segment_adjusted(values[order], int(first_rank), proc, m, k, scale)
    extreme = None
    if acc.size:
        extreme = float(acc[-1] if proc.step == "down" else acc[0])
    return numbers[order], idx[order], acc, extreme


def _extreme(sorted_range):
    return sorted_range[3]


def _finish_range(sorted_range, carry_list, r, step, one, n_blocks):
    numbers, idx, acc, _ = sorted_range
    adjusted = finish(acc, carry_list[r], step, one)
    order = np.argsort(numbers, kind="stable")
    bounds = np.searchsorted(numbers[order], np.arange(n_blocks + 1))
    return [(idx[order[bounds[b]:bounds[b + 1]]], adjusted[order[bounds[b]:bounds[b + 1]]])
            for b in range(n_blocks)]


def _assemble(block, one, *pieces):
    idx = np.concatenate([p[0] for p in pieces]) if pieces else np.empty(0, np.int64)
    values = np.concatenate([p[1] for p in pieces]) if pieces else np.empty(0)
    return _fill(block, idx, values, one)


# ------------------------------------------------------------------------------ client side


def _round_values(block, lut, r0, r1, lo, hi):
    """This block's values in ranges [r0, r1) (values in [lo, hi]): one float64 array per range
    (unordered)."""
    v = _flat(block)
    v = v[(v >= lo) & (v <= hi)]  # the round's buckets by two comparisons; NaN never
    rid = (lut[bucket_of(v)] - r0).astype(np.int16 if r1 - r0 < 1 << 15 else np.int64)
    order = np.argsort(rid, kind="stable")  # a radix sort for int16
    bounds = np.searchsorted(rid[order], np.arange(r1 - r0 + 1))
    v = v[order]
    return [v[bounds[i]:bounds[i + 1]] for i in range(r1 - r0)]


def _range_table(first_rank, size, proc, m, k, scale, cap, *pieces):
    """(extreme for the carry, step table or None) of one range, from its values' pieces."""
    values = np.sort(np.concatenate(pieces)) if pieces else np.empty(0)
    if values.size != size:
        raise ValueError(f"pvalues changed between passes (a value range holds {values.size} "
                         f"values, counted {size} before); persist or fix the Dask array's inputs")
    acc = segment_adjusted(values, int(first_rank), proc, m, k, scale)
    extreme = None
    if acc.size:
        extreme = float(acc[-1] if proc.step == "down" else acc[0])
    table = step_table(values, acc)
    if table is not None and table[0].size > cap:
        table = None
    return extreme, table


def _lookup(block, table):
    ends, adjusted = table
    v = _flat(block)
    if v.size and np.nanmax(v, initial=-np.inf) > (ends[-1] if ends.size else -np.inf):
        raise ValueError("pvalues changed between passes (a value above every counted one); "
                         "persist or fix the Dask array's inputs")
    return table_lookup(v, ends, adjusted).reshape(np.shape(block))


class _Source:
    """A validated Dask array and its blocks (flattened in C order of the block grid)."""

    def __init__(self, x, nan_policy, scale):
        import dask
        import dask.array as da

        check_nan_policy(nan_policy)
        if not isinstance(x, da.Array):
            raise ValueError(f"pvalues must be a dask.array.Array here; got {type(x).__name__}")
        if x.dtype.kind == "b" or x.dtype.kind not in "iuf":
            raise ValueError(f"pvalues must be a numeric Dask array of p-values; got dtype {x.dtype}")
        if x.dtype.kind in "iu" or (scale is not LINEAR and x.dtype != np.float64) or \
                x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        self.x, self.scale = x, scale
        self.grid = x.to_delayed()
        self.blocks = list(self.grid.ravel())
        log = scale is not LINEAR
        scans = dask.compute(*[dask.delayed(_scan)(b, log) for b in self.blocks])
        size = sum(s[0] for s in scans)
        n_nan = sum(s[1] for s in scans)
        n_bad = sum(s[2] for s in scans)
        if n_bad:
            first = next(s[3] for s in scans if s[2])
            what = ("log p-values, which must be <= 0 (-inf for p = 0)" if log
                    else "p-values, which must lie in [0, 1]")
            raise ValueError(f"pvalues holds {what}; got {n_bad} invalid values, e.g. {first!r}")
        if n_nan and nan_policy == "raise":
            raise ValueError(f"pvalues contains NaN ({n_nan} of {size}); pass nan_policy='omit' "
                             "to leave NaN untested (R semantics)")
        self.m = size - n_nan

    def count(self, t):
        import dask

        return sum(dask.compute(*[dask.delayed(_count_le)(b, t) for b in self.blocks]))

    def gather(self, lo, hi):
        import dask

        parts = dask.compute(*[dask.delayed(_gather)(b, lo, hi) for b in self.blocks])
        return np.sort(np.concatenate(parts)) if parts else np.empty(0)

    def from_blocks(self, tasks, dtype=np.float64):
        """A Dask array of the input's shape and chunks from one delayed per block."""
        import dask.array as da

        shapes = [tuple(c[i] for c, i in zip(self.x.chunks, ix)) for ix in np.ndindex(*self.x.numblocks)]
        arrays = np.empty(len(tasks), dtype=object)
        for j, (task, shape) in enumerate(zip(tasks, shapes)):
            arrays[j] = da.from_delayed(task, shape=shape, dtype=dtype)
        if self.x.ndim == 0:
            return arrays[0]
        return da.block(arrays.reshape(self.x.numblocks).tolist())


def _refuse(proc):
    if isinstance(proc, SpecialProcedure):
        raise ValueError(f"method {proc.name!r} cannot run on a Dask array: its adjusted p-values "
                         "are not a per-rank transform and need all m values in one place "
                         "(O(m^2)); call .compute() on the array if it fits in memory, or use a "
                         "stepwise method ('hochberg' has the same guarantee)")


def run(x, alpha, method, k, nan_policy, log_p):
    """``mtest.reject`` on a Dask array: a result whose ``reject`` and adjusted values are lazy."""
    from ._logscale import scale_for
    from .multitest import check_k_for, check_k_within

    scale = scale_for(log_p)
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = check_k_for(proc, k)
    _refuse(proc)
    source = _Source(x, nan_policy, scale)
    m = source.m
    check_k_within(k, m)
    r = drive(rejections(proc, m, k, alpha, scale), source.count, source.gather)
    thr = threshold(proc, r, m, k, alpha)
    thr = scale.le_bound(thr) if m else thr
    if log_p is None:  # a value of the input's dtype, as the in-memory path reports it
        from .multitest import representable_threshold

        thr = representable_threshold(thr, source.x.dtype if source.x.dtype == np.float32 else np.float64)
    mask = source.x.map_blocks(_less_equal, thr, dtype=bool)
    return DeferredResult(mask, thr, r, m, proc.name, alpha, k, proc.guarantee(k, alpha),
                          (lambda: _adjusted(source, proc, k),))


def adjusted(x, method, k, nan_policy, log_p):
    """``mtest.adjust`` on a Dask array: a lazy Dask array of the same shape and chunks."""
    from ._logscale import scale_for
    from .multitest import check_k_for, check_k_within

    scale = scale_for(log_p)
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    _refuse(proc)
    source = _Source(x, nan_policy, scale)
    check_k_within(k, source.m)
    return _adjusted(source, proc, k)


def _adjusted(source, proc, k: int, budget: int | None = None):
    import dask

    scale, m, x = source.scale, source.m, source.x
    if proc.step == "single":
        return x.map_blocks(_single, proc, m, k, scale, dtype=np.float64)
    if m == 0:
        return x.map_blocks(_fill, np.empty(0, np.int64), np.empty(0), scale.one, dtype=np.float64)
    if proc.step == "down":
        cut = drive(stepdown_cutoff(proc, m, k, scale), source.count, source.gather)
        if cut is not None:
            return _head_adjusted(source, proc, k, cut)
    # ranges: histogram, shuffle into ranges, sort each, carry, shuffle back
    n_blocks = len(source.blocks)
    hist = merge_histograms(dask.compute(*[dask.delayed(histogram)(b) for b in source.blocks]))
    shuffle_budget = budget
    if shuffle_budget is None:
        shuffle_budget = max(MIN_RANGE, -(-m // max(min(n_blocks, MAX_RANGES), 1)))
    # step tables: ranges of at most RANGE_VALUES (a range task holds ~5 arrays of its size),
    # as many as that takes — a round bounds the tasks in flight, not MAX_RANGES
    lut, first_ranks = plan_ranges(hist, min(shuffle_budget, max(MIN_RANGE, RANGE_VALUES)))
    table = _step_tables(source, proc, k, lut, first_ranks)
    if table is not None:  # every block looks its values up in one small table
        table_task = dask.delayed(table, traverse=False)
        return source.from_blocks([dask.delayed(_lookup)(b, table_task) for b in source.blocks])
    # the table would be too large (values whose adjusted values all differ): the shuffle back
    lut, first_ranks = plan_ranges(hist, shuffle_budget)
    n_ranges = first_ranks.size
    lut_task = dask.delayed(lut, traverse=False)
    splits = [dask.delayed(_split)(b, j, lut_task, n_ranges) for j, b in enumerate(source.blocks)]
    sorted_ranges = []
    for r in range(n_ranges):
        pieces = [dask.delayed(operator.getitem)(s, r) for s in splits]
        sorted_ranges.append(dask.delayed(_sort_range)(int(first_ranks[r]), proc, m, k, scale,
                                                       *pieces))
    carry_list = dask.delayed(carries)([dask.delayed(_extreme)(s) for s in sorted_ranges],
                                       proc.step)
    finished = [dask.delayed(_finish_range)(s, carry_list, r, proc.step, scale.one, n_blocks)
                for r, s in enumerate(sorted_ranges)]
    tasks = []
    for j, b in enumerate(source.blocks):
        pieces = [dask.delayed(operator.getitem)(f, j) for f in finished]
        tasks.append(dask.delayed(_assemble)(b, scale.one, *pieces))
    return source.from_blocks(tasks)


def _step_tables(source, proc, k, lut, first_ranks):
    """The adjusted values as one step table over all ranges (``_counting.step_table``), or None
    when it would exceed ``TABLE_MAX`` entries.

    Ranges go in rounds of about ``ROUND_VALUES`` values: each round, every block sends the
    values of the round's ranges (values only: the table, not the values, goes back), each
    range is sorted on a worker and reduced to its table, and only tables and extremes reach
    the client. Worker memory is O(round / workers), whatever N; each round reads the blocks
    again (persist the array to read its source once).
    """
    import dask

    scale, m = source.scale, source.m
    lut_task = dask.delayed(lut, traverse=False)
    first_bucket = np.searchsorted(lut, np.arange(first_ranks.size))  # lut is nondecreasing
    last_bucket = np.searchsorted(lut, np.arange(first_ranks.size), side="right") - 1
    sizes = np.diff(np.append(first_ranks, m + 1))
    rounds, start, held = [], 0, 0
    for r, size in enumerate(sizes):
        if held and held + size > ROUND_VALUES:
            rounds.append((start, r))
            start, held = r, 0
        held += int(size)
    rounds.append((start, sizes.size))
    extremes, tables, entries = [], [], 0
    for r0, r1 in rounds:
        lo, hi = bucket_bounds(first_bucket[r0], last_bucket[r1 - 1])
        splits = [dask.delayed(_round_values)(b, lut_task, r0, r1, lo, hi) for b in source.blocks]
        tasks = [dask.delayed(_range_table)(int(first_ranks[r]), int(sizes[r]), proc, m, k, scale,
                                            TABLE_MAX,
                                            *[dask.delayed(operator.getitem)(s, r - r0)
                                              for s in splits])
                 for r in range(r0, r1)]
        for extreme, table in dask.compute(*tasks):
            if table is None:
                return None
            entries += table[0].size
            if entries > TABLE_MAX:
                return None
            extremes.append(extreme)
            tables.append(table)
    carry_list = carries(extremes, proc.step)
    ends = np.concatenate([t[0] for t in tables])
    adjusted = np.concatenate([finish(t[1], c, proc.step, scale.one)
                               for t, c in zip(tables, carry_list)])
    return ends, adjusted


def _head_adjusted(source, proc, k, cut):
    import dask

    scale, m = source.scale, source.m
    t, below = cut
    hi = head_bound(t, scale)
    heads = dask.compute(*[dask.delayed(_head)(b, hi) for b in source.blocks])
    numbers = np.concatenate([np.full(h[0].size, j, dtype=np.int64) for j, h in enumerate(heads)])
    idx = np.concatenate([h[0] for h in heads])
    values = np.concatenate([h[1] for h in heads]).astype(np.float64)
    if values.size != below:  # the head changed between passes: the input is not deterministic
        raise ValueError(f"pvalues changed between passes ({values.size} values below the cutoff, "
                         f"counted {below} before); persist or fix the Dask array's inputs")
    order = np.argsort(values, kind="stable")
    adjusted = finish(segment_adjusted(values[order], 1, proc, m, k, scale), -np.inf, "down",
                      scale.one)
    numbers, idx = numbers[order], idx[order]
    by_block = np.argsort(numbers, kind="stable")
    bounds = np.searchsorted(numbers[by_block], np.arange(len(source.blocks) + 1))
    tasks = []
    for j, b in enumerate(source.blocks):
        sel = by_block[bounds[j]:bounds[j + 1]]
        tasks.append(dask.delayed(_fill)(b, idx[sel], adjusted[sel], scale.one))
    return source.from_blocks(tasks)

