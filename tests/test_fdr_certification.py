"""FDR certification (segcertify(..., error_rate='fdr')): Benjamini–Yekutieli, its guarantee stated,
the expected false-certification proportion <= alpha by simulation under dependence, BH refused on
every certification path, error_rate validated."""
import warnings

import numpy as np
import pytest

import mtest
from mtest.oracle import Oracle
from conftest import FULL

REPS = 20_000 if FULL else 1_500


# --- what it computes ------------------------------------------------------------------------------

def test_fdr_certification_is_by_on_the_binomial_pvalues():
    rng = np.random.default_rng(0)
    n, tau, alpha = 100, 0.75, 0.05
    count = rng.integers(60, 101, size=(7, 9))
    guess = rng.integers(0, 4, size=count.shape)
    res = mtest.segcertify(guess, count, n=n, tau=tau, alpha=alpha, error_rate="fdr")
    pv = mtest.binom_pvalue(count, n, tau, alternative="greater")
    ref = mtest.reject(pv.reshape(-1), alpha, method="fdr_by").reject.reshape(count.shape)
    np.testing.assert_array_equal(res.reject, ref)
    np.testing.assert_array_equal(res.labels, np.where(ref, guess, mtest.ABSTAIN))
    assert res.method == "fdr_by" and res.n_certified == int(ref.sum())
    # and against statsmodels' BY, the reference implementation
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    np.testing.assert_array_equal(ref.reshape(-1), multitest.multipletests(pv.reshape(-1), alpha, "fdr_by")[0])


def test_the_guarantee_states_the_expected_fraction_of_wrong_certificates():
    res = mtest.segcertify([0, 1], [100, 99], n=100, tau=0.75, alpha=0.01, error_rate="fdr", method="BY")
    g = res.guarantee
    assert (g.error_rate, g.dependence, g.alpha) == ("fdr", "arbitrary", 0.01)
    assert str(g) == ("FDR <= 0.01 under arbitrary dependence (expected fraction of certified "
                      "components that are wrong <= 0.01)")
    # FWER certification is unchanged
    assert str(mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.01).guarantee) == \
        "FWER <= 0.01 under arbitrary dependence"


def test_counts_path_and_inputs_not_mutated():
    counts0 = np.array([[1, 9], [8, 2], [5, 5]])
    counts = np.array([[0, 100], [88, 12], [70, 30]])
    before = counts.copy(), counts0.copy()
    res = mtest.segcertify_counts(counts0, counts, tau=0.75, alpha=0.05, error_rate="fdr")
    direct = mtest.segcertify([1, 0, 0], [100, 88, 70], n=100, tau=0.75, alpha=0.05, error_rate="fdr")
    np.testing.assert_array_equal(res.labels, direct.labels)
    assert res.method == "fdr_by"
    np.testing.assert_array_equal(counts, before[0])
    np.testing.assert_array_equal(counts0, before[1])


def test_fdr_certifies_a_superset_of_bonferroni_at_alpha_over_harmonic():
    # BY's first critical value is alpha / (N H_N): every component Bonferroni certifies at that
    # level, BY certifies too (step-up), so BY never loses to its own worst case
    rng = np.random.default_rng(1)
    N = 200
    h = np.sum(1.0 / np.arange(1, N + 1))
    for _ in range(20):
        count = rng.integers(80, 101, N)
        by = mtest.segcertify(np.zeros(N, int), count, n=100, tau=0.75, alpha=0.05, error_rate="fdr")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mtest.CertificationWarning)
            bon = mtest.segcertify(np.zeros(N, int), count, n=100, tau=0.75, alpha=0.05 / h, method="bonferroni")
        assert np.all(by.reject[bon.reject])


def test_warning_for_step_up_uses_the_largest_critical_value():
    # BY rejects all N when every p-value is at most alpha / H_N: with count = n everywhere the
    # warning must not fire although tau^n is above the first critical value alpha / (N H_N)
    N, tau, alpha = 50, 0.75, 0.05
    h = np.sum(1.0 / np.arange(1, N + 1))
    n = int(np.ceil(np.log(alpha / h) / np.log(tau)))
    assert tau ** n > alpha / (N * h)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mtest.segcertify(np.zeros(N, int), np.full(N, n), n=n, tau=tau, alpha=alpha,
                                error_rate="fdr").n_certified == N
    with pytest.warns(mtest.CertificationWarning, match="largest critical value"):
        mtest.segcertify(np.zeros(N, int), np.full(N, n - 1), n=n - 1, tau=tau, alpha=alpha, error_rate="fdr")


# --- the guarantee, by simulation under dependence -------------------------------------------------------

def _false_certified_proportion(dependence, alpha, reps, seed, certify):
    """Mean over repetitions of (certified components whose p_A <= tau) / max(certified, 1).

    Most components are nulls exactly at the boundary p_A = tau (the worst case for the binomial
    test), so a procedure without FDR control shows it clearly."""
    tau = 0.75
    oracle = Oracle(N=60, n_bad=55, gamma=(1 - tau) / 5, dependence=dependence)  # bad: p = tau
    draws = oracle.sample_counts(n0=10, n=100, reps=reps, seed=seed)
    null = draws.p_guess <= tau
    fdp = np.empty(reps)
    certified = np.empty(reps)
    for r in range(reps):
        rej = certify(draws.guess[r], draws.count[r], tau)
        fdp[r] = np.count_nonzero(rej & null[r]) / max(np.count_nonzero(rej), 1)
        certified[r] = rej.sum()
    return fdp.mean(), fdp.std(ddof=1) / np.sqrt(reps), certified.mean()


def _by(alpha):
    def certify(guess, count, tau):
        return mtest.segcertify(guess, count, n=100, tau=tau, alpha=alpha, error_rate="fdr").reject
    return certify


@pytest.mark.slow
@pytest.mark.parametrize("dependence", ["independent", "comonotone", "antithetic"])
def test_by_false_certified_proportion_mean_at_most_alpha(dependence):
    alpha = 0.2
    mean, se, certified = _false_certified_proportion(dependence, alpha, REPS, 7, _by(alpha))
    assert mean <= alpha + 3 * se
    assert certified >= 4           # it certifies (the good components): the bound is not vacuous


def test_the_simulation_detects_a_procedure_without_fdr_control():
    # per-component tests at alpha, no multiplicity correction: the same simulation sees its
    # false-certification proportion far above alpha. (Under 'comonotone' and 'antithetic' the
    # nulls of one parity share their count and fall together, so there an uncorrected rule's
    # FDR is about its size, ~0.15, and those regimes test dependence, not sensitivity.)
    alpha = 0.2

    def uncorrected(guess, count, tau):
        return mtest.binom_pvalue(count, 100, tau, alternative="greater") <= alpha

    mean, se, _ = _false_certified_proportion("independent", alpha, 400, 3, uncorrected)
    assert mean > 2 * alpha + 3 * se


# --- refusals and validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["BH", "fdr_bh", "fdr_tsbky", "fdr_gbs", "hochberg"])
def test_bh_and_other_non_arbitrary_procedures_are_refused_for_fdr_certification(method):
    with pytest.raises(ValueError, match=r"with error_rate='fdr' use one of 'fdr_by'"):
        mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.05, method=method, error_rate="fdr")


def test_bh_refusal_says_why():
    with pytest.raises(ValueError, match=r"need not be PRDS"):
        mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.05, method="BH", error_rate="fdr")


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_fwer_method_with_fdr_error_rate_is_refused_not_reinterpreted(method):
    with pytest.raises(ValueError, match=r"not the FDR; for FWER certification use error_rate='fwer'"):
        mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.05, method=method, error_rate="fdr")


def test_by_without_error_rate_points_to_it():
    with pytest.raises(ValueError, match=r"SEGCERTIFY needs FWER.*error_rate='fdr', method='fdr_by'"):
        mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.05, method="BY")


@pytest.mark.parametrize("bad", ["FDR", "fdp", "kfwer", None, 0.05])
def test_error_rate_validation_names_the_argument(bad):
    with pytest.raises(ValueError, match=r"error_rate \(.*\) not recognized; use one of 'fwer', 'fdr'"):
        mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.05, error_rate=bad)
    with pytest.raises(ValueError, match=r"error_rate"):
        mtest.segcertify_counts([[1, 9]], [[0, 100]], tau=0.75, alpha=0.05, error_rate=bad)


def test_k_is_refused_with_fdr():
    with pytest.raises(ValueError, match=r"k \(2\)"):
        mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.05, k=2, error_rate="fdr")


def test_power_study_runs_by_and_refuses_bh():
    import dataclasses

    from mtest.power import MethodSpec, figure_spec, run_study

    spec = figure_spec("fdr", quick=True, reps=10)
    df = run_study(spec, progress=False)
    assert "SegCertifyBY (FDR)" in set(df["method"])
    assert (df["false_certified_proportion"] <= 1).all()
    bh = dataclasses.replace(spec, methods=(MethodSpec("BH", "segcertify", "BH", error_rate="fdr"),))
    with pytest.raises(ValueError, match="need not be PRDS"):
        run_study(bh, progress=False)


def test_adapters_fdr_certification_and_bh_refused_before_sampling():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    calls = []

    class Constant(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            logits = torch.zeros(x.shape[0], 3, 4, 5)
            logits[:, 1] = 1.0
            return logits

    sm = ad.SegmentationSmoother(Constant(), ad.GaussianNoise(0.5), batch_size=16, progress=False)
    with pytest.raises(ValueError, match="need not be PRDS"):
        sm.certify(torch.rand(3, 4, 5), n0=5, n=40, tau=0.75, alpha=0.01, method="BH", error_rate="fdr")
    assert calls == []                      # refused before any forward pass
    run = sm.certify(torch.rand(3, 4, 5), n0=5, n=40, tau=0.75, alpha=0.01, error_rate="fdr")
    assert run.result.method == "fdr_by" and run.result.n_certified == 20
    assert "expected fraction of certified components" in str(run.result.guarantee)
    again = run.recertify(0.75, 0.01)
    assert again.result.method == "holm"
    with pytest.raises(ValueError, match="need not be PRDS"):
        run.recertify(0.75, 0.01, method="BH", error_rate="fdr")
