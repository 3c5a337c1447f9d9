"""Adversarial checks for silent wrong answers: results that outlive a caller's mutable input,
and the exact rejection paths against their oracles on inputs built to fool them."""
import numpy as np
import pandas as pd
import pytest

import mtest

# ---------------------------------------------------------------------------------------------
# log-scale results keep their input: adjusted values are computed on first access, so a caller
# who reuses the array afterwards must get the original values' adjusted values or an error


def _log_input(n, seed=0):
    rng = np.random.default_rng(seed)
    v = np.log(rng.uniform(size=n))
    v[: max(1, n // 20)] = -60.0  # rejected by every method below
    return v


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "hochberg", "bonferroni"])
@pytest.mark.parametrize("wrapper", ["ndarray", "series"])
def test_log_p_result_unaffected_by_later_change_small(method, wrapper):
    v = _log_input(500)
    want = mtest.adjust(v.copy(), method, log_p="ln")
    given = pd.Series(v) if wrapper == "series" else v
    res = mtest.reject(given, 0.05, method, log_p="ln")
    if wrapper == "series":
        given.iloc[:] = 0.0
    else:
        v[:] = 0.0  # the caller reuses its buffer
    got = np.asarray(res.pvalues_adjusted)
    assert np.array_equal(got, want)
    # the result stays consistent: reject == (adjusted <= log alpha)
    assert np.array_equal(np.asarray(res.reject), got <= np.log(0.05))


def test_log_p_result_refuses_changed_large_input():
    v = _log_input(70_000)
    res = mtest.reject(v, 0.05, "fdr_bh", log_p="ln")
    v[123], v[-5] = v[-5], v[123]  # a swap
    with pytest.raises(RuntimeError, match="modified"):
        res.pvalues_adjusted
    v[123], v[-5] = v[-5], v[123]  # restored: computed from the original values again
    assert np.array_equal(res.pvalues_adjusted, mtest.adjust(v.copy(), "fdr_bh", log_p="ln"))


def test_log_p_axis_result_unaffected_by_later_change():
    v = _log_input(600).reshape(3, 200)
    want = mtest.adjust(v.copy(), "holm", log_p="log10", axis=1)
    res = mtest.reject(v, 0.05, "holm", log_p="log10", axis=1)
    v[:] = 0.0
    assert np.array_equal(res.pvalues_adjusted, want)


def test_log_p_list_input_needs_no_copy_and_is_exact():
    v = _log_input(300)
    res = mtest.reject(list(v), 0.05, "holm", log_p="ln")
    assert np.array_equal(res.pvalues_adjusted, mtest.adjust(v, "holm", log_p="ln"))


# ---------------------------------------------------------------------------------------------
# torch results: the same protection as NumPy input (the tensor's memory is the caller's)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("n", [500, 70_000])
@pytest.mark.parametrize("method", ["holm", "fdr_bh", "bonferroni"])
def test_torch_result_unaffected_by_later_change(torch, n, method):
    g = torch.Generator().manual_seed(n)
    p = torch.rand(n, generator=g, dtype=torch.float64)
    p[:10] = 1e-9
    want = mtest.adjust(p.clone().numpy(), method)
    res = mtest.reject(p, 0.05, method)
    p.fill_(1.0)  # the caller reuses its buffer
    if n < 65_536:  # a private copy: the original values' adjusted values
        assert np.array_equal(res.pvalues_adjusted.numpy(), want)
    else:  # the caller's memory, fingerprinted: refused, never answered from changed data
        with pytest.raises(RuntimeError, match="modified"):
            res.pvalues_adjusted


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_large_guard_sees_swaps_and_views(torch, dtype):
    g = torch.Generator().manual_seed(1)
    base = torch.rand(2 * 70_000, generator=g, dtype=getattr(torch, dtype))
    view = base[::2]  # a strided view: still the caller's memory
    res = mtest.reject(view, 0.05, "hochberg")
    base[2], base[4] = base[4].clone(), base[2].clone()  # a swap inside the view
    with pytest.raises(RuntimeError, match="modified"):
        res.pvalues_adjusted
    base[2], base[4] = base[4].clone(), base[2].clone()
    assert np.array_equal(res.pvalues_adjusted.numpy(), mtest.adjust(view.numpy().copy(), "hochberg"))
    # a change outside the view is no change of the input
    res = mtest.reject(view, 0.05, "holm")
    base[1] = 0.5
    assert np.array_equal(res.pvalues_adjusted.numpy(), mtest.adjust(view.numpy().copy(), "holm"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_device_fingerprint_is_the_kernels(torch, dtype, monkeypatch):
    """The tensor-arithmetic fingerprint (used off CPU) equals the NumPy kernel's bit for bit,
    across chunk boundaries, with -0.0, NaN, 0, 1 and sign bits."""
    from mtest import _kernels, _torch_backend

    monkeypatch.setattr(_torch_backend, "FINGERPRINT_ON_DEVICE", True)
    monkeypatch.setattr(_torch_backend, "FINGERPRINT_CHUNK", 1000)
    rng = np.random.default_rng(2)
    p = rng.uniform(size=4321).astype(dtype)
    p[:6] = [-0.0, np.nan, 0.0, 1.0, -1.0, np.inf]
    t = torch.from_numpy(p)
    assert _torch_backend._fingerprint(t.reshape(1, -1)) == _kernels.scan_pvalues_fingerprint(p)[4]


# ---------------------------------------------------------------------------------------------
# the rejection fast path on inputs built to fool the band's sample (>= 65 536 values: the band
# is placed from BAND_SAMPLE evenly spaced values)

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from mtest._stepwise import BAND_PREDICT_MIN, BAND_SAMPLE, critical  # noqa: E402
from mtest.registry import PROCEDURES, StepwiseProcedure, get_procedure  # noqa: E402

STEPWISE = [name for name, proc in PROCEDURES.items() if type(proc) is StepwiseProcedure]


def _fooling_input(pattern, n, method, k, alpha, rng):
    """Values whose sampled positions tell another story than the rest."""
    sampled = np.zeros(n, dtype=bool)
    sampled[(np.arange(BAND_SAMPLE, dtype=np.int64) * n) // BAND_SAMPLE] = True
    proc = get_procedure(method)
    c1, cm = critical(proc, 1, n, k, alpha), critical(proc, n, n, k, alpha)
    p = rng.uniform(size=n)
    if pattern == "samples-null-rest-signal":
        p[~sampled] *= 1e-12
        p[sampled] = 1.0
    elif pattern == "samples-signal-rest-null":
        p[sampled] = 0.0
    elif pattern == "samples-nan-rest-signal":
        p[~sampled] *= cm
        p[sampled] = np.nan
    elif pattern == "ties-on-critical-values":
        ranks = rng.integers(1, n + 1, size=256)
        crit = np.array([critical(proc, int(r), n, k, alpha) for r in ranks])
        where = rng.choice(np.flatnonzero(~sampled), size=512, replace=False)
        p[where] = np.concatenate([crit, np.nextafter(crit, 2.0)])
        p[sampled] = cm
    elif pattern == "edges-zeros-subnormals":
        p = rng.choice(np.array([0.0, -0.0, 5e-324, 1e-310, c1, np.nextafter(c1, 2.0), cm,
                                 np.nextafter(cm, 2.0), 1.0]), size=n)
        p[sampled] = 1.0
    elif pattern == "periodic-stride":
        stride = n // BAND_SAMPLE
        p[np.arange(n) % stride != 0] *= min(1.0, 2 * cm)  # p-values: at most 1 (cm ~ alpha)
    return p


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=st.sampled_from(["samples-null-rest-signal", "samples-signal-rest-null",
                                "samples-nan-rest-signal", "ties-on-critical-values",
                                "edges-zeros-subnormals", "periodic-stride"]),
       method=st.sampled_from(STEPWISE), extra=st.integers(0, 5000),
       alpha=st.sampled_from([1e-300, 1e-6, 0.05, 0.5, 0.999]), float32=st.booleans(),
       k_big=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_band_sample_cannot_be_fooled(pattern, method, extra, alpha, float32, k_big, seed):
    """reject() equals adjust() <= alpha exactly (mask, count, threshold) whatever the sample
    says about the rest of the values."""
    n = BAND_PREDICT_MIN + extra
    k = 777 if k_big and get_procedure(method).uses_k else 1
    p = _fooling_input(pattern, n, method, k, alpha, np.random.default_rng(seed))
    if float32:
        p = p.astype(np.float32)
    res = mtest.reject(p, alpha, method, k=k, nan_policy="omit")
    want = np.asarray(mtest.adjust(p, method, k=k, nan_policy="omit")) <= alpha
    assert np.array_equal(res.reject, want)
    assert res.n_rejected == int(want.sum())
    with np.errstate(invalid="ignore"):
        assert np.array_equal(p <= res.threshold, want)


_MUTATIONS = {
    "sort": lambda q: q.sort(),
    "reverse": lambda q: q.__setitem__(slice(None), q[::-1].copy()),
    "roll-by-one": lambda q: q.__setitem__(slice(None), np.roll(q, 1)),
    "swap-far": lambda q: q.__setitem__([7, q.size - 3], q[[q.size - 3, 7]]),
    "ulp-up-on-a-range": lambda q: q.__setitem__(slice(1000, 50_000), np.nextafter(q[1000:50_000], 2)),
    "halve-all": lambda q: q.__imul__(0.5),
    "one-minus": lambda q: q.__setitem__(slice(None), 1 - q),
}


@pytest.mark.parametrize("mutation", sorted(_MUTATIONS))
@pytest.mark.parametrize("n", [65_536, 200_001])  # serial and parallel validation passes
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fingerprint_sees_structured_mutations(mutation, n, dtype):
    """Whole-array rewrites a user may do in place after reject (sorting for a plot, two-sided
    conversions, reversing): pvalues_adjusted raises instead of answering from them."""
    rng = np.random.default_rng(n)
    p = (rng.integers(1, 2**10, size=n) / 2**10).astype(dtype)  # dyadic: structured bits
    res = mtest.reject(p, 0.05, "fdr_bh")
    _MUTATIONS[mutation](p)
    with pytest.raises(RuntimeError, match="modified"):
        res.pvalues_adjusted
