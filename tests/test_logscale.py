"""log_p='ln' / 'log10': bit-for-bit parity with the linear scale where p is a normal double,
and exact rejections / adjusted values within one rounding far below 1e-308."""
from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import given, strategies as st

import mtest
from mtest._logscale import scale_for

METHODS = ["bonferroni", "holm", "lehmann-romano", "sidak", "holm-sidak", "hochberg", "hommel",
           "fdr_bh", "fdr_by"]
STEPWISE = [m for m in METHODS if m != "hommel"]


def _to_log(p, base):
    with np.errstate(divide="ignore"):
        return np.log(p) if base == "ln" else np.log10(p)


def _to_linear(v, base):
    return scale_for(base).to_linear(v)


def _family(seed, m=400):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=m)
    p[: m // 10] *= 1e-5  # signals
    p[20:30] = p[20]       # ties
    p[40:43] = 0.0         # p = 0 is -inf
    return p


def _check_parity(v, base, method, k=1, nan_policy="raise", alpha=0.05):
    """The log-scale run on v equals the linear run on P(v) = exp(v): rejections, count and the
    threshold bit for bit, adjusted values = log of the linear adjusted values bit for bit."""
    p = _to_linear(v, base)
    lin = mtest.reject(p, alpha, method, k=k, nan_policy=nan_policy)
    res = mtest.reject(v, alpha, method, k=k, nan_policy=nan_policy, log_p=base)
    np.testing.assert_array_equal(res.reject, lin.reject)
    assert res.n_rejected == lin.n_rejected and res.n_tests == lin.n_tests
    # the threshold is in log scale and splits exactly like the linear one
    np.testing.assert_array_equal(v <= res.threshold, p <= lin.threshold)
    assert _to_linear(np.array([res.threshold]), base)[0] <= lin.threshold
    if res.threshold < 0:
        assert _to_linear(np.array([np.nextafter(res.threshold, 1.0)]), base)[0] > lin.threshold
    expected = _to_log(lin.pvalues_adjusted, base)
    if not mtest.get_procedure(method).adjusted_below_p:
        # log of the linear adjusted value can round one ulp below v (log(exp(v)) < v): the log
        # scale never returns an adjusted value below its input. That clamp happens inside the
        # transform, before the running max/min, so it reaches every value sharing the clamped
        # one's linear adjusted value: those may equal any tie-mate's clamped value
        clamped = np.where(np.isnan(v), expected, np.maximum(expected, v))
        expected = _with_tie_mates(res.pvalues_adjusted, clamped, lin.pvalues_adjusted)
    np.testing.assert_array_equal(res.pvalues_adjusted, expected)
    np.testing.assert_array_equal(mtest.adjust(v, method, k=k, nan_policy=nan_policy, log_p=base),
                                  expected)


def _with_tie_mates(got, clamped, linear):
    """``clamped``, except where ``got`` equals the clamped value of another element with the
    same linear adjusted value (its tie-mate in the accumulation): then ``got``."""
    out = np.array(clamped, dtype=np.float64)
    for i in np.flatnonzero(~(np.asarray(got) == out) & ~np.isnan(out)):
        mates = clamped[linear == linear[i]]
        if np.any(mates == got[i]):
            out[i] = got[i]
    return out


@pytest.mark.parametrize("base", ["ln", "log10"])
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_linear_scale(method, base):
    for seed in range(3):
        _check_parity(_to_log(_family(seed), base), base, method)


@pytest.mark.parametrize("base", ["ln", "log10"])
@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_bh", "bonferroni", "holm-sidak"])
def test_parity_at_the_critical_values(method, base):
    """Values exactly at, just below and just above every log critical value."""
    scale = scale_for(base)
    m = 60
    proc = mtest.get_procedure(method)
    from mtest._stepwise import critical_values

    crit = critical_values(proc, np.arange(1, m + 1), m, 1, 0.05)
    bounds = np.array([scale.le_bound(c) for c in crit])
    for shift in (-1, 0, 1):
        v = bounds.copy()
        if shift:
            v = np.nextafter(v, shift * np.inf)
        _check_parity(np.minimum(v, 0.0), base, method)
        _check_parity(np.minimum(v[::-1], 0.0), base, method)


@given(st.lists(st.floats(min_value=-800.0, max_value=0.0), min_size=1, max_size=60),
       st.sampled_from(STEPWISE), st.sampled_from(["ln", "log10"]))
def test_parity_property(values, method, base):
    v = np.array(values)
    p = _to_linear(v, base)
    if np.any((p < np.finfo(float).tiny) & (v > -np.inf)):
        # P(v) subnormal or underflowed to 0: rejections still agree with the linear run on P(v)
        lin = mtest.reject(p, 0.05, method)
        np.testing.assert_array_equal(mtest.reject(v, 0.05, method, log_p=base).reject, lin.reject)
        return
    _check_parity(v, base, method)


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "hochberg"])
def test_nan_omit_and_k(method):
    v = _to_log(_family(7), "ln")
    v[[3, 77, 150]] = np.nan
    _check_parity(v, "ln", method, nan_policy="omit")
    _check_parity(v, "ln", "lehmann-romano", k=3, nan_policy="omit")
    _check_parity(v, "log10", "bonferroni", k=2, nan_policy="omit")


def _exact_log(x_terms, base):
    """log of a product given as Decimal ln terms, converted to the base, at 50 digits."""
    getcontext().prec = 50
    total = sum(x_terms, Decimal(0))
    return total if base == "ln" else total / Decimal(10).ln()


def _ulps(a, b):
    return abs(a - b) / np.spacing(abs(b))


@pytest.mark.parametrize("base", ["ln", "log10"])
def test_deep_values_holm_and_bh_within_one_rounding(base):
    """p far below 1e-308 (−log10 p up to 700): adjusted values within 1 ulp of the exact log of
    c_i * p (c_i the transform's slope: Holm m - i + 1, BH m/i), running max/min applied."""
    rng = np.random.default_rng(3)
    log10p = -rng.uniform(310, 700, size=50)
    log10p[:5] = -rng.uniform(1, 3, size=5)  # a few ordinary ones
    v = log10p if base == "log10" else log10p * np.log(10.0)
    m = v.size
    order = np.argsort(v)
    getcontext().prec = 50
    ln_v = [Decimal(float(x)) * (Decimal(10).ln() if base == "log10" else 1) for x in v[order]]
    for method in ("holm", "fdr_bh"):
        got = mtest.adjust(v, method, log_p=base)[order]
        raw = []
        for i, lv in enumerate(ln_v, start=1):
            factor = Decimal(m - i + 1) if method == "holm" else Decimal(float(m / i))
            raw.append(_exact_log([factor.ln(), lv], base))
        if method == "holm":
            exact = [max(raw[: i + 1]) for i in range(m)]
        else:
            exact = [min(raw[i:]) for i in range(m)]
        exact = np.minimum([float(e) for e in exact], 0.0)
        assert max(_ulps(g, e) for g, e in zip(got, exact)) <= 1.0
        # rejections: every deep value is below every critical value
        res = mtest.reject(v, 0.05, method, log_p=base)
        assert res.reject[log10p < -300].all()
        np.testing.assert_array_equal(res.reject, mtest.reject(_to_linear(v, base), 0.05,
                                                              method).reject)


def test_genome_wide_example():
    """−log10 p = 500 next to ordinary values: Holm rejects exactly the small ones."""
    v = np.array([-500.0, -320.0, -9.0, -7.5, -1.0])  # log10 p
    res = mtest.holm(_to_linear(v, "log10"))  # underflow in linear: 1e-500 -> 0
    got = mtest.reject(v, 0.05, "holm", log_p="log10")
    np.testing.assert_array_equal(got.reject, res.reject)
    np.testing.assert_allclose(got.pvalues_adjusted[:2], [-500 + np.log10(5), -320 + np.log10(4)],
                               rtol=0, atol=1e-12)
    # ordinary values: exactly log10 of the linear adjusted values
    np.testing.assert_array_equal(got.pvalues_adjusted[2:], np.log10(res.pvalues_adjusted[2:]))


def test_hommel_refuses_deep_values_and_checks():
    with pytest.raises(ValueError, match="hommel.*below 1e-308"):
        mtest.adjust([-800.0, -1.0, -2.0], "hommel", log_p="ln")
    with pytest.raises(ValueError, match=r"log_p \('log2'\) not recognized"):
        mtest.reject([-1.0], log_p="log2")
    with pytest.raises(ValueError, match=r"must be <= 0.*0.5"):
        mtest.reject([-1.0, 0.5], log_p="ln")
    with pytest.raises(ValueError, match="NaN"):
        mtest.adjust([-1.0, np.nan], log_p="ln")
    with pytest.raises(ValueError, match="must be <= 0"):
        mtest.adjust([np.inf], log_p="ln")


def test_input_not_mutated_and_series_kept():
    import pandas as pd

    v = _to_log(_family(1, 50), "ln")
    before = v.copy()
    mtest.adjust(v, "fdr_bh", log_p="ln")
    mtest.reject(v, log_p="ln").pvalues_adjusted
    np.testing.assert_array_equal(v, before)
    s = pd.Series(v, index=[f"snp{i}" for i in range(v.size)])
    out = mtest.adjust(s, "holm", log_p="ln")
    assert list(out.index) == list(s.index)
