"""The 1.0 API: one signature family, and families along an axis (bitwise the per-family result)."""
import inspect

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings, strategies as st

import mtest

PROCEDURE_FUNCTIONS = [mtest.holm, mtest.bonferroni, mtest.lehmann_romano]


@pytest.mark.parametrize("fn", PROCEDURE_FUNCTIONS + [mtest.reject])
def test_procedure_functions_share_one_signature_family(fn):
    params = inspect.signature(fn).parameters
    names = list(params)
    assert names[:2] == ["pvalues", "alpha"] and params["alpha"].default == 0.05
    for name in ("axis", "nan_policy") + (("k",) if "k" in params else ()):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (fn.__name__, name)
    assert params["axis"].default is None and params["nan_policy"].default == "raise"


def test_lehmann_romano_takes_k_by_keyword_only():
    with pytest.raises(TypeError):
        mtest.lehmann_romano([0.01, 0.02], 0.05, 2)  # noqa: the old positional form is gone
    assert mtest.lehmann_romano([0.001, 0.012, 0.02, 0.03, 0.5], k=2).n_rejected == 4


def test_adjust_signature():
    params = inspect.signature(mtest.adjust).parameters
    assert list(params)[:2] == ["pvalues", "method"]
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("alpha", "k", "axis", "nan_policy"))


def _arrays():
    return st.tuples(st.integers(1, 4), st.integers(1, 25), st.integers(1, 3), st.integers(0, 2**32 - 1),
                     st.sampled_from([np.float64, np.float32]))


@settings(max_examples=60, deadline=None)
@given(spec=_arrays(), method=st.sampled_from(sorted(mtest.PROCEDURES)), k=st.integers(1, 3),
       axis=st.sampled_from([0, 1, 2, -1, -3]))
def test_axis_equals_each_family_on_its_own(spec, method, k, axis):
    a, b, c, seed, dtype = spec
    rng = np.random.default_rng(seed)
    x = (rng.random((a, b, c)) ** 3).astype(dtype)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[rng.random(x.shape) < 0.1] = x.flat[0]  # ties (and NaN copies)
    if not mtest.get_procedure(method).uses_k:
        k = 1
    smallest = int((~np.isnan(np.moveaxis(x, axis, -1))).sum(axis=-1).min())
    if k > max(smallest, 1):  # a family with fewer than k tested values: refused by every path
        with pytest.raises(ValueError, match=r"exceeds the number of tested hypotheses .* of family at"):
            mtest.reject(x, 0.05, method, k=k, axis=axis, nan_policy="omit")
        with pytest.raises(ValueError, match=r"exceeds the number of tested hypotheses .* of family at"):
            mtest.adjust(x, method, k=k, axis=axis, nan_policy="omit", alpha=0.05)
        k = max(smallest, 1)
    res = mtest.reject(x, 0.05, method, k=k, axis=axis, nan_policy="omit")
    adj = mtest.adjust(x, method, k=k, axis=axis, nan_policy="omit", alpha=0.05)
    assert res.reject.shape == x.shape and adj.shape == x.shape
    moved_r, moved_a, moved_x = (np.moveaxis(v, axis, -1) for v in (res.reject, adj, x))
    assert res.threshold.shape == moved_x.shape[:-1]
    for idx in np.ndindex(moved_x.shape[:-1]):
        ref = mtest.reject(moved_x[idx], 0.05, method, k=k, nan_policy="omit")
        np.testing.assert_array_equal(moved_r[idx], ref.reject)
        np.testing.assert_array_equal(moved_a[idx].view(np.uint64),
                                      np.asarray(ref.pvalues_adjusted).view(np.uint64))
        assert res.n_rejected[idx] == ref.n_rejected and res.n_tests[idx] == ref.n_tests
        assert (np.isnan(res.threshold[idx]) and np.isnan(ref.threshold)) or res.threshold[idx] == ref.threshold
    # the documented check holds in the input's dtype, per family
    tested = ~np.isnan(x)
    np.testing.assert_array_equal((x <= np.expand_dims(res.threshold, axis)) & tested, res.reject)
    np.testing.assert_array_equal(res.pvalues_adjusted, adj)


@pytest.mark.parametrize("method", ["bh", "by"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_axis_matches_scipy_false_discovery_control(method, axis):
    x = np.random.default_rng(3).random((7, 40)) ** 2
    ours = mtest.adjust(x, method, axis=axis)
    theirs = scipy.stats.false_discovery_control(x, axis=axis, method=method)
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)


def test_axis_none_is_one_family_and_axis_results_keep_a_series_index():
    import pandas as pd

    x = np.array([[0.001, 0.2], [0.01, 0.04]])
    assert mtest.holm(x).n_tests == 4 and mtest.holm(x, axis=0).n_tests.tolist() == [2, 2]
    s = pd.Series([0.01, 0.02, 0.5], index=["a", "b", "c"])
    r = mtest.holm(s, axis=0)
    assert list(r.reject.index) == ["a", "b", "c"] and r.threshold.shape == ()


@pytest.mark.parametrize("axis", [2, -3, 1.0, True, "0"])
def test_bad_axis_is_a_value_error_naming_it(axis):
    with pytest.raises(ValueError, match="axis"):
        mtest.reject(np.full((2, 3), 0.5), axis=axis)
    with pytest.raises(ValueError, match="axis"):
        mtest.adjust(np.full((2, 3), 0.5), axis=axis)


def test_axis_results_do_not_alias_the_input():
    x = np.random.default_rng(0).random((3, 5))
    res = mtest.holm(x, axis=1)
    adj = res.pvalues_adjusted.copy()
    x[:] = 0.0
    np.testing.assert_array_equal(res.pvalues_adjusted, adj)
    assert not np.shares_memory(res.pvalues_adjusted, x)


def test_empty_families_along_an_axis():
    res = mtest.holm(np.empty((3, 0)), axis=1)
    assert res.reject.shape == (3, 0) and np.isnan(res.threshold).all() and (res.n_tests == 0).all()
    all_nan = mtest.holm(np.array([[np.nan, np.nan], [0.01, 0.5]]), axis=1, nan_policy="omit")
    assert all_nan.n_tests.tolist() == [0, 2] and np.isnan(all_nan.threshold[0])
