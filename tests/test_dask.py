"""Dask arrays: every supported procedure bit for bit equal to the in-memory path, on the threaded
scheduler and on a two-process LocalCluster; Hommel refused with a clear error."""
import numpy as np
import pytest

import mtest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from mtest import _dask  # noqa: E402

METHODS = [("bonferroni", 1), ("bonferroni", 3), ("holm", 1), ("lehmann-romano", 4), ("sidak", 1),
           ("holm-sidak", 1), ("hochberg", 1), ("fdr_bh", 1), ("fdr_by", 1)]


def _data(seed, shape=(2400,), signal_share=0.05, nan=True, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=shape).reshape(-1)
    n_sig = int(signal_share * p.size)
    p[:n_sig] *= 1e-6
    p[n_sig: n_sig + 40] = p[n_sig]          # ties
    p[n_sig + 50: n_sig + 60] = 0.0
    p[-30:] = 1.0
    if nan:
        p[rng.choice(p.size, 25, replace=False)] = np.nan
    rng.shuffle(p)
    return p.reshape(shape).astype(dtype)


def _check(p, chunks, method, k, nan_policy="omit", log_p=None, alpha=0.05):
    x = da.from_array(p, chunks=chunks)
    ref = mtest.reject(p, alpha, method, k=k, nan_policy=nan_policy, log_p=log_p)
    res = mtest.reject(x, alpha, method, k=k, nan_policy=nan_policy, log_p=log_p)
    assert isinstance(res.reject, da.Array)
    assert (res.n_rejected, res.n_tests, res.method, res.k) == (ref.n_rejected, ref.n_tests,
                                                               ref.method, ref.k)
    assert res.threshold == ref.threshold or (np.isnan(res.threshold) and np.isnan(ref.threshold))
    np.testing.assert_array_equal(res.reject.compute(), ref.reject)
    adjusted = mtest.adjust(x, method, k=k, nan_policy=nan_policy, log_p=log_p)
    assert isinstance(adjusted, da.Array) and adjusted.chunks == x.chunks
    got = adjusted.compute()
    assert np.array_equal(got, ref.pvalues_adjusted, equal_nan=True)
    assert np.array_equal(res.pvalues_adjusted.compute(), got, equal_nan=True)


@pytest.fixture(params=["table", "table-rounds", "shuffle"])
def small_ranges(monkeypatch, request):
    """Many ranges even on small data, through each way back to the blocks: the step table (in
    one round, or in rounds of ~300 values over ranges of ~60), and the shuffle it falls back
    to."""
    monkeypatch.setattr(_dask, "MIN_RANGE", 97)
    if request.param == "table-rounds":
        monkeypatch.setattr(_dask, "ROUND_VALUES", 300)
        monkeypatch.setattr(_dask, "MIN_RANGE", 41)
        monkeypatch.setattr(_dask, "RANGE_VALUES", 60)  # smaller ranges than the shuffle's
    if request.param == "shuffle":
        monkeypatch.setattr(_dask, "TABLE_MAX", 0)
    return request.param


@pytest.mark.parametrize("method,k", METHODS)
def test_threaded_parity(method, k, small_ranges):
    _check(_data(1), 333, method, k)
    # mostly tiny p-values: step-down has no cutoff and takes the range path
    _check(_data(2, signal_share=0.8), 500, method, k)
    # 2-D, float32, no NaN
    _check(_data(3, shape=(48, 50), nan=False, dtype=np.float32), (13, 17), method, k,
           nan_policy="raise")


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "hochberg", "bonferroni"])
def test_threaded_log_scale(method, small_ranges):
    with np.errstate(divide="ignore"):
        v = np.log10(_data(4))
    v[:20] = -np.random.default_rng(0).uniform(310, 600, size=20)  # below 1e-308
    _check(v, 400, method, 1, log_p="log10")


def test_holm_and_friends_dispatch(small_ranges):
    p = _data(5, nan=False)
    x = da.from_array(p, chunks=600)
    for fn, kwargs in [(mtest.holm, {}), (mtest.bonferroni, {"k": 2}),
                       (mtest.lehmann_romano, {"k": 3})]:
        ref, res = fn(p, **kwargs), fn(x, **kwargs)
        np.testing.assert_array_equal(res.reject.compute(), ref.reject)
        np.testing.assert_array_equal(res.pvalues_adjusted.compute(), ref.pvalues_adjusted)


def test_float32_values_next_to_a_float64_threshold():
    """A float32 value just above the threshold, where float32(threshold) rounds up onto it."""
    m = next(m for m in range(3, 500) if float(np.float32(0.05 / m)) > 0.05 / m)
    p = np.full(m, 0.9, dtype=np.float32)
    p[0] = np.float32(0.05 / m)
    p[1] = np.float32(0.001 / m)
    for method in ("bonferroni", "holm", "fdr_bh"):
        _check(p, 2, method, 1, nan_policy="raise")
    assert not mtest.bonferroni(da.from_array(p, chunks=2)).reject[0].compute()


def test_edge_cases():
    # all NaN, one element, one block
    p = np.full(10, np.nan)
    _check(p, 3, "holm", 1)
    _check(p, 3, "fdr_bh", 1)
    _check(np.array([0.01]), 1, "fdr_bh", 1)
    _check(_data(6, nan=False), 5000, "holm", 1, nan_policy="raise")


def test_refusals_and_errors():
    x = da.from_array(_data(7, nan=False), chunks=500)
    with pytest.raises(ValueError, match="method 'hommel' cannot run on a Dask array"):
        mtest.reject(x, method="hommel")
    with pytest.raises(ValueError, match="method 'hommel' cannot run on a Dask array"):
        mtest.adjust(x, method="hommel")
    with pytest.raises(ValueError, match=r"NaN \(25 of 2400\)"):
        mtest.holm(da.from_array(_data(8), chunks=500))
    bad = _data(9, nan=False)
    bad[7] = 1.5
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\].*1.5"):
        mtest.adjust(da.from_array(bad, chunks=500), "fdr_bh")
    with pytest.raises(ValueError, match="must be <= 0"):
        mtest.adjust(da.from_array(bad, chunks=500), "fdr_bh", log_p="ln")


@pytest.fixture(scope="module")
def cluster_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def four_ranges(monkeypatch):
    monkeypatch.setattr(_dask, "MIN_RANGE", 500)  # few tasks: each costs ms on a cluster


def test_local_cluster_parity(cluster_client, four_ranges):
    """Two worker processes: the step-down head, the step-up shuffle (several ranges), the
    step-down shuffle (no cutoff), k-FWER and log scale, each bit for bit."""
    _check(_data(10), 600, "holm", 1)
    _check(_data(10), 600, "fdr_bh", 1)
    _check(_data(11, signal_share=0.8), 600, "lehmann-romano", 3)
    with np.errstate(divide="ignore"):
        v = np.log(_data(12))
    _check(v, 600, "hochberg", 1, log_p="ln")


def _counted_array(p, n_blocks, calls):
    """A Dask array whose blocks come from a loader that counts its calls (a file read, say)."""
    import dask

    def load(j):
        calls[j] = calls.get(j, 0) + 1
        return parts[j]

    parts = np.array_split(p, n_blocks)
    return da.concatenate([da.from_delayed(dask.delayed(load, pure=True)(j), shape=part.shape,
                                           dtype=p.dtype) for j, part in enumerate(parts)])


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_blocks_are_reread_per_pass_unless_persisted(method):
    # documented in docs/scale.md: every counting pass (and the histogram, the head, the
    # shuffle) computes the blocks again from their source, unless the array is persisted
    import dask

    p = _data(5, shape=(6000,))
    ref = mtest.reject(p, 0.05, method, nan_policy="omit")
    with dask.config.set(scheduler="sync"):
        calls = {}
        x = _counted_array(p, 4, calls)
        res = mtest.reject(x, 0.05, method, nan_policy="omit")
        adjusted = res.pvalues_adjusted.compute()
        assert np.array_equal(adjusted, ref.pvalues_adjusted, equal_nan=True)
        reads = sum(calls.values())
        assert reads >= 4 * 4, calls  # scan, >= 2 counting passes, adjusted values: >= 4 each

        calls.clear()
        x = _counted_array(p, 4, calls).persist()
        assert calls == {0: 1, 1: 1, 2: 1, 3: 1}
        res = mtest.reject(x, 0.05, method, nan_policy="omit")
        assert np.array_equal(res.pvalues_adjusted.compute(), ref.pvalues_adjusted, equal_nan=True)
        np.testing.assert_array_equal(res.reject.compute(), ref.reject)
        assert calls == {0: 1, 1: 1, 2: 1, 3: 1}  # read once, by persist()


# ------------------------------------------------------------------ step tables


def test_step_table_round_trip_and_split_ties():
    from mtest._counting import step_table, table_lookup

    rng = np.random.default_rng(4)
    for _ in range(50):
        v = np.sort(rng.choice(np.linspace(0, 1, 40), size=200))  # many ties
        acc = np.maximum.accumulate(np.round(v * rng.integers(1, 9), 1))  # a function of v
        ends, adj = step_table(v, acc)
        assert ends.size <= np.unique(acc).size
        np.testing.assert_array_equal(table_lookup(v, ends, adj), acc)
        np.testing.assert_array_equal(table_lookup(v[::-1], ends, adj), acc[::-1])
    # equal values with different accumulated values: no step function of the value
    assert step_table(np.array([0.1, 0.2, 0.2, 0.3]), np.array([1.0, 2.0, 3.0, 3.0])) is None
    assert np.isnan(table_lookup(np.array([np.nan]), np.array([0.5]), np.array([1.0]))[0])


def test_changed_input_between_passes_is_refused(monkeypatch):
    """A source that is not deterministic (values differ between reads) is caught, not
    silently looked up in a table built from other values."""
    import dask

    base = _data(13, nan=False)
    fewer = np.where(np.arange(base.size) % 2 == 0, np.nan, base)
    # reads: 1 scan, 2 histogram, 3 the round's values, 4 the lookup
    for first, later, change_at in [(base, fewer, 3), (base * 0.5, base, 4)]:
        calls = {"n": 0}

        def block(first=first, later=later, change_at=change_at, calls=calls):
            calls["n"] += 1
            return first if calls["n"] < change_at else later

        x = da.from_delayed(dask.delayed(block, pure=False)(), shape=base.shape, dtype=np.float64)
        # every pass in this process (a distributed Client from another test would run the
        # reads in workers, each with its own copy of the counter)
        with dask.config.set(scheduler="synchronous"), \
                pytest.raises(ValueError, match="changed between passes"):
            mtest.adjust(x, "fdr_bh").compute()


def test_bucket_bounds_select_exactly_the_buckets():
    """A round keeps its values by two comparisons: they must pick exactly the values whose
    buckets lie in the round's span (linear and log scale, zeros of both signs, -inf, tiny)."""
    from mtest._counting import N_BUCKETS, bucket_bounds, bucket_of

    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(size=20000), -rng.exponential(50, size=20000),
                        [0.0, -0.0, 1.0, -np.inf, 5e-324, -5e-324, 1e-300, -1e-300]])
    b = bucket_of(v)
    for _ in range(300):
        first, last = sorted(int(x) for x in rng.choice(b, 2))
        lo, hi = bucket_bounds(first, last)
        np.testing.assert_array_equal((v >= lo) & (v <= hi), (b >= first) & (b <= last))
    assert bucket_bounds(0, N_BUCKETS - 1) == (-np.inf, np.inf)
