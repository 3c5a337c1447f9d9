"""An adversarial read of the full sort's fused transforms and chunked last pass (issue 17:
mtest._stepwise.raw_form, mtest._kernels.running_place / scatter_chunks, the chunked
mtest._sorting.partition_buckets): user procedures that reach the kernels in ways the built-in
ones do not (a wrapped built-in transform, a transform that broadcasts, one that gives NaN), and
the large-input branches forced on small inputs with every layout of the input, each compared
bit for bit (the sign of zero included) with a plain numpy reference."""
import dataclasses
import functools
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mtest
from mtest import _kernels, _small, _sorting, _stepwise
from mtest.registry import get_procedure
from test_speed_paths import _reference_adjusted, _same_bits  # the reference, shared

METHODS = ["holm", "hochberg", "fdr_bh", "fdr_by", "lehmann-romano", "holm-sidak"]


@pytest.fixture
def large_paths(monkeypatch):
    """Small inputs on the kernels' path, with every large-input branch (two threads, buckets of
    a few values, raw slices of 3, seven input chunks) forced."""
    monkeypatch.setattr(_small, "SMALL_BELOW", 0)
    monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
    monkeypatch.setattr(_sorting, "BUCKET_TARGET", 5)
    monkeypatch.setattr(_stepwise, "RAW_SLICE", 3)
    monkeypatch.setattr(_sorting, "_chunks", lambda n, n_buckets: 7)


def _procedure(name, step, raw, below_p=False):
    return mtest.StepwiseProcedure(
        name=name, step=step, error_rate="fdr", dependence="arbitrary", raw=raw,
        critical_guess=lambda r, m, k, a: a * np.asarray(r, dtype=np.float64) / m,
        adjusted_below_p=below_p)


def _small_path(p, proc, k=1):
    """mtest.adjust on the numpy path of small inputs (mtest._small), whatever the size."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_small, "SMALL_BELOW", 1 << 62)
        return mtest.adjust(p, proc, k=k, nan_policy="omit")


# ---------------------------------------------------------------------------------------------
# which transforms the kernels evaluate themselves


def _scaled(raw, factor):
    """A transform times ``factor``, decorated the usual way (functools.wraps copies the wrapped
    function's ``__dict__``, so any attribute that marks the built-in transform)."""
    @functools.wraps(raw)
    def scaled(values, ranks, m, k):
        return factor * raw(values, ranks, m, k)
    return scaled


@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "fdr_by", "lehmann-romano"])
def test_a_wrapped_builtin_transform_is_not_evaluated_as_the_builtin(large_paths, method):
    """A user's transform built by decorating a built-in one (here: twice Holm's, with
    functools.wraps) is the user's: the kernels must not evaluate it as the built-in transform
    (they did, giving half the adjusted values above the small-input size: FWER not
    controlled)."""
    builtin = get_procedure(method)
    proc = dataclasses.replace(builtin, name=f"twice-{method}", aliases=(),
                               raw=_scaled(builtin.raw.raw, 2.0))
    k = 3 if method == "lehmann-romano" else 1
    assert _stepwise.raw_form(proc, 1000, k) is None
    p = np.random.default_rng(1).random(3000) ** 6
    expected = _reference_adjusted(p, proc, k)
    assert _same_bits(mtest.adjust(p, proc, k=k), expected)
    assert _same_bits(_small_path(p, proc, k), expected)


class _Halved(mtest.registry.NotBelowP):
    """A user's subclass of the public NotBelowP that changes what the call computes."""
    __slots__ = ()

    def __call__(self, values, ranks, m, k):
        return 0.5 * super().__call__(values, ranks, m, k)


def test_a_subclass_of_not_below_p_around_a_builtin_is_the_users(large_paths):
    """NotBelowP(Holm's transform) under a subclass that halves it (adjusted_below_p, so it is
    kept as given): the kernels must call it, not evaluate Holm's transform."""
    proc = _procedure("halved-holm", "down", _Halved(get_procedure("holm").raw.raw), below_p=True)
    assert _stepwise.raw_form(proc, 1000, 1) is None
    p = np.random.default_rng(7).random(3000) ** 6
    assert _same_bits(mtest.adjust(p, proc), _reference_adjusted(p, proc))


def test_a_builtin_transform_reused_as_is_keeps_the_kernel_form(large_paths):
    """The same function object under another procedure (Holm's transform stepped up is
    Hochberg's; BH's stepped down) is evaluated by the kernels, and equals numpy's."""
    rng = np.random.default_rng(2)
    p = np.where(rng.random(2000) < 0.3, rng.choice([0.0, -0.0, 1.0], 2000), rng.random(2000) ** 4)
    for method, step in [("holm", "up"), ("fdr_bh", "down"), ("lehmann-romano", "up")]:
        proc = dataclasses.replace(get_procedure(method), name=f"{method}-{step}", aliases=(), step=step)
        k = 5 if method == "lehmann-romano" else 1
        assert _stepwise.raw_form(proc, 2000, k) is not None
        assert _same_bits(mtest.adjust(p, proc, k=k), _reference_adjusted(p, proc, k))


# ---------------------------------------------------------------------------------------------
# user transforms the numpy path accepts: the kernels' path must give the same


@pytest.mark.parametrize("step, shape", [("up", "0-d"), ("up", "(1,)"), ("down", "(1,)"), ("down", "0-d")])
def test_a_transform_that_broadcasts(large_paths, step, shape):
    """A transform (below p by design) that returns one value for the whole slice: numpy's path
    broadcasts it over the p-values; the kernels' path read one value and left the other rows
    holding the p-values themselves (or failed to compile for a 0-d array), and the step-down
    cutoff search indexed a 0-d result (IndexError on every path)."""
    const = np.float64(0.25) if shape == "0-d" else np.array([0.25])
    proc = _procedure(f"constant-{step}-{shape}", step, lambda v, r, m, k: const, below_p=True)
    p = np.random.default_rng(3).random(500)
    expected = _small_path(p, proc)
    assert np.all(expected == 0.25)
    assert _same_bits(mtest.adjust(p, proc), expected)


def test_a_transform_of_the_wrong_length_is_refused(large_paths):
    """A transform that returns more values than it was given must raise (the kernel would
    write past the bucket), as numpy's path does."""
    proc = _procedure("too-long", "up", lambda v, r, m, k: np.concatenate([v, v]), below_p=True)
    p = np.random.default_rng(4).random(200)
    with pytest.raises(ValueError):
        _small_path(p, proc)
    with pytest.raises(ValueError):
        mtest.adjust(p, proc)


def _odds(values, ranks, m, k):
    """BH on the odds scale, back to a probability: NaN at p = 1 (inf / inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = (m / np.asarray(ranks, dtype=np.float64)) * (values / (1.0 - values))
        return odds / (1.0 + odds)


def _nan_band(values, ranks, m, k):
    """BH, but NaN for 1e-3 <= p < 2e-3 (inside what a step-down pass evaluates)."""
    raw = (m / np.asarray(ranks, dtype=np.float64)) * values
    return np.where((values >= 1e-3) & (values < 2e-3), np.nan, raw)


@pytest.mark.parametrize("raw", [_odds, _nan_band])
@pytest.mark.parametrize("step", ["down", "up"])
@pytest.mark.parametrize("below_p", [False, True])
@pytest.mark.parametrize("knobs", ["defaults", "large"])
def test_a_transform_that_gives_nan_propagates_as_numpy(monkeypatch, raw, step, below_p, knobs):
    """A NaN raw value is carried by the running maximum (minimum) and by min(1, .), as by
    numpy's accumulate: the kernels' path skipped it (the running value restarted after it)
    and wrote 1.0 for it, so the same p-values gave NaN below the small-input size and
    numbers above it."""
    monkeypatch.setattr(_small, "SMALL_BELOW", 0)
    if knobs == "large":
        monkeypatch.setattr(_sorting, "PARALLEL_SORT_MIN", 16)
        monkeypatch.setattr(_sorting, "BUCKET_TARGET", 5)
        monkeypatch.setattr(_sorting, "_chunks", lambda n, n_buckets: 4)
    proc = _procedure(f"nan-{raw.__name__}-{step}-{below_p}", step, raw, below_p)
    rng = np.random.default_rng(5)
    n = 3000
    p = np.where(rng.random(n) < 0.05, 1.0, rng.random(n) ** 3)
    p[rng.choice(n, 20, replace=False)] = 1e-3 + rng.random(20) * 1e-3
    expected = _small_path(p, proc)
    assert np.isnan(expected).any()
    assert _same_bits(mtest.adjust(p, proc), expected)
    if step == "up":  # (step-down: numpy's path too sets every p from its cutoff on to 1)
        assert _same_bits(expected, _reference_adjusted(p, proc))


@pytest.mark.parametrize("numba", [False, True])
@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "nan-up", "nan-down", "nan-single"])
def test_families_equal_adjust_with_signed_zeros_and_nan_transforms(monkeypatch, numba, method):
    """adjust_frame(by=) promises each family mtest.adjust's values bit for bit: its running
    max/min (mtest._kernels.segmented_adjust and its port in mtest._small) kept the older of
    two equal values and skipped NaN, and its unstable sort put -0.0 and 0.0 in any order, so
    the sign of a zero adjusted value and a NaN transform's values differed."""
    pd = pytest.importorskip("pandas")
    if numba:
        monkeypatch.setattr(_small, "SMALL_BELOW", 0)
    if method.startswith("nan-"):
        step = method[4:]
        raw = _nan_band if step != "single" else (lambda v, r, m, k: _odds(v, np.ones(np.shape(v)), m, k))
        proc = _procedure(method, step, raw)
    else:
        proc = get_procedure(method)
    rng = np.random.default_rng(6)
    n, families = 600, 6
    p = rng.choice(np.array([0.0, -0.0, 1e-3, 1.5e-3, 0.01, 1.0]), n)
    p = np.where(rng.random(n) < 0.4, rng.random(n) ** 3, p)
    g = rng.integers(0, families, n)
    got = mtest.adjust_frame(pd.DataFrame({"p": p, "g": g}), "p", proc, by="g")["p_adjusted"].to_numpy()
    expected = np.empty(n)
    for f in range(families):
        rows = np.flatnonzero(g == f)
        expected[rows] = mtest.adjust(p[rows], proc)
    assert _same_bits(got, expected)


# ---------------------------------------------------------------------------------------------
# the large-input branches on small inputs, every layout of the input


def _reuses_holm():
    """A user procedure that reuses the built-in transform object itself (kernel form kept)."""
    from mtest.procedures import _holm_raw

    return _procedure("reuses-holm", "down", _holm_raw)


_PROCEDURES = {"twice-bh": lambda: _procedure("twice-bh", "up", _scaled(get_procedure("fdr_bh").raw.raw, 2.0)),
               "reuses-holm": _reuses_holm,
               "nan-band-up": lambda: _procedure("nan-band-up", "up", _nan_band)}

_pool = np.array([0.0, -0.0, 5e-324, 1e-310, 1e-300, 1e-3, 1.5e-3, 0.25, np.nextafter(0.25, 1.0), 1.0, np.nan])


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([1, 2, 5, 40, 700]),
       method=st.sampled_from(METHODS + list(_PROCEDURES)),
       layout=st.sampled_from(["plain", "float32", "strided", "2-d", "fortran", "read-only"]),
       target=st.sampled_from([1, 3, 64, 1 << 16]), piece=st.sampled_from([1, 3, 1 << 16]),
       fused=st.booleans(), chunks=st.sampled_from([1, 2, 7, 1000]), two=st.booleans(),
       k_from_top=st.booleans())
def test_every_branch_and_layout_equals_numpy(seed, n, method, layout, target, piece, fused, chunks, two,
                                             k_from_top):
    """Buckets of one value up to all, raw slices of one value up to whole buckets, the fused
    transforms on and off, input chunks from one to more than there are values (empty
    (chunk, bucket) segments), one thread or two, Lehmann-Romano's k from 1 to m, on float32,
    strided, 2-d, Fortran-ordered and read-only inputs with ties, signed zeros, subnormals, p = 1
    and NaN omitted: bit for bit the numpy reference, the input left as it was."""
    rng = np.random.default_rng(seed)
    p = np.where(rng.random(n) < 0.5, rng.choice(_pool, n), rng.random(n) ** rng.choice([1, 8]))
    if layout == "float32":
        p = p.astype(np.float32)
    elif layout == "strided":
        p = np.repeat(p, 3)[1::3]
    elif layout in ("2-d", "fortran") and n % 5 == 0:
        p = p.reshape(5, -1) if layout == "2-d" else np.asfortranarray(p.reshape(5, -1))
    elif layout == "read-only":
        p.flags.writeable = False
    proc = _PROCEDURES[method]() if method in _PROCEDURES else get_procedure(method)
    m = int(np.count_nonzero(~np.isnan(p)))
    if m == 0:
        return
    k = 1
    if method == "lehmann-romano":
        k = max(1, m - int(rng.integers(0, 3))) if k_from_top else int(rng.integers(1, m + 1))
    expected = _reference_adjusted(p, proc, k)
    before = np.array(p, copy=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_small, "SMALL_BELOW", 0)
        mp.setattr(_sorting, "PARALLEL_SORT_MIN", 1 if two else 1 << 40)
        mp.setattr(_sorting, "BUCKET_TARGET", target)
        mp.setattr(_stepwise, "RAW_SLICE", piece)
        mp.setattr(_stepwise, "FUSED_RAW", fused)
        mp.setattr(_sorting, "_chunks", lambda size, n_buckets: chunks)
        got = mtest.adjust(p, proc, k=k, nan_policy="omit")
    assert _same_bits(got, expected)
    assert got.shape == np.shape(p)
    assert np.array_equal(np.asarray(p), before, equal_nan=True)
    assert np.array_equal(np.signbit(np.asarray(p)), np.signbit(before))
