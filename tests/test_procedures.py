"""Šidák, Holm–Šidák, Hochberg, Hommel, BH, BY: statsmodels, literal R, properties, error rates."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

import mtest
from mtest.testing import assert_consistent_with_adjusted, check_fdr, check_fwer, procedure
from mtest.testing import assert_rejections_contain
from mtest.testing.strategies import pvalue_arrays
from conftest import FULL
from mtest.testing import pvalues_with_ties as random_pvalues

# mtest name -> statsmodels name
SM = {"sidak": "sidak", "holm-sidak": "holm-sidak", "hochberg": "simes-hochberg",
      "hommel": "hommel", "fdr_bh": "fdr_bh", "fdr_by": "fdr_by"}
R_NAMES = {"bonferroni": "bonferroni", "holm": "holm", "hochberg": "hochberg", "hommel": "hommel",
           "BH": "fdr_bh", "BY": "fdr_by"}


@pytest.mark.parametrize("method", list(SM))
@pytest.mark.parametrize("n", [1, 2, 3, 10, 57, 500, 3000])
def test_equals_statsmodels(method, n):
    rng = np.random.default_rng(n)
    for _ in range(3):
        p = random_pvalues(n, seed=rng) * 10.0 ** rng.uniform(-5, 0)
        for alpha in (0.01, 0.1):
            ref_reject, ref_adj, _, _ = multipletests(p, alpha=alpha, method=SM[method])
            res = mtest.reject(p, alpha, method)
            np.testing.assert_allclose(res.pvalues_adjusted, np.minimum(ref_adj, 1.0), rtol=0, atol=1e-12)
            # statsmodels compares p with alpha-side constants; equal away from last-ulp ties
            np.testing.assert_array_equal(res.reject, ref_reject)


@pytest.mark.parametrize("r_name", list(R_NAMES))
def test_equals_R_to_the_last_digit(r_reference, r_name):
    for case in r_reference:
        got = mtest.adjust(np.array(case["pvalues"]), r_name)
        np.testing.assert_array_equal(got, case["adjusted"][r_name])


def test_aliases_from_statsmodels_and_R():
    pairs = {"s": "sidak", "hs": "holm-sidak", "sh": "hochberg", "simes-hochberg": "hochberg",
             "ho": "hommel", "fdr_bh": "fdr_bh", "BH": "fdr_bh", "fdr": "fdr_bh", "fdr_i": "fdr_bh",
             "BY": "fdr_by", "fdr_by": "fdr_by", "fdr_n": "fdr_by", "hochberg": "hochberg",
             "hommel": "hommel"}
    for alias, name in pairs.items():
        assert mtest.get_procedure(alias).name == name
    for proc in mtest.PROCEDURES.values():
        assert proc.controls and proc.reference


def test_step_up_threshold_and_ties():
    p = np.array([0.01, 0.02, 0.02, 0.04, 0.5])
    res = mtest.reject(p, 0.05, "fdr_bh")
    assert res.n_rejected == 4 and 0.04 <= res.threshold < 0.5
    assert list(res.reject) == [True, True, True, True, False]
    none = mtest.reject(p, 1e-5, "hochberg")
    assert none.n_rejected == 0 and not (p <= none.threshold).any()


@pytest.mark.parametrize("method", ["hochberg", "fdr_bh", "fdr_by"])
def test_step_up_counting_path_and_its_sort_fallback(method, monkeypatch):
    """The counting form and the candidate sort it falls back to both equal statsmodels."""
    import mtest._stepwise as stepwise

    rng = np.random.default_rng(13)
    m = 3000
    # BH's adversarial case: the counting form descends by one per pass
    i = np.arange(1, m + 1)
    adversarial = 0.05 * (i - 0.5) / m
    adversarial[-1] = 0.9
    cases = [adversarial, random_pvalues(m, seed=rng) * 1e-3, random_pvalues(m, seed=rng)]
    for passes in (8, 0):
        monkeypatch.setattr(stepwise, "MAX_COUNTING_PASSES", passes)
        for p in cases:
            ref, _, _, _ = multipletests(p, 0.05, SM[method])
            np.testing.assert_array_equal(mtest.reject(p, 0.05, method).reject, ref)


def test_hommel_large_is_monotone_and_bracketed():
    p = np.random.default_rng(0).random(4000) ** 4
    adj = mtest.adjust(p, "hommel")
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)
    assert np.all(adj <= mtest.adjust(p, "hochberg") + 1e-15)
    assert np.all(adj >= p)


def test_reject_table_rows_step_up():
    table = mtest.binom_pvalue_table(30, 0.6)
    index = np.random.default_rng(1).integers(10, 31, (100, 25))
    rows = mtest.reject_table_rows(table, index, 0.05, "fdr_bh")
    for j in range(100):
        assert rows.n_rejected[j] == mtest.reject(table[index[j]], 0.05, "fdr_bh").n_rejected
    with pytest.raises(ValueError, match="no row-wise table path"):
        mtest.reject_table_rows(table, index, 0.05, "hommel")


# --- properties -------------------------------------------------------------------------------------

alphas = st.floats(1e-4, 0.5)


@given(p=pvalue_arrays(max_size=400), alpha=alphas)
def test_nesting(p, alpha):
    # (larger, smaller): BH ⊇ Holm, BH ⊇ BY, Hochberg ⊇ Holm, Hommel ⊇ Hochberg, ...
    for larger, smaller in [("fdr_bh", "holm"), ("fdr_bh", "fdr_by"), ("hochberg", "holm"),
                            ("hommel", "hochberg"), ("sidak", "bonferroni"), ("holm-sidak", "holm"),
                            ("holm-sidak", "sidak")]:
        assert_rejections_contain(procedure(larger), procedure(smaller), p, alpha)


@given(p=pvalue_arrays(max_size=400, allow_nan=True),
       method=st.sampled_from(["hochberg", "hommel", "fdr_bh", "fdr_by", "sidak", "holm-sidak"]),
       alpha=alphas)
def test_adjusted_monotone_and_nan_positions(p, method, alpha):
    res = mtest.reject(p, alpha, method, nan_policy="omit")
    adj = res.pvalues_adjusted
    nan = np.isnan(p)
    np.testing.assert_array_equal(np.isnan(adj), nan)
    tested = ~nan
    order = np.argsort(p[tested], kind="stable")
    assert np.all(np.diff(adj[tested][order]) >= 0)  # monotone in the sorted order
    assert_consistent_with_adjusted(res.reject, adj, alpha, p, res.threshold if res.n_tests else None)


# --- error rates (through the public harness) ---------------------------------------------------------

REPS = 10_000 if FULL else 3_000


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sidak", "holm-sidak", "hochberg", "hommel"])
def test_fwer_under_independence(method):
    alpha = 0.1
    res = check_fwer(method, n_hypotheses=30, n_null=20, alpha=alpha, effect=2.5, reps=REPS, seed=7)
    assert res.rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / REPS), str(res)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fdr_bh", "fdr_by"])
def test_fdr_under_independence(method):
    alpha = 0.1
    res = check_fdr(method, n_hypotheses=40, n_null=30, alpha=alpha, effect=2.5, reps=REPS, seed=8)
    se = (res.ci_high - res.rate) / 2.6  # the 99% t-interval's half width in standard errors
    assert res.rate <= alpha + 3 * se, str(res)
