"""mtest.compat against the installed statsmodels and scipy, and literal R outputs."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats import multitest as sm

import mtest
from mtest.compat import (P_ADJUST_METHODS, STATSMODELS_METHODS, false_discovery_control,
                          multipletests, p_adjust)
from mtest.testing.strategies import pvalue_arrays
from conftest import DATA

#: methods whose adjusted values mtest computes with statsmodels' exact operations
SM_BITWISE = {"bonferroni", "sidak", "holm", "holm-sidak", "hochberg", "fdr_tsbh", "fdr_tsbky",
              "fdr_gbs", "lfdr"}
ALPHAS = st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.2, 0.25, 0.5, 0.9])


def statsmodels_multipletests(*args, **kwargs):
    with warnings.catch_warnings():  # statsmodels divides by zero for p = 1 (GBS) and the like
        warnings.simplefilter("ignore")
        return sm.multipletests(*args, **kwargs)


def assert_equal_to_statsmodels(p, alpha, method, **kwargs):
    name = STATSMODELS_METHODS[method.lower()]
    try:
        ref = statsmodels_multipletests(p, alpha, method, **kwargs)
    except ValueError:  # statsmodels' lfdr fails for a p-value of 0: so must we, clearly
        assert name == "lfdr" and np.min(p) == 0.0
        with pytest.raises(ValueError, match="lfdr"):
            multipletests(p, alpha, method, **kwargs)
        return
    got = multipletests(p, alpha, method, **kwargs)
    assert got[0].dtype == bool and got[1].dtype == np.float64
    assert got[0].shape == got[1].shape == np.shape(p)
    if name in SM_BITWISE:
        np.testing.assert_array_equal(got[1], ref[1])
    else:  # BH, BY, Hommel: R's arithmetic, a few ulps from statsmodels'
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-14, atol=0)
    # statsmodels decides by p <= alpha-side constants: it may differ only at rounding ties,
    # i.e. where the adjusted value is alpha up to rounding
    differ = got[0] != ref[0]
    assert np.allclose(ref[1][differ], alpha, rtol=1e-12, atol=0), (p[differ], ref[1][differ])
    np.testing.assert_array_equal(got[0], got[1] <= alpha)
    for mine, theirs in zip(got[2:], ref[2:]):
        assert (np.isnan(mine) and np.isnan(theirs)) or mine == theirs


# --- statsmodels ---------------------------------------------------------------------------------

def test_every_statsmodels_method_name_and_alias_is_known():
    assert set(sm.multitest_alias) <= set(STATSMODELS_METHODS)
    assert set(sm.multitest_methods_names) <= set(STATSMODELS_METHODS)
    for alias, formal in sm.multitest_alias.items():
        assert STATSMODELS_METHODS[alias] == STATSMODELS_METHODS[formal]
        if STATSMODELS_METHODS[alias] != "lfdr":  # the registry speaks statsmodels too
            assert mtest.get_procedure(alias).name == STATSMODELS_METHODS[alias]


@pytest.mark.parametrize("method", sorted(sm.multitest_alias))
@settings(max_examples=40)
@given(p=pvalue_arrays(min_size=0, max_size=60, dtypes=(np.float64,)), alpha=ALPHAS,
       variant=st.sampled_from([{}, {"returnsorted": True}, {"is_sorted": True}]))
def test_multipletests_equals_statsmodels(method, p, alpha, variant):
    if variant.get("is_sorted"):
        p = np.sort(p)
    assert_equal_to_statsmodels(p, alpha, method, **variant)


@pytest.mark.parametrize("method", sorted(sm.multitest_methods_names))
@pytest.mark.parametrize("p", [
    [0.0], [1.0], [0.05], [0.03, 0.03], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0, 0.5],
    [0.01, 0.02, 0.03, 0.04, 0.05], [0.05] * 7, np.arange(1, 21) * 0.05 / 20,
    [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.222, 0.251, 0.269,
     0.275, 0.34, 0.341, 0.384, 0.569, 0.594, 0.696, 0.762, 0.94, 0.942, 0.975, 0.986],
])
@pytest.mark.parametrize("alpha", [0.05, 0.25])
def test_multipletests_edge_cases(method, p, alpha):
    """Ties, exact 0 and 1, m = 1 and 2, p-values on the critical values (BH's i alpha/m)."""
    p = np.asarray(p, dtype=np.float64)
    for variant in ({}, {"returnsorted": True}, {"is_sorted": True}):
        assert_equal_to_statsmodels(np.sort(p) if variant.get("is_sorted") else p, alpha, method,
                                    **variant)


def test_multipletests_empty_is_statsmodels():
    for method in ("h", "fdr_bh", "fdr_tsbky", "lfdr"):
        reject, corrected, sidak, bonf = multipletests([], 0.05, method)
        assert reject.shape == corrected.shape == (0,) and np.isnan(sidak) and np.isnan(bonf)


@pytest.mark.parametrize("method", ["fdr_tsbh", "fdr_tsbky"])
@pytest.mark.parametrize("maxiter", [0, 1, 2, 5, -1, None, True, False])
@settings(max_examples=60)
@given(p=pvalue_arrays(min_size=1, max_size=80, dtypes=(np.float64,)), alpha=ALPHAS)
def test_two_stage_maxiter_equals_statsmodels(method, maxiter, p, alpha):
    assert_equal_to_statsmodels(p, alpha, method, maxiter=maxiter)


def test_multipletests_positional_arguments_as_statsmodels():
    p = np.array([0.04, 0.001, 0.3, 0.02])
    got = multipletests(p, 0.1, "fdr_tsbky", 0, False, True)  # maxiter, is_sorted, returnsorted
    ref = statsmodels_multipletests(p, 0.1, "fdr_tsbky", 0, False, True)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert multipletests(p)[1].tolist() == statsmodels_multipletests(p)[1].tolist()  # "hs"


@pytest.mark.parametrize("bad, match", [
    (dict(pvals=[[0.01, 0.2], [0.03, 0.04]]), "1-dimensional"),
    (dict(pvals=0.5), "1-dimensional"),
    (dict(pvals=[0.01, np.nan, 0.2]), "NaN"),
    (dict(pvals=[0.01, 1.5]), r"\[0, 1\]"),
    (dict(pvals=[0.01, -0.1]), r"\[0, 1\]"),
    (dict(pvals=["a", "b"]), "pvals"),
    (dict(alpha=1.0), "alpha"),
    (dict(method="bogus"), "bogus"),
    (dict(method=None), "method"),
    (dict(is_sorted=True), "not ascending"),
    (dict(is_sorted="yes"), "is_sorted"),
    (dict(method="fdr_tsbh", maxiter=1.5), "maxiter"),
    (dict(method="fdr_tsbh", maxiter=-2), "maxiter"),
])
def test_multipletests_refuses_what_statsmodels_gets_wrong(bad, match):
    args = dict(pvals=[0.04, 0.001, 0.3], alpha=0.05, method="h") | bad
    with pytest.raises(ValueError, match=match):
        multipletests(**args)


def test_multipletests_does_not_mutate_and_accepts_lists_and_series():
    p = np.array([0.04, 0.001, 0.3, 0.02])
    keep = p.copy()
    for method in set(STATSMODELS_METHODS.values()):
        multipletests(p, 0.05, method)
    np.testing.assert_array_equal(p, keep)
    ref = multipletests(p, 0.05, "fdr_bh")
    for other in (p.tolist(), pd.Series(p, index=list("abcd")), tuple(p)):
        got = multipletests(other, 0.05, "fdr_bh")
        np.testing.assert_array_equal(got[1], ref[1])
    # float32 input: statsmodels' values of the upcast p-values
    p32 = p.astype(np.float32)
    np.testing.assert_array_equal(multipletests(p32, 0.05, "holm")[1],
                                  statsmodels_multipletests(p32.astype(float), 0.05, "holm")[1])


# --- the new registry procedures (through mtest.reject / mtest.adjust) ---------------------------

NEW = {"fdr_tsbh": "fdr_tsbh", "fdr_tsbky": "fdr_tsbky", "fdr_gbs": "fdr_gbs"}


@pytest.mark.parametrize("method", list(NEW))
@settings(max_examples=150)
@given(p=pvalue_arrays(min_size=1, max_size=300), alpha=ALPHAS)
def test_registry_procedures_equal_statsmodels_bit_for_bit(method, p, alpha):
    ref_reject, ref_adj, _, _ = statsmodels_multipletests(p.astype(np.float64), alpha, method)
    res = mtest.reject(p, alpha, method)
    np.testing.assert_array_equal(res.pvalues_adjusted, ref_adj)
    differ = res.reject != ref_reject
    assert np.allclose(ref_adj[differ], alpha, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(mtest.adjust(p, method, alpha=alpha), ref_adj)
    mtest.testing.assert_consistent_with_adjusted(res.reject, res.pvalues_adjusted, alpha, p,
                                                  res.threshold)


@pytest.mark.parametrize("method", list(NEW))
@settings(max_examples=80)
@given(p=pvalue_arrays(min_size=1, max_size=200, dtypes=(np.float64,), allow_nan=True), alpha=ALPHAS)
def test_registry_procedures_nan_omit(method, p, alpha):
    """NaN is not tested or counted: the rest equals statsmodels on the p-values without NaN."""
    res = mtest.reject(p, alpha, method, nan_policy="omit")
    nan = np.isnan(p)
    assert not res.reject[nan].any() and np.isnan(res.pvalues_adjusted[nan]).all()
    assert res.n_tests == int((~nan).sum())
    if (~nan).any():
        ref_reject, ref_adj, _, _ = statsmodels_multipletests(p[~nan], alpha, method)
        np.testing.assert_array_equal(res.pvalues_adjusted[~nan], ref_adj)
        np.testing.assert_array_equal(res.reject[~nan], ref_adj <= alpha)


def test_two_stage_adjusted_values_need_alpha():
    p = [0.01, 0.04, 0.03, 0.005]
    for method in ("fdr_tsbh", "fdr_tsbky", "fdr_2sbky", "fdr_twostage"):
        with pytest.raises(ValueError, match="depend on the level; pass alpha"):
            mtest.adjust(p, method)
    # the values change with alpha, as statsmodels' do
    p = np.array([0.001, 0.01, 0.02, 0.04, 0.2, 0.5, 0.9])
    assert not np.array_equal(mtest.adjust(p, "fdr_tsbky", alpha=0.01),
                              mtest.adjust(p, "fdr_tsbky", alpha=0.2))
    # every other procedure ignores alpha
    np.testing.assert_array_equal(mtest.adjust(p, "holm", alpha=0.2), mtest.adjust(p, "holm"))


def test_declared_guarantees():
    g = {name: mtest.get_procedure(name).guarantee(alpha=0.05) for name in NEW}
    for name in NEW:
        assert g[name].error_rate == "fdr" and g[name].dependence == "independent"
        assert not g[name].valid_under_arbitrary_dependence
    assert g["fdr_tsbky"].alpha == 0.05 and g["fdr_gbs"].alpha == 0.05
    # fdr_tsbh at alpha is fdr_tsbky at alpha/(1 - alpha): that is the proven bound
    assert g["fdr_tsbh"].alpha == pytest.approx(0.05 / 0.95)
    assert mtest.reject([0.01, 0.2], 0.05, "fdr_tsbh").guarantee == g["fdr_tsbh"]
    assert str(g["fdr_tsbh"]) == f"FDR <= {0.05 / 0.95!r} under independence"
    assert "alpha/(1 - alpha)" in mtest.get_procedure("fdr_tsbh").controls


@settings(max_examples=100)
@given(p=pvalue_arrays(min_size=1, max_size=200, dtypes=(np.float64,)),
       alpha=st.floats(0.001, 0.45))
def test_tsbh_is_tsbky_at_the_inflated_level(p, alpha):
    """The identity behind fdr_tsbh's declared bound (up to rounding of alpha/(1 - alpha))."""
    tsbh = mtest.reject(p, alpha, "fdr_tsbh").reject
    tsbky = mtest.reject(p, alpha / (1 - alpha), "fdr_tsbky").reject
    differ = tsbh != tsbky
    adj = mtest.adjust(p, "fdr_tsbh", alpha=alpha)
    assert np.allclose(adj[differ], alpha, rtol=1e-12)


@pytest.mark.parametrize("method", list(NEW))
@settings(max_examples=60)
@given(p=pvalue_arrays(min_size=1, max_size=100, dtypes=(np.float64,)))
def test_new_procedures_properties(method, p):
    run = mtest.testing.procedure(method)
    mtest.testing.assert_monotone_in_alpha(run, p, [0.01, 0.05, 0.1, 0.3])
    mtest.testing.assert_permutation_equivariant(run, p, 0.1, seed=0)
    # BH's rejections are contained in both two-stage procedures' (the level only grows)
    if method != "fdr_gbs":
        mtest.testing.assert_rejections_contain(run, mtest.testing.procedure("fdr_bh"), p, 0.1)


@pytest.mark.parametrize("method", list(NEW))
def test_new_procedures_on_tables_equal_reject(method):
    """The histogram paths (SEGCERTIFY, simulations) give reject()'s rejections exactly."""
    rng = np.random.default_rng(5)
    for _ in range(60):
        n = int(rng.integers(5, 60))
        table = mtest.binom_pvalue_table(n, 0.75, "greater")
        index = rng.integers(max(0, n - 15), n + 1, size=int(rng.integers(1, 200)))
        alpha = float(rng.choice([0.01, 0.05, 0.2]))
        ref = mtest.reject(table[index], alpha, method)
        np.testing.assert_array_equal(mtest.reject_table(table, index, alpha, method).reject,
                                      ref.reject)
        if method == "fdr_gbs":  # rows: stepwise procedures only
            rows = mtest.reject_table_rows(table, np.stack([index, index]), alpha, method)
            assert np.all(np.asarray(rows.n_rejected) == ref.n_rejected)


REPS = 3000


@pytest.mark.slow
@pytest.mark.parametrize("method", list(NEW))
@pytest.mark.parametrize("n_null", [20, 40])
def test_fdr_under_independence(method, n_null):
    """Simulated FDR within the declared bound (3 standard errors), m = 40, alpha = 0.1."""
    alpha = 0.1
    res = mtest.testing.check_fdr(method, n_hypotheses=40, n_null=n_null, alpha=alpha,
                                  effect=2.5, reps=REPS, seed=11)
    bound = mtest.get_procedure(method).guarantee(alpha=alpha).alpha
    se = (res.ci_high - res.rate) / 2.6
    assert res.rate <= bound + 3 * se, str(res)


# --- R -------------------------------------------------------------------------------------------

def _unhex(values):
    return np.array([np.nan if v == "NaN" else float.fromhex(v) for v in values])


R_N = json.loads((DATA / "p_adjust_n_R.json").read_text())["cases"]


@pytest.mark.parametrize("method", P_ADJUST_METHODS)
def test_p_adjust_equals_R_with_n(method):
    """R 4.2.2 p.adjust(p, method, n) with n >= length(p), NA, ties, 0 and 1: to the last digit."""
    for case in R_N:
        got = p_adjust(_unhex(case["pvalues"]), method, n=case["n"])
        expected = _unhex(case["adjusted"][method])
        if method == "BY":  # exact once _harmonic sums rounded reciprocals as R does (rref branch)
            np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
        else:
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("method", ["holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none"])
def test_p_adjust_equals_R_more(method):
    """R's outputs in p_adjust_R_more.json: sizes 1..5000, subnormals, NA, and p.adjust(p, n=N)."""
    import base64

    data = json.loads((DATA / "p_adjust_R_more.json").read_text())
    decode = lambda s: np.frombuffer(base64.b64decode(s), dtype="<f8").astype(np.float64)  # noqa: E731
    for case in data["cases"] + data["nan_cases"] + data["partial_n"]:
        got = p_adjust(decode(case["p"]), method, n=case.get("n"))
        expected = decode(case["adjusted"][method])
        if method == "BY":  # exact once _harmonic sums rounded reciprocals as R does
            np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
        else:
            np.testing.assert_array_equal(got, expected)


def test_p_adjust_equals_R_default_n(r_reference):
    names = {"bonferroni": "bonferroni", "holm": "holm", "hochberg": "hochberg",
             "hommel": "hommel", "BH": "BH", "BY": "BY"}
    for case in r_reference:
        for r_name in names:
            np.testing.assert_allclose(p_adjust(np.array(case["pvalues"]), r_name),
                                       case["adjusted"][r_name], rtol=1e-15, atol=0)


@given(p=pvalue_arrays(min_size=1, max_size=200, dtypes=(np.float64,), allow_nan=True),
       method=st.sampled_from(["holm", "hochberg", "hommel", "bonferroni", "BH", "BY"]))
def test_p_adjust_default_n_is_mtest_adjust(p, method):
    registry = {"BH": "fdr_bh", "BY": "fdr_by"}.get(method, method)
    if np.count_nonzero(~np.isnan(p)) <= 1:  # R returns p unchanged for n <= 1
        np.testing.assert_array_equal(p_adjust(p, method), p)
    else:
        np.testing.assert_array_equal(p_adjust(p, method),
                                      mtest.adjust(p, registry, nan_policy="omit"))


@given(p=pvalue_arrays(min_size=1, max_size=100, dtypes=(np.float64,)),
       extra=st.integers(1, 10_000),
       method=st.sampled_from(["holm", "hochberg", "bonferroni", "BH", "BY", "hommel"]))
def test_p_adjust_partial_family_is_padding_with_ones(p, extra, method):
    """n > length(p) adjusts p as the smallest of n: the same as padding with p-values of 1
    (Hommel pads explicitly in R; for the others it follows from the formulas)."""
    n = p.size + extra
    if method == "hommel" and n > 2000:
        n = p.size + extra % 1000  # R's O(n^2) algorithm; keep the example quick
    padded = np.concatenate([p, np.ones(n - p.size)])
    full = p_adjust(padded, method)[:p.size]
    np.testing.assert_allclose(p_adjust(p, method, n=n), full, rtol=1e-15, atol=0)


def test_p_adjust_R_semantics():
    p = np.array([0.01, np.nan, 0.02, 0.04])
    np.testing.assert_array_equal(p_adjust(p, "fdr"), p_adjust(p, "BH"))
    np.testing.assert_array_equal(p_adjust(p, "none"), p)
    np.testing.assert_array_equal(p_adjust(p, "bonf"), [0.03, np.nan, 0.06, 0.12])  # prefix
    np.testing.assert_array_equal(p_adjust(p, "bonferroni", n=3), p_adjust(p, "bonferroni"))
    assert p_adjust([0.2], "bonferroni").tolist() == [0.2]   # n <= 1: unchanged
    assert p_adjust([0.2], "bonferroni", n=5).tolist() == [1.0]
    assert p_adjust([0.2], "hommel", n=2).tolist() == [0.4]  # n == 2: Hochberg, as in R
    s = pd.Series([0.01, 0.04], index=["geneA", "geneB"])
    out = p_adjust(s, "holm")
    assert list(out.index) == ["geneA", "geneB"] and out.tolist() == [0.02, 0.04]
    x = np.array([[0.01, 0.02], [0.03, 0.5]])
    keep = x.copy()
    np.testing.assert_array_equal(p_adjust(x, "BH").ravel(), p_adjust(x.ravel(), "BH"))
    np.testing.assert_array_equal(x, keep)
    assert p_adjust([], "BH").shape == (0,)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=2), r"n \(2\) must be at least the number of non-missing p-values \(3\)"),
    (dict(n=2.5), "whole number"),
    (dict(n=True), "whole number"),
    (dict(method="h"), "not recognized"),          # ambiguous prefix, as in R
    (dict(method="bh"), "case-sensitive"),
    (dict(method="sidak"), "not recognized"),
    (dict(p=[0.1, 2.0, 0.3]), r"\[0, 1\]"),
])
def test_p_adjust_errors(kwargs, match):
    args = dict(p=[0.1, 0.2, 0.3, np.nan], method="holm") | kwargs
    with pytest.raises(ValueError, match=match):
        p_adjust(**args)
    # n counts the non-missing values: 3 is enough for 3 p-values and one NA, as in R
    p_adjust([0.1, 0.2, 0.3, np.nan], "holm", n=3)


# --- scipy ---------------------------------------------------------------------------------------

@st.composite
def arrays_and_axes(draw):
    ndim = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    size = int(np.prod(shape))
    flat = draw(pvalue_arrays(min_size=size, max_size=size, dtypes=(np.float64, np.float32)))
    axis = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1))) if ndim else None
    return flat.reshape(shape), axis


@settings(max_examples=400)
@given(data=arrays_and_axes(), method=st.sampled_from(["bh", "by", "BH", "By"]))
def test_false_discovery_control_equals_scipy(data, method):
    ps, axis = data
    keep = ps.copy()
    ref = scipy.stats.false_discovery_control(ps, axis=axis, method=method)
    got = false_discovery_control(ps, axis=axis, method=method)
    np.testing.assert_array_equal(ps, keep)
    assert np.shape(got) == np.shape(ref) and np.asarray(got).dtype == np.asarray(ref).dtype
    if ps.dtype == np.float64 and method.lower() == "bh":
        np.testing.assert_array_equal(got, ref)
    else:  # BY in R's arithmetic; scipy computes float32 in float32
        rtol = 1e-14 if ps.dtype == np.float64 else 3e-6
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)


@pytest.mark.parametrize("kwargs, error", [
    (dict(ps=[0.1, np.nan]), ValueError),
    (dict(ps=[0.1, 1.5]), ValueError),
    (dict(ps=[True, False]), ValueError),
    (dict(ps=["a"]), ValueError),
    (dict(ps=[1 + 0j]), ValueError),
    (dict(method="xx"), ValueError),
    (dict(axis=1.0), ValueError),
    (dict(axis=True), ValueError),
    (dict(axis=2), IndexError),
    (dict(axis=-3), IndexError),
])
def test_false_discovery_control_errors_as_scipy(kwargs, error):
    args = dict(ps=np.full((2, 3), 0.5), axis=0, method="bh") | kwargs
    with pytest.raises(error):
        scipy.stats.false_discovery_control(**args)
    with pytest.raises(error):
        false_discovery_control(**args)


def test_false_discovery_control_trivial_inputs_as_scipy():
    for ps, axis in [(np.float64(0.3), 0), (np.array([0.3]), 5), (np.full((1, 4), 0.2), 0),
                     (np.zeros((0, 3)), 0), (np.array([0.2, 0.4]), None)]:
        ref = scipy.stats.false_discovery_control(ps, axis=axis)
        got = false_discovery_control(ps, axis=axis)
        assert type(got) is type(ref) and np.shape(got) == np.shape(ref)
        np.testing.assert_array_equal(got, ref)
        if isinstance(ps, np.ndarray) and isinstance(got, np.ndarray):
            assert got is not ps
    # integer p-values (scipy fails with a casting error there): float64 BH values
    np.testing.assert_array_equal(false_discovery_control(np.array([0, 1, 1, 0])),
                                  [0.0, 1.0, 1.0, 0.0])
