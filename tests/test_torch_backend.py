"""torch tensors: rejections and adjusted p-values on the tensor's device, batched along an axis,
bit for bit the numpy path's (mtest.reject / mtest.adjust on each family).

CI runs CPU torch. On a GPU machine the same tests run on the GPU with
``MTEST_TORCH_DEVICE=cuda pytest tests/test_torch_backend.py``.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mtest
from mtest import _stepwise
from mtest.testing.strategies import pvalue_arrays

torch = pytest.importorskip("torch")
from mtest import _torch_backend  # noqa: E402
from mtest._torch_backend import SIDAK_MAX_ULPS, TorchTestResult, adjust_torch, reject_torch  # noqa: E402

#: the device under test (inputs are created there; results must stay there)
DEVICE = torch.device(os.environ.get("MTEST_TORCH_DEVICE", "cpu"))


def _t(array):
    return torch.from_numpy(np.ascontiguousarray(array)).to(DEVICE)


def _tensor(*args, **kwargs):
    return torch.tensor(*args, **kwargs).to(DEVICE)


def _zeros(*shape):
    return torch.zeros(*shape, dtype=torch.float64, device=DEVICE)


STEPWISE = [name for name, proc in mtest.PROCEDURES.items()
            if isinstance(proc, mtest.StepwiseProcedure)]
ALL = list(mtest.PROCEDURES)
#: log1p/expm1 on torch are not numpy's: adjusted values agree to SIDAK_MAX_ULPS ulps
ULP_BOUNDED = ("sidak", "holm-sidak")


def _k_for(method, k=3):
    return k if mtest.get_procedure(method).uses_k else 1


def _ulps(a, b):
    """Largest distance in ulps between float64 arrays (NaN must match NaN)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    if not ok.any():
        return 0
    return int(np.max(np.abs(a[ok].view(np.int64) - b[ok].view(np.int64))))


def _same_bits(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def _inputs(rng, m):
    """The classes that decide speed paths and rounding: uniform, mostly tiny, all tiny, ties,
    exact 0 and 1, and p-values sitting exactly on (and one ulp around) Holm's critical values."""
    crit = _stepwise.critical_values(mtest.get_procedure("holm"), np.arange(1, m + 1), m, 1, 0.05)
    on_edge = rng.permutation(np.concatenate([crit, np.nextafter(crit, 2.0)])[:m])
    return {
        "uniform": rng.random(m),
        "mixed": np.where(rng.random(m) < 0.9, 10.0 ** rng.uniform(-14, -12, m), rng.random(m)),
        "all-tiny": 10.0 ** rng.uniform(-14, -10, m),
        "ties": rng.choice([0.0, 1e-4, 0.001, 0.01, 0.02, 0.5, 1.0], m),
        "on-critical-values": on_edge,
    }


def _check_family(res, index, p_family, method, alpha, k, nan_policy="raise"):
    """One family of a TorchTestResult against the numpy path on the same values."""
    ref = mtest.reject(p_family, alpha, method, k=k, nan_policy=nan_policy)
    got_reject = res.reject[index].cpu().numpy()
    assert np.array_equal(got_reject, ref.reject), (method, index)
    assert int(res.n_rejected[index]) == ref.n_rejected
    assert int(res.n_tests[index]) == ref.n_tests
    for value in (res.reject, res.threshold, res.n_rejected, res.n_tests):
        assert value.device == DEVICE
    assert _same_bits(float(res.threshold[index]), ref.threshold) or (
        np.isnan(ref.threshold) and np.isnan(float(res.threshold[index])))


# ------------------------------------------------------------------------------------------------
# bitwise equality with the numpy path


@pytest.mark.parametrize("passes, kernels", [(_torch_backend.MAX_COUNTING_PASSES, True),
                                             (_torch_backend.MAX_COUNTING_PASSES, False),
                                             (0, True)],
                         ids=["counting", "counting-in-torch", "sorted-decision"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ALL)
def test_reject_equals_numpy_bitwise(method, dtype, passes, kernels, monkeypatch):
    """Both ways of counting on CPU tensors (mtest's kernel; torch comparisons, as on a GPU) and
    the sorted decision of undecided families."""
    monkeypatch.setattr(_torch_backend, "MAX_COUNTING_PASSES", passes)
    monkeypatch.setattr(_torch_backend, "COUNT_CPU_WITH_KERNELS", kernels)
    rng = np.random.default_rng(1)
    for m in (1, 2, 3, 17, 1000):
        k = min(_k_for(method), m)
        for name, p in _inputs(rng, m).items():
            p = p.astype(dtype)
            for alpha in (0.05, 0.2):
                res = reject_torch(_t(p), alpha, method, k=k)
                _check_family(res, (), p, method, alpha, k)
                assert res.reject.dtype == torch.bool and res.threshold.dtype == torch.float64
                assert res.n_rejected.dtype == torch.int64 and res.threshold.shape == ()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("method", ALL)
def test_adjust_equals_numpy_bitwise(method, dtype):
    rng = np.random.default_rng(2)
    for m in (1, 2, 3, 17, 1000):
        k = min(_k_for(method), m)
        for name, p in _inputs(rng, m).items():
            p = p.astype(dtype)
            got = adjust_torch(_t(p), method, k=k, alpha=0.05)
            want = mtest.adjust(p, method, k=k, alpha=0.05)
            assert got.dtype == torch.float64 and got.shape == p.shape and got.device == DEVICE
            if method in ULP_BOUNDED:
                assert _ulps(got.cpu().numpy(), want) <= SIDAK_MAX_ULPS, (method, name, m)
            else:
                assert _same_bits(got.cpu().numpy(), want), (method, name, m)


@pytest.mark.parametrize("method", ULP_BOUNDED)
def test_sidak_ulp_bound_over_the_whole_range(method):
    """Šidák / Holm–Šidák: torch's log1p/expm1 differ from numpy's; the bound is documented as
    SIDAK_MAX_ULPS ulps of the adjusted value (measured <= 2 on torch's CPU)."""
    rng = np.random.default_rng(3)
    for m in (2, 3, 7, 50, 1000, 100_003):
        p = np.concatenate([rng.random(m // 2 + 1), 10.0 ** rng.uniform(-300, 0, m // 2 + 1),
                            1.0 - 10.0 ** rng.uniform(-16, -1, m // 2 + 1)])[:m]
        got = adjust_torch(_t(p), method).cpu().numpy()
        assert _ulps(got, mtest.adjust(p, method)) <= SIDAK_MAX_ULPS


def test_sidak_rejections_are_exact_even_where_the_transform_differs():
    """Rejections use the engine's critical values, so they match numpy bit for bit even for
    p-values on the critical value (where a one-ulp transform difference would flip them)."""
    for method in ULP_BOUNDED:
        proc = mtest.get_procedure(method)
        for m in (2, 10, 1000):
            crit = _stepwise.critical_values(proc, np.arange(1, m + 1), m, 1, 0.05)
            for p in (crit, np.nextafter(crit, 2.0), np.nextafter(crit, -1.0)):
                res = reject_torch(_t(p.copy()), 0.05, method)
                _check_family(res, (), p, method, 0.05, 1)


@settings(max_examples=60)
@given(p=pvalue_arrays(max_size=2000, allow_nan=True), method=st.sampled_from(ALL),
       alpha=st.sampled_from([0.01, 0.05, 0.3]), k=st.integers(1, 4))
def test_random_inputs_equal_numpy(p, method, alpha, k):
    k = k if mtest.get_procedure(method).uses_k else 1
    k = max(1, min(k, int(np.count_nonzero(~np.isnan(p)))))  # k > m is refused
    tensor = _t(p)
    res = reject_torch(tensor, alpha, method, k=k, nan_policy="omit")
    _check_family(res, (), p, method, alpha, k, "omit")
    got = adjust_torch(tensor, method, k=k, nan_policy="omit", alpha=alpha).cpu().numpy()
    want = mtest.adjust(p, method, k=k, nan_policy="omit", alpha=alpha)
    if method in ULP_BOUNDED:
        assert _ulps(got, want) <= SIDAK_MAX_ULPS
    else:
        assert _same_bits(got, want) or np.array_equal(got, want, equal_nan=True)
        assert np.array_equal(res.reject.cpu().numpy(), got <= alpha)


# ------------------------------------------------------------------------------------------------
# batched families


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_batched_families_along_an_axis(method, axis):
    rng = np.random.default_rng(4)
    k = _k_for(method, 2)
    shape = (5, 40, 3)
    # per family: a mix of classes (uniform, tiny, ties) so families take different paths
    p = np.where(rng.random(shape) < 0.5, 10.0 ** rng.uniform(-6, -1, shape), rng.random(shape))
    p[0] = rng.choice([0.001, 0.01, 0.3], shape[1:])
    res = reject_torch(_t(p), 0.05, method, k=k, axis=axis)
    adjusted = adjust_torch(_t(p), method, k=k, axis=axis, alpha=0.05).cpu().numpy()
    ax = axis % p.ndim
    assert res.reject.shape == p.shape and adjusted.shape == p.shape
    assert res.threshold.shape == tuple(n for i, n in enumerate(shape) if i != ax)
    moved = np.moveaxis(p, ax, -1)
    moved_reject = np.moveaxis(res.reject.cpu().numpy(), ax, -1)
    moved_adjusted = np.moveaxis(adjusted, ax, -1)
    for index in np.ndindex(moved.shape[:-1]):
        family = moved[index]
        ref = mtest.reject(family, 0.05, method, k=k)
        assert np.array_equal(moved_reject[index], ref.reject)
        assert int(res.n_rejected[index]) == ref.n_rejected
        assert _same_bits(float(res.threshold[index]), ref.threshold)
        want = mtest.adjust(family, method, k=k, alpha=0.05)
        if method in ULP_BOUNDED:
            assert _ulps(moved_adjusted[index], want) <= SIDAK_MAX_ULPS
        else:
            assert _same_bits(moved_adjusted[index], want)


@pytest.mark.parametrize("passes, kernels", [(_torch_backend.MAX_COUNTING_PASSES, True),
                                             (_torch_backend.MAX_COUNTING_PASSES, False),
                                             (0, True)])
@pytest.mark.parametrize("method", ALL)
def test_batched_nan_omit_families_of_different_sizes(method, passes, kernels, monkeypatch):
    monkeypatch.setattr(_torch_backend, "MAX_COUNTING_PASSES", passes)
    monkeypatch.setattr(_torch_backend, "COUNT_CPU_WITH_KERNELS", kernels)
    rng = np.random.default_rng(5)
    k = _k_for(method, 2)
    p = np.where(rng.random((6, 50)) < 0.5, 10.0 ** rng.uniform(-5, -1, (6, 50)),
                 rng.random((6, 50)))
    for row, share in enumerate([0.0, 0.1, 0.5, 0.9, 0.98, 1.0]):  # the last family is all NaN
        p[row, rng.random(50) < share] = np.nan
    p[5] = np.nan
    if k > 1:  # the all-NaN family tests nothing, fewer than k: refused as by the numpy path
        for run in (lambda: reject_torch(_t(p), 0.05, method, k=k, axis=1, nan_policy="omit"),
                    lambda: adjust_torch(_t(p), method, k=k, axis=1, nan_policy="omit", alpha=0.05),
                    lambda: mtest.reject(p, 0.05, method, k=k, axis=1, nan_policy="omit")):
            with pytest.raises(ValueError, match=r"k \(2\) exceeds .* m \(0\) of family at \(5,\)"):
                run()
        p = p[:5]
    res = reject_torch(_t(p), 0.05, method, k=k, axis=1, nan_policy="omit")
    adjusted = adjust_torch(_t(p), method, k=k, axis=1, nan_policy="omit",
                            alpha=0.05).cpu().numpy()
    for row in range(p.shape[0]):
        _check_family(res, row, p[row], method, 0.05, k, "omit")
        want = mtest.adjust(p[row], method, k=k, nan_policy="omit", alpha=0.05)
        if method in ULP_BOUNDED:
            assert _ulps(adjusted[row], want) <= SIDAK_MAX_ULPS
        else:
            assert np.array_equal(adjusted[row], want, equal_nan=True)
    if k == 1:  # the all-NaN family
        assert int(res.n_tests[5]) == 0 and int(res.n_rejected[5]) == 0
        assert np.isnan(float(res.threshold[5]))


def test_slow_counting_needs_the_sorted_fallback():
    """A ladder on the critical values advances one rank per counting pass: the families that are
    still undecided after MAX_COUNTING_PASSES are sorted and decided on the device."""
    m = 200
    for method in ("holm", "lehmann-romano", "holm-sidak", "hochberg", "fdr_bh", "fdr_by"):
        proc = mtest.get_procedure(method)
        k = _k_for(method, 2)
        crit = _stepwise.critical_values(proc, np.arange(1, m + 1), m, k, 0.05)
        ladder = np.stack([crit, np.nextafter(crit, 2.0), np.r_[crit[:150], np.ones(50)],
                           np.r_[np.nextafter(crit[:150], 2.0), crit[150:]]])
        res = reject_torch(_t(ladder), 0.05, method, k=k, axis=1)
        for row in range(len(ladder)):
            _check_family(res, row, ladder[row], method, 0.05, k)


def test_stepdown_ladder_takes_more_than_the_counting_passes(monkeypatch):
    """The ladder really reaches the sorted decision (counted), and decides it right."""
    m = 100
    crit = _stepwise.critical_values(mtest.get_procedure("holm"), np.arange(1, m + 1), m, 1, 0.05)
    calls = []
    real = _torch_backend._decide_sorted
    monkeypatch.setattr(_torch_backend, "_decide_sorted",
                        lambda *a, **kw: calls.append(1) or real(*a, **kw))
    res = reject_torch(_t(crit.copy()), 0.05, "holm")
    assert calls and int(res.n_rejected) == m == mtest.holm(crit).n_rejected


# ------------------------------------------------------------------------------------------------
# float32 and other dtypes


def test_float32_compares_exactly_against_float64_critical_values():
    """float32 p-values one float32-ulp around a critical value are decided as float64(p) <= c,
    the numpy path's semantics, though the device compares in float32."""
    m = 1000
    for method in ("bonferroni", "holm", "sidak", "fdr_bh"):
        proc = mtest.get_procedure(method)
        c = _stepwise.critical_values(proc, np.arange(1, m + 1), m, 1, 0.05)
        c32 = c.astype(np.float32)
        p = np.stack([c32, np.nextafter(c32, np.float32(2)), np.nextafter(c32, np.float32(-1))])
        res = reject_torch(_t(p), 0.05, method, axis=1)
        for row in range(3):
            _check_family(res, row, p[row], method, 0.05, 1)
            assert np.array_equal(res.reject[row].cpu().numpy(),
                                  p[row].astype(np.float64) <= float(res.threshold[row]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_read_as_float32(dtype):
    rng = np.random.default_rng(6)
    p = _t(rng.random(300) ** 4).to(dtype)
    as32 = p.to(torch.float32).cpu().numpy()
    res = reject_torch(p, 0.1, "hochberg")
    _check_family(res, (), as32, "hochberg", 0.1, 1)
    assert _same_bits(adjust_torch(p, "holm").cpu().numpy(), mtest.adjust(as32, "holm"))


def test_integer_tensors_are_read_as_float64():
    p = _tensor([0, 1, 0, 1, 1])
    res = reject_torch(p, 0.05, "holm")
    assert res.reject.tolist() == [True, False, True, False, False]
    assert _same_bits(adjust_torch(p, "fdr_bh").cpu().numpy(), mtest.adjust(p.cpu().numpy(), "fdr_bh"))


# ------------------------------------------------------------------------------------------------
# validation, identical to the numpy path


@pytest.mark.parametrize("bad", [
    [0.1, 1.5, 0.2], [0.1, -0.01], [0.3, float("inf")], [float("-inf")], [0.1, float("nan")],
])
def test_invalid_values_raise_the_numpy_message(bad):
    with pytest.raises(ValueError) as numpy_error:
        mtest.reject(np.array(bad), 0.05, "holm")
    for dtype in (torch.float64, torch.float32):
        tensor = _tensor(bad, dtype=dtype)
        for call in (lambda: reject_torch(tensor, 0.05, "holm"),
                     lambda: adjust_torch(tensor, "holm"),
                     lambda: mtest.reject(tensor),
                     lambda: reject_torch(tensor.reshape(1, -1), 0.05, "holm", axis=1)):
            with pytest.raises(ValueError, match="pvalues") as error:
                call()
            if dtype == torch.float64:
                assert str(error.value) == str(numpy_error.value)


def test_nan_omit_still_refuses_out_of_range():
    with pytest.raises(ValueError, match=r"pvalues must lie in \[0, 1\]; got 2.0"):
        reject_torch(_tensor([float("nan"), 2.0, 0.1]), 0.05, "holm", nan_policy="omit")


@pytest.mark.parametrize("tensor", [_tensor([True, False]),
                                    _tensor([0.1 + 0j, 0.2 + 0j])])
def test_non_numeric_dtypes_raise_the_numpy_message(tensor):
    with pytest.raises(ValueError, match="pvalues must be a numeric array of p-values") as error:
        reject_torch(tensor, 0.05, "holm")
    with pytest.raises(ValueError) as numpy_error:
        mtest.reject(tensor.cpu().numpy(), 0.05, "holm")
    assert str(error.value) == str(numpy_error.value)
    with pytest.raises(ValueError, match="pvalues"):
        adjust_torch(tensor, "holm")


def test_argument_errors_name_the_argument():
    p = _t(np.random.default_rng(9).random((4, 5)))
    with pytest.raises(ValueError, match=r"axis must be None or an integer in \[-2, 1\].*got 2"):
        reject_torch(p, 0.05, "holm", axis=2)
    with pytest.raises(ValueError, match="axis"):
        adjust_torch(p, "holm", axis=1.0)
    with pytest.raises(ValueError, match="axis"):
        reject_torch(_tensor(0.5, dtype=torch.float64), 0.05, "holm", axis=0)
    with pytest.raises(ValueError, match=r"alpha must lie strictly between 0 and 1; got 1.5"):
        reject_torch(p, 1.5, "holm")
    with pytest.raises(ValueError, match=r"k \(2\) is only defined for the k-FWER procedures"):
        reject_torch(p, 0.05, "holm", k=2)
    with pytest.raises(ValueError, match=r"method \('nope'\) not recognized"):
        adjust_torch(p, "nope")
    with pytest.raises(ValueError, match=r"nan_policy \('skip'\) not recognized"):
        reject_torch(p, 0.05, "holm", nan_policy="skip")
    with pytest.raises(ValueError, match="pvalues must be a torch.Tensor"):
        reject_torch(np.array([0.1]), 0.05, "holm")


def test_level_dependent_adjusted_values_need_alpha():
    """The two-stage FDR procedures' adjusted values depend on alpha: required, as in mtest.adjust,
    and the result's adjusted values use the result's alpha."""
    p = np.array([0.001, 0.01, 0.02, 0.03, 0.04, 0.6])
    for method in [n for n, proc in mtest.PROCEDURES.items() if getattr(proc, "alpha_dependent", False)]:
        with pytest.raises(ValueError, match="pass alpha") as error:
            adjust_torch(_t(p), method)
        with pytest.raises(ValueError) as numpy_error:
            mtest.adjust(p, method)
        assert str(error.value) == str(numpy_error.value)
        for alpha in (0.05, 0.2):
            res = reject_torch(_t(p), alpha, method)
            want = mtest.adjust(p, method, alpha=alpha)
            assert _same_bits(res.pvalues_adjusted.cpu().numpy(), want)
            assert _same_bits(mtest.adjust(_t(p), method, alpha=alpha).cpu().numpy(), want)


def test_inputs_are_not_mutated_and_gradients_are_ignored():
    rng = np.random.default_rng(7)
    base = _t(rng.random((3, 64)) ** 3)
    for method in ALL:
        for axis in (None, 1):
            p = base.clone().t().requires_grad_(True).t()  # non-contiguous, needs grad
            before = p.detach().clone()
            reject_torch(p, 0.05, method, k=1, axis=axis).pvalues_adjusted
            adjust_torch(p, method, axis=axis, alpha=0.05)
            assert torch.equal(p.detach(), before) and p.requires_grad


def test_empty_and_single_families():
    for method in ALL:
        res = reject_torch(_zeros(0), 0.05, method)
        assert res.reject.shape == (0,) and int(res.n_rejected) == 0 and int(res.n_tests) == 0
        assert np.isnan(float(res.threshold))
        assert adjust_torch(_zeros(0), method, alpha=0.05).shape == (0,)
        res = reject_torch(_zeros(0, 4), 0.05, method, axis=1)
        assert res.reject.shape == (0, 4) and res.threshold.shape == (0,)
        res = reject_torch(_zeros(3, 0), 0.05, method, axis=1)
        assert res.n_rejected.tolist() == [0, 0, 0] and res.reject.shape == (3, 0)
        scalar = _tensor(0.01, dtype=torch.float64)
        _check_family(reject_torch(scalar, 0.05, method), (), np.array(0.01), method, 0.05, 1)


# ------------------------------------------------------------------------------------------------
# the public API, user procedures, results


def test_public_reject_and_adjust_dispatch_tensors():
    p = _tensor([0.01, 0.04, 0.03, 0.005], dtype=torch.float64)
    res = mtest.reject(p, 0.05, "holm")
    assert isinstance(res, TorchTestResult) and res.reject.tolist() == [True, False, False, True]
    assert res.guarantee == mtest.get_procedure("holm").guarantee(1, 0.05)
    adjusted = mtest.adjust(p, "holm")
    assert isinstance(adjusted, torch.Tensor) and adjusted.tolist() == [0.03, 0.06, 0.06, 0.02]
    assert torch.equal(res.pvalues_adjusted, adjusted)
    assert torch.equal(res.reject, res.pvalues_adjusted <= 0.05)
    lr = mtest.reject(p, 0.05, "lr", k=2)
    assert lr.k == 2 and lr.guarantee.error_rate == "kfwer"
    assert "n_rejected=2" in repr(res) and f"device={DEVICE}" in repr(res)


def test_user_procedures_use_their_own_transform():
    """An unregistered procedure object may reuse a built-in name: its own raw must be used."""
    import dataclasses

    holm = mtest.get_procedure("holm")
    # twice Holm's transform, named 'holm' but not the registered object
    double = dataclasses.replace(holm, raw=lambda v, r, m, k: 2.0 * holm.raw(v, r, m, k),
                                 critical_guess=lambda r, m, k, a: holm.critical_guess(r, m, k, a) / 2)
    single = mtest.StepwiseProcedure(
        name="my-bonferroni", error_rate="fwer", dependence="arbitrary", step="single",
        raw=lambda v, r, m, k: np.asarray(v, dtype=float) * (3 * m),
        critical_guess=lambda r, m, k, a: np.full(np.shape(r), a / (3 * m)))
    rng = np.random.default_rng(8)
    p = np.where(rng.random((4, 80)) < 0.5, rng.random((4, 80)) * 1e-3, rng.random((4, 80)))
    p[1, :5] = np.nan
    for proc in (double, single):
        res = reject_torch(_t(p), 0.05, proc, axis=1, nan_policy="omit")
        adjusted = adjust_torch(_t(p), proc, axis=1, nan_policy="omit").cpu().numpy()
        for row in range(4):
            ref = mtest.reject(p[row], 0.05, proc, nan_policy="omit")
            assert np.array_equal(res.reject[row].cpu().numpy(), ref.reject)
            assert np.array_equal(adjusted[row], mtest.adjust(p[row], proc, nan_policy="omit"),
                                  equal_nan=True)


def test_mtest_imports_without_torch():
    code = textwrap.dedent("""
        import sys

        class NoTorch:  # any 'import torch' now fails, as without torch installed
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ImportError("no torch here")

        sys.meta_path.insert(0, NoTorch())
        import mtest, mtest._torch_backend as tb
        assert "torch" not in sys.modules
        assert not tb.is_tensor([0.1]) and mtest.holm([0.01, 0.5]).n_rejected == 1
        assert mtest.adjust([0.01, 0.5], "bh").tolist() == [0.02, 0.5]
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
