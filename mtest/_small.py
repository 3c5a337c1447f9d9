"""Small inputs on plain numpy and Python: no Numba kernel is compiled or loaded for them.

A first call on a cold Numba cache (a fresh install, or kernels changed) compiles every kernel
it reaches, seconds each; loading them from the cache still costs tens of milliseconds. Below
``SMALL_BELOW`` values (``SMALL_TEXT_BYTES`` bytes for a CSV/TSV file) the public calls take
the implementations here instead, at the Python-level call sites (``mtest._validation``,
``mtest.multitest``, ``mtest._stepwise``, ``mtest.frames``, ``mtest.procedures``,
``mtest._delimited``): ``mtest.holm/reject/adjust`` and every registered procedure,
``.pvalues_adjusted``, ``axis=``, ``adjust_frame`` (``by=`` too) and ``mtest adjust`` on a
CSV/TSV file (``--by`` too).

Every function gives bitwise the result of the Numba path it replaces, by one of two means:

* a line-for-line port of the kernel (``scan_pvalues``, ``bucket_order``, ``segmented_adjust``,
  ``hommel_sorted``, the four text kernels): the same IEEE double operations in the same order
  (Python floats are doubles; Numba compiles without fast-math), the same integer logic;
* the same logic with another data structure: ``rejections`` runs the rejection path's own
  counting form (``mtest._counting.rejections``: the same critical values, the same requests)
  and answers each count F(t) = #{p <= t} by binary search in the sorted values instead of a
  pass over the data; ``stepwise_adjusted`` follows ``mtest._stepwise.adjusted_flat`` (the same step-down cutoff,
  ties in input order) with a numpy argsort and numpy's accumulate, whose running max/min the
  kernels reproduce bit for bit (as ``mtest._axis`` relies on too).

tests/test_small_inputs.py checks both: that no kernel gets a compiled signature in a fresh
process, and that the small paths equal the Numba paths (forced on the same data) bit for bit.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SMALL_BELOW", "SMALL_TEXT_BYTES", "HOMMEL_BELOW", "is_small", "scan_pvalues",
           "rejections", "stepwise_adjusted", "bucket_order", "segmented_adjust", "hommel_sorted",
           "text_records", "gather_fields", "number_syntax", "assemble_records"]

#: inputs of fewer values take the numpy paths (``mtest._validation.COPY_BELOW`` too, the size
#: below which a result keeps a copy of its input): at most ~1-2 ms more per call than the
#: kernels at the top of this range, against ~0.6 s to load the kernels of a first call from a
#: warm cache and seconds to compile them into a cold one (docs/performance.md)
SMALL_BELOW = 1 << 16

#: Hommel's O(m) loop in Python: ~5-10 µs per value on a loaded 2-core machine (~10 ms at the
#: top of this range, against ~0.5 s to load its kernels from a warm cache, seconds to compile)
HOMMEL_BELOW = 1 << 10

#: CSV/TSV files of fewer bytes are scanned by the Python ports of the text kernels: ~0.4 µs
#: per byte (~0.2 s at the top of this range, ~10 ms for a 1000-row file), against ~0.6 s to
#: load the four text kernels from a warm cache and ~10 s to compile them (measured with
#: ``mtest adjust`` on a loaded 2-core machine, docs/performance.md)
SMALL_TEXT_BYTES = 1 << 19


def is_small(size: int) -> bool:
    """Whether ``size`` values take the paths of this module."""
    return size < SMALL_BELOW


# ---------------------------------------------------------------------------------------------
# validation and the rejection path


def scan_pvalues(p: np.ndarray):
    """``mtest._kernels.scan_pvalues``: (#NaN, #below 0, #above 1, #infinite), infinities
    counted only as infinite."""
    n_neg_inf = int(np.count_nonzero(p == -np.inf))
    n_pos_inf = int(np.count_nonzero(p == np.inf))
    return (int(np.count_nonzero(p != p)), int(np.count_nonzero(p < 0)) - n_neg_inf,
            int(np.count_nonzero(p > 1)) - n_pos_inf, n_neg_inf + n_pos_inf)


def rejections(flat: np.ndarray, proc, m: int, k: int, alpha: float):
    """Number of rejections, the rejection mask and the threshold of a stepwise procedure on
    validated ``flat`` (``m`` values not NaN): ``mtest._stepwise.banded_rejections`` without the
    band. The same counting form (``mtest._counting.rejections``) asks the same questions, here
    answered by binary search in the sorted values; the mask is ``flat <= threshold`` compared
    in float64, as the kernels compare."""
    from ._counting import drive, rejections as requests
    from ._stepwise import threshold

    values = np.sort(flat)[:m].astype(np.float64, copy=False)  # NaN sorts last

    def count(t):  # #{p <= t}
        return int(np.searchsorted(values, t, side="right"))

    def gather(lo, hi):  # the values lo < p <= hi, sorted
        return values[0 if lo is None else count(lo):count(hi)]

    r = drive(requests(proc, m, k, alpha), count, gather)
    thr = threshold(proc, r, m, k, alpha)
    if m == 0:
        return r, np.zeros(flat.size, dtype=bool), thr
    return r, flat.astype(np.float64, copy=False) <= thr, thr


def _stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind='stable')``: numpy's faster default sort, unless equal values
    (-0.0 and 0.0 too) need their input order."""
    order = np.argsort(values)
    ordered = values[order]
    if ordered.size > 1 and np.any(ordered[1:] == ordered[:-1]):
        return np.argsort(values, kind="stable")
    return order


def stepwise_adjusted(flat: np.ndarray, proc, k: int, n_nan: int) -> np.ndarray:
    """Adjusted values of a step-down or step-up procedure in input order, NaN kept
    (``mtest._stepwise.adjusted_flat``): as there, a step-down procedure's values from the
    cutoff up are exactly 1 (``mtest._counting.stepdown_cutoff``, counts by numpy); the rest
    in a stable argsort, ``proc.raw`` on the sorted values, numpy's running maximum (step-down)
    or minimum from the top (step-up), min(1, .)."""
    from ._counting import drive, stepdown_cutoff

    values = flat.astype(np.float64, copy=False)  # compared as the kernels compare: in float64
    m = flat.size - n_nan
    cut = None
    if proc.step == "down" and m > 0:
        cut = drive(stepdown_cutoff(proc, m, k), lambda t: int(np.count_nonzero(values <= t)), None)
    if cut is None and n_nan == 0:
        out = np.empty(flat.size, dtype=np.float64)
        head = None
    else:
        out = np.where(values != values, np.nan, 1.0)
        below = float(np.nextafter(cut[0], -1.0)) if cut else np.inf
        head = np.flatnonzero(values <= below)  # ascending index: the stable order of ties kept
    tested = values if head is None else values[head]
    order = _stable_argsort(tested)
    ordered = tested[order]
    size = ordered.size
    raw = np.broadcast_to(proc.raw(ordered, np.arange(1, size + 1, dtype=np.int64), m, k), ordered.shape)
    if proc.step == "down":
        adjusted = np.maximum.accumulate(raw)
    else:
        adjusted = np.minimum.accumulate(raw[::-1])[::-1]
    out[order if head is None else head[order]] = np.minimum(adjusted, 1.0)
    return out


# ---------------------------------------------------------------------------------------------
# families (adjust_frame, mtest adjust --by)


def bucket_order(order: np.ndarray, key: np.ndarray, n_keys: int):
    """``mtest._kernels.bucket_order``: ``order`` regrouped by ``key[row]`` (stable), and the
    start of each key's run (``n_keys + 1`` entries)."""
    keys = key[order]
    out = order[np.argsort(keys, kind="stable")].astype(np.int64, copy=False)
    starts = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=starts[1:])
    return out, starts


def segmented_adjust(raw: np.ndarray, starts: np.ndarray, valid: np.ndarray, mode: int,
                     out: np.ndarray) -> None:
    """``mtest._kernels.segmented_adjust``, its loop in Python: per family, min(1, raw) (mode
    0), min(1, running max) (1) or min(1, running min from the top) (2) of the first
    ``valid[g]`` entries, NaN after them; ``out`` may be ``raw``."""
    values = raw.tolist()
    result = [0.0] * len(values)
    bounds = starts.tolist()
    counts = valid.tolist()
    nan = float("nan")
    for g in range(len(bounds) - 1):
        a = bounds[g]
        b = a + counts[g]
        if mode == 1:
            cur = -np.inf
            for i in range(a, b):
                v = values[i]
                if not (cur > v or cur != cur):
                    cur = v
                result[i] = 1.0 if cur > 1.0 else cur
        elif mode == 2:
            cur = np.inf
            for i in range(b - 1, a - 1, -1):
                v = values[i]
                if not (cur < v or cur != cur):
                    cur = v
                result[i] = 1.0 if cur > 1.0 else cur
        else:
            for i in range(a, b):
                v = values[i]
                result[i] = 1.0 if v > 1.0 else v
        for i in range(b, bounds[g + 1]):
            result[i] = nan
    out[:] = result


# ---------------------------------------------------------------------------------------------
# Hommel (mtest._kernels.hommel_sorted and its helpers, ported line for line)


def _clearly_above(lhs, rhs):
    return lhs - rhs > 1e-14 * (abs(lhs) + abs(rhs))


def _slope_gap(p, lo, hi, d):
    a = p[lo - 1] * (hi - d)
    b = p[hi - 1] * (lo - d)
    return a - b, 8e-16 * (abs(a) + abs(b))


def _simes_of_top_sets(p):
    m = len(p)
    hull = [0] * m
    top = 0
    for i in range(1, m + 1):  # _hull_extend
        if i != m and i != 1 and _clearly_above((m - 1) * (p[i - 1] - p[0]), (i - 1) * (p[m - 1] - p[0])):
            continue
        while True:
            if top >= 2:
                a = hull[top - 2]
                b = hull[top - 1]
                notconvex = _clearly_above((i - a) * (p[b - 1] - p[a - 1]), (b - a) * (p[i - 1] - p[a - 1]))
            elif top == 1:
                b = hull[0]
                notconvex = _clearly_above(i * p[b - 1], b * p[i - 1])
            else:
                notconvex = False
            if not notconvex:
                break
            top -= 1
        hull[top] = i
        top += 1
    s = [0.0] * m
    k = top - 1
    for j in range(1, m + 1):  # _simes_range
        d = m - j
        while k >= 1:
            gap, err = _slope_gap(p, hull[k - 1], hull[k], d)
            if gap < -err:
                k -= 1
            else:
                break
        best = (j * p[hull[k] - 1]) / (hull[k] - d)
        t = k if best > 0.0 else 0
        while t >= 1 and hull[t - 1] > d:
            gap, err = _slope_gap(p, hull[t - 1], hull[t], d)
            if gap > err:
                break
            t -= 1
            v = (j * p[hull[t] - 1]) / (hull[t] - d)
            if v < best:
                best = v
        t = k if best > 0.0 else top
        while t + 1 < top:
            gap, err = _slope_gap(p, hull[t], hull[t + 1], d)
            if gap < -err:
                break
            t += 1
            v = (j * p[hull[t] - 1]) / (hull[t] - d)
            if v < best:
                best = v
        s[j - 1] = best
    return s


def hommel_sorted(values: np.ndarray) -> np.ndarray:
    """``mtest._kernels.hommel_sorted``: Hommel adjusted values of ascending ``values`` (m >= 3),
    the O(m) algorithm of Meijer, Krebs & Goeman (2019) in Python."""
    p = np.ascontiguousarray(values, dtype=np.float64).tolist()
    m = len(p)
    s = _simes_of_top_sets(p)
    above = [0.0] * (m + 2)  # _suffix_max
    for jj in range(m, 0, -1):
        above[jj - 1] = above[jj] if above[jj] > s[jj - 1] else s[jj - 1]
    out = [0.0] * m
    j = m + 1
    for i in range(m):  # _hommel_range
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
    return np.array(out, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# delimited text (mtest._delimited), the kernels ported line for line; bytes as Python ints


def text_records(buf: np.ndarray, begin: int, sep: int, quote: int, wanted: np.ndarray):
    """``mtest._kernels.text_records``: (starts, ends, nexts, #fields, field ranges, error)."""
    data = buf.tobytes()
    n = len(data)
    wanted_list = [int(w) for w in wanted]
    n_wanted = len(wanted_list)
    start_of, end_of, next_of, fields_of = [], [], [], []
    ranges = [([], []) for _ in range(n_wanted)]

    def result(error):
        rows = len(start_of)
        out = np.empty((2, n_wanted, rows), dtype=np.int64)
        for w in range(n_wanted):
            out[0, w] = ranges[w][0]
            out[1, w] = ranges[w][1]
        return (np.array(start_of, dtype=np.int64), np.array(end_of, dtype=np.int64),
                np.array(next_of, dtype=np.int64), np.array(fields_of, dtype=np.int64), out, error)

    i = begin
    while i < n:
        start = i
        field = 0
        field_start = i
        in_quotes = False
        opened = -1
        found = [None] * n_wanted
        while i < n:
            c = data[i]
            if in_quotes:
                if c == quote:
                    if i + 1 < n and data[i + 1] == quote:
                        i += 2
                        continue
                    in_quotes = False
                i += 1
                continue
            if c == 10:
                break
            if c == sep:
                for w in range(n_wanted):
                    if wanted_list[w] == field:
                        found[w] = (field_start, i)
                field += 1
                i += 1
                field_start = i
                continue
            if c == quote and i == field_start:
                in_quotes = True
                opened = i
            i += 1
        if in_quotes:
            return result(opened)
        end = i
        if end > start and data[end - 1] == 13:
            end -= 1
        for w in range(n_wanted):
            if wanted_list[w] == field:
                found[w] = (field_start, end if end > field_start else field_start)
            elif wanted_list[w] > field:
                found[w] = (end, end)
            # a field number below ``field`` was set at its separator
            ranges[w][0].append(found[w][0])
            ranges[w][1].append(found[w][1])
        start_of.append(start)
        end_of.append(end)
        next_of.append(i + 1 if i < n else n)
        fields_of.append(field + 1)
        i = i + 1
    return result(-1)


def gather_fields(buf: np.ndarray, a: np.ndarray, b: np.ndarray, quote: int, strip: bool,
                  out: np.ndarray, offsets: np.ndarray) -> int:
    """``mtest._kernels.gather_fields``: unquoted field values into ``out``/``offsets``; returns
    the bytes used."""
    data = buf.tobytes()
    pieces = []
    pos = 0
    offsets[0] = 0
    space = b" \t"
    for r, (i, end) in enumerate(zip(a.tolist(), b.tolist())):
        value = bytearray()
        if i < end and data[i] == quote:
            i += 1
            while i < end:
                c = data[i]
                if c == quote:
                    if i + 1 < end and data[i + 1] == quote:
                        value.append(quote)
                        i += 2
                        continue
                    i += 1
                    break
                value.append(c)
                i += 1
        value += data[i:end]  # text after a closing quote is kept
        if strip:
            value = value.strip(space)
        pieces.append(bytes(value))
        pos += len(value)
        offsets[r + 1] = pos
    out[:pos] = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    return pos


def number_syntax(data: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``mtest._kernels.number_syntax``: 0 for a decimal number ([+-]digits[.digits][e[+-]digits]
    or .digits), 1 for an empty field, 2 otherwise."""
    text = data.tobytes()
    bounds = offsets.tolist()
    for r in range(len(bounds) - 1):
        i = bounds[r]
        end = bounds[r + 1]
        if i == end:
            out[r] = 1
            continue
        if text[i] == 43 or text[i] == 45:
            i += 1
        digits = 0
        while i < end and 48 <= text[i] <= 57:
            i += 1
            digits += 1
        if i < end and text[i] == 46:
            i += 1
            while i < end and 48 <= text[i] <= 57:
                i += 1
                digits += 1
        ok = digits > 0
        if ok and i < end and (text[i] == 101 or text[i] == 69):
            i += 1
            if i < end and (text[i] == 43 or text[i] == 45):
                i += 1
            exp = 0
            while i < end and 48 <= text[i] <= 57:
                i += 1
                exp += 1
            ok = exp > 0
        out[r] = 0 if ok and i == end else 2
    return out


def assemble_records(buf, starts, ends, nexts, row_of, adj_data, adj_offsets, reject, sep, out) -> int:
    """``mtest._kernels.assemble_records``: each record verbatim with ``sep p_adjusted sep
    reject`` before its terminator (a record with ``row_of`` -1 copied unchanged); returns the
    bytes written to ``out``."""
    data = buf.tobytes()
    adjusted = adj_data.tobytes()
    bounds = adj_offsets.tolist()
    separator = bytes([sep])
    pieces = []
    for start, end, after, row in zip(starts.tolist(), ends.tolist(), nexts.tolist(), row_of.tolist()):
        pieces.append(data[start:end])
        if row >= 0:
            pieces.append(separator + adjusted[bounds[row]:bounds[row + 1]] + separator
                          + (b"true" if reject[row] else b"false"))
        pieces.append(data[end:after])
    joined = b"".join(pieces)
    out[:len(joined)] = np.frombuffer(joined, dtype=np.uint8)
    return len(joined)
