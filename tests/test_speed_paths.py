"""The fast paths of issue 17: the full-sort adjusted-value pass (two value ranges sorted on two
threads, tie runs put in order chunk by chunk, two halves joined by a carry), the rejection mask
written by the counting passes, and the branch-free validation scan. Each is compared with a
plain numpy reference, bit for bit."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mtest
from mtest import _kernels, _sorting, _stepwise
from mtest.registry import get_procedure

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
    return out


def _same_bits(a, b):
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


@pytest.fixture
def small_paths(monkeypatch):
    """Every large-input branch on small inputs: two sorted parts, two halves, chunks of 7."""
    monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(_stepwise, "PASS_CHUNK", 7)


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
    saved = _sorting.PARALLEL_SORT_MIN, _stepwise.PASS_CHUNK
    try:
        _sorting.PARALLEL_SORT_MIN, _stepwise.PASS_CHUNK = 16, 7
        assert _same_bits(mtest.adjust(p, method, k=k, nan_policy="omit"), expected)
    finally:
        _sorting.PARALLEL_SORT_MIN, _stepwise.PASS_CHUNK = saved


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
    # the sorted keys are the input's argsort: every index once, values ascending
    keys, index_bits, _ = _sorting.sorted_keys(p)
    idx = (keys & np.uint64((1 << index_bits) - 1)).astype(np.int64)
    assert np.array_equal(np.sort(idx), np.flatnonzero(~np.isnan(p)))
    assert np.all(np.diff(p[idx]) >= 0)


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
    """reject() writes its mask during the counting passes; the separate mask pass runs only
    after the gather path. The mask is exactly adjusted <= alpha either way."""
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
    assert len(calls) == len(gathers)  # a mask pass only after the gather path
    if kind in ("uniform", "mixed", "all-tiny", "all-large"):
        assert calls == []  # decided within the counting passes


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
