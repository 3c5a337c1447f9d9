"""The fast paths of issue 17: the full-sort adjusted-value pass (values split into buckets of
value ranges, each sorted in cache by exact or truncated local keys, two threads meeting in the
bucket order and joined by carries), the rejection mask
written by the counting passes, and the branch-free validation scan. Each is compared with a
plain numpy reference, bit for bit. Small inputs take these paths too here (``numba_paths``:
elsewhere they run on numpy, mtest._small)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mtest
from mtest import _kernels, _sorting, _stepwise
from mtest.registry import get_procedure

pytestmark = pytest.mark.usefixtures("numba_paths")

METHODS = ["holm", "hochberg", "fdr_bh", "fdr_by", "lehmann-romano", "holm-sidak"]


def _reference_adjusted(p, method, k=1):
    """argsort (stable), the procedure's own transform, one-shot accumulate, min(1, .)."""
    proc = get_procedure(method)
    flat = np.asarray(p).reshape(-1)
    keep = ~np.isnan(flat)
    m = int(keep.sum())
    out = np.full(flat.size, np.nan)
    order = np.flatnonzero(keep)[np.argsort(flat[keep], kind="stable")]
    raw = proc.raw(flat[order].astype(np.float64), np.arange(1, m + 1, dtype=np.int64), m, k)
    if proc.step == "down":
        acc = np.maximum.accumulate(raw)
    else:
        acc = np.minimum.accumulate(raw[::-1])[::-1]
    out[order] = np.minimum(acc, 1.0)
    return out.reshape(np.shape(p))


def _same_bits(a, b):
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


@pytest.fixture
def small_paths(monkeypatch):
    """Every large-input branch on small inputs: two threads, buckets of about 7 values, raw
    and the accumulation in slices of 3 inside a bucket, five input chunks."""
    monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(_sorting, "BUCKET_TARGET", 7)
    monkeypatch.setattr(_stepwise, "RAW_SLICE", 3)
    monkeypatch.setattr(_sorting, "_chunks", lambda n, n_buckets: 5)  # the last pass chunk by chunk


_values = st.one_of(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1e-300),
    st.sampled_from([0.0, -0.0, 1.0, 1e-12, 0.5, 5e-324, np.nextafter(0.5, 1.0), np.nan]),
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(_values, min_size=1, max_size=200),
       method=st.sampled_from(METHODS), k=st.integers(1, 4), float32=st.booleans())
def test_adjusted_full_sort_pass_property(values, method, k, float32):
    # runs with the module defaults (small inputs: one part, one half) and, below, patched
    p = np.array(values, dtype=np.float32 if float32 else np.float64)
    k = k if method == "lehmann-romano" else 1
    k = min(k, max(1, int(np.count_nonzero(~np.isnan(p)))))  # k > m is refused
    expected = _reference_adjusted(p, method, k)
    assert _same_bits(mtest.adjust(p, method, k=k, nan_policy="omit"), expected)
    saved = (_sorting.PARALLEL_SORT_MIN, _sorting.BUCKET_TARGET, _stepwise.RAW_SLICE, _stepwise.FUSED_RAW,
             _sorting._chunks)
    try:
        # (64, 1): one value per raw call; fused False: numpy's raw for the built-in transforms
        # that the kernels otherwise evaluate themselves; chunks: of the input, in the last pass
        for target, piece, fused, chunks in [(7, 3, True, 1), (7, 3, False, 3), (64, 1, False, 1),
                                             (1 << 16, 2, True, 7)]:
            (_sorting.PARALLEL_SORT_MIN, _sorting.BUCKET_TARGET, _stepwise.RAW_SLICE, _stepwise.FUSED_RAW,
             _sorting._chunks) = 16, target, piece, fused, (lambda n, n_buckets, c=chunks: c)
            assert _same_bits(mtest.adjust(p, method, k=k, nan_policy="omit"), expected)
    finally:
        (_sorting.PARALLEL_SORT_MIN, _sorting.BUCKET_TARGET, _stepwise.RAW_SLICE, _stepwise.FUSED_RAW,
         _sorting._chunks) = saved


_KERNEL_RAW_METHODS = ["holm", "hochberg", "fdr_bh", "fdr_by", "lehmann-romano"]


def test_kernel_raw_forms_are_declared_where_expected():
    """The built-in transforms with a kernel form, and none for a transform the kernels cannot
    evaluate exactly (Šidák's expm1/log1p) or for a user's own."""
    for method in _KERNEL_RAW_METHODS:
        assert _stepwise.raw_form(get_procedure(method), 100, 2 if method == "lehmann-romano" else 1)
    assert _stepwise.raw_form(get_procedure("holm-sidak"), 100, 1) is None
    mine = mtest.registry.StepwiseProcedure(
        name="mine-holm", step="down", error_rate="fwer", dependence="arbitrary",
        raw=lambda v, r, m, k: v * (m - r + 1).astype(np.float64),
        critical_guess=lambda r, m, k, a: a / (m - np.asarray(r) + 1), formula="(m-i+1) p",
        reference="test")
    assert _stepwise.raw_form(mine, 100, 1) is None
    # beyond 2^53 numpy's count conversions are no longer exact integers: numpy's raw runs
    assert _stepwise.raw_form(get_procedure("holm"), 2**53, 1) is None


@settings(max_examples=300, deadline=None)
@given(values=st.lists(_values.filter(lambda v: v == v), min_size=1, max_size=50),
       method=st.sampled_from(_KERNEL_RAW_METHODS),
       m=st.one_of(st.integers(1, 1000), st.integers(1, 2**52), st.sampled_from([2**52, 2**53 - 64])),
       data=st.data())
def test_kernel_raw_equals_the_numpy_transform_bit_for_bit(values, method, m, data):
    """``_raw_at`` against the procedure's own ``raw`` (``NotBelowP``-wrapped numpy), for
    ranks across [1, m] (both sides of k for Lehmann-Romano), m up to 2^53 and values from
    subnormal to 1: both directions of the running kernels with a carry that never wins, so
    the stored values are the raw ones."""
    proc = get_procedure(method)
    values = np.sort(np.array(values, dtype=np.float64))
    n = values.size
    if method == "fdr_by":  # its constant sums m reciprocals (harmonic_number): keep m modest
        m = m % 100_000 + 1
    m = max(m, n)
    k = data.draw(st.integers(1, min(m, 50))) if method == "lehmann-romano" else 1
    rank0 = data.draw(st.integers(1, m - n + 1))
    ranks = np.arange(rank0, rank0 + n, dtype=np.int64)
    expected = np.asarray(proc.raw(values, ranks, m, k), dtype=np.float64)
    form = _stepwise.raw_form(proc, m, k)
    assert form is not None
    for down in (True, False):
        carry = -np.inf if down else np.inf
        # a running max (min) that restarts each value: feed one value at a time
        got = np.empty(n)
        for i in range(n):
            _kernels.running_place(values[i:i + 1], rank0 + i, *form, k, carry, down, _sorting.IN_ORDER, i,
                                   got.reshape(n, 1))
        assert np.array_equal(got.view(np.uint64), expected.view(np.uint64)), (down, m, k, rank0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["tiny", "mixed", "ties", "clustered", "early-large", "nan"])
def test_adjusted_two_halves_and_tie_runs(small_paths, method, kind):
    """Tie runs longer than a chunk, runs of truncated-key ties across the split of the two
    sorted parts, and carries that reach far into the other half."""
    rng = np.random.default_rng(17)
    n = 5000
    p = {"tiny": rng.random(n) * 1e-12,
         "mixed": np.where(rng.random(n) < 0.9, rng.random(n) * 1e-12, rng.random(n)),
         "ties": rng.choice(rng.random(5), n),  # runs of ~1000 equal values
         "clustered": 0.5 + rng.random(n) * 1e-13,  # equal truncated keys, distinct values
         "early-large": np.concatenate([rng.random(n // 2) * 1e-3, np.full(n // 2, 1e-4)]),
         "nan": np.where(rng.random(n) < 0.2, np.nan, rng.random(n) * 1e-6)}[kind]
    k = 3 if method == "lehmann-romano" else 1
    got = mtest.adjust(p, method, k=k, nan_policy="omit")
    assert _same_bits(got, _reference_adjusted(p, method, k))
    # the buckets sorted one by one are the input's stable argsort, values bit for bit
    values, idx = _bucket_sorted(p)
    keep = np.flatnonzero(~np.isnan(p))
    assert np.array_equal(idx, keep[np.argsort(p[keep], kind="stable")])
    assert np.array_equal(values.view(np.uint64), p[idx].astype(np.float64).view(np.uint64))


def _bucket_sorted(p, below=np.inf, target=None):
    """Every bucket of ``partition_buckets`` sorted by ``sort_bucket``, concatenated."""
    records, starts, offsets, counts = _sorting.partition_buckets(p, below, target=target)
    # rows in input order, chunk by chunk where the offsets say
    chunks = counts.shape[0]
    step = -(-np.asarray(p).size // chunks)
    for b in range(starts.size - 1):
        rows = records[starts[b]:starts[b + 1], 1].astype(np.int64)
        assert np.all(np.diff(rows) > 0)
        for c in range(chunks):
            seg = records[offsets[c, b]:offsets[c, b] + counts[c, b], 1].astype(np.int64)
            assert np.all((seg >= c * step) & (seg < (c + 1) * step))
    spare = _sorting.BucketRoom()
    values, index = [np.empty(0)], [np.empty(0, dtype=np.int64)]
    for b in range(starts.size - 1):
        bucket = records[starts[b]:starts[b + 1]]
        v, rows = _sorting.sort_bucket(bucket, spare)
        values.append(v.copy())
        rows = np.arange(bucket.shape[0]) if rows is _sorting.IN_ORDER else rows.astype(np.int64)
        index.append(bucket[rows, 1].astype(np.int64))
    return np.concatenate(values), np.concatenate(index)


_wide = st.one_of(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1e-300),
    st.floats(0.0, 1e-12),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, 1e-308, 2.2250738585072014e-308, 0.5,
                     np.nextafter(0.5, 1.0), np.nextafter(0.5, 0.0), np.nan]),
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_wide, min_size=1, max_size=400), target=st.sampled_from([1, 3, 8, 64, 1 << 15]),
       cut=st.sampled_from([np.inf, 1.0, 0.5, 1e-12, 0.0, -0.0, 5e-324]), float32=st.booleans())
def test_buckets_sorted_are_the_stable_argsort(values, target, cut, float32):
    """Buckets of every size (one value up to all), spans wide enough that the local keys drop
    bits (runs of ties then ordered by the dropped bits), -0.0 beside 0.0 (order by position,
    sign kept), subnormals, NaN left out, and a cut ``below`` (NaN never kept)."""
    p = np.array(values, dtype=np.float32 if float32 else np.float64)
    got_values, got_index = _bucket_sorted(p, cut, target)
    keep = np.flatnonzero(p <= cut)
    expected = keep[np.argsort(p[keep], kind="stable")]
    assert np.array_equal(got_index, expected)
    assert np.array_equal(got_values.view(np.uint64), p[expected].astype(np.float64).view(np.uint64))


def test_bucket_tie_runs_beyond_one_word_are_sorted_by_value():
    """Buckets of 2^32 values and more drop so many bits that a tie run cannot be re-keyed in one
    uint64: bucket_order_ties then sorts it by comparing values (here forced with 33 position
    bits on a small bucket)."""
    rng = np.random.default_rng(5)
    v = np.concatenate([0.25 + rng.integers(0, 4, 300) * 2.0**-54, rng.random(50), [0.25, 0.25]])
    rng.shuffle(v)
    records = np.empty((v.size, 2), dtype=np.uint64)
    records[:, 0] = v.view(np.uint64)
    records[:, 1] = np.arange(v.size)
    low = np.uint64(records[:, 0].min())
    keys = np.empty(v.size, dtype=np.uint64)
    index_bits, drop = 33, 32
    _kernels.bucket_keys(records, low, index_bits, drop, keys)
    keys.sort()
    _kernels.bucket_order_ties(keys, index_bits, drop, records, low, v)
    positions = (keys & np.uint64((1 << index_bits) - 1)).astype(np.int64)
    assert np.array_equal(positions, np.argsort(v, kind="stable"))


def test_adjusted_large_input_default_paths():
    """Above PARALLEL_SORT_MIN with the module's own chunk size (the benchmark's path)."""
    rng = np.random.default_rng(3)
    n = _sorting.PARALLEL_SORT_MIN + 12345
    p = np.where(rng.random(n) < 0.9, rng.random(n) * 1e-12, rng.random(n))
    for method in ["holm", "hochberg", "fdr_bh"]:
        assert _same_bits(mtest.adjust(p, method), _reference_adjusted(p, method))


@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "fdr_by", "bonferroni",
                                    "lehmann-romano", "sidak", "holm-sidak"])
@pytest.mark.parametrize("kind", ["uniform", "mixed", "all-tiny", "all-large", "float32", "nan"])
def test_reject_mask_comes_from_the_counting_pass(monkeypatch, method, kind):
    """reject() writes its mask from the band codes of the validation pass; a separate mask pass
    runs only when the threshold lies outside the band [t_lo, t_hi] (possible only with NaN
    omitted: the band is set for all the values). The mask is exactly adjusted <= alpha."""
    rng = np.random.default_rng(11)
    n = 3000
    p = {"uniform": rng.random(n),
         "mixed": np.where(rng.random(n) < 0.9, rng.random(n) * 1e-12, rng.random(n)),
         "all-tiny": rng.random(n) * 1e-12,
         "all-large": 0.5 + rng.random(n) / 2,
         "float32": rng.random(n).astype(np.float32) ** 4,
         "nan": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) ** 3)}[kind]
    k = 2 if method == "lehmann-romano" else 1
    calls, gathers = [], []
    real, real_gather = _kernels.less_equal, _kernels.gather_between
    monkeypatch.setattr(_kernels, "less_equal", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(_kernels, "gather_between", lambda *a: gathers.append(1) or real_gather(*a))
    res = mtest.reject(p, 0.05, method, k=k, nan_policy="omit")
    adjusted = mtest.adjust(p, method, k=k, nan_policy="omit")
    assert np.array_equal(res.reject, adjusted <= 0.05)
    assert res.n_rejected == int(np.count_nonzero(res.reject))
    proc = get_procedure(method)
    m = int(np.count_nonzero(~np.isnan(p)))
    t_lo, t_hi = _stepwise.band_thresholds(proc, p, k, 0.05)
    thr = _stepwise.threshold(proc, res.n_rejected, m, k, 0.05)
    assert len(calls) == (0 if thr <= t_hi else 1)
    if kind != "nan":
        assert calls == []  # the mask comes from the codes


@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "lehmann-romano"])
def test_gather_path_writes_the_mask_too(monkeypatch, method):
    """With no counting pass allowed the engine goes straight to gathering candidates; the
    result (mask included) must not change."""
    from mtest import _counting

    rng = np.random.default_rng(5)
    p = np.where(rng.random(4000) < 0.5, rng.random(4000) * 1e-6, rng.random(4000))
    k = 2 if method == "lehmann-romano" else 1
    expected = mtest.reject(p, 0.05, method, k=k)
    monkeypatch.setattr(_counting, "MAX_COUNTING_PASSES", 0)
    got = mtest.reject(p, 0.05, method, k=k)
    assert np.array_equal(got.reject, expected.reject)
    assert (got.n_rejected, got.threshold) == (expected.n_rejected, expected.threshold)
    assert np.array_equal(got.reject, mtest.adjust(p, method, k=k) <= 0.05)


@pytest.mark.parametrize("n", [1000, _kernels.PARALLEL_MIN + 17])
def test_scan_counts_every_kind_of_bad_value(n):
    """The branch-free scan: NaN, infinities (counted only as infinite), below 0, above 1."""
    rng = np.random.default_rng(2)
    p = rng.random(n)
    picks = rng.choice(n, 60, replace=False)
    p[picks[:10]] = np.nan
    p[picks[10:20]] = -np.inf
    p[picks[20:25]] = np.inf
    p[picks[25:40]] = -rng.random(15) - 1e-300
    p[picks[40:60]] = 1 + rng.random(20) + 1e-15
    expected = (10, 15, 20, 15)
    assert tuple(int(c) for c in _kernels.scan_pvalues(p)) == expected
    assert _kernels.scan_pvalues_fingerprint(p)[:4] == expected
    assert tuple(int(c) for c in _kernels.scan_pvalues(p.astype(np.float32))) == expected


# ---------------------------------------------------------------------------------------------
# the banded validation pass of the rejection path (validation, fingerprint, first counts and
# band codes in one pass; counts inside the band from the band's values; the mask from the codes)


@pytest.mark.parametrize("n", [1001, _kernels.PARALLEL_MIN + 13])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_banded_scan_counts_codes_and_fingerprint(n, dtype):
    """Counts and codes against numpy, the fingerprint against the plain scan's, with values
    exactly at both band edges, NaN, 0, 1 and bad values."""
    rng = np.random.default_rng(7)
    p = (rng.random(n) ** 3).astype(dtype)
    t_lo, t_hi = float(p[3]), float(p[4]) if p[4] > p[3] else float(p[3])
    p[rng.choice(n, 30, replace=False)] = p[3]  # ties at t_lo
    p[rng.choice(n, 30, replace=False)] = np.float64(t_hi).astype(dtype)
    p[:3] = [np.nan, 0.0, 1.0]
    codes = np.empty(n, dtype=np.uint8)
    got = _kernels.banded_scan(p, t_lo, t_hi, codes, True)
    low, high = p <= t_lo, p <= t_hi
    expected_codes = np.where(low, 1, np.where(high, 2, 0))
    assert got[:4] == (1, 0, int(low.sum()), int((high & ~low).sum()))
    assert np.array_equal(codes, expected_codes)
    assert got[4] == _kernels.scan_pvalues_fingerprint(p)[4]
    assert _kernels.banded_scan(p, t_lo, t_hi, codes, False)[4] is None
    p[5], p[6], p[7] = -0.5, 1.5, np.inf
    assert _kernels.banded_scan(p, t_lo, t_hi, codes, False)[:2] == (1, 3)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000, 4099])
def test_gather_band_and_codes_to_mask(monkeypatch, dense, n):
    """Both gather loops (sparse: 8 codes at a time; dense: one sequential pass) for either
    part (LOW, BAND) and the in-place mask for every set of kept codes, on sizes around the
    8-code words."""
    monkeypatch.setattr(_kernels, "BAND_DENSE", 10**9 if dense else 1)
    rng = np.random.default_rng(n)
    p = rng.random(n)
    codes = rng.choice(np.array([0, 1, 2], dtype=np.uint8), n, p=[0.5, 0.3, 0.2])
    for code in (_kernels.LOW, _kernels.BAND):
        part = np.flatnonzero(codes == code)
        values, index = _kernels.gather_band(codes, p, part.size, code)
        assert np.array_equal(index, part) and np.array_equal(values, p[part])
    for keep in (0, _kernels.LOW, _kernels.LOW | _kernels.BAND):
        out = codes.copy()
        _kernels.codes_to_mask(out, keep)
        assert np.array_equal(out.view(bool), (codes & keep) != 0)


def _reference_rejections(p, method, k, alpha):
    """r and mask without the band: the plain counting form and a mask pass."""
    proc = get_procedure(method)
    flat = np.asarray(p).reshape(-1)
    m = int(np.count_nonzero(~np.isnan(flat)))
    r = _stepwise.count_rejections(flat, proc, m, k, alpha)[0]
    thr = _stepwise.threshold(proc, r, m, k, alpha) if m else np.nan
    return r, flat.astype(np.float64) <= thr  # a Python float would be cast to float32


def _widest_band(proc, n, k, alpha):
    """The band of inputs too small for a prediction: [alpha_1, alpha_n] (single-step: alpha_1)."""
    t_lo = _stepwise.critical(proc, 1, n, k, alpha)
    if proc.step == "single":
        return t_lo, t_lo
    return t_lo, max(t_lo, _stepwise.critical(proc, n, n, k, alpha))


def _edge_values(n, method, k, alpha, rng):
    """p-values piled on the band's edges and on critical values: ties exactly at t_lo, t_hi
    and at critical values of random ranks, one ulp either side, 0, 1."""
    proc = get_procedure(method)
    t_lo, t_hi = _widest_band(proc, n, k, alpha)
    ranks = rng.integers(1, n + 1, 6)
    crit = [_stepwise.critical(proc, int(i), n, k, alpha) for i in ranks]
    edges = [t_lo, t_hi, *crit]
    pool = edges + [float(np.nextafter(e, d)) for e in edges for d in (-1.0, 2.0)] + [0.0, 1.0]
    return np.clip(np.array(pool), 0.0, 1.0)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       method=st.sampled_from(["holm", "hochberg", "fdr_bh", "fdr_by", "bonferroni",
                               "lehmann-romano", "holm-sidak"]),
       alpha=st.sampled_from([0.05, 0.2, 0.5]), share_edges=st.floats(0.0, 1.0),
       share_nan=st.sampled_from([0.0, 0.0, 0.3]), float32=st.booleans(),
       parallel=st.booleans(), dense=st.sampled_from([1, 64, 10**9]),
       gather_max=st.sampled_from([0.5, 0.5, 0.0]), sample=st.sampled_from([None, 3, 64]))
def test_banded_rejections_property(n, seed, method, alpha, share_edges, share_nan, float32,
                                    parallel, dense, gather_max, sample):
    """reject() through the band equals the plain counting form and adjusted <= alpha, bit for
    bit, with ties exactly at the band's edges and at critical values, 0, 1, NaN omitted
    (critical values of fewer tests than the band was set for), m = 1, float32, and the
    parallel pass forced on small inputs, and each way of gathering the band (sparse, dense)
    chosen through BAND_DENSE, or no gather at all (a band too large: counts and the mask are
    passes over the data), and the band placed by a prediction from a sample of 3 or 64
    values (a step-up descent reading the LOW part; values piled on the predicted edges too)."""
    rng = np.random.default_rng(seed)
    k = 2 if method == "lehmann-romano" else 1
    p = rng.random(n) ** rng.choice([1, 4, 40])
    pick = rng.random(n) < share_edges
    p[pick] = rng.choice(_edge_values(n, method, k, alpha, rng), int(pick.sum()))
    p[rng.random(n) < share_nan] = np.nan
    if float32:
        p = p.astype(np.float32)
    k = max(1, min(k, int(np.count_nonzero(~np.isnan(p)))))  # k > m is refused
    saved = (_kernels.PARALLEL_MIN, _kernels.BAND_DENSE, _stepwise.BAND_GATHER_MAX,
             _stepwise.BAND_PREDICT_MIN, _stepwise.BAND_SAMPLE)
    try:
        _kernels.BAND_DENSE, _stepwise.BAND_GATHER_MAX = dense, gather_max
        if parallel:
            _kernels.PARALLEL_MIN = 1
        if sample is not None:
            _stepwise.BAND_PREDICT_MIN, _stepwise.BAND_SAMPLE = 1, sample
            edges = _stepwise.band_thresholds(get_procedure(method), p, k, alpha)
            unsampled = np.setdiff1d(np.arange(n), (np.arange(sample) * n) // sample)
            put = unsampled[rng.random(unsampled.size) < share_edges]
            p[put] = np.array(edges, dtype=p.dtype)[rng.integers(0, 2, put.size)]
        res = mtest.reject(p, alpha, method, k=k, nan_policy="omit")
    finally:
        (_kernels.PARALLEL_MIN, _kernels.BAND_DENSE, _stepwise.BAND_GATHER_MAX,
         _stepwise.BAND_PREDICT_MIN, _stepwise.BAND_SAMPLE) = saved
    r, mask = _reference_rejections(p, method, k, alpha)
    assert res.n_rejected == r
    assert np.array_equal(res.reject, mask)
    adjusted = mtest.adjust(p, method, k=k, nan_policy="omit")
    assert np.array_equal(res.reject, adjusted <= alpha)
    assert res.reject.dtype == bool and set(np.unique(res.reject.view(np.uint8))) <= {0, 1}


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "hochberg", "bonferroni"])
@pytest.mark.parametrize("value", ["t_lo", "t_hi", 0.0, 1.0, "below t_lo", "above t_hi"])
def test_banded_rejections_single_test_and_constant_input(method, value):
    """m = 1 and a constant family sitting exactly on a band edge (every tie at a critical
    value): r is all or nothing, as the adjusted values say."""
    proc = get_procedure(method)
    for n in (1, 5, 70_000):
        t_lo, t_hi = _widest_band(proc, n, 1, 0.05)
        v = {"t_lo": t_lo, "t_hi": t_hi, "below t_lo": float(np.nextafter(t_lo, -1.0)),
             "above t_hi": float(np.nextafter(t_hi, 2.0))}.get(value, value)
        p = np.full(n, max(v, 0.0))
        res = mtest.reject(p, 0.05, method)
        assert np.array_equal(res.reject, mtest.adjust(p, method) <= 0.05)
        assert res.n_rejected == _reference_rejections(p, method, 1, 0.05)[0]


def test_banded_rejections_counts_inside_the_band_and_guards_the_input():
    """Many counts inside the band (a step-up descent over a dense band, a step-down climb over
    a sparse one) at the default sizes; the result's fingerprint still guards the caller's
    array."""
    rng = np.random.default_rng(23)
    n = _kernels.PARALLEL_MIN + 1001
    uniform = rng.random(n)
    mixed = np.where(rng.random(n) < 0.9, rng.random(n) * 1e-12, rng.random(n))
    steps = np.repeat(np.geomspace(1e-9, 0.05, 40), n // 40 + 1)[:n]  # a staircase of ties
    for p in (uniform, mixed, steps):
        for method in ("holm", "fdr_bh", "hochberg"):
            res = mtest.reject(p, 0.05, method)
            r, mask = _reference_rejections(p, method, 1, 0.05)
            assert res.n_rejected == r and np.array_equal(res.reject, mask)
    res = mtest.reject(mixed, 0.05, "holm")
    mixed[0] = 0.5
    with pytest.raises(RuntimeError, match="modified"):
        res.pvalues_adjusted


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fingerprint_sees_every_change_of_one_half_and_moves(dtype):
    """Changing only the low or only the high 32 bits of one value always changes the
    fingerprint (the proof is in ``_fingerprint_term``); so does a single bit anywhere, and
    swapping or rotating distinct values; chunks combine like one pass."""
    rng = np.random.default_rng(5)
    n = 3000
    p = rng.random(n).astype(dtype)
    base = _kernels.scan_pvalues_fingerprint(p)[4]
    words = p.view(np.uint32).reshape(n, -1)  # one or two 32-bit words per value
    for _ in range(400):
        q = p.copy()
        w = q.view(np.uint32).reshape(n, -1)
        i, half = int(rng.integers(n)), int(rng.integers(words.shape[1]))
        w[i, half] ^= np.uint32(rng.integers(1, 2**32))
        assert _kernels.scan_pvalues_fingerprint(q)[4] != base
    for bit in range(8 * p.itemsize):  # every single bit of one value
        q = p.copy()
        q.view(np.uint64 if dtype == np.float64 else np.uint32)[17] ^= 1 << bit
        assert _kernels.scan_pvalues_fingerprint(q)[4] != base
    for _ in range(200):
        i, j = rng.choice(n, 2, replace=False)
        q = p.copy()
        q[[i, j]] = q[[j, i]]
        assert _kernels.scan_pvalues_fingerprint(q)[4] != base
    assert _kernels.scan_pvalues_fingerprint(np.roll(p, 1))[4] != base
    big = rng.random(_kernels.PARALLEL_MIN + 5).astype(dtype)  # the parallel chunks
    serial = _kernels._scan_fingerprint_serial(big, big.view(np.uint64 if dtype == np.float64
                                                             else np.uint32), 0)[4]
    assert _kernels.scan_pvalues_fingerprint(big)[4] == int(serial)


@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "fdr_by", "lehmann-romano"])
@pytest.mark.parametrize("kind", ["uniform", "mixed", "strong", "nan"])
def test_a_wrong_band_prediction_costs_time_not_exactness(monkeypatch, method, kind):
    """The prediction only places the band: whatever it says (0, alpha_1, a random critical
    value, alpha_m, 1) and whichever part is read, reject() equals the plain counting form, and
    the default prediction keeps the mask pass away on these inputs."""
    rng = np.random.default_rng(31)
    n = _stepwise.BAND_PREDICT_MIN + 4099
    p = {"uniform": rng.random(n),
         "mixed": np.where(rng.random(n) < 0.9, rng.random(n) * 1e-12, rng.random(n)),
         "strong": np.where(rng.random(n) < 0.3, rng.random(n) * 1e-4, rng.random(n)),
         "nan": np.where(rng.random(n) < 0.1, np.nan, rng.random(n) ** 3)}[kind]
    k = 2 if method == "lehmann-romano" else 1
    proc = get_procedure(method)
    r, mask = _reference_rejections(p, method, k, 0.05)
    calls = []
    real = _kernels.less_equal
    monkeypatch.setattr(_kernels, "less_equal", lambda *a: calls.append(1) or real(*a))
    res = mtest.reject(p, 0.05, method, k=k, nan_policy="omit")
    assert res.n_rejected == r and np.array_equal(res.reject, mask)
    if kind != "nan":
        assert calls == []
    real_reach = _stepwise._predicted_reach
    crit = [_stepwise.critical(proc, int(i), n, k, 0.05) for i in rng.integers(1, n + 1, 3)]
    for reach in [0.0, 1.0, *crit, *_widest_band(proc, n, k, 0.05)]:
        def wrong(*args, reach=reach):
            return reach, real_reach(*args)[1]
        monkeypatch.setattr(_stepwise, "_predicted_reach", wrong)
        res = mtest.reject(p, 0.05, method, k=k, nan_policy="omit")
        assert res.n_rejected == r and np.array_equal(res.reject, mask)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**63 - 1) | st.integers(0, 2**52) | st.sampled_from([0, 1, 2**52 - 1, 2**52, 2**63 - 1]),
                min_size=1, max_size=300))
def test_keys_below_2_63_sort_as_float64_like_integers(keys):
    """_sort_keys reads uint64 keys below 2^63 as float64 (faster on AVX2): the order must be the
    integer order, subnormal patterns (keys below 2^52) included; and where the thread flushes
    subnormals to zero, the integer sort is taken instead."""
    a = np.array(keys, dtype=np.uint64)
    top = a.view(np.float64)
    finite = np.isfinite(top)  # patterns at or above 0x7ff0... are inf/NaN: never made as keys
    a = a[finite]
    expected = np.sort(a)
    got = a.copy()
    _sorting._sort_keys(got)
    assert np.array_equal(got, expected)


def test_sort_keys_falls_back_to_the_integer_sort_under_flush_to_zero(monkeypatch):
    assert _sorting._subnormals_compare() is True  # this process keeps subnormals
    calls = []
    monkeypatch.setattr(_sorting, "_subnormals_compare", lambda: calls.append(1) or False)
    a = np.array([5, 3, 2**52 + 1, 1, 2**62, 0], dtype=np.uint64)
    _sorting._sort_keys(a)
    assert calls and np.array_equal(a, np.sort(a))


def test_an_error_in_one_thread_stops_the_other(monkeypatch):
    """A user's transform that raises in the thread accumulating from the top (step-up: the
    bucket holding rank m comes first there) propagates, and the thread taking buckets from the
    other end stops at once instead of sorting and transforming the rest."""
    calls = []

    def raw(v, r, m, k):
        calls.append(r.size)
        if r.size and r[-1] == m:
            raise RuntimeError("transform failed")
        return (m / np.asarray(r, dtype=np.float64)) * v

    proc = mtest.StepwiseProcedure(
        name="raising-bh", error_rate="fdr", dependence="arbitrary", step="up", raw=raw,
        critical_guess=lambda r, m, k, a: a * np.asarray(r, dtype=np.float64) / m)
    monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(_sorting, "BUCKET_TARGET", 8)
    # spread over 1000 binades (two 12-bit prefixes each): ~1000 buckets
    p = 2.0 ** -np.random.default_rng(4).uniform(0.0, 1000.0, 8000)
    with pytest.raises(RuntimeError, match="transform failed"):
        mtest.adjust(p, proc)
    in_pass = [size for size in calls if 0 < size < 100]  # the bucket calls (not critical values)
    assert 1 <= len(in_pass) < 300
