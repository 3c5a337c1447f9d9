"""The counting engine for data that is not one in-memory array: Dask arrays, partitioned files,
and log-scale p-values (docs/scale.md).

Rejections need only counts F(t) = #{p <= t} at a few critical values (docs/performance.md), so
the engine is written as *generators* that ask for what they need and never see the data:

* ``("count", t)`` -> the number of values ``<= t`` (NaN never counts);
* ``("gather", lo, hi)`` -> the values with ``lo < v <= hi`` (``lo=None``: no lower bound), sorted.

A driver answers the requests from its source (one pass over an array, one reduction over a Dask
array's blocks, one read of a set of files, or several families' requests batched into one read).
The logic is that of ``mtest._stepwise`` — exact critical values, ``decide_sorted`` — so the
answers are the in-memory ones bit for bit.

A *scale* says how a stored value v maps to the p-value it denotes: the linear scale (v is p), or
a log scale (v = ln p or log10 p, ``mtest._logscale``). Critical values are moved into the
scale with ``le_bound(c)``, the largest stored value whose p-value is ``<= c``, so comparing
stored values against it is comparing p-values against c.

Adjusted p-values that need ranks come from *ranges*: a histogram of the values (one pass) splits
the sorted order into consecutive value ranges of bounded size whose first ranks are known, each
range is sorted on its own, and a carry between ranges (running max from below for step-down,
running min from above for step-up) makes the result that of one global sort.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ._stepwise import MAX_COUNTING_PASSES, critical, decide_sorted
from .multitest import MultipleTestResult

__all__ = ["LinearScale", "LINEAR", "rejections", "stepdown_cutoff", "drive", "DeferredResult",
           "ordered_key", "bucket_of", "N_BUCKETS", "plan_ranges", "segment_adjusted",
           "accumulate", "finish", "carries", "in_memory_adjusted"]

#: histogram buckets over the ordered bit patterns of float64 (top 20 bits: 8 mantissa bits)
N_BUCKETS = 1 << 20
_BUCKET_SHIFT = 44
_MASK = np.int64(0x7FFFFFFFFFFFFFFF)


class LinearScale:
    """Stored values are the p-values themselves."""

    name = None
    one = 1.0

    def to_linear(self, values):
        return np.asarray(values, dtype=np.float64)

    def le_bound(self, x: float) -> float:
        return float(x)

    def raw(self, proc, values, ranks, m, k):
        return proc.raw(np.asarray(values).astype(np.float64, copy=False), ranks, m, k)


LINEAR = LinearScale()


# ---------------------------------------------------------------------------------------------
# rejections as request generators


def rejections(proc, m: int, k: int, alpha: float, scale=LINEAR):
    """Generator of requests; returns the number of rejections r (``_stepwise.n_rejected``)."""
    if m == 0:
        return 0

    def crit(i):
        return scale.le_bound(critical(proc, i, m, k, alpha))

    if proc.step == "single":
        return (yield ("count", crit(1)))
    if proc.step == "down":
        i = 1
        lo = None
        for _ in range(MAX_COUNTING_PASSES):
            t = crit(i)
            count = yield ("count", t)
            if count < i:
                return i - 1
            if count >= m:
                return m
            lo, i = t, count + 1
        candidates = yield ("gather", lo, crit(m))
        return i - 1 + decide_sorted(scale.to_linear(candidates), None, i, proc, m, k, alpha)
    # step-up, from the top: F(alpha_i) < i rules out every rank in (F(alpha_i), i]
    i = m
    for _ in range(MAX_COUNTING_PASSES):
        count = yield ("count", crit(i))
        if count >= i:
            return i
        if count == 0:
            return 0
        i = count
    candidates = yield ("gather", None, crit(i))
    return decide_sorted(scale.to_linear(candidates), None, 1, proc, m, k, alpha)


def stepdown_cutoff(proc, m: int, k: int, scale=LINEAR):
    """Generator form of ``_stepwise.stepdown_cutoff``: returns ``(t, below)`` or ``None``.

    Every value whose p-value is ``>= t`` has step-down adjusted value exactly 1; ``below`` values
    lie under it (the *head*), found as the stored values ``<= le_bound(nextafter(t, -1))``.
    """
    t = 1.0 / m
    while True:
        below = yield ("count", head_bound(t, scale))
        if below > m // 2:
            return None
        if below < m and np.ravel(proc.raw(np.array([t]), np.array([below + 1]), m, k))[0] >= 1.0:
            return t, below
        if t >= 1.0:
            return None
        t = min(1.0, 2.0 * t)


def head_bound(t: float, scale=LINEAR) -> float:
    """The largest stored value whose p-value is < t."""
    return scale.le_bound(float(np.nextafter(t, -1.0)))


def drive(generator, count, gather):
    """Run a request generator against one source: ``count(t)``, ``gather(lo, hi)``."""
    try:
        request = next(generator)
        while True:
            if request[0] == "count":
                answer = count(request[1])
            else:
                answer = gather(request[1], request[2])
            request = generator.send(answer)
    except StopIteration as stop:
        return stop.value


class DeferredResult(MultipleTestResult):
    """A ``MultipleTestResult`` whose adjusted values come from a function (``_source[0]``),
    called on first access: a lazy Dask array, or log-scale values."""

    @cached_property
    def pvalues_adjusted(self):
        from ._validation import freeze

        return freeze(self._source[0]())  # an ndarray is made read-only, as every result's


# ---------------------------------------------------------------------------------------------
# adjusted values from sorted segments


def segment_adjusted(values_sorted, first_rank: int, proc, m: int, k: int, scale=LINEAR):
    """Raw adjusted values (in the scale) of a sorted run of values starting at ``first_rank``,
    accumulated within the run (running max up, or running min from the top)."""
    ranks = np.arange(first_rank, first_rank + values_sorted.size, dtype=np.int64)
    return accumulate(scale.raw(proc, values_sorted, ranks, m, k), proc.step)


def accumulate(raw, step: str):
    if step == "down":
        return np.maximum.accumulate(raw)
    return np.minimum.accumulate(raw[::-1])[::-1]


def carries(extremes, step: str):
    """Per range, the carry from the other ranges: the max of every lower range's raw values
    (step-down) or the min of every higher range's (step-up). ``extremes`` are per-range max
    (down: last accumulated value) or min (up: first accumulated value); empty ranges give None."""
    out = []
    if step == "down":
        running = -np.inf
        for e in extremes:
            out.append(running)
            if e is not None:
                running = max(running, e)
        return out
    running = np.inf
    for e in reversed(extremes):
        out.append(running)
        if e is not None:
            running = min(running, e)
    return out[::-1]


def finish(accumulated, carry: float, step: str, one: float):
    """Apply the carry and the cap (1, or 0 in log scale)."""
    if step == "down":
        out = np.maximum(accumulated, carry)
    else:
        out = np.minimum(accumulated, carry)
    return np.minimum(out, one, out=out)


def step_table(values_sorted, accumulated):
    """A sorted run's accumulated adjusted values as a step function of the value.

    Accumulated values are nondecreasing along the sorted run (a running max, or a running min
    from the top), so they change at few positions — ~1.5·10⁴ for BH over 10⁷ uniform p-values.
    Returns ``(ends, values)``: the value at the end of each constant stretch and the
    accumulated value there, so that the adjusted value of ``v`` is ``values`` at the first
    end ``>= v`` (``table_lookup``). None when a tie group would be split (equal values with
    different accumulated values): then the values are no function of the value alone.
    """
    n = values_sorted.size
    if n == 0:
        return values_sorted[:0].astype(np.float64), accumulated[:0]
    change = accumulated[1:] != accumulated[:-1]
    if np.any(change & (values_sorted[1:] == values_sorted[:-1])):
        return None
    ends = np.append(np.flatnonzero(change), n - 1)
    return values_sorted[ends].astype(np.float64), accumulated[ends]


def table_lookup(values, ends, adjusted):
    """Adjusted values of ``values`` from a step table (``step_table``, ranges concatenated in
    value order, carries applied); NaN stays NaN."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, np.nan)
    ok = ~np.isnan(v)
    out[ok] = adjusted[np.searchsorted(ends, v[ok], side="left")]
    return out


def in_memory_adjusted(flat, proc, k: int, n_nan: int, scale=LINEAR):
    """Adjusted values of one in-memory array in the scale (one full sort; NaN stays NaN)."""
    from .registry import SpecialProcedure

    m = flat.size - n_nan
    if isinstance(proc, SpecialProcedure):
        raise ValueError(f"method {proc.name!r} has no scale-generic adjusted values")
    if proc.step == "single":
        raw = scale.raw(proc, flat, None, m, k)
        return np.minimum(raw, scale.one)
    out = np.full(flat.size, np.nan)
    order = np.argsort(flat, kind="stable")[:m]  # NaN sorts last
    values = flat[order]
    out[order] = finish(segment_adjusted(values, 1, proc, m, k, scale), -np.inf if proc.step == "down"
                        else np.inf, proc.step, scale.one)
    return out


# ---------------------------------------------------------------------------------------------
# ordered keys, histograms and ranges


def ordered_key(values):
    """int64 keys ordered like the float64 values (−0.0 and 0.0 share a key; NaN excluded by caller)."""
    bits = np.asarray(values, dtype=np.float64).view(np.int64)
    return np.where(bits >= 0, bits, -(bits & _MASK))


def bucket_bounds(first: int, last: int):
    """(lo, hi): floats such that a non-NaN value lies in buckets [first, last] exactly when
    ``lo <= value <= hi`` (the inverse of ``bucket_of`` at the span's two ends)."""
    def value_of(key: int) -> float:
        limit = int(np.float64(np.inf).view(np.int64))
        if key >= limit:
            return np.inf
        if key <= -limit:
            return -np.inf
        bits = key if key >= 0 else (-key) | (1 << 63)
        return float(np.array(bits, dtype=np.uint64).view(np.float64))

    lo_key = (int(first) - (N_BUCKETS >> 1)) << _BUCKET_SHIFT
    hi_key = ((int(last) + 1 - (N_BUCKETS >> 1)) << _BUCKET_SHIFT) - 1
    return value_of(lo_key), value_of(hi_key)  # -0.0 and 0.0 share key 0, and compare equal


def bucket_of(values):
    """Histogram bucket in [0, N_BUCKETS) of each (non-NaN) value, nondecreasing in the value."""
    return (ordered_key(values) >> _BUCKET_SHIFT) + (N_BUCKETS >> 1)


def histogram(values):
    """Counts per bucket of the non-NaN values, sparse: (buckets, counts) of the non-empty ones."""
    v = np.asarray(values).reshape(-1)
    v = v[~np.isnan(v)]
    dense = np.bincount(bucket_of(v), minlength=N_BUCKETS)
    buckets = np.flatnonzero(dense)
    return buckets, dense[buckets].astype(np.int64)


def merge_histograms(parts):
    """Dense counts per bucket from sparse (buckets, counts) parts."""
    dense = np.zeros(N_BUCKETS, dtype=np.int64)
    for buckets, counts in parts:
        dense[buckets] += counts
    return dense


def plan_ranges(hist, budget: int):
    """Split the sorted order into consecutive bucket ranges of about ``budget`` values.

    Returns ``(lut, first_ranks)``: ``lut[bucket]`` is the range of each bucket (int32) and
    ``first_ranks[r]`` the 1-based sorted rank of range r's first value. A range holds at most
    ``budget`` values plus one bucket (a bucket is never split: its values share 8 leading
    mantissa bits).
    """
    hist = np.asarray(hist, dtype=np.int64)
    before = np.cumsum(hist) - hist
    lut = before // max(int(budget), 1)  # nondecreasing; renumber to consecutive ids
    lut = np.concatenate(([0], np.cumsum(np.diff(lut) != 0))).astype(np.int32)
    n_ranges = int(lut[-1]) + 1
    sizes = np.bincount(lut, weights=hist, minlength=n_ranges).astype(np.int64)
    first_ranks = 1 + np.cumsum(sizes) - sizes
    return lut, first_ranks
