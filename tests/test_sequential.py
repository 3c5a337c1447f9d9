"""Sequential SEGCERTIFY: the e-process, the e-Holm closure, the anytime guarantee by simulation
(adversarial stopping, dependent components), decisions, futility and errors."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

import mtest
from mtest import ABSTAIN
from mtest.sequential import e_holm_reject, log_evalue
from conftest import FULL

# each run is a few hundred updates through the public API; CI runs fewer, coarser rounds
REPS = 2_000 if FULL else 200
ROUND = 1 if FULL else 5


# --- the per-component e-process -------------------------------------------------------------------

@pytest.mark.parametrize("s, f, tau", [(0, 0, 0.75), (10, 0, 0.75), (63, 0, 0.75), (30, 10, 0.6),
                                       (5, 20, 0.5), (180, 20, 0.9), (0, 7, 0.8)])
def test_log_evalue_is_the_uniform_mixture_likelihood_ratio(s, f, tau):
    def ratio(q):
        return (q / tau) ** s * ((1 - q) / (1 - tau)) ** f / (1 - tau)

    ref, _ = integrate.quad(ratio, tau, 1, epsabs=0, epsrel=1e-12, limit=200)
    assert np.exp(log_evalue(s, f, tau)) == pytest.approx(ref, rel=1e-8)


def test_log_evalue_is_a_martingale_at_the_boundary_and_shrinks_below():
    # E[E_{t+1} | E_t] = E_t at p = tau and < E_t for p < tau, whatever the past counts
    tau = 0.7
    for s, f in [(0, 0), (5, 1), (20, 30), (100, 5)]:
        now = np.exp(log_evalue(s, f, tau))
        for p in (tau, 0.5, 0.1):
            nxt = p * np.exp(log_evalue(s + 1, f, tau)) + (1 - p) * np.exp(log_evalue(s, f + 1, tau))
            if p == tau:
                assert nxt == pytest.approx(now, rel=1e-10)
            else:
                assert nxt < now


# --- the e-Holm closure ------------------------------------------------------------------------------

def _closure_brute_force(e, alpha):
    m = len(e)
    reject = np.ones(m, dtype=bool)
    for size in range(1, m + 1):
        for S in itertools.combinations(range(m), size):
            if np.mean(e[list(S)]) < 1 / alpha * (1 + 1e-12):
                reject[list(S)] = False
    return reject


@given(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0, 19.0, 20.0, 21.0, 40.0, 60.0, 1e3, np.inf]),
                min_size=1, max_size=7),
       st.sampled_from([0.05, 0.1, 0.5]))
def test_e_holm_equals_the_closure_over_all_subsets(values, alpha):
    e = np.array(values)
    np.testing.assert_array_equal(e_holm_reject(e, alpha), _closure_brute_force(e, alpha))


def test_e_holm_random_values_and_bonferroni_bound():
    rng = np.random.default_rng(3)
    for _ in range(300):
        m = int(rng.integers(1, 8))
        e = rng.exponential(rng.choice([1.0, 10.0, 50.0]), m) * rng.integers(0, 2, m)
        rej = e_holm_reject(e, 0.1)
        np.testing.assert_array_equal(rej, _closure_brute_force(e, 0.1))
        assert np.all(rej[e >= m / 0.1 * (1 + 1e-9)])        # e-Holm rejects all e-Bonferroni does


# --- the guarantee, by simulation ---------------------------------------------------------------------

def _false_certificate_rate(p, tau, alpha, n_max, b, method, dependence, reps, seed, k=1):
    """Run to n_max (certificates are permanent, so this is the worst stopping rule) and count runs
    with a certified null component (k-FWER: k or more)."""
    rng = np.random.default_rng(seed)
    null = p <= tau
    bad = 0
    for _ in range(reps):
        seq = mtest.SequentialCertifier(np.zeros(p.size, dtype=np.int64), tau=tau, alpha=alpha, n_max=n_max,
                                        method=method, k=k, futility=None)
        while not seq.done:
            if dependence == "comonotone":      # one uniform per sample shared by all components
                u = rng.random((b, 1))
                matches = (u < p).sum(axis=0)
            else:
                matches = rng.binomial(b, p)
            seq.update(matches, b)
        bad += np.count_nonzero(seq.result().reject & null) >= k
    return bad / reps


@pytest.mark.slow
@pytest.mark.parametrize("method, dependence, k", [("holm", "independent", 1), ("holm", "comonotone", 1),
                                                   ("bonferroni", "independent", 1),
                                                   ("bonferroni", "comonotone", 2)])
def test_fwer_holds_under_adversarial_stopping(method, dependence, k):
    # nulls exactly at the boundary (the worst case), alternatives that certify early and so
    # lower e-Holm's bar for the rest, one sample per round (every possible stopping time)
    alpha, tau = 0.2, 0.6
    p = np.array([0.6, 0.6, 0.6, 0.6, 0.99, 0.99, 0.99])
    rate = _false_certificate_rate(p, tau, alpha, n_max=300, b=ROUND, method=method, dependence=dependence,
                                   reps=REPS, seed=11, k=k)
    se = np.sqrt(alpha * (1 - alpha) / REPS)
    assert rate <= alpha + 3 * se


@pytest.mark.slow
def test_fwer_single_null_many_looks():
    alpha, tau = 0.1, 0.75
    rate = _false_certificate_rate(np.array([0.75]), tau, alpha, n_max=1000, b=2 * ROUND, method="holm",
                                   dependence="independent", reps=REPS, seed=5)
    assert rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / REPS)


def test_the_simulation_detects_peeking_with_fixed_n_tests():
    # the same null stream tested with the fixed-n binomial test at every look is not valid:
    # a check that the simulation above can fail
    rng = np.random.default_rng(2)
    alpha, tau, n_max, reps = 0.1, 0.75, 2000, 400
    x = rng.random((reps, n_max)) < tau
    s = np.cumsum(x, axis=1)
    looks = np.arange(5, n_max + 1, 5)
    pv = mtest.binom_pvalue(s[:, looks - 1], looks[None, :].repeat(reps, 0), tau, "greater")
    assert np.mean((pv <= alpha).any(axis=1)) > 2 * alpha


# --- decisions -------------------------------------------------------------------------------------------

def test_all_matching_components_certify_exactly_when_the_evalue_crosses():
    N, alpha, tau = 50, 0.01, 0.75
    need = np.log(N / alpha)
    first = next(t for t in range(1, 500) if log_evalue(t, 0, tau) >= need)
    seq = mtest.SequentialCertifier(np.arange(N), tau=tau, alpha=alpha, n_max=1000, method="bonferroni")
    for t in range(1, first):
        seq.update(np.ones(N, dtype=np.int64), 1)
        assert not seq.result().reject.any(), t
    seq.update(np.ones(N, dtype=np.int64), 1)
    res = seq.result()
    assert res.reject.all() and seq.done and res.n_samples == first
    np.testing.assert_array_equal(res.labels, np.arange(N))
    np.testing.assert_array_equal(res.n_used, first)


def test_e_holm_certifies_no_later_than_bonferroni_and_decisions_are_final():
    rng = np.random.default_rng(4)
    p = np.where(rng.random(300) < 0.8, 0.995, rng.uniform(0.3, 1, 300))
    runs = {}
    for method in ("holm", "bonferroni"):
        r = np.random.default_rng(9)
        seq = mtest.SequentialCertifier(np.zeros(300, dtype=np.int64), tau=0.75, alpha=0.01, n_max=800,
                                        method=method)
        prev = np.zeros(300, dtype=bool)
        prev_status = np.zeros(300, dtype=np.int8)
        while not seq.done:
            seq.update(r.binomial(10, p), 10)
            res = seq.result()
            assert np.all(res.reject[prev])                         # certificates are never withdrawn
            decided = prev_status != 0
            np.testing.assert_array_equal(res.status[decided], prev_status[decided])
            prev, prev_status = res.reject, res.status
        runs[method] = seq.result()
    assert np.all(runs["holm"].reject >= runs["bonferroni"].reject)
    assert runs["holm"].n_certified > 0.75 * 300


def test_futile_components_abstain_and_budget_futility_is_exact():
    # after t all-mismatch samples a component is futile iff even n_max - t matches cannot reach
    N, alpha, tau, n_max = 10, 0.05, 0.75, 200
    seq = mtest.SequentialCertifier(np.zeros(N, dtype=np.int64), tau=tau, alpha=alpha, n_max=n_max,
                                    method="bonferroni", futility=None)
    t = 0
    while not seq.done:
        seq.update(np.zeros(N, dtype=np.int64), 1)
        t += 1
        reachable = log_evalue(n_max - t, t, tau) >= np.log(N / alpha)
        assert bool(seq.undecided.all()) == bool(reachable), t
    res = seq.result()
    assert np.all(res.labels == ABSTAIN) and np.all(res.status == 2) and res.n_samples < n_max


def test_result_fields_and_radius():
    seq = mtest.SequentialCertifier([[3, 4]], tau=0.8, alpha=0.01, n_max=100, sigma=0.5)
    seq.update(np.array([[20, 3]]), 20)
    res = seq.result()
    assert res.labels.shape == (1, 2) and res.n_samples == 20 and res.n_max == 100
    assert res.radius == pytest.approx(mtest.GaussianL2(0.5)(0.8))
    assert res.guarantee.is_familywise and res.guarantee.valid_under_arbitrary_dependence
    assert res.guarantee.alpha == 0.01
    np.testing.assert_allclose(res.log_evalues, [[log_evalue(20, 0, 0.8), log_evalue(3, 17, 0.8)]])
    assert "SequentialResult(" in repr(res)
    lap = mtest.SequentialCertifier([0], tau=0.75, alpha=0.01, n_max=10, radius=mtest.LaplaceL1(1.0))
    assert lap.result().radius == pytest.approx(np.log(2))


def test_inputs_are_not_mutated():
    guess = np.array([1, 2, 3])
    matches = np.array([5, 5, 0])
    seq = mtest.SequentialCertifier(guess, tau=0.75, alpha=0.1, n_max=50)
    guess[0] = 9
    seq.update(matches, 5)
    np.testing.assert_array_equal(matches, [5, 5, 0])
    assert seq.result().labels[0] in (1, ABSTAIN)


# --- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(method="fdr_bh"), "FWER or k-FWER control under arbitrary dependence"),
    (dict(method="hommel"), "FWER or k-FWER control under arbitrary dependence"),
    (dict(method="sidak"), "FWER or k-FWER control under arbitrary dependence"),
    (dict(method="lr", k=2), "no anytime-valid e-value version"),
    (dict(method="holm", k=2), "k \\(2\\) is only defined"),
    (dict(method="nope"), "method \\('nope'\\) not recognized"),
    (dict(tau=0.4), "tau must lie in"),
    (dict(alpha=1.5), "alpha must lie strictly between"),
    (dict(n_max=0), "n_max must be an integer >= 1"),
    (dict(futility=1.0), "futility must lie in"),
    (dict(sigma=0.25, radius=mtest.LaplaceL1(1.0)), "not both"),
])
def test_bad_arguments(kwargs, match):
    args = dict(tau=0.75, alpha=0.01, n_max=100)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mtest.SequentialCertifier([0, 1], **args)


def test_bad_updates():
    seq = mtest.SequentialCertifier([0, 1], tau=0.75, alpha=0.01, n_max=30)
    with pytest.raises(ValueError, match="matches must have the guess's shape"):
        seq.update([1, 2, 3], 5)
    with pytest.raises(ValueError, match="0 <= matches <= b=5; got 6 at flat index 1"):
        seq.update([1, 6], 5)
    with pytest.raises(ValueError, match="matches must be an integer array"):
        seq.update([1.0, 2.0], 5)
    with pytest.raises(ValueError, match="b \\(31\\) exceeds the samples left"):
        seq.update([1, 2], 31)
    with pytest.raises(ValueError, match="guess must hold at least one component"):
        mtest.SequentialCertifier(np.array([], dtype=np.int64), tau=0.75, alpha=0.01, n_max=30)


# --- the adapter -------------------------------------------------------------------------------------------

def test_adapter_rounds_see_the_fixed_n_noise_and_counts():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    class Threshold(torch.nn.Module):      # class 1 where the noisy pixel is > 0
        def forward(self, x):
            v = x[:, 0]
            return torch.stack([-v, v], dim=1)

    x = torch.linspace(-0.5, 0.5, 3 * 4 * 5).reshape(3, 4, 5)
    smoother = ad.SegmentationSmoother(Threshold(), ad.GaussianNoise(0.25), batch_size=7, progress=False)
    fixed = smoother.certify(x, n0=9, n=40, tau=0.75, alpha=0.05, seed=3)
    run = smoother.certify_sequential(x, n0=9, tau=0.75, alpha=0.05, n_max=40, round_size=40, futility=None,
                                      seed=3)
    np.testing.assert_array_equal(run.guess, fixed.guess)
    np.testing.assert_allclose(run.result.log_evalues, log_evalue(fixed.count, 40 - fixed.count, 0.75))
    assert run.n_samples == 40 and run.history[-1][0] == 40 and run.labels.shape == (4, 5)


def test_adapter_constant_model_certifies_everything_early():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    classes = torch.tensor([[0, 1, 2], [3, 3, 1]])

    class Constant(torch.nn.Module):
        def forward(self, x):
            logits = torch.nn.functional.one_hot(classes, 4).float().movedim(-1, 0)
            return logits.expand(x.shape[0], *logits.shape).clone()

    smoother = ad.SegmentationSmoother(Constant(), ad.GaussianNoise(0.5), batch_size=8, progress=False)
    run = smoother.certify_sequential(torch.zeros(3, 2, 3), n0=5, tau=0.9, alpha=0.001, n_max=5000, round_size=8)
    np.testing.assert_array_equal(run.labels, classes.numpy())
    # six equal e-values: every subset's mean is that value, so e-Holm needs only 1/alpha
    first = next(t for t in range(1, 5000) if log_evalue(t, 0, 0.9) >= np.log(1 / 0.001))
    assert run.n_samples == -(-first // 8) * 8          # the first round boundary after the crossing
    assert run.radius == pytest.approx(0.5 * 1.2815515655446004)
    with pytest.raises(ValueError, match="FWER or k-FWER"):
        smoother.certify_sequential(torch.zeros(3, 2, 3), n0=5, tau=0.9, alpha=0.01, n_max=50, method="bh")
