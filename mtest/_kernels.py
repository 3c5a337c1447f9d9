"""Numba kernels: bare loops over valid input, no validation and no keyword handling.

Every public function validates first (``_validation``) and then calls these. ``cache=True``
keeps compiled code on disk so that tests and command-line runs do not recompile.
"""
from __future__ import annotations

import numba
import numpy as np

from . import _threading

# the threading layer is chosen here, before any parallel kernel can run (docs/design.md)
_threading.configure()

_JIT = dict(nogil=True, cache=True)

#: below this size a kernel runs its serial loop: starting the thread pool costs ~50 µs, which
#: dominates small inputs (simulations call these once per repetition)
PARALLEL_MIN = 200_000


@numba.njit(**_JIT)
def _scan_serial(p):
    """One pass: (#NaN, #below 0, #above 1, #infinite); infinities count only as infinite.

    Branch-free (comparisons added as 0/1), so the loop vectorizes and bad values cost nothing
    extra."""
    n_nan = 0
    n_low = 0
    n_high = 0
    n_neg_inf = 0
    n_pos_inf = 0
    for i in range(p.size):
        v = p[i]
        n_nan += v != v
        n_low += v < 0
        n_high += v > 1
        n_neg_inf += v == -np.inf
        n_pos_inf += v == np.inf
    return n_nan, n_low - n_neg_inf, n_high - n_pos_inf, n_neg_inf + n_pos_inf


@numba.njit(parallel=True, **_JIT)
def _scan_parallel(p, chunks):
    n_nan = 0
    n_low = 0
    n_high = 0
    n_inf = 0
    step = (p.size + chunks - 1) // chunks
    for c in numba.prange(chunks):
        a, b, d, e = _scan_serial(p[c * step:min(p.size, (c + 1) * step)])
        n_nan += a
        n_low += b
        n_high += d
        n_inf += e
    return n_nan, n_low, n_high, n_inf


def scan_pvalues(p):
    """One pass: (#NaN, #below 0, #above 1, #infinite); parallel for large inputs."""
    if p.size < PARALLEL_MIN:
        return _scan_serial(p)
    return _scan_parallel(p, 64)


_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@numba.njit(**_JIT)
def _fingerprint_term(x, position):
    """One value's term of the fingerprint: with its bits' 32-bit halves keyed by the position,
    a = (low + position's low half) mod 2^32 and b = (high + position's high half) mod 2^32,
    the term is (a + 2^32)(b + 2^32) mod 2^64 = a*b + ((a + b) << 32): one 32x32-bit multiply
    (a native vector multiply on every x86 SIMD level; a 64-bit one has none before AVX-512).
    A change to only one half of a value always changes its term: the difference is the
    nonzero change of that half times a factor in [2^32, 2^33), and such a product is never a
    nonzero multiple of 2^64."""
    a = (x + position) & _LOW32
    b = ((x >> _SHIFT32) + (position >> _SHIFT32)) & _LOW32
    return a * b + ((a + b) << _SHIFT32)


@numba.njit(**_JIT)
def _scan_fingerprint_serial(p, bits, offset):
    """``_scan_serial`` plus a 64-bit fingerprint of the bits: the sum (mod 2^64) of
    ``_fingerprint_term(bits[i], (offset + i + 1) * golden)``, so that chunks combine by
    addition. Changing only the low or only the high 32 bits of one value (so any change of a
    float32) always changes it; other changes (a value moved, swapped, or changed in both
    halves) go unnoticed only by a coincidence of 64-bit sums (an accident check, not a
    cryptographic hash)."""
    n_nan = 0
    n_low = 0
    n_high = 0
    n_neg_inf = 0
    n_pos_inf = 0
    h = np.uint64(0)
    golden = np.uint64(0x9E3779B97F4A7C15)
    position = np.uint64(offset) * golden
    for i in range(p.size):
        v = p[i]
        position += golden  # (offset + i + 1) * golden, without a multiply
        h += _fingerprint_term(np.uint64(bits[i]), position)
        n_nan += v != v
        n_low += v < 0
        n_high += v > 1
        n_neg_inf += v == -np.inf
        n_pos_inf += v == np.inf
    return n_nan, n_low - n_neg_inf, n_high - n_pos_inf, n_neg_inf + n_pos_inf, h


@numba.njit(parallel=True, **_JIT)
def _scan_fingerprint_parallel(p, bits, chunks):
    counts = np.zeros((chunks, 4), dtype=np.int64)
    hashes = np.zeros(chunks, dtype=np.uint64)
    step = (p.size + chunks - 1) // chunks
    for c in numba.prange(chunks):
        lo = min(p.size, c * step)
        hi = min(p.size, (c + 1) * step)
        a, b, d, e, h = _scan_fingerprint_serial(p[lo:hi], bits[lo:hi], lo)
        counts[c, 0] = a
        counts[c, 1] = b
        counts[c, 2] = d
        counts[c, 3] = e
        hashes[c] = h
    h = np.uint64(0)
    for c in range(chunks):
        h += hashes[c]
    return counts[:, 0].sum(), counts[:, 1].sum(), counts[:, 2].sum(), counts[:, 3].sum(), h


def scan_pvalues_fingerprint(p):
    """``scan_pvalues`` fused with a 64-bit fingerprint of the values' bits (one pass):
    (#NaN, #below 0, #above 1, #infinite, fingerprint as a Python int)."""
    bits = p.view(np.uint64 if p.dtype.itemsize == 8 else np.uint32)
    if p.size < PARALLEL_MIN:
        out = _scan_fingerprint_serial(p, bits, 0)
    else:
        out = _scan_fingerprint_parallel(p, bits, 64)
    return tuple(int(v) for v in out)


@numba.njit(parallel=True, **_JIT)
def count_le(p, t):
    """#{p <= t}; NaN never counts."""
    c = 0
    if p.size < PARALLEL_MIN:
        for i in range(p.size):
            c += p[i] <= t
        return c
    for i in numba.prange(p.size):
        c += p[i] <= t
    return c


@numba.njit(parallel=True, **_JIT)
def count_le_mask(p, t, out):
    """#{p <= t}, writing out[i] = p[i] <= t in the same pass (NaN: False, never counted)."""
    c = 0
    if p.size < PARALLEL_MIN:
        for i in range(p.size):
            hit = p[i] <= t
            out[i] = hit
            c += hit
        return c
    for i in numba.prange(p.size):
        hit = p[i] <= t
        out[i] = hit
        c += hit
    return c


@numba.njit(parallel=True, **_JIT)
def count_le_between(p, lo, hi):
    """(#{p <= lo}, #{lo < p <= hi}) in one pass."""
    c_lo = 0
    c_mid = 0
    for i in numba.prange(p.size):
        v = p[i]
        if v <= lo:
            c_lo += 1
        elif v <= hi:
            c_mid += 1
    return c_lo, c_mid


@numba.njit(**_JIT)
def gather_between(p, lo, hi, size):
    """The ``size`` values with lo < p <= hi, in input order (size from count_le_between)."""
    out = np.empty(size, dtype=np.float64)
    j = 0
    for i in range(p.size):
        v = p[i]
        if v > lo and v <= hi:
            out[j] = v
            j += 1
    return out


@numba.njit(parallel=True, **_JIT)
def less_equal(p, t, out):
    """out[i] = p[i] <= t (written in place, parallel)."""
    if p.size < PARALLEL_MIN:
        for i in range(p.size):
            out[i] = p[i] <= t
        return out
    for i in numba.prange(p.size):
        out[i] = p[i] <= t
    return out


# ---------------------------------------------------------------------------------------------
# the banded first pass of the rejection path: validation, fingerprint and counts in one pass

#: band codes written by the banded pass (into the output mask's bytes)
ABOVE, LOW, BAND = 0, 1, 2


@numba.njit(**_JIT)
def _banded_serial(p, bits, offset, t_lo, t_hi, codes, fingerprint):
    """One pass over valid-or-not ``p``: (#NaN, #{p < 0 or p > 1}, #{p <= t_lo},
    #{p <= t_hi}, fingerprint as in ``_scan_fingerprint_serial``), writing codes[i] = LOW
    (p <= t_lo), BAND (t_lo < p <= t_hi) or ABOVE (p > t_hi, or NaN). Branch-free (t_lo <= t_hi)."""
    n_nan = 0
    n_bad = 0
    c_lo = 0
    c_hi = 0
    h = np.uint64(0)
    golden = np.uint64(0x9E3779B97F4A7C15)
    position = np.uint64(offset) * golden
    for i in range(p.size):
        v = p[i]
        if fingerprint:
            position += golden
            h += _fingerprint_term(np.uint64(bits[i]), position)
        n_nan += v != v
        n_bad += (v < 0) | (v > 1)
        a = v <= t_lo
        b = v <= t_hi
        c_lo += a
        c_hi += b
        codes[i] = np.uint8(b + b - a)
    return n_nan, n_bad, c_lo, c_hi, h


@numba.njit(parallel=True, **_JIT)
def _banded_parallel(p, bits, t_lo, t_hi, codes, fingerprint, chunks):
    counts = np.zeros((chunks, 4), dtype=np.int64)
    hashes = np.zeros(chunks, dtype=np.uint64)
    step = (p.size + chunks - 1) // chunks
    for c in numba.prange(chunks):
        lo = min(p.size, c * step)
        hi = min(p.size, (c + 1) * step)
        a, b, d, e, h = _banded_serial(p[lo:hi], bits[lo:hi], lo, t_lo, t_hi, codes[lo:hi],
                                       fingerprint)
        counts[c, 0] = a
        counts[c, 1] = b
        counts[c, 2] = d
        counts[c, 3] = e
        hashes[c] = h
    h = np.uint64(0)
    for c in range(chunks):
        h += hashes[c]
    return counts[:, 0].sum(), counts[:, 1].sum(), counts[:, 2].sum(), counts[:, 3].sum(), h


def banded_scan(p, t_lo, t_hi, codes, fingerprint):
    """The first pass of the rejection path: ``(#NaN, #{p < 0 or p > 1}, #{p <= t_lo},
    #{t_lo < p <= t_hi}, fingerprint or None)``, band codes written to ``codes`` (uint8, p's
    size). The fingerprint equals ``scan_pvalues_fingerprint``'s."""
    bits = p.view(np.uint64 if p.dtype.itemsize == 8 else np.uint32)
    t_lo, t_hi = float(t_lo), float(t_hi)
    if p.size < PARALLEL_MIN:
        out = _banded_serial(p, bits, 0, t_lo, t_hi, codes, fingerprint)
    else:
        out = _banded_parallel(p, bits, t_lo, t_hi, codes, fingerprint, 64)
    n_nan, n_bad, c_lo, c_hi, h = (int(v) for v in out)
    return n_nan, n_bad, c_lo, c_hi - c_lo, h if fingerprint else None


_ONES = np.uint64(0x0101010101010101)


@numba.njit(**_JIT)
def _band_index(words, codes, size, code):
    # branch-free within a word that holds ``code``: store every index, keep those with it
    index = np.empty(size + 8, dtype=np.int64)
    word_bits = _ONES * np.uint64(code)  # LOW and BAND are single bits of their own
    j = 0
    for w in range(words.size):
        if words[w] & word_bits:
            for i in range(8 * w, 8 * w + 8):
                index[j] = i
                j += codes[i] == code
    for i in range(8 * words.size, codes.size):
        index[j] = i
        j += codes[i] == code
    return index[:size]


@numba.njit(**_JIT)
def _take(p, index):
    out = np.empty(index.size, dtype=np.float64)
    for j in range(index.size):
        out[j] = p[index[j]]
    return out


@numba.njit(**_JIT)
def _gather_band_dense(codes, p, size, code):
    # branch-free compaction in one sequential pass (every value read, no misprediction)
    values = np.empty(size + 1, dtype=np.float64)
    index = np.empty(size + 1, dtype=np.int64)
    j = 0
    for i in range(p.size):
        values[j] = p[i]
        index[j] = i
        j += codes[i] == code
    return values[:size], index[:size]


#: a part denser than 1 / BAND_DENSE of the values is gathered by one sequential pass
BAND_DENSE = 64


def gather_band(codes, p, size, code=BAND):
    """Values (float64) and indices of the ``size`` entries coded ``code`` (BAND, or LOW), in
    input order: the indices from the codes (8 at a time, skipping words without the code),
    then the values in one loop of independent loads (a sparse part); a dense part in one
    sequential pass."""
    if size * BAND_DENSE > p.size:
        return _gather_band_dense(codes, p, size, np.uint8(code))
    words = codes[: codes.size - codes.size % 8].view(np.uint64)
    index = _band_index(words, codes, size, np.uint8(code))
    return _take(p, index), index


@numba.njit(parallel=True, **_JIT)
def _codes_to_mask(words, codes, keep):
    kept = _ONES * np.uint64(keep)  # the codes are single bits: keep those of ``keep`` ...
    for w in numba.prange(words.size):
        x = words[w] & kept
        words[w] = (x | (x >> np.uint64(1))) & _ONES  # ... and fold them onto bit 0
    for i in range(8 * words.size, codes.size):
        codes[i] = (codes[i] & keep) != 0


def codes_to_mask(codes, keep):
    """In place: each code becomes 1 where it is one of ``keep`` (a bit set: 0, LOW, or
    LOW | BAND), else 0, so that the bytes read as a bool mask (8 codes per operation)."""
    words = codes[: codes.size - codes.size % 8].view(np.uint64)
    _codes_to_mask(words, codes, np.uint8(keep))


@numba.njit(**_JIT)
def set_band_mask(mask, index, values, t):
    """mask[index[j]] = values[j] <= t (the band's entries of a mask)."""
    for j in range(index.size):
        mask[index[j]] = values[j] <= t


@numba.njit(**_JIT)
def _search(pmf, n, sign, target, lo, hi):
    """scipy's ``_binary_search_for_binom_tst`` on a(x) = sign * pmf(x): the i in [lo - 1, hi]
    with a(i) <= target < a(i + 1)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        midval = sign * pmf[mid]
        if midval < target:
            lo = mid + 1
        elif midval > target:
            hi = mid - 1
        else:
            return mid
    if sign * _pmf_at(pmf, lo, n) <= target:
        return lo
    return lo - 1


@numba.njit(**_JIT)
def binom_two_sided_table(pmf, cdf, sf, n, prob):
    """scipy ``binomtest`` two-sided p-values for every k in 0..n, from pmf/cdf/sf tables.

    ``cdf`` and ``sf`` are indexed with an offset of one (entry 0 is x = -1) so that the
    boundary cases of scipy's search read 0 and 1 as scipy's own calls do.
    """
    rerr = 1.0 + 1e-7
    out = np.empty(n + 1, dtype=np.float64)
    pn = prob * n
    for k in range(n + 1):
        d = pmf[k]
        if k == pn:
            out[k] = 1.0
            continue
        if k < pn:
            # the terms on the far side of the mode that are no more likely than k
            ix = _search(pmf, n, -1.0, -d * rerr, int(np.ceil(pn)), n)
            y = n - ix + (1 if d * rerr == _pmf_at(pmf, ix, n) else 0)
            val = cdf[k + 1] + sf[n - y + 1]
        else:
            y = _search(pmf, n, 1.0, d * rerr, 0, int(np.floor(pn))) + 1
            val = cdf[y - 1 + 1] + sf[k - 1 + 1]
        out[k] = min(1.0, val)
    return out


@numba.njit(**_JIT)
def _pmf_at(pmf, x, n):
    if x < 0 or x > n:
        return 0.0
    return pmf[x]


@numba.njit(parallel=True, **_JIT)
def gather(table, index, out):
    """out[i] = table[index[i]] (parallel gather)."""
    if index.size < PARALLEL_MIN:
        for i in range(index.size):
            out[i] = table[index[i]]
        return out
    for i in numba.prange(index.size):
        out[i] = table[index[i]]
    return out


@numba.njit(parallel=True, **_JIT)
def decide_table_rows(index2d, table, perm, crit, single_step, step_up, out_r, out_threshold):
    """Per row of ``index2d`` (p-values ``table[index2d[row]]``): rejections and threshold.

    ``perm`` sorts ``table`` ascending; ``crit[i-1]`` is the critical value of rank i.
    ``single_step``: every value <= crit[0]; else step-down (a tied block passes iff its first
    rank passes) or, with ``step_up``, step-up (the largest passing block end). The threshold is
    crit[max(r, 1) - 1] (step-up too: exactly r p-values are <= crit[r - 1]).
    """
    n_rows, m = index2d.shape
    size = table.size
    for row in numba.prange(n_rows):
        hist = np.zeros(size, dtype=np.int64)
        for j in range(m):
            hist[index2d[row, j]] += 1
        r = 0
        start = 1
        for jj in range(size):
            b = perm[jj]
            mult = hist[b]
            if mult == 0:
                continue
            v = table[b]
            if single_step:
                if v <= crit[0]:
                    r += mult
                else:
                    break
            elif not step_up:
                if v <= crit[start - 1]:
                    r += mult
                else:
                    break
            else:
                end = start + mult - 1
                if v <= crit[end - 1]:
                    r = end
            start += mult
        out_r[row] = r
        out_threshold[row] = crit[0] if single_step else crit[max(r, 1) - 1]


@numba.njit(**_JIT)
def _simes_term(p, j, ell, d):
    """R's rounding of j * p(ell) / (ell - d): the product, then the division."""
    return (j * p[ell - 1]) / (ell - d)


@numba.njit(**_JIT)
def _slope_gap(p, lo, hi, d):
    """Sign of slope(lo) - slope(hi) as seen from (d, 0), and a bound on its rounding error."""
    a = p[lo - 1] * (hi - d)
    b = p[hi - 1] * (lo - d)
    return a - b, 8e-16 * (abs(a) + abs(b))


#: elements per call of the chunked O(m) loops: Python handles Ctrl-C between calls
CHUNK = 1 << 22


@numba.njit(**_JIT)
def _clearly_above(lhs, rhs):
    """lhs > rhs by more than the rounding of the products and differences behind them."""
    return lhs - rhs > 1e-14 * (abs(lhs) + abs(rhs))


@numba.njit(**_JIT)
def _hull_extend(p, hull, top, start, stop):
    """Add the points (i, p(i)), i in [start, stop) (1-based), to the lower convex hull of (0, 0)
    and the points before them (a monotone stack); returns the new stack size."""
    m = p.size
    for i in range(start, stop):
        if i != m and i != 1 and _clearly_above(
                (m - 1) * (p[i - 1] - p[0]), (i - 1) * (p[m - 1] - p[0])):
            continue  # above the chord from the first to the last point
        while True:
            # pop only what is non-convex beyond rounding: collinear points stay, so that
            # every p-value tied with the tangent is evaluated
            if top >= 2:
                a = hull[top - 2]
                b = hull[top - 1]
                notconvex = _clearly_above((i - a) * (p[b - 1] - p[a - 1]),
                                           (b - a) * (p[i - 1] - p[a - 1]))
            elif top == 1:
                b = hull[0]
                notconvex = _clearly_above(i * p[b - 1], b * p[i - 1])  # chord from (0, 0)
            else:
                notconvex = False
            if not notconvex:
                break
            top -= 1
        hull[top] = i
        top += 1
    return top


@numba.njit(**_JIT)
def _simes_range(p, hull, top, k, j_start, j_stop, s):
    """s[j - 1] for j in [j_start, j_stop), the tangent pointer starting at hull vertex ``k``;
    returns the pointer."""
    m = p.size
    for j in range(j_start, j_stop):
        d = m - j
        while k >= 1:
            gap, err = _slope_gap(p, hull[k - 1], hull[k], d)
            if gap < -err:  # the next vertex to the left is clearly better
                k -= 1
            else:
                break
        best = _simes_term(p, j, hull[k], d)
        # vertices tied with the tangent point up to rounding, on either side
        t = k if best > 0.0 else 0  # a run of zero p-values ties everywhere, and 0 is the least
        while t >= 1 and hull[t - 1] > d:
            gap, err = _slope_gap(p, hull[t - 1], hull[t], d)
            if gap > err:
                break
            t -= 1
            v = _simes_term(p, j, hull[t], d)
            if v < best:
                best = v
        t = k if best > 0.0 else top
        while t + 1 < top:
            gap, err = _slope_gap(p, hull[t], hull[t + 1], d)
            if gap < -err:
                break
            t += 1
            v = _simes_term(p, j, hull[t], d)
            if v < best:
                best = v
        s[j - 1] = best
    return k


def simes_of_top_sets(p):
    """s[j - 1] = Simes p-value of the j largest of ascending ``p``, for j = 1..m, in O(m).

    s_j = min over k = 1..j of j * p(m - j + k) / k (R ``p.adjust`` arithmetic: the product, then
    the division). The minimizing p-value is the point of the lower convex hull of (0, 0) and
    {(l, p(l))} touched by the tangent from (m - j, 0); as j grows the tangent point only moves
    left, so one pointer walks the hull (Meijer, Krebs & Goeman 2019, Biometrical Journal 61(6)).
    Collinear points stay on the hull, and every vertex tied with the tangent point up to
    rounding is evaluated, so the minimum is R's to the last bit: a tie line passes through
    (d, 0) for one d only, so the extra evaluations add up to O(m). Runs in chunks.
    """
    m = p.size
    hull = np.empty(m, dtype=np.int64)
    top = 0
    for a in range(1, m + 1, CHUNK):
        top = _hull_extend(p, hull, top, a, min(m + 1, a + CHUNK))
    s = np.empty(m, dtype=np.float64)
    k = top - 1
    for a in range(1, m + 1, CHUNK):
        k = _simes_range(p, hull, top, k, a, min(m + 1, a + CHUNK), s)
    return s


@numba.njit(**_JIT)
def _suffix_max(s):
    """above[j] = max of s_jj over jj > j (1-based s_jj = s[jj - 1]), 0 past the end."""
    m = s.size
    above = np.empty(m + 2, dtype=np.float64)
    above[m + 1] = 0.0
    above[m] = 0.0
    for jj in range(m, 0, -1):
        above[jj - 1] = above[jj] if above[jj] > s[jj - 1] else s[jj - 1]
    return above


@numba.njit(**_JIT)
def _hommel_range(p, s, above, j, start, stop, out):
    """Adjusted values of p[start:stop], the rank pointer starting at ``j``; returns it."""
    m = p.size
    for i in range(start, stop):
        x = p[i]
        while j > 1:
            alpha = s[j - 1] if j <= m else 0.0
            if (j - 1) * x <= alpha:
                break
            j -= 1
        best = above[j] if j <= m else 0.0
        if x > best:
            best = x
        for jj in range(max(1, j - 1), min(j, m) + 1):
            v = jj * x
            if s[jj - 1] < v:
                v = s[jj - 1]
            if v > best:
                best = v
        out[i] = best
    return j


def hommel_sorted(p):
    """Hommel adjusted p-values of ascending ``p`` (m >= 3), in O(m) (Meijer et al. 2019).

    With s_j the Simes p-value of the j largest p-values (``simes_of_top_sets``; s_(m+1) = 0),
    the adjusted p-value of p(i) is min(j * p(i), s_j) for the largest j with
    (j - 1) * p(i) <= s_j; that j does not grow with i, so one pointer serves all i. R's
    ``p.adjust`` takes the maximum over every j of min(j * p(i), s_j); the terms of larger j are
    s_j in exact arithmetic no larger than the answer, but may round above it, so their maximum
    (a suffix maximum of s) and the neighbour j - 1 are included: each value is then R's, bit
    for bit wherever the rounding of the candidates does (see tests/test_cost.py). Runs in chunks.
    """
    m = p.size
    s = simes_of_top_sets(p)
    above = _suffix_max(s)
    out = np.empty(m, dtype=np.float64)
    j = m + 1
    for a in range(0, m, CHUNK):
        j = _hommel_range(p, s, above, j, a, min(m, a + CHUNK), out)
    return out


@numba.njit(**_JIT)
def hommel_sorted_quadratic(p):
    """R ``p.adjust``'s O(m^2) Hommel loop (the reference the linear kernel is tested against)."""
    n = p.size
    q0 = np.inf
    for i in range(n):
        v = (n * p[i]) / (i + 1)
        if v < q0:
            q0 = v
    pa = np.full(n, q0)
    q = np.full(n, q0)
    for m in range(n - 1, 1, -1):
        q1 = np.inf
        for j in range(2, m + 1):  # i2 = n-m+2 .. n (1-based), divided by 2 .. m
            v = (m * p[n - m + j - 1]) / j
            if v < q1:
                q1 = v
        for idx in range(n - m + 1):
            v = m * p[idx]
            q[idx] = v if v < q1 else q1
        edge = q[n - m]
        for idx in range(n - m + 1, n):
            q[idx] = edge
        for idx in range(n):
            if q[idx] > pa[idx]:
                pa[idx] = q[idx]
    for idx in range(n):
        if p[idx] > pa[idx]:
            pa[idx] = p[idx]
    return pa


@numba.njit(**_JIT)
def indices_le(p, t, size):
    """The ``size`` indices with p <= t, in input order (size from count_le)."""
    out = np.empty(size, dtype=np.int64)
    j = 0
    for i in range(p.size):
        if p[i] <= t:
            out[j] = i
            j += 1
    return out


@numba.njit(parallel=True, **_JIT)
def fill_one_or_nan(p, out):
    """out[i] = NaN where p is NaN, else 1.0 (the adjusted value of every undecided p)."""
    if p.size < PARALLEL_MIN:
        for i in range(p.size):
            out[i] = np.nan if np.isnan(p[i]) else 1.0
        return out
    for i in numba.prange(p.size):
        out[i] = np.nan if np.isnan(p[i]) else 1.0
    return out


@numba.njit(**_JIT)
def merge_sorted(left_values, left_index, right_values, right_index):
    """Merge two (sorted values, index) runs, NaN last, into one (values as float64)."""
    n = left_values.size + right_values.size
    values = np.empty(n, dtype=np.float64)
    index = np.empty(n, dtype=np.int64)
    i = 0
    j = 0
    for o in range(n):
        take_right = False
        if i >= left_values.size:
            take_right = True
        elif j < right_values.size:
            vl = left_values[i]
            vr = right_values[j]
            take_right = vr < vl or (np.isnan(vl) and not np.isnan(vr))
        if take_right:
            values[o] = right_values[j]
            index[o] = right_index[j]
            j += 1
        else:
            values[o] = left_values[i]
            index[o] = left_index[i]
            i += 1
    return values, index


@numba.njit(parallel=True, **_JIT)
def pack_keys(bits, value_bits, index_bits):
    """uint64 sort keys: the top ``value_bits`` of (bits << 2), then the element's index
    (``value_bits <= 63 - index_bits`` keeps them below 2^63, sortable as float64).

    For doubles in [0, 1] bits 63 and 62 are zero (-0.0 only sets bit 63), so the shifted pattern
    orders like the values; equal truncated keys fall back to index order (fixed by
    ``insertion_fix``).
    """
    out = np.empty(bits.size, dtype=np.uint64)
    drop = np.uint64(64 - value_bits)
    for i in numba.prange(bits.size):
        out[i] = (((bits[i] << np.uint64(2)) >> drop) << np.uint64(index_bits)) | np.uint64(i)
    return out


@numba.njit(**_JIT)
def merge_u64(left, right):
    """Merge two ascending uint64 arrays."""
    out = np.empty(left.size + right.size, dtype=np.uint64)
    i = 0
    j = 0
    for o in range(out.size):
        if j >= right.size or (i < left.size and left[i] <= right[j]):
            out[o] = left[i]
            i += 1
        else:
            out[o] = right[j]
            j += 1
    return out


@numba.njit(parallel=True, **_JIT)
def unpack_order(keys, index_bits, values, out_order, out_values):
    """Indices from sorted keys, and the values gathered in that order."""
    mask = (np.uint64(1) << np.uint64(index_bits)) - np.uint64(1)
    for i in numba.prange(keys.size):
        j = np.int64(keys[i] & mask)
        out_order[i] = j
        out_values[i] = values[j]


@numba.njit(**_JIT)
def insertion_fix(values, order, budget):
    """Insertion sort of a nearly sorted (values, order); False if it needs more than ``budget`` moves."""
    moves = 0
    for i in range(1, values.size):
        v = values[i]
        if v >= values[i - 1]:
            continue
        o = order[i]
        j = i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            order[j + 1] = order[j]
            j -= 1
            moves += 1
            if moves > budget:
                return False
        values[j + 1] = v
        order[j + 1] = o
    return True


# =================================================================================================
# Grouped adjustment (mtest.frames) and delimited text (mtest adjust, mtest/cli.py)
# =================================================================================================

@numba.njit(**_JIT)
def bucket_order(order, key, n_keys):
    """Stable counting sort: ``order`` (e.g. rows sorted by p) regrouped by ``key[row]``.

    Returns (rows sorted by (key, previous order), start of each key's run; n_keys + 1 entries).
    """
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(order.size):
        starts[key[order[i]] + 1] += 1
    for g in range(n_keys):
        starts[g + 1] += starts[g]
    slot = starts[:-1].copy()
    out = np.empty(order.size, dtype=np.int64)
    for i in range(order.size):
        row = order[i]
        g = key[row]
        out[slot[g]] = row
        slot[g] += 1
    return out, starts


@numba.njit(**_JIT)
def segmented_adjust(raw, starts, valid, mode, out):
    """Adjusted p-values of consecutive families: family g is ``raw[starts[g]:starts[g+1]]``.

    The first ``valid[g]`` entries of a family are its tested hypotheses in ascending p order; the
    rest (NaN p-values) get NaN. mode 0: single step, min(1, raw); 1: step-down, min(1, running
    max); 2: step-up, min(1, running min from the top). As numpy's accumulate and minimum:
    between equal values the newer one (the sign of a zero), a NaN kept from there on.
    ``out`` may be ``raw`` (each entry is read before it is written).
    """
    for g in range(starts.size - 1):
        a = starts[g]
        b = a + valid[g]
        if mode == 1:
            cur = -np.inf
            for i in range(a, b):
                v = raw[i]
                if not (cur > v or cur != cur):
                    cur = v
                out[i] = 1.0 if cur > 1.0 else cur
        elif mode == 2:
            cur = np.inf
            for i in range(b - 1, a - 1, -1):
                v = raw[i]
                if not (cur < v or cur != cur):
                    cur = v
                out[i] = 1.0 if cur > 1.0 else cur
        else:
            for i in range(a, b):
                v = raw[i]
                out[i] = 1.0 if v > 1.0 else v
        for i in range(b, starts[g + 1]):
            out[i] = np.nan
@numba.njit(**_JIT)
def text_records(buf, begin, sep, quote, wanted):
    """Records of delimited text from byte ``begin``, in one pass.

    Returns (start, end of content, start of the next record, #fields, field ranges, error):
    ``ranges[0, c, r]``/``ranges[1, c, r]`` is the raw byte range (quotes included) of field
    ``wanted[c]`` (0-based) of record r, empty at the record's end when it has too few fields.
    A record ends at LF outside quotes; a CR right before that LF belongs to the terminator. A
    quote opens a quoted field only at the start of a field; inside one, two quotes are a quote.
    ``error`` is -1, or the offset where a quoted field opens that is never closed.
    """
    n = buf.size
    cap = 1
    for i in range(begin, n):
        if buf[i] == 10:
            cap += 1
    n_wanted = wanted.size
    start_of = np.empty(cap, dtype=np.int64)
    end_of = np.empty(cap, dtype=np.int64)
    next_of = np.empty(cap, dtype=np.int64)
    fields_of = np.empty(cap, dtype=np.int64)
    ranges = np.empty((2, n_wanted, cap), dtype=np.int64)
    r = 0
    i = begin
    while i < n:
        start = i
        field = 0
        field_start = i
        in_quotes = False
        opened = -1
        while i < n:
            c = buf[i]
            if in_quotes:
                if c == quote:
                    if i + 1 < n and buf[i + 1] == quote:
                        i += 2
                        continue
                    in_quotes = False
                i += 1
                continue
            if c == 10:
                break
            if c == sep:
                for w in range(n_wanted):
                    if wanted[w] == field:
                        ranges[0, w, r] = field_start
                        ranges[1, w, r] = i
                field += 1
                i += 1
                field_start = i
                continue
            if c == quote and i == field_start:
                in_quotes = True
                opened = i
            i += 1
        if in_quotes:
            return start_of[:r], end_of[:r], next_of[:r], fields_of[:r], ranges[:, :, :r], opened
        end = i
        if end > start and buf[end - 1] == 13:
            end -= 1
        for w in range(n_wanted):
            if wanted[w] == field:
                ranges[0, w, r] = field_start
                ranges[1, w, r] = end if end > field_start else field_start
            elif wanted[w] > field:
                ranges[0, w, r] = end
                ranges[1, w, r] = end
        start_of[r] = start
        end_of[r] = end
        next_of[r] = i + 1 if i < n else n
        fields_of[r] = field + 1
        r += 1
        i = i + 1
    return start_of[:r], end_of[:r], next_of[:r], fields_of[:r], ranges[:, :, :r], -1


@numba.njit(**_JIT)
def gather_fields(buf, a, b, quote, strip, out, offsets):
    """Field values without their quotes ("" inside quotes is one quote) into ``out``/``offsets``.

    ``strip``: also drop spaces and tabs around the value (the p column). Returns the bytes used.
    """
    pos = 0
    offsets[0] = 0
    for r in range(a.size):
        i = a[r]
        end = b[r]
        first = pos
        if i < end and buf[i] == quote:
            i += 1
            while i < end:
                c = buf[i]
                if c == quote:
                    if i + 1 < end and buf[i + 1] == quote:
                        out[pos] = quote
                        pos += 1
                        i += 2
                        continue
                    i += 1
                    break
                out[pos] = c
                pos += 1
                i += 1
        while i < end:  # text after a closing quote is kept, as pandas and csv do
            out[pos] = buf[i]
            pos += 1
            i += 1
        if strip:
            lo = first
            while lo < pos and (out[lo] == 32 or out[lo] == 9):
                lo += 1
            hi = pos
            while hi > lo and (out[hi - 1] == 32 or out[hi - 1] == 9):
                hi -= 1
            for j in range(lo, hi):
                out[first + j - lo] = out[j]
            pos = first + hi - lo
        offsets[r + 1] = pos
    return pos


@numba.njit(**_JIT)
def number_syntax(data, offsets, out):
    """out[r] = 0 if field r is a decimal number ([+-]digits[.digits][e[+-]digits], or .digits),
    1 if it is empty, 2 otherwise."""
    for r in range(offsets.size - 1):
        i = offsets[r]
        end = offsets[r + 1]
        if i == end:
            out[r] = 1
            continue
        if data[i] == 43 or data[i] == 45:
            i += 1
        digits = 0
        while i < end and 48 <= data[i] <= 57:
            i += 1
            digits += 1
        if i < end and data[i] == 46:
            i += 1
            while i < end and 48 <= data[i] <= 57:
                i += 1
                digits += 1
        ok = digits > 0
        if ok and i < end and (data[i] == 101 or data[i] == 69):
            i += 1
            if i < end and (data[i] == 43 or data[i] == 45):
                i += 1
            exp = 0
            while i < end and 48 <= data[i] <= 57:
                i += 1
                exp += 1
            ok = exp > 0
        out[r] = 0 if ok and i == end else 2
    return out


@numba.njit(**_JIT)
def assemble_records(buf, starts, ends, nexts, row_of, adj_data, adj_offsets, reject, sep, out):
    """Each record verbatim with ``sep p_adjusted sep reject`` before its line terminator.

    ``row_of[r]`` is the data row of record r (index into adj_*/reject), or -1 for a record copied
    unchanged (a blank line). Returns the bytes written to ``out``.
    """
    pos = 0
    for r in range(starts.size):
        for i in range(starts[r], ends[r]):
            out[pos] = buf[i]
            pos += 1
        row = row_of[r]
        if row >= 0:
            out[pos] = sep
            pos += 1
            for i in range(adj_offsets[row], adj_offsets[row + 1]):
                out[pos] = adj_data[i]
                pos += 1
            out[pos] = sep
            pos += 1
            if reject[row]:
                out[pos] = 116  # true
                out[pos + 1] = 114
                out[pos + 2] = 117
                out[pos + 3] = 101
                pos += 4
            else:
                out[pos] = 102  # false
                out[pos + 1] = 97
                out[pos + 2] = 108
                out[pos + 3] = 115
                out[pos + 4] = 101
                pos += 5
        for i in range(ends[r], nexts[r]):
            out[pos] = buf[i]
            pos += 1
    return pos


@numba.njit(**_JIT)
def _key_less(a, b, values, mask):
    va = values[np.int64(a & mask)]
    vb = values[np.int64(b & mask)]
    return va < vb or (va == vb and a < b)


@numba.njit(**_JIT)
def _sift_down(keys, lo, root, end, values, mask):
    """Move keys[lo + root] down the max-heap keys[lo:lo + end] (ordered by ``_key_less``)."""
    while 2 * root + 1 < end:
        child = 2 * root + 1
        if child + 1 < end and _key_less(keys[lo + child], keys[lo + child + 1], values, mask):
            child += 1
        if _key_less(keys[lo + root], keys[lo + child], values, mask):
            keys[lo + root], keys[lo + child] = keys[lo + child], keys[lo + root]
            root = child
        else:
            break


@numba.njit(**_JIT)
def _sort_run(keys, lo, hi, values, mask):
    """Sort keys[lo:hi] in place by (value, index): insertion sort, or heapsort for long runs."""
    n = hi - lo
    if n <= 32:
        for i in range(lo + 1, hi):
            key = keys[i]
            j = i - 1
            while j >= lo and _key_less(key, keys[j], values, mask):
                keys[j + 1] = keys[j]
                j -= 1
            keys[j + 1] = key
        return
    # heapsort: O(n log n), no extra memory
    for start in range(n // 2 - 1, -1, -1):
        _sift_down(keys, lo, start, n, values, mask)
    for end in range(n - 1, 0, -1):
        keys[lo], keys[lo + end] = keys[lo + end], keys[lo]
        _sift_down(keys, lo, 0, end, values, mask)


# ---------------------------------------------------------------------------------------------
# bucketed full sort (mtest._sorting.partition_buckets, mtest._stepwise._adjusted_pass)

_SIGN_OFF = np.uint64(0x7FFFFFFFFFFFFFFF)


@numba.njit(**_JIT)
def _bucket_of(v, lut, shift):
    """The bucket of a value with pattern ``v`` (sign bit cleared): ``lut`` by its top bits."""
    p = np.int64(v >> shift)
    return lut[min(p, lut.size - 1)]  # p-values are in [0, 1]; never index past the table


@numba.njit(inline="always", **_JIT)
def _pattern(x):
    """The float64 bit pattern of a float32 or float64 value."""
    return np.float64(x).view(np.uint64)


@numba.njit(parallel=True, **_JIT)
def bucket_counts(values, below, lut, shift, n_buckets, chunks):
    """Per chunk and per bucket, the number of ``values`` whose float64 pattern (sign cleared)
    is at most the pattern ``below``; NaN patterns lie above any ``below`` given."""
    n = values.size
    step = (n + chunks - 1) // chunks
    counts = np.zeros((chunks, n_buckets), dtype=np.int64)
    s = np.uint64(shift)
    for c in numba.prange(chunks):
        a = min(n, c * step)
        b = min(n, a + step)
        row = counts[c]
        for i in range(a, b):
            v = _pattern(values[i]) & _SIGN_OFF
            if v <= below:
                row[_bucket_of(v, lut, s)] += 1
    return counts


@numba.njit(parallel=True, **_JIT)
def bucket_write(values, below, check, lut, shift, starts, records):
    """The patterns kept by ``bucket_counts`` bucket by bucket: chunk c writes bucket b's from
    row ``starts[c, b]`` (same chunks), so each bucket keeps input order. A record is the
    float64 pattern (sign included) and the input index: one stream per bucket. Without
    ``check`` every pattern is kept (no NaN, ``below`` at or above 1): no compare in the loop."""
    n = values.size
    chunks = starts.shape[0]
    step = (n + chunks - 1) // chunks
    s = np.uint64(shift)
    for c in numba.prange(chunks):
        a = min(n, c * step)
        b = min(n, a + step)
        at = starts[c].copy()
        if check:
            for i in range(a, b):
                x = _pattern(values[i])
                v = x & _SIGN_OFF
                if v <= below:
                    q = _bucket_of(v, lut, s)
                    j = at[q]
                    records[j, 0] = x
                    records[j, 1] = i
                    at[q] = j + 1
        else:
            for i in range(a, b):
                x = _pattern(values[i])
                q = _bucket_of(x & _SIGN_OFF, lut, s)
                j = at[q]
                records[j, 0] = x
                records[j, 1] = i
                at[q] = j + 1


@numba.njit(**_JIT)
def _bit_length(x):
    n = 0
    while n < 64 and (x >> np.uint64(n)) != 0:
        n += 1
    return n


@numba.njit(**_JIT)
def bucket_key_layout(records):
    """For one bucket's records: (lowest pattern without sign, highest, index bits, dropped
    value bits). A key ``((v - low) >> drop) << index_bits | j`` stays below 2^62, so it sorts
    as a float64 (``mtest._sorting._sort_keys``)."""
    low = records[0, 0] & _SIGN_OFF
    high = low
    for j in range(records.shape[0]):
        v = records[j, 0] & _SIGN_OFF
        low = min(low, v)
        high = max(high, v)
    index_bits = max(1, _bit_length(np.uint64(records.shape[0] - 1)))
    drop = max(0, _bit_length(high - low) + index_bits - 62)
    return low, high, index_bits, drop


@numba.njit(**_JIT)
def bucket_keys(records, low, index_bits, drop, keys):
    """Sort keys of one bucket: the value above the position in the bucket."""
    ib = np.uint64(index_bits)
    d = np.uint64(drop)
    for j in range(records.shape[0]):
        keys[j] = (((records[j, 0] & _SIGN_OFF) - low) >> d) << ib | np.uint64(j)


@numba.njit(**_JIT)
def bucket_order_ties(keys, index_bits, drop, records, low, values):
    """Sorted keys that dropped ``drop`` value bits put in true (value, position) order.

    A run of equal kept bits holds values that differ only in their dropped bits; while those
    and the position fit one uint64 (``drop + index_bits <= 64``, any bucket below 2^32) the
    run is re-keyed exactly and sorted as integers, otherwise sorted by comparing ``values``
    (the bucket's float64 values; -0.0 and 0.0 tie, then position decides)."""
    ib = np.uint64(index_bits)
    mask = (np.uint64(1) << ib) - np.uint64(1)
    dropped = (np.uint64(1) << np.uint64(drop)) - np.uint64(1)
    exact = drop + index_bits <= 64
    n = keys.size
    i = 0
    while i < n:
        prefix = keys[i] >> ib
        j = i + 1
        while j < n and (keys[j] >> ib) == prefix:
            j += 1
        if j - i > 1:
            if exact:
                for t in range(i, j):
                    at = keys[t] & mask
                    keys[t] = ((((records[np.int64(at), 0] & _SIGN_OFF) - low) & dropped) << ib) | at
                keys[i:j].sort()
            else:
                _sort_run(keys, i, j, values, mask)
        i = j


@numba.njit(**_JIT)
def bucket_unpack(keys, index_bits, rebuild, low, records, rows):
    """From a bucket's sorted keys: the bucket rows in that order into ``rows``, and the value
    patterns over the keys themselves, rebuilt from them (``rebuild``: they hold every value
    bit and no sign is needed) or taken from the records."""
    ib = np.uint64(index_bits)
    mask = (np.uint64(1) << ib) - np.uint64(1)
    for j in range(keys.size):
        key = keys[j]
        at = key & mask
        rows[j] = at
        keys[j] = low + (key >> ib) if rebuild else records[np.int64(at), 0]


#: forms of a raw transform that the running kernels evaluate themselves (``_raw_at``), set by
#: ``mtest._stepwise.raw_form``: RAW_GIVEN, the values are the raw values already (numpy's)
RAW_GIVEN, RAW_COUNT, RAW_OVER_RANK, RAW_LEHMANN_ROMANO = 0, 1, 2, 3


@numba.njit(inline="always", **_JIT)
def _raw_at(form, c, a, k, v, rank):
    """The raw adjusted value of p-value ``v`` at 1-based ``rank``, as the numpy transform of
    the procedure computes it, operation for operation (so bit for bit), then raised to ``v``
    as ``NotBelowP`` does: RAW_COUNT ``v * float(a - rank)`` (Holm, Hochberg: a = m + 1);
    RAW_OVER_RANK ``(c / float(rank)) * v`` (BH: c = m; BY: c = q m); RAW_LEHMANN_ROMANO
    ``v * c`` up to rank k (c = m / k), ``v * (float(a - rank) / float(k))`` after (a = m + k)."""
    if form == RAW_GIVEN:
        return v
    if form == RAW_COUNT:
        g = v * np.float64(a - rank)
    elif form == RAW_OVER_RANK:
        g = (c / np.float64(rank)) * v
    elif rank <= k:
        g = v * c
    else:
        g = v * (np.float64(a - rank) / np.float64(k))
    return g if not g < v else v


@numba.njit(**_JIT)
def running_place(values, rank0, form, c, a, k, carry, down, rows, row0, stored):
    """Running maximum (``down``) or running minimum from the top of the raw values of a
    bucket's sorted ``values`` at ranks ``rank0, rank0 + 1, ...`` (``_raw_at``), starting from
    ``carry``, each put back in its bucket row: ``stored[rows[i], 0]`` (``stored``: the float64
    view of the bucket's records), or row ``row0 + i`` when ``rows`` is empty (a bucket of
    equal values, in row order; ``values`` may then be a view of ``stored``: row i is read
    before it is written). Returns the new carry. As numpy's ``maximum.accumulate``: between
    equal values the newer one is taken (only the sign of a zero can tell), and a NaN (a
    user's transform can give one) is kept from there on."""
    acc = carry
    in_order = rows.size == 0
    n = values.size
    for t in range(n):
        i = t if down else n - 1 - t
        v = _raw_at(form, c, a, k, values[i], rank0 + i)
        if down:
            if not (acc > v or acc != acc):
                acc = v
        elif not (acc < v or acc != acc):
            acc = v
        stored[row0 + i if in_order else np.int64(rows[i]), 0] = acc
    return acc


@numba.njit(**_JIT)
def scatter_chunks(records, stored, offsets, counts, carries, down, first, last, out):
    """``out[index] = min(1, running value combined with its bucket's carry)`` for every
    record (running value in ``stored[:, 0]``, from ``running_place``; input index in
    ``records[:, 1]``) of chunks ``first`` to ``last - 1`` of the input (``partition_buckets``'
    chunks: rows ``offsets[c, b]`` on, ``counts[c, b]`` of them), chunk by chunk, so that the
    writes of one chunk fall in one range of ``out`` that stays in cache. ``carries[b]`` is the
    running maximum (``down``) or minimum of the values before bucket b in the accumulation
    (the identity where it is already in); the row's value wins a tie and a NaN of either is
    kept, as in one ``maximum.accumulate`` over both, and in ``np.minimum(., 1.0)``."""
    n_buckets = counts.shape[1]
    for ch in range(first, last):
        for b in range(n_buckets):
            carry = carries[b]
            start = offsets[ch, b]
            for j in range(start, start + counts[ch, b]):
                v = stored[j, 0]
                if down:
                    x = carry if carry > v or carry != carry else v
                else:
                    x = carry if carry < v or carry != carry else v
                out[records[j, 1]] = 1.0 if x > 1.0 else x


def _serialize_parallel_kernels() -> None:
    """Behind a layer that is not thread-safe, parallel kernels take the process-wide lock."""
    for name, obj in list(globals().items()):
        if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.targetoptions.get("parallel"):
            globals()[name] = _threading.serialized(obj)


if _threading.needs_lock():
    _serialize_parallel_kernels()
