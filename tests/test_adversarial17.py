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
