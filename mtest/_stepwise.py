"""The stepwise engine: exact critical values, counting-form rejections, thresholds and adjusted
p-values of the registered procedures (see ``mtest.registry``).

Every ``StepwiseProcedure`` is a transform g_i(p), the raw adjusted value
of the i-th smallest p-value. Adjusted p-values are the running maximum (step-down) or the running
minimum from the top (step-up) of ``min(1, g_i(p(i)))`` — R's ``p.adjust`` to the last digit — and
a hypothesis is rejected exactly when its adjusted p-value is ``<= alpha``. The critical value
``alpha_i`` of the fast rejection path is the largest double ``t`` with ``g_i(t) <= alpha``, so
the fast path and the adjusted p-values cannot disagree by a rounding error (docs/theory.md).

Rejections need no full sort (the counting form, docs/performance.md): F(t) = #{p <= t} is one
pass over the data, and a few passes decide the step-down or step-up rank.
"""
from __future__ import annotations

import bisect
import functools
import math
import os
import threading

import numpy as np

from . import _small, _sorting
from ._lazy import kernels_module
from ._sorting import sort_with_order
from .registry import NotBelowP, Procedure, SpecialProcedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["MAX_COUNTING_PASSES", "critical_values", "critical", "decide_sorted", "count_rejections",
           "band_thresholds", "banded_rejections",
           "n_rejected", "threshold", "stepdown_cutoff", "special_sorted", "adjusted_flat"]

#: counting passes of the rejection fast path before it sorts the undecided candidates
MAX_COUNTING_PASSES = 8

#: single-ulp steps of the critical-value search before it bisects on the bit patterns
_ULP_STEPS = 4


def critical_values(proc: Procedure, ranks, m: int, k: int, alpha: float) -> np.ndarray:
    """For each rank i: the largest double t in [0, 1] with raw_i(t) <= alpha.

    Starts from the procedure's closed-form inverse and moves by single ulps (an exact guess
    needs one or two evaluations); if a few steps do not settle it, bisects on the bit patterns
    of the doubles in [0, 1] (ordered like the values; raw is nondecreasing in t), so any guess,
    even 0, 1 or NaN, costs at most ~64 more evaluations. Then ``p <= critical`` and
    ``raw(p) <= alpha`` agree for every double p (raw(0) = 0 <= alpha).
    """
    ranks = np.atleast_1d(np.asarray(ranks, dtype=np.int64))
    with np.errstate(all="ignore"):  # only a hint: its warnings mean nothing
        guess = np.broadcast_to(np.asarray(proc.critical_guess(ranks, m, k, alpha),
                                           dtype=np.float64), ranks.shape)
    t = np.clip(np.nan_to_num(guess, nan=0.0), 0.0, 1.0)

    def passes(values, idx):
        return proc.raw(values, ranks[idx], m, k) <= alpha

    # lo: largest bit pattern known to pass (-1: none yet); hi: smallest known to fail
    one = np.float64(1.0).view(np.int64)
    lo = np.full(t.shape, -1, dtype=np.int64)
    hi = np.full(t.shape, one + 1, dtype=np.int64)
    bits = t.view(np.int64).copy()
    everyone = np.arange(t.size)
    ok = passes(t, everyone)
    lo[ok] = bits[ok]
    hi[~ok] = bits[~ok]
    for _ in range(_ULP_STEPS):  # the guess is usually within an ulp or two
        open_ = np.flatnonzero(hi - lo > 1)
        if open_.size == 0:
            break
        # step one ulp from the known side towards the unknown one
        probe = np.where(lo[open_] >= 0, lo[open_] + 1, hi[open_] - 1)
        step_ok = passes(probe.view(np.float64), open_)
        lo[open_[step_ok]] = probe[step_ok]
        hi[open_[~step_ok]] = probe[~step_ok]
    open_ = np.flatnonzero(hi - lo > 1)
    if open_.size:
        # bracket the rest: 0 passes unless nothing does, and 1 is the top of the range
        lo_unknown = open_[lo[open_] < 0]
        if lo_unknown.size:
            zero_ok = passes(np.zeros(lo_unknown.size), lo_unknown)
            lo[lo_unknown[zero_ok]] = 0
            lo[lo_unknown[~zero_ok]] = 0  # nothing passes: the answer is 0 (as raw(0) = 0)
            hi[lo_unknown[~zero_ok]] = 1
        hi_unknown = open_[hi[open_] > one]
        if hi_unknown.size:
            one_ok = passes(np.ones(hi_unknown.size), hi_unknown)
            lo[hi_unknown[one_ok]] = one
            hi[hi_unknown[one_ok]] = one + 1
            hi[hi_unknown[~one_ok]] = one
        while True:
            open_ = np.flatnonzero(hi - lo > 1)
            if open_.size == 0:
                break
            mid = lo[open_] + (hi[open_] - lo[open_]) // 2
            mid_ok = passes(mid.view(np.float64), open_)
            lo[open_[mid_ok]] = mid[mid_ok]
            hi[open_[~mid_ok]] = mid[~mid_ok]
    return np.maximum(lo, 0).view(np.float64)


@functools.lru_cache(maxsize=4096)
def critical(proc: Procedure, rank: int, m: int, k: int, alpha: float) -> float:
    """Scalar form of ``critical_values``, the same double: settled here when the guess or a
    neighbour up to ``_ULP_STEPS`` ulps away is the answer (the usual case: a few evaluations
    of ``raw``, no array bookkeeping), else by ``critical_values`` itself. Memoized (the
    rejection path asks for the same few critical values more than once per call, and
    simulations repeat them across calls): procedures are frozen, hashable values."""
    ranks = np.array([rank], dtype=np.int64)
    with np.errstate(all="ignore"):
        guess = float(np.asarray(proc.critical_guess(ranks, m, k, alpha), dtype=np.float64).reshape(-1)[0])
    t = 0.0 if guess != guess else min(max(guess, 0.0), 1.0)

    def passes(value):
        return bool(proc.raw(np.array([value]), ranks, m, k)[0] <= alpha)

    if t > 0.0:  # as in critical_values: from the guess, single ulps towards the other side
        if passes(t):
            for _ in range(_ULP_STEPS):
                if t == 1.0:
                    return t
                up = float(np.nextafter(t, 2.0))
                if not passes(up):
                    return t
                t = up
        else:
            for _ in range(_ULP_STEPS):
                t = float(np.nextafter(t, -1.0))
                if t > 0.0 and passes(t):
                    return t
                if t == 0.0:
                    break
    return float(critical_values(proc, rank, m, k, alpha)[0])


def decide_sorted(values: np.ndarray, mult: np.ndarray | None, first_rank: int,
                   proc: Procedure, m: int, k: int, alpha: float) -> int:
    """Number of rejections among ascending ``values`` (blocks of ``mult`` ties) that start at
    sorted rank ``first_rank`` and whose predecessors are all rejected (step-down) or are all
    the smaller p-values (step-up). Returns the count rejected within ``values``."""
    if values.size == 0:
        return 0
    if mult is None:
        starts = first_rank + np.arange(values.size, dtype=np.int64)
        ends = starts
        sizes = None
    else:
        ends = first_rank - 1 + np.cumsum(mult, dtype=np.int64)
        starts = ends - mult + 1
        sizes = mult
    if proc.step == "down":
        # a tied block passes iff its first member passes (critical values grow with rank)
        ok = proc.raw(values.astype(np.float64, copy=False), starts, m, k) <= alpha
        fail = np.flatnonzero(~ok)
        n_blocks = fail[0] if fail.size else values.size
    elif proc.step == "up":
        # the largest rank that passes decides; within a tie block the last member is best
        ok = proc.raw(values.astype(np.float64, copy=False), ends, m, k) <= alpha
        hit = np.flatnonzero(ok)
        n_blocks = hit[-1] + 1 if hit.size else 0
    else:  # single step
        ok = proc.raw(values.astype(np.float64, copy=False), starts, m, k) <= alpha
        n_blocks = int(np.count_nonzero(ok))
        if sizes is None:
            return n_blocks
        return int(sizes[ok].sum())
    return int(n_blocks if sizes is None else sizes[:n_blocks].sum())


def count_rejections(flat: np.ndarray, proc: Procedure, m: int, k: int, alpha: float,
                     mask: np.ndarray | None = None) -> tuple[int, bool]:
    """Number of rejections in the counting form (no full sort; docs/performance.md), and
    whether ``mask`` now holds ``flat <= threshold``.

    The logic is ``mtest._counting.rejections``, the one used for Dask arrays and files too;
    here each count is one parallel pass over ``flat``. With ``mask`` (bool, ``flat``'s size)
    each counting pass also writes ``flat <= t``: when the last request was a count, that set is
    the rejection set (step-down: the last pass counted no more than the one before, so the two
    sets are equal; step-up and single-step: its t is the threshold, or it counted nothing), and
    the caller skips its own mask pass.
    """
    from ._counting import drive, rejections  # _counting imports this module

    last = [None]

    def count(t):
        last[0] = "count"
        if mask is None:
            return int(_kernels.count_le(flat, t))
        return int(_kernels.count_le_mask(flat, t, mask))

    def gather(lo, hi):  # the undecided candidates lo < p <= hi, sorted
        last[0] = "gather"
        lo = -1.0 if lo is None else lo
        _, n_mid = _kernels.count_le_between(flat, lo, hi)
        return np.sort(_kernels.gather_between(flat, lo, hi, n_mid))

    r = drive(rejections(proc, m, k, alpha), count, gather)
    return r, mask is not None and last[0] == "count"


#: p-values read, at evenly spaced positions, to place the band (``band_thresholds``)
BAND_SAMPLE = 2048

#: below this many p-values the band is the widest one, [alpha_1, alpha_m], with no sample
BAND_PREDICT_MIN = 1 << 16


def band_thresholds(proc: Procedure, flat: np.ndarray, k: int, alpha: float) -> tuple[float, float]:
    """``(t_lo, t_hi)`` of the banded first pass over ``flat`` (not validated yet): it counts
    F(t_lo) and F(t_hi) and codes each value LOW (p <= t_lo), BAND (t_lo < p <= t_hi) or
    above, and the counting form then reads only one of the two coded parts.

    The widest band, t_lo = alpha_1 and t_hi = alpha_m (the smallest and the largest critical
    value of ``flat.size`` tests), holds every count the counting form asks for when no value
    is NaN. Large inputs narrow it where a sample predicts the counts to stay
    (``_predicted_reach``): a step-down climb starts at alpha_1 and climbs to a predicted top,
    which becomes t_hi; a step-up descent starts at alpha_m and descends from a predicted
    first step, which becomes t_lo when fewer values lie at or below it than in the widest
    band (its counts then read the LOW part). A count the prediction missed is a pass over the
    data: a wrong prediction costs time, never exactness.
    """
    size = flat.size
    if size == 0:
        return 0.0, 0.0
    t_lo = critical(proc, 1, size, k, alpha)
    if proc.step == "single":
        return t_lo, t_lo
    t_hi = max(t_lo, critical(proc, size, size, k, alpha))
    if size < BAND_PREDICT_MIN or t_hi == t_lo:
        return t_lo, t_hi
    reach, share = _predicted_reach(proc, flat, k, alpha, t_lo, t_hi)
    if proc.step == "down":
        return t_lo, min(max(reach, t_lo), t_hi)
    if share(reach) < share(t_hi) - share(t_lo):  # the LOW part is the smaller one to read
        return min(max(reach, t_lo), t_hi), t_hi
    return t_lo, t_hi


def _predicted_reach(proc: Procedure, flat: np.ndarray, k: int, alpha: float, t_lo: float,
                     t_hi: float):
    """The counting form run on BAND_SAMPLE evenly spaced values, each count scaled up to the
    whole and raised by four standard errors plus 4/n (an upper bound with high probability):
    the largest threshold in (t_lo, t_hi) it asks about (t_lo if none), and the sample's share
    of values <= t, as a function. Counts only raise the thresholds a step-down climb or a
    step-up descent asks about next, so the raised counts bound the real ones from above."""
    from ._counting import drive, rejections  # _counting imports this module

    size = flat.size
    sample = flat[(np.arange(BAND_SAMPLE, dtype=np.int64) * size) // BAND_SAMPLE]
    sample = sample.astype(np.float64)
    sample = np.sort(sample[(sample >= 0.0) & (sample <= 1.0)]).tolist()  # NaN, bad values out
    n = len(sample)

    def share(t):  # plain Python: a dozen scalar calls, each cheaper than a numpy one
        return bisect.bisect_right(sample, t) / max(n, 1)

    if n == 0:
        return t_hi, share
    asked = []

    def count(t):
        asked.append(t)
        q = share(t)
        upper = q + 4.0 * math.sqrt(q * (1.0 - q) / n) + 4.0 / n
        return int(min(size, math.ceil(size * upper)))

    def gather(lo, hi):
        asked.append(hi)
        return np.empty(0)

    drive(rejections(proc, size, k, alpha), count, gather)
    inside = [t for t in asked if t_lo < t < t_hi]
    return (max(inside) if inside else t_lo), share


#: a coded part is gathered (values and indices, 16 B each) only when it holds at most this
#: share of the values, so the rejection path never holds more than one float64 array beyond
#: its mask; counts in a larger part are passes over the data
BAND_GATHER_MAX = 0.5


def banded_rejections(flat: np.ndarray, band: tuple, proc: Procedure, m: int, k: int,
                      alpha: float) -> tuple[int, np.ndarray]:
    """Number of rejections and the rejection mask, from the banded validation pass
    (``read_pvalues(band=band_thresholds...)``): ``(codes, t_lo, t_hi, c_lo, c_band)``.

    The counting form of ``count_rejections``, answered from the codes: F(t_lo) and F(t_hi)
    are known; a count in (t_lo, t_hi) reads only the values coded BAND, one below t_lo only
    those coded LOW (each part gathered once, in input order, with the indices; a pass of its
    own when the part holds more than ``BAND_GATHER_MAX`` of the values), and a count above
    t_hi is its own pass. The mask is written into the codes' bytes (the parts below the
    threshold -> True, the part holding it compared value by value), with no pass over
    ``flat`` unless the threshold lies above t_hi.
    """
    from ._counting import drive, rejections  # _counting imports this module

    codes, t_lo, t_hi, c_lo, c_band = band
    LOW, BAND = _kernels.LOW, _kernels.BAND
    # each part: (upper edge, F below it, its size, its code, the codes below it)
    parts = ((t_lo, 0, c_lo, LOW, 0), (t_hi, c_lo, c_band, BAND, LOW))
    gathered = {}

    def values_of(part):  # the part's values and indices, gathered on first use; None: too many
        size, code = part[2], part[3]
        if size > BAND_GATHER_MAX * flat.size:
            return None
        if code not in gathered:
            gathered[code] = _kernels.gather_band(codes, flat, size, code)
        return gathered[code]

    def part_of(t):  # the part whose values decide F(t): t <= t_lo, or t_lo < t <= t_hi
        if t <= t_lo:
            return parts[0]
        return parts[1] if t <= t_hi else None

    def count(t):
        part = part_of(t)
        if part is not None:
            top, below, size = part[0], part[1], part[2]
            if t == top:
                return below + size
            if size == 0:
                return below
            got = values_of(part)
            if got is not None:
                return below + int(_kernels.count_le(got[0], t))
        return int(_kernels.count_le(flat, t))

    def gather(lo, hi):  # the undecided candidates lo < p <= hi, sorted
        if hi <= t_hi:
            pieces = [values_of(part) for part in parts
                      if part[2] and (lo is None or lo < part[0])
                      and (part is parts[0] or hi > t_lo)]
            if all(piece is not None for piece in pieces):
                values = np.concatenate([piece[0] for piece in pieces] + [np.empty(0)])
                keep = values <= hi if lo is None else (values > lo) & (values <= hi)
                return np.sort(values[keep])
        lo = -1.0 if lo is None else lo
        _, n_mid = _kernels.count_le_between(flat, lo, hi)
        return np.sort(_kernels.gather_between(flat, lo, hi, n_mid))

    r = drive(rejections(proc, m, k, alpha), count, gather)
    mask = codes.view(np.bool_)
    if m == 0:
        mask[:] = False
        return r, mask
    present = (LOW if c_lo else 0) | (BAND if c_band else 0)

    def to_mask(keep):  # the codes of ``keep`` -> True, the others -> False, in place
        if not keep & present:
            codes.fill(0)  # nothing kept: a plain fill
        elif present & ~keep or present & BAND:
            _kernels.codes_to_mask(codes, keep)
        # else every code present is LOW and kept: the bytes already read as the mask

    thr = threshold(proc, r, m, k, alpha)
    part = part_of(thr)
    if part is not None:
        top, size, code, under = part[0], part[2], part[3], part[4]
        if thr == top:
            to_mask(under | code)
            return r, mask
        if size == 0:
            to_mask(under)
            return r, mask
        got = values_of(part)  # gathered before the codes are overwritten
        if got is not None:
            to_mask(under)
            _kernels.set_band_mask(mask, got[1], got[0], thr)
            return r, mask
    # above the band (NaN omitted changed the critical values, or the prediction missed), or
    # a part too large to gather: one mask pass
    _kernels.less_equal(flat, thr, mask)
    return r, mask


def n_rejected(flat: np.ndarray, proc: Procedure, m: int, k: int, alpha: float) -> int:
    """Number of rejections (``count_rejections`` without a mask)."""
    return count_rejections(flat, proc, m, k, alpha)[0]


def threshold(proc: Procedure, r: int, m: int, k: int, alpha: float, smallest=None) -> float:
    """A t with {p <= t} equal to the rejection set, given r rejections.

    Single-step, step-down and step-up: the critical value alpha_max(r,1). (Step-up: exactly r
    p-values are <= alpha_r, else a larger rank would pass; with r = 0, none is <= alpha_1.)
    Other procedures (Hommel): the r-th smallest p-value from ``smallest(j)`` (1-based), or just
    below the smallest.
    """
    if m == 0:
        return float("nan")
    if not isinstance(proc, SpecialProcedure):
        return critical(proc, max(r, 1), m, k, alpha)
    if r == 0:
        return float(np.nextafter(smallest(1), -1.0))
    return float(smallest(r))


def stepdown_cutoff(flat: np.ndarray, proc: Procedure, m: int, k: int):
    """A cutoff t such that every p >= t has step-down adjusted p-value exactly 1, and the number
    of p < t; ``None`` when no cutoff leaves out at least half of the p-values.

    If F = #{p < t} and g_{F+1}(t) >= 1, the (F+1)-th smallest p-value already has a raw adjusted
    value >= 1 (g is monotone in p), and the running maximum keeps every later one at 1. The
    search is ``mtest._counting.stepdown_cutoff``, answered by counting passes over ``flat``.
    """
    from ._counting import drive, stepdown_cutoff as cutoff_requests

    return drive(cutoff_requests(proc, m, k), lambda t: int(_kernels.count_le(flat, t)), None)


#: whether the full-sort pass evaluates transforms of a known form in its kernels (``raw_form``);
#: False makes it call ``raw`` for every procedure (tests compare the two)
FUSED_RAW = True

_RAW_FORMS = {"count": "RAW_COUNT", "over_rank": "RAW_OVER_RANK", "lehmann_romano": "RAW_LEHMANN_ROMANO"}


def raw_form(proc, m: int, k: int):
    """``(form, c, a)`` for the running kernels (``mtest._kernels._raw_at``) when the
    procedure's transform is one they evaluate themselves, bit for bit as its numpy ``raw``;
    else None (``raw`` is called).

    The forms are those of the built-in Holm, Hochberg, BH, BY and Lehmann-Romano transforms,
    known by identity (``mtest.procedures.kernel_form``: a user's wrapper of one, even with
    ``functools.wraps``, is the user's own); the transform must be the one ``NotBelowP`` itself
    (not a subclass) wraps, whose maximum with p the kernels apply too. Beyond 2^53 the counts
    would no longer convert to float64 exactly as numpy's do, so ``raw`` runs there.
    """
    from .procedures import kernel_form

    raw = proc.raw
    spec = kernel_form(raw.raw) if type(raw) is NotBelowP else None  # (a subclass may change the call)
    if not FUSED_RAW or spec is None or m + k >= 2**53:
        return None
    name, c, a = spec(m, k)
    return getattr(_kernels, _RAW_FORMS[name]), float(c), int(a)


#: values per call of ``raw`` in the full-sort pass: its ranks and temporaries (8 B a value
#: each) stay small whatever the size of a bucket
RAW_SLICE = 1 << 16


def _adjusted_pass(flat, proc, m, k, below, size, out):
    """Adjusted values of the ``size`` values ``<= below`` of ``flat``, written to ``out`` in
    input order (the caller fills the rest).

    The values are split into buckets of consecutive value ranges (``_sorting``), so sorted
    order is bucket after bucket. Each bucket in turn is sorted in cache (``sort_bucket``):
    g_i(p(i)) (``raw_form``: by the kernel itself, or by ``proc.raw``), with i the global rank,
    then their running maximum (step-down) or running minimum from the top (step-up), carried
    from bucket to bucket and put back in the bucket's rows, which are in input order. A last
    pass writes min(1, .) to ``out`` input chunk by input chunk, so its writes stay in cache.

    On two or more cores a second thread takes buckets from the other end of the accumulation
    order (the kernels and numpy's sort release the GIL) until the two meet, so the work
    balances itself. It accumulates each of its buckets from scratch; the last pass combines
    them with their carries (the first thread's, combined with the bucket maxima, or minima,
    before them). Equal to the one-shot ``maximum.accumulate`` bit for bit (between equal
    values the later one, as numpy). Memory: 16 bytes per value, plus each thread's room for
    one bucket, freed before the last pass writes ``out``.
    """
    records, starts, offsets, counts = _sorting.partition_buckets(flat, below, size)
    n = records.shape[0]
    if n == 0:
        return
    form = raw_form(proc, m, k)
    down = proc.step == "down"
    identity = -np.inf if down else np.inf
    stored = records.view(np.float64)
    n_buckets = starts.size - 1
    order = np.arange(n_buckets) if down else np.arange(n_buckets - 1, -1, -1)  # accumulation
    two = n >= _sorting.PARALLEL_SORT_MIN and (os.cpu_count() or 1) >= 2 and n_buckets >= 2
    ends = {"front": 0, "back": n_buckets}  # positions in ``order`` not yet taken
    lock = threading.Lock()
    local = np.full(n_buckets, identity)  # final running value of each bucket the back took

    def take(front: bool):
        with lock:
            if ends["front"] >= ends["back"]:
                return None
            if front:
                ends["front"] += 1
                return ends["front"] - 1
            ends["back"] -= 1
            return ends["back"]

    def bucket(pos, spare, carry):
        """Sort the bucket at ``pos`` of the accumulation order and accumulate it from
        ``carry`` into its rows; returns the carry. A transform of a known form is evaluated by
        the running kernel itself (``raw_form``); any other by ``raw`` (numpy) in slices of at
        most ``RAW_SLICE`` values, so the ranks and the temporaries stay small in a bucket of
        many equal values."""
        b = int(order[pos])
        a, e = int(starts[b]), int(starts[b + 1])
        if e == a:
            return carry
        values, rows = _sorting.sort_bucket(records[a:e], spare)
        step = RAW_SLICE if form is None else e - a
        slices = [(lo, min(lo + step, e - a)) for lo in range(0, e - a, step)]
        for lo, hi in (slices if down else slices[::-1]):
            if form is None:
                part = np.asarray(proc.raw(values[lo:hi], np.arange(a + lo + 1, a + hi + 1, dtype=np.int64),
                                           m, k), dtype=np.float64)
                if part.shape != (hi - lo,):  # broadcast as numpy's path does (ValueError if not)
                    part = np.ascontiguousarray(np.broadcast_to(part, (hi - lo,)))
                spec = (_kernels.RAW_GIVEN, 0.0, 0)
            else:
                part, spec = values[lo:hi], form
            carry = _kernels.running_place(part, a + lo + 1, *spec, k, carry, down, rows[lo:hi], lo,
                                           stored[a:e])
        return carry

    def stop():  # an error in one thread (a user's raw raising): the other takes no more buckets
        with lock:
            ends["back"] = ends["front"]

    def front():
        carry, spare = identity, _sorting.BucketRoom()
        try:
            while (pos := take(True)) is not None:
                carry = bucket(pos, spare, carry)
        except BaseException:
            stop()
            raise
        return carry

    def back():
        spare = _sorting.BucketRoom()
        try:
            while (pos := take(False)) is not None:
                local[pos] = bucket(pos, spare, identity)
        except BaseException:
            stop()
            raise

    carries = np.full(n_buckets, identity)  # by bucket: what the last pass combines in
    chunks = counts.shape[0]
    if not two:
        front()
        _kernels.scatter_chunks(records, stored, offsets, counts, carries, down, 0, chunks, out)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(front), pool.submit(back)
        carry = first.result()
        second.result()
        for pos in range(ends["front"], n_buckets):  # the running value entering each back bucket
            carries[order[pos]] = carry
            v = local[pos]
            if not (carry > v if down else carry < v) and carry == carry:  # NaN is kept, as numpy
                carry = v
        half = chunks // 2
        list(pool.map(lambda span: _kernels.scatter_chunks(records, stored, offsets, counts, carries, down,
                                                           *span, out), [(0, half), (half, chunks)]))


def special_sorted(proc: SpecialProcedure, values: np.ndarray, k: int, alpha: float | None) -> np.ndarray:
    """A special procedure's adjusted values of ascending ``values``, not below them unless the
    procedure's are below p by design (``adjusted_below_p``): the one place for every path."""
    adjusted = (proc.adjust_sorted(values, k, alpha) if proc.alpha_dependent
                else proc.adjust_sorted(values, k))
    if proc.adjusted_below_p:
        return adjusted
    return np.maximum(adjusted, values)


def adjusted_flat(flat: np.ndarray, proc: Procedure, k: int, n_nan: int,
                  alpha: float | None = None) -> np.ndarray:
    """Adjusted p-values in input order (float64), NaN where the input is NaN.

    Stepwise procedures: about 24 bytes per p-value beyond the input, the float64 output
    included (16-byte bucket records and the output, ``_adjusted_pass``; docs/performance.md).
    ``alpha`` is used only by procedures whose adjusted values depend on the level
    (``SpecialProcedure.alpha_dependent``), and required for them.
    """
    if getattr(proc, "alpha_dependent", False) and alpha is None:
        raise ValueError(f"method {proc.name!r} has adjusted p-values that depend on the level; "
                         "pass alpha (they are valid for that alpha only)")
    m = flat.size - n_nan
    out = np.empty(flat.size, dtype=np.float64)
    special = isinstance(proc, SpecialProcedure)
    if not special and proc.step == "single":
        np.minimum(proc.raw(flat.astype(np.float64, copy=False), None, m, k), 1.0, out=out)
        return out
    if not special and _small.is_small(flat.size):  # numpy alone, no kernel (mtest._small)
        return _small.stepwise_adjusted(flat, proc, k, n_nan)
    if special:
        # NaN sorts last; the order among ties cannot change any value
        values, order = sort_with_order(flat, n_nan)
        out[order[:m]] = special_sorted(proc, values[:m], k, alpha)
        out[order[m:]] = np.nan
        return out
    cut = stepdown_cutoff(flat, proc, m, k) if proc.step == "down" and m > 0 else None
    below, size = np.inf, m
    if cut is not None or n_nan:
        # every p-value at or above the cutoff has adjusted value exactly 1; NaN stays NaN
        _kernels.fill_one_or_nan(flat, out)
        if cut is not None:
            below, size = float(np.nextafter(cut[0], -1.0)), cut[1]
    _adjusted_pass(flat, proc, m, k, below, size, out)
    return out
