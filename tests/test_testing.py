"""mtest.testing: generators have the promised laws, the harness has power, helpers fail readably."""
import numpy as np
import pytest
from hypothesis import given
from scipy.stats import kstest, norm

import mtest
from mtest.testing import (DEPENDENCE, assert_consistent_with_adjusted, assert_fwer_controlled,
                           assert_monotone_in_alpha, assert_permutation_equivariant,
                           assert_rejections_contain, check_fdr, check_fwer, gaussian_pvalues,
                           procedure)
from mtest.testing.examples import lenient_kfwer, staggered_blocks
from mtest.testing.strategies import count_maps, null_configurations, pvalue_arrays
from conftest import FULL

REPS = 10_000 if FULL else 2_000


# --- generators ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dependence, rho, block, expected", [
    ("independent", 0.0, 10, 0.0), ("equicorrelated", 0.6, 10, 0.6), ("block", 0.7, 5, 0.7),
    ("negative", 0.0, 2, -1.0), ("negative", 0.0, 5, -0.25)])
def test_copula_correlation_and_uniform_nulls(dependence, rho, block, expected):
    sim = gaussian_pvalues(20_000, 10, dependence=dependence, rho=rho, block_size=block, seed=1)
    assert sim.pvalues.shape == (20_000, 10) and sim.is_null.all()
    z = norm.isf(sim.pvalues)
    within = np.corrcoef(z[:, 0], z[:, 1])[0, 1]  # components 0 and 1 share a block
    assert abs(within - expected) < 0.03
    if dependence == "block":
        assert abs(np.corrcoef(z[:, 0], z[:, block])[0, 1]) < 0.03  # across blocks: independent
    for j in (0, 3, 9):
        assert kstest(sim.pvalues[:, j], "uniform").pvalue > 1e-4


def test_copula_false_nulls_shifted_and_dtype():
    sim = gaussian_pvalues(5000, 4, n_null=2, effect=2.0, seed=2, dtype=np.float32)
    assert sim.pvalues.dtype == np.float32
    np.testing.assert_array_equal(sim.is_null, [True, True, False, False])
    z = norm.isf(sim.pvalues.astype(float))
    assert abs(z[:, 2:].mean() - 2.0) < 0.05 and abs(z[:, :2].mean()) < 0.05


def test_staggered_blocks_nulls_are_uniform():
    sim = staggered_blocks(50_000, n_null=10, n_false=3, k=5, alpha=0.1, seed=3)
    for j in range(10):
        assert kstest(sim.pvalues[:, j], "uniform").pvalue > 1e-4
    assert (sim.pvalues[:, 10:] == 0).all()


@given(p=pvalue_arrays(max_size=50, allow_nan=True), cfg=null_configurations(), cm=count_maps())
def test_strategies_produce_valid_inputs(p, cfg, cm):
    finite = p[~np.isnan(p)]
    assert ((finite >= 0) & (finite <= 1)).all() and p.dtype in (np.float32, np.float64)
    m, is_null, effect = cfg
    assert is_null.shape == (m,) and effect > 0
    assert cm["count"].shape == cm["guess"].shape and (cm["count"] <= cm["n"]).all()
    mtest.segcertify(**cm, alpha=0.05)  # always a valid input


# --- the harness ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_harness_flags_no_correction():
    res = check_fwer(lambda p: p <= 0.05, n_hypotheses=100, n_null=100, alpha=0.05, reps=REPS, seed=0)
    assert res.verdict == "fail" and res.rate > 0.9
    with pytest.raises(AssertionError, match=r"error rate not controlled: <lambda>: FWER = "):
        assert_fwer_controlled(lambda p: p <= 0.05, n_hypotheses=100, n_null=100, alpha=0.05,
                               reps=200, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("dependence, rho, block", [("independent", 0.0, 10), ("equicorrelated", 0.5, 10),
                                                    ("block", 0.8, 10), ("negative", 0.0, 2),
                                                    ("negative", 0.0, 10)])
@pytest.mark.parametrize("method, k", [("holm", 1), ("bonferroni", 1), ("lehmann-romano", 3)])
def test_valid_procedures_pass_everywhere(method, k, dependence, rho, block):
    res = check_fwer(method, n_hypotheses=100, n_null=80, alpha=0.05, k=k, dependence=dependence, rho=rho,
                     block_size=block, reps=REPS, seed=1)
    assert res.passed, str(res)
    assert 0 < res.power <= 1


@pytest.mark.slow
@pytest.mark.parametrize("dependence, rho", [("independent", 0.0), ("equicorrelated", 0.5), ("block", 0.8)])
def test_hochberg_passes_under_positive_dependence(dependence, rho):
    res = check_fwer("hochberg", n_hypotheses=100, n_null=80, alpha=0.05, dependence=dependence, rho=rho,
                     reps=REPS, seed=2)
    assert res.passed, str(res)


@pytest.mark.slow
def test_lenient_kfwer_fails_on_staggered_blocks_and_lr_does_not():
    reps = max(REPS, 5000)
    sim = lambda size, rng: staggered_blocks(size, n_null=10, n_false=5, k=5, alpha=0.1, seed=rng)
    lenient = check_fwer(lenient_kfwer, n_hypotheses=15, n_null=10, alpha=0.1, k=5, reps=reps, seed=4,
                         simulate=sim, dependence="staggered-blocks")
    lr = check_fwer("lr", n_hypotheses=15, n_null=10, alpha=0.1, k=5, reps=reps, seed=4, simulate=sim,
                    dependence="staggered-blocks")
    assert lenient.verdict == "fail" and abs(lenient.rate - 10 * 0.1 / 6) < 0.02
    assert lr.passed and lr.rate <= 0.1


@pytest.mark.slow
def test_check_fdr():
    res = check_fdr("fdr_bh", n_hypotheses=50, n_null=40, alpha=0.1, reps=REPS, seed=5)
    assert res.passed and res.kind == "FDR" and res.rate <= 0.1 * 40 / 50 + 0.02
    bad = check_fdr(lambda p: p <= 0.5, n_hypotheses=50, n_null=40, alpha=0.1, reps=500, seed=5)
    assert bad.verdict == "fail"
    assert "FDR = " in str(bad)


def test_harness_errors():
    with pytest.raises(ValueError, match="procedure must be a callable"):
        check_fwer(42, n_hypotheses=5, n_null=5)
    with pytest.raises(ValueError, match=r"n_null must be <= n_hypotheses \(5\); got 6"):
        check_fwer("holm", n_hypotheses=5, n_null=6)
    with pytest.raises(ValueError, match=r"procedure must return a boolean mask of shape \(5,\)"):
        check_fwer(lambda p: p[:2] < 0.1, n_hypotheses=5, n_null=5, reps=3)
    with pytest.raises(ValueError, match=r"dependence \('weird'\) not recognized"):
        gaussian_pvalues(3, 5, dependence="weird")
    with pytest.raises(ValueError, match=r"rho must lie in \[0.0, 1.0\); got 1.0"):
        gaussian_pvalues(3, 5, dependence="equicorrelated", rho=1.0)
    assert set(DEPENDENCE) == {"independent", "equicorrelated", "block", "negative"}


# --- property helpers fail with readable messages ------------------------------------------------------

def test_property_helpers_catch_broken_procedures():
    p = np.array([0.001, 0.02, 0.03, 0.9])
    holm, bonf = procedure("holm"), procedure("bonferroni")
    assert_rejections_contain(holm, bonf, p, 0.05)
    with pytest.raises(AssertionError, match="holm rejects 1 hypotheses"):
        assert_rejections_contain(lambda p, a: np.zeros(p.size, bool), holm, p, 0.05)
    with pytest.raises(AssertionError, match="at alpha=0.01 but not at the larger alpha=0.05"):
        assert_monotone_in_alpha(lambda p, a: p <= 0.025 - a / 2, p, [0.01, 0.05])
    with pytest.raises(AssertionError, match="not permutation-equivariant"):
        assert_permutation_equivariant(lambda p, a: np.arange(p.size) == 0, p, 0.05, seed=3)
    with pytest.raises(AssertionError, match="reject differs from adjusted <= 0.05"):
        assert_consistent_with_adjusted([True, False], [0.2, 0.01], 0.05)
    with pytest.raises(AssertionError, match="rejections differ from p <= threshold"):
        assert_consistent_with_adjusted([True, False], [0.01, 0.2], 0.05, [0.01, 0.02], 0.015 / 10)
