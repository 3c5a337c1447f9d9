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
