"""An adversarial read of the bucketed full sort of adjusted p-values (mtest._sorting,
mtest._stepwise._adjusted_pass): inputs aimed at its table of prefixes, its parallel chunks, its
two threads and its keys that read as subnormal doubles, each compared bit for bit (the sign of
zero included) with the plain numpy reference of tests/test_speed_paths.py."""
import platform
import threading
import tracemalloc

import numpy as np
import pytest

import mtest
from mtest import _kernels, _sorting
from test_speed_paths import _reference_adjusted, _same_bits  # the reference, shared


def _log_spread(n, seed):
    """Values spread evenly over the exponents of [2^-1000, 1]: one table prefix holds only a
    few of them, so the sample sees more distinct prefixes than buckets are allowed."""
    return 2.0 ** -np.random.default_rng(seed).uniform(0.0, 1000.0, n)


# a sample of 2^21 values over ~130 000 prefixes with a goal of 65 535 buckets: the slots of
# ``sample.size // goal`` = 32 values run to 65 600, past the uint16 table (n_buckets > 65 535)
_MANY_PREFIXES = (1 << 22) + 4096


def test_bucket_table_never_has_more_buckets_than_its_uint16_entries_hold():
    """The prefix table is uint16 (``_MAX_BUCKETS``): more buckets than 65 535 wrap its
    cumulative sum to 0, the table stops being monotone and the largest values land in the
    first buckets."""
    p = _log_spread(_MANY_PREFIXES, 7)
    table, _, n_buckets = _sorting._bucket_table(p, np.inf, p.size, 1)
    assert n_buckets <= _sorting._MAX_BUCKETS
    assert np.all(np.diff(table.astype(np.int64)) >= 0)
    records, starts = _sorting.partition_buckets(p, target=1)[:2]
    values = records[:, 0].view(np.float64)
    tops = np.maximum.reduceat(values, starts[:-1])
    bottoms = np.minimum.reduceat(values, starts[:-1])
    assert np.all(np.diff(starts) > 0)
    assert np.all(tops[:-1] <= bottoms[1:])  # consecutive value ranges


def test_adjusted_values_with_the_most_buckets(monkeypatch):
    """The same input at the public API: every value must be the reference's (with the wrapped
    table all 4 198 400 differed)."""
    monkeypatch.setattr(_sorting, "BUCKET_TARGET", 1)
    p = _log_spread(_MANY_PREFIXES, 7)
    assert _same_bits(mtest.adjust(p, "fdr_bh"), _reference_adjusted(p, "fdr_bh"))


@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_by", "lehmann-romano", "holm-sidak"])
def test_parallel_chunks_keep_input_order_of_ties_and_signed_zeros(monkeypatch, method):
    """Above ``_kernels.PARALLEL_MIN`` the records are written by 16 chunks: ties (and -0.0
    beside 0.0, whose order decides the sign of the running value) must stay in input order
    across chunk borders, also in buckets taken by the second thread (step-up: the zeros'
    bucket is the last one accumulated) and with buckets of a few values."""
    rng = np.random.default_rng(17)
    n = _kernels.PARALLEL_MIN + 4099
    p = rng.choice(np.array([0.0, -0.0, 5e-324, 1e-300, 0.25, np.nextafter(0.25, 1.0), 1.0]), n)
    p[rng.random(n) < 0.2] = np.nan
    k = 7 if method == "lehmann-romano" else 1
    expected = _reference_adjusted(p, method, k)
    for minimum, target in [(16, 1 << 16), (16, 5)]:
        monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", minimum)
        monkeypatch.setattr(_sorting, "BUCKET_TARGET", target)
        assert _same_bits(mtest.adjust(p, method, k=k, nan_policy="omit"), expected)


def test_cluster_hidden_from_the_strided_sample():
    """A dense cluster of tiny values only at positions the sample skips: the table puts it in
    one large bucket of the prefix before it (time, never order)."""
    n = 1 << 18
    p = np.full(n, 0.75)
    stride = n // (max(1, n // _sorting.BUCKET_TARGET) * _sorting._SAMPLE_PER_BUCKET)
    hidden = np.flatnonzero(np.arange(n) % stride != 0)[: n // 2]
    p[hidden] = 1e-7 + np.random.default_rng(3).random(hidden.size) * 1e-12
    for method in ["hochberg", "fdr_bh", "holm"]:
        assert _same_bits(mtest.adjust(p, method), _reference_adjusted(p, method))


def test_concurrent_calls_from_four_threads_equal_serial(monkeypatch):
    """Four Python threads at once, each with its own two-thread bucket pass and parallel
    partition kernels: the results are the serial ones."""
    monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(_sorting, "BUCKET_TARGET", 1 << 12)
    rng = np.random.default_rng(5)
    n = _kernels.PARALLEL_MIN + 11
    inputs = [(np.where(rng.random(n) < 0.5, rng.choice([0.0, -0.0, 1e-3], n), rng.random(n) ** 6), m)
              for m in ["holm", "hochberg", "fdr_bh", "fdr_by"]]
    serial = [mtest.adjust(p, m) for p, m in inputs]
    got = [None] * len(inputs)

    def work(i):
        got[i] = mtest.adjust(*inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(_same_bits(a, b) for a, b in zip(got, serial))


def _mxcsr():
    """(get, set) of this thread's SSE control register, through LLVM's x86 intrinsics."""
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def call(builder, name, ptr):
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer())])

    @intrinsic
    def _get(typingctx):
        def codegen(context, builder, signature, args):
            ptr = cgutils.alloca_once(builder, ir.IntType(32))
            call(builder, "llvm.x86.sse.stmxcsr", ptr)
            return builder.zext(builder.load(ptr), ir.IntType(64))
        return types.int64(), codegen

    @intrinsic
    def _set(typingctx, value):
        def codegen(context, builder, signature, args):
            ptr = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(builder.trunc(args[0], ir.IntType(32)), ptr)
            call(builder, "llvm.x86.sse.ldmxcsr", ptr)
            return context.get_dummy_value()
        return types.void(types.int64), codegen

    @njit
    def get():
        return _get()

    @njit
    def set_(value):
        _set(value)

    return get, set_


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="MXCSR is x86")
@pytest.mark.parametrize("two_threads", [False, True])
def test_denormals_are_zero_thread_gets_exact_values(monkeypatch, two_threads):
    """A thread with DAZ/FTZ set (as some libraries leave it): the local keys of a dense
    bucket read as subnormal doubles and would all compare equal in the float64 sort, so
    ``_sort_keys`` must take the integer sort; the adjusted values stay the reference's."""
    get, set_ = _mxcsr()
    if two_threads:
        monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    rng = np.random.default_rng(4)
    p = 0.5 + rng.random(1 << 17) * 1e-9  # keys below 2^52: subnormal as float64
    expected = {m: _reference_adjusted(p, m) for m in ["hochberg", "fdr_bh"]}
    old = get()
    set_(old | 0x8040)  # DAZ and FTZ
    try:
        assert not _sorting._subnormals_compare()
        got = {m: mtest.adjust(p, m) for m in expected}
    finally:
        set_(old)
    assert _sorting._subnormals_compare()
    for m in expected:
        assert _same_bits(got[m], expected[m])


def _extra_peak(p, method):
    """Peak memory traced during one adjust call (numpy's buffers), in bytes per value."""
    mtest.adjust(p[: 1 << 16], method)  # compiled beforehand
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = mtest.adjust(p, method)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del out
    return peak / p.size


@pytest.mark.parametrize("kind", ["all equal", "most equal to 1"])
def test_a_bucket_of_equal_values_costs_no_more_memory_than_spread_values(kind):
    """About 24 B per value beyond the input (records and output), whatever the values: a
    bucket of 10^6 equal values (all p equal; 80 % of p exactly 1, common with discrete tests)
    must not add its whole-bucket ranks and raw values (measured 48 B and 44 B per value
    against 32 B for spread values at 2^21)."""
    rng = np.random.default_rng(9)
    n = 1 << 21
    spread = _extra_peak(rng.random(n) * 1e-3, "fdr_bh")
    p = np.full(n, 1e-9) if kind == "all equal" else np.where(rng.random(n) < 0.8, 1.0, rng.random(n))
    assert _extra_peak(p, "fdr_bh") <= spread + 2.0


@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "lehmann-romano"])
def test_empty_buckets_and_every_meeting_point(monkeypatch, method):
    """Every other bucket empty (the table's bucket numbers doubled: a sample value the kept
    values lack, as a float32 sample compared with ``below`` in float32 can give), and the two
    threads made to meet at different buckets by random delays in the bucket sort, down to the
    second thread taking every bucket: the carries joining them must give the reference."""
    rng = np.random.default_rng(11)
    n = 1 << 16
    # three binades (a dozen buckets) where raw falls with the rank, so the carries decide
    p = np.where(rng.random(n) < 0.2, rng.choice([0.0, -0.0, 1e-7, 1.0], n),
                 1e-7 * 2.0 ** rng.uniform(0.0, 3.0, n))
    k = 4 if method == "lehmann-romano" else 1
    expected = _reference_adjusted(p, method, k)
    real_table, real_sort = _sorting._bucket_table, _sorting.sort_bucket

    def sparse_table(*args):
        table, shift, n_buckets = real_table(*args)
        return table * np.uint16(2), shift, 2 * n_buckets

    delays = np.random.default_rng(0)

    def slow_sort(*args):
        import time
        time.sleep(float(delays.choice([0.0, 0.0, 2e-3])))
        return real_sort(*args)

    monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(_sorting, "BUCKET_TARGET", 1 << 12)
    monkeypatch.setattr(_sorting, "_bucket_table", sparse_table)
    monkeypatch.setattr(_sorting, "sort_bucket", slow_sort)
    for _ in range(6):
        assert _same_bits(mtest.adjust(p, method, k=k), expected)


@pytest.mark.parametrize("step", ["down", "up"])
@pytest.mark.parametrize("below_p", [True, False])
def test_custom_procedure_with_zero_raw_values_in_far_buckets(monkeypatch, step, below_p):
    """A user procedure whose raw value underflows to +0.0 for normal p (p |p| m/i, p < 1e-162),
    beside p = -0.0 (raw -0.0): zero running values tie across buckets and across the two
    threads, and only numpy's rule (the later value wins a tie) gives the reference's signs."""
    proc = mtest.StepwiseProcedure(
        name=f"squared-{step}", error_rate="fdr", dependence="arbitrary", step=step,
        raw=lambda v, r, m, k: v * np.abs(v) * (m / np.asarray(r, dtype=np.float64)),
        critical_guess=lambda r, m, k, a: np.sqrt(a * np.asarray(r) / m), adjusted_below_p=below_p)
    rng = np.random.default_rng(9)
    n = 1 << 17
    p = np.where(rng.random(n) < 0.3, rng.choice([0.0, -0.0], n), 10.0 ** -rng.uniform(150, 300, n))
    order = np.argsort(p, kind="stable")
    raw = proc.raw(p[order], np.arange(1, n + 1), n, 1)
    acc = np.maximum.accumulate(raw) if step == "down" else np.minimum.accumulate(raw[::-1])[::-1]
    expected = np.empty(n)
    expected[order] = np.minimum(acc, 1.0)
    for minimum, target in [(10**6, 1 << 16), (16, 1 << 12), (16, 3)]:
        monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", minimum)
        monkeypatch.setattr(_sorting, "BUCKET_TARGET", target)
        assert _same_bits(mtest.adjust(p, proc), expected)
