"""The §6.1 oracle: marginals, the guess rule, and the exact JOINTCLASS shortcut vs brute force."""
import numpy as np
import pytest
from scipy.stats import binom, chisquare

from mtest.oracle import Oracle, _mode_vector


def test_p_correct_and_clamp():
    np.testing.assert_allclose(Oracle(N=3, n_bad=1, gamma=0.1).p_correct, [0.5, 0.9, 0.9])
    np.testing.assert_allclose(Oracle(N=2, n_bad=2, gamma=0.3).p_correct, [0.0, 0.0])
    np.testing.assert_allclose(Oracle(N=2, n_bad=0, gamma=0.0).p_correct, [1.0, 1.0])


def test_counts_marginals():
    o = Oracle(N=5, n_bad=1, gamma=0.06)
    d = o.sample_counts(n0=11, n=50, reps=40_000, seed=1)
    q = o.p_correct
    # guess = 1 iff a strict majority of the n0 guessing samples is class 1
    np.testing.assert_allclose(d.guess.mean(axis=0), binom.sf(5, 11, q), atol=0.01)
    right = d.guess == 1
    np.testing.assert_allclose(d.count[right].mean(), 50 * np.average(q, weights=right.sum(0)), rtol=0.01)
    assert d.count.max() <= 50 and d.count.min() >= 0


def test_guess_tie_goes_to_class_zero():
    o = Oracle(N=1, n_bad=0, gamma=0.5)
    d = o.sample_counts(n0=2, n=10, reps=20_000, seed=2)
    # P(guess = 1) = P(both samples class 1) = 1/4 since a 1-1 tie goes to class 0
    assert abs(d.guess.mean() - 0.25) < 0.01


def test_mode_vector_first_seen_on_ties():
    v = np.array([[1, 0], [0, 1], [0, 1], [1, 0], [1, 1]], dtype=np.int8)
    np.testing.assert_array_equal(_mode_vector(v), [1, 0])
    np.testing.assert_array_equal(_mode_vector(v[1:]), [0, 1])


def test_joint_shortcut_matches_full_vector_simulation():
    """Count of guess-vector matches: Bin(n, P(guess)) shortcut vs counting full sampled vectors."""
    o = Oracle(N=3, n_bad=1, gamma=0.08)
    n0, n, reps = 7, 12, 6000
    fast = o.sample_joint(n0, n, reps, seed=3)
    rng = np.random.default_rng(4)
    slow_count = np.empty(reps, dtype=np.int64)
    slow_guess = np.empty((reps, 3), dtype=np.int8)
    for r in range(reps):
        slow_guess[r] = _mode_vector(o.sample_vectors(n0, rng))
        slow_count[r] = np.all(o.sample_vectors(n, rng) == slow_guess[r], axis=1).sum()
    # the guessed vector has the same distribution ...
    key_fast = (fast.guess * [4, 2, 1]).sum(1)
    key_slow = (slow_guess * [4, 2, 1]).sum(1)
    f_obs, s_obs = np.bincount(key_fast, minlength=8), np.bincount(key_slow, minlength=8)
    keep = (f_obs + s_obs) > 20
    table = np.vstack([f_obs[keep], s_obs[keep]])
    from scipy.stats import chi2_contingency
    assert chi2_contingency(table).pvalue > 1e-3
    # ... and so has the match count
    cf, cs = np.bincount(fast.count, minlength=n + 1), np.bincount(slow_count, minlength=n + 1)
    keep = (cf + cs) > 20
    assert chi2_contingency(np.vstack([cf[keep], cs[keep]])).pvalue > 1e-3


@pytest.mark.parametrize("kwargs, match", [(dict(N=0, n_bad=0, gamma=0.1), "N must be an integer >= 1"),
                                           (dict(N=3, n_bad=4, gamma=0.1), r"n_bad must be <= N \(3\)"),
                                           (dict(N=3, n_bad=1, gamma=1.5), r"gamma must lie in \[0.0, 1.0\]")])
def test_oracle_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Oracle(**kwargs)


@pytest.mark.parametrize("dependence", ["comonotone", "antithetic"])
def test_dependent_oracle_keeps_the_marginals_and_couples_the_components(dependence):
    o = Oracle(N=4, n_bad=2, gamma=0.05, dependence=dependence)
    draws = o.sample_counts(n0=11, n=100, reps=20_000, seed=0)
    ones = np.where(draws.guess == 1, draws.count, 100 - draws.count)
    # marginals: Bin(100, p) as in the independent oracle (mean and variance)
    np.testing.assert_allclose(ones.mean(axis=0), 100 * o.p_correct, atol=0.15)
    np.testing.assert_allclose(ones.var(axis=0), 100 * o.p_correct * (1 - o.p_correct), rtol=0.05)
    corr = np.corrcoef(ones.T)
    if dependence == "comonotone":
        assert corr[0, 1] == pytest.approx(1.0) and corr[2, 3] == pytest.approx(1.0)
    else:  # odd components use 1 - U: components 0 and 1 (both p = 0.75) anti-correlated
        assert corr[0, 1] < -0.2
    assert (o.sample_vectors(1000, 1)[:, 0] == o.sample_vectors(1000, 1)[:, 0]).all()
    with pytest.raises(ValueError, match="dependence"):
        o.sample_joint(5, 10, 2, 0)


def test_oracle_dependence_is_validated():
    with pytest.raises(ValueError, match=r"dependence \('positive'\) not recognized"):
        Oracle(N=4, n_bad=0, gamma=0.1, dependence="positive")
