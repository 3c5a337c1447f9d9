"""Guarantees as data: each registered procedure declares what it controls and under which
dependence; the declaration holds in simulation; the docs' table is generated from it; and
certification accepts only FWER / k-FWER under arbitrary dependence (issue #12, item 1)."""
import dataclasses
import importlib.util
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import mtest
from mtest.binomial import binom_pvalue_table
from mtest.testing import check_fdr, check_fwer
from conftest import FULL

ROOT = Path(__file__).resolve().parents[1]

#: the literature's guarantees (the registry must not claim more)
LITERATURE = {
    "bonferroni": ("kfwer", "arbitrary"),       # Bonferroni; Lehmann & Romano 2005, Thm 2.1
    "holm": ("fwer", "arbitrary"),              # Holm 1979
    "lehmann-romano": ("kfwer", "arbitrary"),   # Lehmann & Romano 2005, Thm 2.2
    "sidak": ("fwer", "positive-orthant"),      # Šidák 1967
    "holm-sidak": ("fwer", "positive-orthant"),  # Holland & Copenhaver 1987
    "hochberg": ("fwer", "prds"),               # Hochberg 1988; Sarkar 1998, 2008 (Simes)
    "hommel": ("fwer", "prds"),                 # Hommel 1988; Sarkar 1998, 2008 (Simes)
    "fdr_bh": ("fdr", "prds"),                  # Benjamini & Yekutieli 2001, Thm 1.2
    "fdr_by": ("fdr", "arbitrary"),             # Benjamini & Yekutieli 2001, Thm 1.3
    "fdr_tsbky": ("fdr", "independent"),        # Benjamini, Krieger & Yekutieli 2006, Thm 2
    "fdr_tsbh": ("fdr", "independent"),         # = fdr_tsbky at alpha/(1 - alpha)
    "fdr_gbs": ("fdr", "independent"),          # Gavrilov, Benjamini & Sarkar 2009, Thm 1
}
CERTIFYING = [name for name, (rate, dep) in LITERATURE.items()
              if rate in ("fwer", "kfwer") and dep == "arbitrary"]
REFUSED = [name for name in LITERATURE if name not in CERTIFYING]


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_procedures", ROOT / "docs" / "gen_procedures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- declarations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(LITERATURE))
def test_builtin_declares_the_literature_guarantee(name):
    proc = mtest.get_procedure(name)
    assert (proc.error_rate, proc.dependence) == LITERATURE[name]
    assert proc.reference


def test_every_builtin_is_in_the_literature_table():
    builtin = {n for n in mtest.PROCEDURES if n in mtest.registry._BUILTIN}
    assert builtin == set(LITERATURE)


def test_docs_table_is_generated_from_the_registry():
    gen = _load_generator()
    text = (ROOT / "docs" / "procedures.md").read_text(encoding="utf-8")
    assert gen.render(text) == text, "docs/procedures.md is stale: run python docs/gen_procedures.py"
    for name in LITERATURE:
        assert f"| `{name}` |" in text


def test_table_generator_sees_a_changed_declaration():
    """The check above can fail: a procedure that claimed more would change the table."""
    holm = mtest.get_procedure("holm")
    loose = dataclasses.replace(mtest.get_procedure("fdr_bh"), dependence="arbitrary")
    table = mtest.registry.procedures_table({"holm": holm, "fdr_bh": loose})
    # an FDR procedure valid under any dependence certifies, with error_rate='fdr' only
    assert "| `fdr_bh` |" in table and "any dependence | `error_rate='fdr'` |" in table
    assert table != mtest.registry.procedures_table({"holm": holm, "fdr_bh": mtest.get_procedure("bh")})


# --- segcertify accepts only FWER / k-FWER under arbitrary dependence --------------------------------

GUESS = np.array([[0, 1], [2, 1]])
COUNT = np.array([[100, 97], [60, 99]])


@pytest.mark.parametrize("name", REFUSED)
def test_segcertify_refuses_procedures_without_the_guarantee(name):
    proc = mtest.get_procedure(name)
    for method in (name, *proc.aliases, proc):
        with pytest.raises(ValueError) as err:
            mtest.segcertify(GUESS, COUNT, n=100, tau=0.75, alpha=0.001, method=method)
        msg = str(err.value)
        assert proc.name in msg and "arbitrary dependence" in msg
        for valid in CERTIFYING:
            assert repr(valid) in msg


@pytest.mark.parametrize("name", CERTIFYING)
def test_segcertify_accepts_familywise_arbitrary(name):
    res = mtest.segcertify(GUESS, COUNT, n=100, tau=0.75, alpha=0.001, method=name)
    assert res.guarantee == mtest.get_procedure(name).guarantee(1, 0.001)
    assert str(res.guarantee) == "FWER <= 0.001 under arbitrary dependence"
    assert "FWER <= 0.001 under arbitrary dependence" in repr(res)


def test_segcertify_kfwer_guarantee_is_stated():
    res = mtest.segcertify(GUESS, COUNT, n=100, tau=0.75, alpha=0.01, method="lr", k=2)
    assert res.guarantee.error_rate == "kfwer" and res.guarantee.k == 2
    assert str(res.guarantee) == "P(2 or more false rejections) <= 0.01 under arbitrary dependence"


def _custom(name, **kw):
    base = dict(name=name, step="single", error_rate="fwer", dependence="arbitrary",
                raw=lambda v, r, m, k: np.asarray(v, dtype=float) * m,
                critical_guess=lambda r, m, k, a: np.full(np.shape(r), a / m))
    base.update(kw)
    return mtest.StepwiseProcedure(**base)


def test_segcertify_accepts_custom_fwer_arbitrary_and_refuses_the_rest():
    ok = _custom("my-bonferroni")
    res = mtest.segcertify(GUESS, COUNT, n=100, tau=0.75, alpha=0.001, method=ok)
    ref = mtest.segcertify(GUESS, COUNT, n=100, tau=0.75, alpha=0.001, method="bonferroni")
    np.testing.assert_array_equal(res.labels, ref.labels)
    for kw in (dict(error_rate="fdr"), dict(dependence="independent"), dict(dependence="prds"),
               dict(dependence="positive-orthant")):
        with pytest.raises(ValueError, match="arbitrary dependence"):
            mtest.segcertify(GUESS, COUNT, n=100, tau=0.75, alpha=0.001, method=_custom("x", **kw))


def test_segcertify_counts_refuses_bh():
    with pytest.raises(ValueError, match="fdr_bh"):
        mtest.segcertify_counts(np.array([[1, 9]]), np.array([[0, 100]]), tau=0.75, alpha=0.01,
                                method="BH")


def test_power_study_refuses_bh_before_sampling():
    from mtest.power import MethodSpec, figure_spec, run_study

    spec = dataclasses.replace(figure_spec("2c", quick=True, reps=2),
                               methods=(mtest.power.MethodSpec("SegCertifyBH", "segcertify", "BH"),))
    with pytest.raises(ValueError, match="SEGCERTIFY needs FWER"):
        run_study(spec, progress=False)
    # the row-wise helper the study uses checks too
    draws = mtest.oracle.Oracle(N=10, n_bad=0, gamma=0.0).sample_counts(10, 10, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="SEGCERTIFY needs FWER"):
        mtest.power._segcertify_rows(draws, MethodSpec("x", "segcertify", "fdr_by"), 0.1, 0.75,
                                     binom_pvalue_table(10, 0.75))


def test_adapters_inherit_the_check():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    class Constant(torch.nn.Module):
        def forward(self, x):
            logits = torch.zeros(x.shape[0], 3, 4, 5)
            logits[:, 1] = 1.0
            return logits

    sm = ad.SegmentationSmoother(Constant(), ad.GaussianNoise(0.5), batch_size=16, progress=False)
    with pytest.raises(ValueError, match="SEGCERTIFY needs FWER"):
        sm.certify(torch.rand(3, 4, 5), n0=5, n=40, tau=0.75, alpha=0.01, method="BH")
    run = sm.certify(torch.rand(3, 4, 5), n0=5, n=40, tau=0.75, alpha=0.01, method="holm")
    assert str(run.result.guarantee) == "FWER <= 0.01 under arbitrary dependence"
    for method in ("BY", "hochberg", "hommel", "sidak"):
        with pytest.raises(ValueError, match="SEGCERTIFY needs FWER"):
            run.recertify(0.75, 0.01, method=method)


# --- the warning when nothing can be certified -------------------------------------------------------

def test_segcertify_warns_when_nothing_can_be_certified():
    # tau^n = 0.75^10 = 0.056 > alpha / N: even count = n is not rejected
    with pytest.warns(mtest.CertificationWarning, match=r"n >= 27") as rec:
        res = mtest.segcertify([0, 1], [10, 10], n=10, tau=0.75, alpha=0.001)
    assert res.n_certified == 0 and issubclass(rec[0].category, UserWarning)
    assert "first critical value" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mtest.segcertify([0, 1], [27, 27], n=27, tau=0.75, alpha=0.001).n_certified == 2
        # a feasible setting whose counts just happen to be low gives no warning
        assert mtest.segcertify([0, 1], [5, 5], n=27, tau=0.75, alpha=0.001).n_certified == 0


@pytest.mark.parametrize("method,k", [("holm", 1), ("bonferroni", 1), ("lr", 5)])
def test_warning_matches_the_first_critical_value(method, k):
    """Warn exactly when tau^n exceeds alpha_1 (N = 1000): at the boundary n it certifies."""
    tau, alpha, N = 0.9, 0.01, 1000
    first = k * alpha / N
    n_min = int(np.ceil(np.log(first) / np.log(tau)))
    assert tau ** n_min <= first < tau ** (n_min - 1)
    with pytest.warns(mtest.CertificationWarning):
        mtest.segcertify(np.zeros(N, int), np.full(N, n_min - 1), n=n_min - 1, tau=tau,
                         alpha=alpha, method=method, k=k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = mtest.segcertify(np.zeros(N, int), np.full(N, n_min), n=n_min, tau=tau, alpha=alpha,
                               method=method, k=k)
    assert res.n_certified == N


# --- the refused procedures would have certified wrongly -------------------------------------------

def _wrong_certificate_rates(reps, seed=1):
    """900 components at p_A = 0.99, 100 at p_A = tau = 0.75; n = 100; alpha = 0.05. A wrong
    certificate = some component with p_A <= tau certified (a direct binomial simulation)."""
    n, tau, alpha = 100, 0.75, 0.05
    rng = np.random.default_rng(seed)
    p_a = np.r_[np.full(900, 0.99), np.full(100, tau)]
    count = rng.binomial(n, p_a, size=(reps, p_a.size))
    table = binom_pvalue_table(n, tau, "greater")
    rates = {}
    for method in ("holm", "bonferroni", "lehmann-romano", "fdr_bh", "fdr_by"):
        rows = mtest.reject_table_rows(table, count, alpha, method)
        wrong = (table[count[:, 900:]] <= rows.threshold[:, None]).any(axis=1)
        rates[method] = int(wrong.sum())
    return rates, reps, alpha


def test_refused_fdr_procedures_would_certify_wrongly():
    reps = 4000 if FULL else 600
    rates, reps, alpha = _wrong_certificate_rates(reps)
    ci = {m: mtest.clopper_pearson(h, reps, 0.001, "two-sided") for m, h in rates.items()}
    # BH (~98 %) and BY (~43 %) are wrong far more often than alpha: refusing them is needed
    assert ci["fdr_bh"].low > 0.9 and ci["fdr_by"].low > 0.3
    # Holm (~4 %), Bonferroni and Lehmann-Romano (k = 1) keep their promise
    for method in ("holm", "bonferroni", "lehmann-romano"):
        assert ci[method].low <= alpha, (method, rates[method] / reps)
    # the accepted path gives the same answer as the row-wise simulation
    count = np.random.default_rng(1).binomial(100, np.r_[np.full(900, 0.99), np.full(100, 0.75)])
    res = mtest.segcertify(np.zeros(1000, int), count, n=100, tau=0.75, alpha=0.05)
    rows = mtest.reject_table_rows(binom_pvalue_table(100, 0.75), count[None], 0.05, "holm")
    assert res.n_certified == rows.n_rejected[0]


# --- each declared error rate holds in simulation, under its declared dependence --------------------

#: dependence structures of mtest.testing that satisfy each declared assumption. One-sided Gaussian
#: p-values with nonnegative correlation are PRDS (Benjamini & Yekutieli 2001, §3.1) and positively
#: orthant dependent (Slepian); 'negative' is neither, and only 'arbitrary' has to survive it.
SCENARIOS = {
    "independent": [("independent", 0.0)],
    "positive-orthant": [("independent", 0.0), ("equicorrelated", 0.5), ("block", 0.9)],
    "prds": [("independent", 0.0), ("equicorrelated", 0.5), ("block", 0.9)],
    "arbitrary": [("independent", 0.0), ("equicorrelated", 0.5), ("block", 0.9), ("negative", 0.0)],
}
#: CI: 600 repetitions per scenario (an overclaim by ~0.05 at alpha = 0.1 is still caught, see
#: the harness test below); MTEST_FULL: 10 000 repetitions and more null configurations
REPS = 10_000 if FULL else 600


def _scenario_params():
    for name, proc in mtest.PROCEDURES.items():
        if name not in LITERATURE:
            continue
        ks = (1, 3) if proc.uses_k else (1,)
        for dependence, rho in SCENARIOS[proc.dependence]:
            for k in ks:
                yield pytest.param(name, k, dependence, rho, id=f"{name}-k{k}-{dependence}")


def _check_declared(name, k, dependence, rho, n_null, reps):
    proc = mtest.get_procedure(name)
    alpha = 0.1
    common = dict(n_hypotheses=40, n_null=n_null, alpha=alpha, dependence=dependence, rho=rho,
                  block_size=2 if dependence == "negative" else 10, effect=2.5, reps=reps,
                  seed=zlib.crc32(f"{name}-{k}-{dependence}-{n_null}".encode()))
    if proc.error_rate == "fdr":
        res = check_fdr(name, **common)
    else:
        res = check_fwer(name, k=k, **common)
    assert res.passed, str(res)
    assert res.rate <= alpha + 4 * np.sqrt(alpha * (1 - alpha) / reps), str(res)


@pytest.mark.parametrize("name,k,dependence,rho", list(_scenario_params()))
def test_declared_error_rate_holds_in_simulation(name, k, dependence, rho):
    _check_declared(name, k, dependence, rho, n_null=30, reps=REPS)


@pytest.mark.slow
@pytest.mark.parametrize("name,k,dependence,rho", list(_scenario_params()))
@pytest.mark.parametrize("n_null", [40, 20])
def test_declared_error_rate_holds_in_simulation_full(name, k, dependence, rho, n_null):
    _check_declared(name, k, dependence, rho, n_null=n_null, reps=REPS if FULL else 400)


def test_harness_would_catch_an_overclaim():
    """The simulations above can fail: BH does not control the FWER with false nulls present."""
    res = check_fwer("fdr_bh", n_hypotheses=40, n_null=20, alpha=0.1, effect=2.5, reps=REPS, seed=3)
    assert not res.passed, str(res)


@pytest.mark.slow
def test_binomial_wrong_certificate_rates_full():
    """The issue's figures: BH ~98 %, BY ~44 %, Holm ~4.4 % (4000 repetitions)."""
    rates, reps, alpha = _wrong_certificate_rates(4000 if FULL else 1000, seed=7)
    assert 0.95 < rates["fdr_bh"] / reps and 0.35 < rates["fdr_by"] / reps < 0.55
    assert rates["holm"] / reps < alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)
