"""Binomial p-values and Clopper–Pearson bounds against scipy and statsmodels."""
import numpy as np
import pytest
from scipy.stats import binomtest as scipy_binomtest
from statsmodels.stats.proportion import proportion_confint

import mtest


def _cases(rng, n_cases):
    for _ in range(n_cases):
        n = int(rng.choice([1, 2, 3, 7, 10, 50, 100, 1000, 10_000, 100_000]))
        p = float(rng.choice([rng.random(), 1e-6, 1e-3, 0.5, 0.75, 0.999, 1 - 1e-6, 0.0, 1.0]))
        yield n, p


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_binom_pvalue_equals_scipy_shared_n(alternative):
    rng = np.random.default_rng({"greater": 1, "less": 2, "two-sided": 3}[alternative])
    for n, p in _cases(rng, 40):
        k = np.unique(np.concatenate([[0, n, n // 2, min(n, int(p * n)), min(n, int(np.ceil(p * n)))],
                                      rng.integers(0, n + 1, 30)]))
        got = mtest.binom_pvalue(k, n, p, alternative)
        ref = np.array([scipy_binomtest(int(x), n, p, alternative).pvalue for x in k])
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300, err_msg=f"n={n} p={p}")


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_binom_pvalue_equals_scipy_varying_n(alternative):
    rng = np.random.default_rng(7)
    n = rng.integers(1, 300, 200)
    k = rng.integers(0, n + 1)
    p = rng.choice([0.3, 0.5, 0.9], 200)
    got = mtest.binom_pvalue(k, n, p, alternative)
    ref = np.array([scipy_binomtest(int(a), int(b), float(c), alternative).pvalue for a, b, c in zip(k, n, p)])
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300)


def test_binom_pvalue_shape_and_table():
    count = np.array([[0, 5], [10, 3]])
    out = mtest.binom_pvalue(count, 10, 0.75)
    assert out.shape == (2, 2)
    table = mtest.binom_pvalue_table(10, 0.75)
    np.testing.assert_array_equal(out, table[count])
    assert mtest.binom_pvalue(0, 10, 0.75) == 1.0


def test_clopper_pearson_equals_statsmodels():
    rng = np.random.default_rng(11)
    for n in [1, 2, 10, 100, 1000, 100_000]:
        k = np.unique(np.concatenate([[0, n], rng.integers(0, n + 1, 20)]))
        for alpha in (1e-5, 0.001, 0.05, 0.3):
            lo = mtest.clopper_pearson(k, n, alpha).low
            ref_lo = np.array([proportion_confint(int(x), n, alpha=2 * alpha, method="beta")[0] for x in k])
            np.testing.assert_allclose(lo, ref_lo, rtol=0, atol=1e-10)
            two = mtest.clopper_pearson(k, n, alpha, alternative="two-sided")
            ref = np.array([proportion_confint(int(x), n, alpha=alpha, method="beta") for x in k])
            np.testing.assert_allclose(two.low, ref[:, 0], rtol=0, atol=1e-10)
            np.testing.assert_allclose(two.high, ref[:, 1], rtol=0, atol=1e-10)
            up = mtest.clopper_pearson(k, n, alpha, alternative="less").high
            ref_up = np.array([proportion_confint(int(x), n, alpha=2 * alpha, method="beta")[1] for x in k])
            np.testing.assert_allclose(up, ref_up, rtol=0, atol=1e-10)


def test_binomtest_result():
    res = mtest.binomtest(7, 10, 0.5, "greater")
    ref = scipy_binomtest(7, 10, 0.5, "greater")
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-14)
    assert res.statistic == 0.7
    ci = res.proportion_ci(0.95)
    ref_ci = ref.proportion_ci(0.95)
    assert ci.low == pytest.approx(ref_ci.low, abs=1e-12)
    assert mtest.binomtest(3, 10).pvalue == pytest.approx(scipy_binomtest(3, 10).pvalue, rel=1e-14)


@pytest.mark.parametrize("call, match", [
    (lambda: mtest.binom_pvalue(11, 10, 0.5), r"k must satisfy 0 <= k <= n; got k=11 with n=10"),
    (lambda: mtest.binom_pvalue(-1, 10, 0.5), r"k must satisfy 0 <= k <= n"),
    (lambda: mtest.binom_pvalue(1, 0, 0.5), r"n must be >= 1; got 0"),
    (lambda: mtest.binom_pvalue(1.5, 10, 0.5), r"k must be an integer array"),
    (lambda: mtest.binom_pvalue(1, 10.0, 0.5), r"n must be an integer array"),
    (lambda: mtest.binom_pvalue(1, 10, 1.5), r"p must lie in \[0, 1\]; got 1.5"),
    (lambda: mtest.binom_pvalue(1, 10, "a"), r"p must lie in \[0, 1\]"),
    (lambda: mtest.binom_pvalue(1, 10, 0.5, "two_sided"), r"alternative \('two_sided'\) not recognized"),
    (lambda: mtest.clopper_pearson(1, 10, 0), r"alpha must lie strictly between 0 and 1; got 0"),
    (lambda: mtest.binomtest([1, 2], 10), r"k must be a single integer"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_clopper_pearson_table_path_equals_direct():
    rng = np.random.default_rng(12)
    k = rng.integers(0, 51, 5000)
    big = mtest.clopper_pearson(k, 50, 0.01, alternative="two-sided")
    small = [mtest.clopper_pearson(k[:50], 50, 0.01, alternative="two-sided")]
    np.testing.assert_array_equal(big.low[:50], small[0].low)
    np.testing.assert_array_equal(big.high[:50], small[0].high)
