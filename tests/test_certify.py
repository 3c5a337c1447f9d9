"""SEGCERTIFY and the baselines on counts: exactness, guarantees by simulation, properties, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import laplace, norm

import mtest
from mtest import ABSTAIN
from mtest.testing.strategies import count_maps
from conftest import FULL

REPS = 20_000 if FULL else 4_000


# --- exactness -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, k", [("holm", 1), ("bonferroni", 1), ("bonferroni", 4),
                                       ("lr", 3), ("lr", 50)])
def test_segcertify_equals_procedure_on_pvalues(method, k):
    rng = np.random.default_rng(0)
    for n, tau in [(100, 0.75), (1000, 0.9), (10, 0.5), (1, 0.6)]:
        count = rng.binomial(n, rng.beta(8, 1, (30, 40)))
        guess = rng.integers(0, 5, count.shape)
        res = mtest.segcertify(guess, count, n=n, tau=tau, alpha=0.01, method=method, k=k)
        pv = mtest.binom_pvalue(count, n, tau, "greater")
        np.testing.assert_array_equal(res.pvalues, pv)
        ref = mtest.reject(pv, 0.01, method, k=k)
        np.testing.assert_array_equal(res.reject, ref.reject)
        assert res.fwer.threshold == ref.threshold
        np.testing.assert_array_equal(res.labels, np.where(ref.reject, guess, ABSTAIN))
        assert res.labels.shape == count.shape
        assert res.abstain_rate == pytest.approx(1 - ref.n_rejected / count.size)
        np.testing.assert_array_equal(res.fwer.pvalues_adjusted, ref.pvalues_adjusted)


def test_reject_table_matches_reject_with_ties_across_table():
    # equal table entries at different indices (underflow to 0) must behave as ties
    table = np.array([0.0, 0.0, 1e-5, 0.01, 0.01, 0.5, 1.0])
    rng = np.random.default_rng(1)
    for _ in range(50):
        index = rng.integers(0, table.size, rng.integers(1, 60))
        for method, k in [("holm", 1), ("bonferroni", 2), ("lr", 3)]:
            k = min(k, index.size)
            a = mtest.reject_table(table, index, 0.05, method, k=k)
            b = mtest.reject(table[index], 0.05, method, k=k)
            np.testing.assert_array_equal(a.reject, b.reject)
            assert a.threshold == b.threshold and a.n_rejected == b.n_rejected


def test_radius_and_labels_example():
    res = mtest.segcertify([[0, 1], [2, 1]], [[100, 97], [60, 99]], n=100, tau=0.75, alpha=0.001,
                           sigma=0.25)
    assert res.radius == pytest.approx(0.25 * norm.ppf(0.75), rel=1e-14)
    assert res.n_certified == 3 and res.labels[1, 0] == ABSTAIN
    assert np.isnan(mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.01).radius)
    lap = mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.01, radius=mtest.LaplaceL1(2.0))
    assert lap.radius == pytest.approx(-2.0 * np.log(2 * 0.25))
    custom = mtest.segcertify([0], [100], n=100, tau=0.75, alpha=0.01, radius=lambda p: 3 * p)
    assert custom.radius == pytest.approx(2.25)


def test_segcertify_counts_convenience():
    rng = np.random.default_rng(3)
    counts0 = rng.multinomial(10, [0.1, 0.2, 0.7], size=(4, 5))
    counts = rng.multinomial(100, [0.05, 0.05, 0.9], size=(4, 5))
    gc = mtest.guess_and_count(counts0, counts)
    np.testing.assert_array_equal(gc.guess, counts0.argmax(-1))
    a = mtest.segcertify_counts(counts0, counts, tau=0.75, alpha=0.01)
    b = mtest.segcertify(gc.guess, gc.count, n=100, tau=0.75, alpha=0.01)
    np.testing.assert_array_equal(a.labels, b.labels)
    # ties in counts0 go to the lowest class index
    tie = mtest.guess_and_count(np.array([[5, 5, 0]]), np.array([[1, 2, 3]]))
    assert tie.guess[0] == 0 and tie.count[0] == 1


def test_cohen_certify_and_predict():
    res = mtest.cohen_certify([3, 3, 1], [99, 40, 100], n=100, alpha=0.001, sigma=0.5)
    lower = mtest.clopper_pearson(np.array([99, 40, 100]), 100, 0.001).low
    np.testing.assert_array_equal(res.p_lower, lower)
    np.testing.assert_array_equal(res.labels, [3, -1, 1])
    np.testing.assert_allclose(res.radius[[0, 2]], 0.5 * norm.ppf(lower[[0, 2]]))
    assert np.isnan(res.radius[1])
    pred = mtest.cohen_predict(np.array([[90, 10, 0], [48, 52, 0], [0, 0, 7]]), alpha=0.05)
    np.testing.assert_array_equal(pred.labels, [0, -1, 2])
    assert pred.pvalues[0] == pytest.approx(mtest.binomtest(90, 100).pvalue)
    # ties between the top two go to the lower index, and the test cannot reject
    assert mtest.cohen_predict(np.array([[5, 5]]), alpha=0.5).labels[0] == ABSTAIN


def test_indiv_and_joint_class():
    ok = mtest.indiv_class([0, 1, 1], [100, 100, 98], n=100, alpha=0.001, sigma=0.25)
    lower = mtest.clopper_pearson(np.array([100, 100, 98]), 100, 0.001 / 3).low
    assert ok.certified and ok.radius == pytest.approx(0.25 * norm.ppf(lower.min()))
    np.testing.assert_array_equal(ok.labels, [0, 1, 1])
    bad = mtest.indiv_class([0, 1, 1], [100, 100, 60], n=100, alpha=0.001)
    assert not bad.certified and (bad.labels == ABSTAIN).all() and np.isnan(bad.radius)
    s0 = np.array([[0, 1], [0, 1], [1, 1], [1, 1]])  # tie between two vectors: the first seen wins
    s = np.vstack([np.tile([0, 1], (95, 1)), np.tile([1, 1], (5, 1))])
    jc = mtest.joint_class(s0, s, alpha=0.001, sigma=0.25)
    assert jc.certified and jc.count == 95 and list(jc.labels) == [0, 1]
    assert jc.radius == pytest.approx(0.25 * norm.ppf(mtest.clopper_pearson(95, 100, 0.001).low))
    assert not mtest.joint_class_from_count([0, 1], 60, n=100, alpha=0.001).certified


# --- radii -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.51, 0.6, 0.75, 0.9, 0.99, 0.999])
def test_laplace_radius_is_tight_in_one_dimension(p):
    """Worst case in 1-D: f(x) = 1[x + eps <= t]; p_A(x) = F_Laplace(t - x)."""
    lam = 0.7
    R = mtest.LaplaceL1(lam)(p)
    t = laplace.ppf(p, scale=lam)  # x = 0 has p_A = p exactly
    # the worst-case shift moves x towards the boundary at t: certified up to R, no further
    assert R == pytest.approx(t - laplace.ppf(0.5, scale=lam), rel=1e-12)
    for delta in R * np.array([0.0, 0.5, 0.9, 0.999999]):
        assert laplace.cdf(t - delta, scale=lam) > 0.5
    assert laplace.cdf(t - R, scale=lam) == pytest.approx(0.5, abs=1e-12)
    assert laplace.cdf(t - R * 1.001, scale=lam) < 0.5


def test_laplace_radius_holds_for_other_classifiers_monte_carlo():
    """Randomly placed interval classifiers, x in R^2 with l1 shifts: never fails before R."""
    rng = np.random.default_rng(4)
    lam, draws = 1.0, 400_000
    eps = rng.laplace(scale=lam, size=(draws, 2))
    for _ in range(5):
        w = rng.normal(size=2)
        w /= np.abs(w).max()  # |w_j| <= 1, so an l1 shift of size d moves w.x by at most d
        b = rng.uniform(0.5, 2.0)
        # f(x) = 1[w.(x+eps) <= b]; exact p_A at x = 0 by Monte Carlo with a conservative margin
        p_hat = np.mean(eps @ w <= b)
        se = np.sqrt(p_hat * (1 - p_hat) / draws)
        R = mtest.LaplaceL1(lam)(p_hat - 5 * se)
        for direction in np.eye(2):
            for sign in (1, -1):
                shift = sign * direction * R * 0.95
                p_shift = np.mean((eps + shift) @ w <= b)
                assert p_shift > 0.5 - 5 * se


def test_gaussian_radius_is_tight_in_one_dimension():
    sigma = 0.5
    for p in (0.6, 0.75, 0.99):
        R = mtest.GaussianL2(sigma)(p)
        t = norm.ppf(p, scale=sigma)
        assert norm.cdf(t - 0.999 * R, scale=sigma) > 0.5
        assert norm.cdf(t - 1.001 * R, scale=sigma) < 0.5


# --- guarantees (Proposition 1), by simulation -----------------------------------------------------------

def _type1_rate(method, k, alpha, n, tau, p_true, is_null, seed, count_at_least=None):
    """Rate of runs that certify ``count_at_least`` (default k) or more true nulls."""
    count_at_least = k if count_at_least is None else count_at_least
    rng = np.random.default_rng(seed)
    counts = rng.binomial(n, p_true, size=(REPS, p_true.size))
    guess = np.zeros(p_true.size, dtype=np.int64)
    hits = 0
    for row in counts:
        res = mtest.segcertify(guess, row, n=n, tau=tau, alpha=alpha, method=method, k=k)
        hits += int(np.count_nonzero((res.labels != ABSTAIN) & is_null) >= count_at_least)
    return hits / REPS


@pytest.mark.slow
@pytest.mark.parametrize("method, k", [("holm", 1), ("bonferroni", 1), ("lr", 2), ("lr", 5)])
@pytest.mark.parametrize("null_p", ["at_tau", "just_below"])
def test_proposition_1(method, k, null_p):
    n, tau, alpha = 100, 0.75, 0.1
    n_null, n_alt = 150, 50
    p0 = tau if null_p == "at_tau" else tau - 0.01
    p_true = np.concatenate([np.full(n_null, p0), np.full(n_alt, 0.99)])
    is_null = np.arange(p_true.size) < n_null
    rate = _type1_rate(method, k, alpha, n, tau, p_true, is_null, seed=k)
    assert rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / REPS), rate


@pytest.mark.slow
def test_proposition_1_has_power_to_fail():
    """The same harness, through segcertify, flags a procedure that does not control the FWER:
    Bonferroni with k = N certifies every component with p <= k alpha / N = alpha, i.e. without
    correction, and its rate of one or more certified true nulls is far above alpha."""
    n, tau, alpha = 100, 0.75, 0.1
    n_null = 150
    p_true = np.full(n_null, tau)
    is_null = np.ones(n_null, bool)
    rate = _type1_rate("bonferroni", n_null, alpha, n, tau, p_true, is_null, seed=0, count_at_least=1)
    assert rate > 0.9


@pytest.mark.slow
def test_cohen_certify_lower_bound_coverage():
    rng = np.random.default_rng(1)
    alpha, n = 0.05, 100
    for p_true in (0.3, 0.7, 0.9, 0.99):
        count = rng.binomial(n, p_true, REPS)
        lower = mtest.cohen_certify(np.zeros(REPS, dtype=int), count, n=n, alpha=alpha).p_lower
        rate = np.mean(lower > p_true)
        assert rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / REPS), (p_true, rate)


@pytest.mark.slow
def test_indiv_class_joint_coverage():
    rng = np.random.default_rng(2)
    alpha, n, N = 0.1, 100, 40
    p_true = rng.uniform(0.6, 0.99, N)
    misses = 0
    for _ in range(REPS // 2):
        count = rng.binomial(n, p_true)
        res = mtest.indiv_class(np.zeros(N, dtype=int), count, n=n, alpha=alpha)
        misses += bool(np.any(res.p_lower > p_true))
    reps = REPS // 2
    assert misses / reps <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)


# --- properties ----------------------------------------------------------------------------------------------

@given(cm=count_maps(), alpha=st.floats(1e-4, 0.3))
def test_holm_certifies_superset_of_bonferroni(cm, alpha):
    holm = mtest.segcertify(**cm, alpha=alpha, method="holm")
    bon = mtest.segcertify(**cm, alpha=alpha, method="bonferroni")
    assert not (bon.reject & ~holm.reject).any()
    for res in (holm, bon):
        assert np.all((res.labels == cm["guess"]) | (res.labels == ABSTAIN))
        np.testing.assert_array_equal(res.labels != ABSTAIN, res.reject)


@given(cm=count_maps(), alpha=st.floats(1e-4, 0.3), seed=st.integers(0, 2**31),
       method=st.sampled_from(["holm", "bonferroni", "lr"]))
def test_larger_count_never_loses_a_certificate(cm, alpha, seed, method):
    rng = np.random.default_rng(seed)
    k = min(3, cm["count"].size) if method == "lr" else 1
    before = mtest.segcertify(**cm, alpha=alpha, method=method, k=k)
    bumped = cm["count"] + rng.integers(0, 3, cm["count"].shape)
    cm2 = dict(cm, count=np.minimum(bumped, cm["n"]))
    after = mtest.segcertify(**cm2, alpha=alpha, method=method, k=k)
    assert not (before.reject & ~after.reject).any()


# --- errors ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(tau=0.4), r"tau must lie in \[0.5, 1.0\); got 0.4"),
    (dict(tau=1.0), r"tau must lie in \[0.5, 1.0\); got 1.0"),
    (dict(alpha=0.0), r"alpha must lie strictly between 0 and 1; got 0.0"),
    (dict(n=0), r"n must be an integer >= 1; got 0"),
    (dict(n=100.0), r"n must be an integer >= 1; got 100.0"),
    (dict(count=[5, 101]), r"count must satisfy 0 <= count <= n=100; got 101 at flat index 1"),
    (dict(count=[-1, 5]), r"count must satisfy 0 <= count <= n=100; got -1"),
    (dict(count=[5.0, 6.0]), r"count must be an integer array; got dtype float64"),
    (dict(guess=[0.5, 1.0]), r"guess must be an integer array"),
    (dict(guess=[0, 1, 2]), r"guess and count must have the same shape"),
    (dict(method="fdx"), r"method \('fdx'\) not recognized"),
    (dict(k=0), r"k must be an integer >= 1; got 0"),
    (dict(sigma=-1.0), r"sigma must be a positive number; got -1.0"),
    (dict(radius=0.5), r"radius must be a callable"),
    (dict(sigma=0.5, radius=mtest.GaussianL2(0.5)), r"give sigma .* or radius .*, not both"),
    (dict(guess=np.array([], int), count=np.array([], int)), r"count must hold at least one component"),
])
def test_segcertify_errors(kwargs, match):
    args = dict(guess=[0, 1], count=[90, 95], n=100, tau=0.75, alpha=0.01)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mtest.segcertify(**args)


def test_other_errors():
    with pytest.raises(ValueError, match="counts must sum to the same n"):
        mtest.guess_and_count(np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match=r"counts0 and counts must have the same shape"):
        mtest.guess_and_count(np.array([[1, 2]]), np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="counts must be non-negative"):
        mtest.cohen_predict(np.array([[1, -2]]), alpha=0.1)
    with pytest.raises(ValueError, match=r"count must satisfy 0 <= count <= n=10; got 11"):
        mtest.joint_class_from_count([0], 11, n=10, alpha=0.1)
    with pytest.raises(ValueError, match="samples0 and samples must have shapes"):
        mtest.joint_class(np.zeros((3, 2), int), np.zeros((3, 4), int), alpha=0.1)
    with pytest.raises(ValueError, match="scale must be a positive number"):
        mtest.LaplaceL1(0.0)
    with pytest.raises(ValueError, match=r"index must lie in \[0, 2\]"):
        mtest.reject_table([0.1, 0.2, 0.3], [0, 3])


@pytest.mark.parametrize("method, k", [("holm", 1), ("bonferroni", 1), ("bonferroni", 3), ("lr", 4)])
def test_reject_table_rows_equals_per_row(method, k):
    rng = np.random.default_rng(8)
    n, tau = 50, 0.7
    table = mtest.binom_pvalue_table(n, tau)
    index = rng.binomial(n, rng.uniform(0.6, 1.0, (1, 30)), size=(200, 30))
    rows = mtest.reject_table_rows(table, index, 0.05, method, k=k)
    for j in range(index.shape[0]):
        ref = mtest.reject_table(table, index[j], 0.05, method, k=k)
        assert rows.n_rejected[j] == ref.n_rejected
        assert rows.threshold[j] == ref.threshold
