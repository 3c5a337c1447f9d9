"""FWER core: differential (statsmodels, R), reference implementations, properties, errors."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

import mtest
from mtest._validation import as_pvalues
from mtest.testing.strategies import pvalue_arrays
from mtest.testing import pvalues_with_ties as random_pvalues

SIZES = [1, 2, 3, 5, 10, 57, 100, 1000, 10_000, 100_000]


# --- differential: statsmodels -------------------------------------------------------------------

@pytest.mark.parametrize("method", ["bonferroni", "holm"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("alpha", [0.001, 0.05, 0.3])
def test_equals_statsmodels(method, n, alpha):
    rng = np.random.default_rng(n * 7 + int(alpha * 1000))
    for _ in range(3 if n < 10_000 else 1):
        p = random_pvalues(n, seed=rng)
        # make rejections plentiful in half the draws
        if rng.random() < 0.5:
            p = p * 10.0 ** rng.uniform(-8, 0)
        ref_reject, ref_adj, _, _ = multipletests(p, alpha=alpha, method=method)
        res = mtest.reject(p, alpha, method)
        np.testing.assert_array_equal(res.reject, ref_reject)
        np.testing.assert_allclose(res.pvalues_adjusted, ref_adj, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mtest.adjust(p, method), ref_adj, rtol=0, atol=1e-12)
        assert res.n_rejected == ref_reject.sum()


@pytest.mark.parametrize("method", ["bonferroni", "holm"])
def test_float32_equals_statsmodels_on_upcast(method):
    rng = np.random.default_rng(3)
    p = (random_pvalues(5000, seed=rng) * 1e-3).astype(np.float32)
    ref_reject, ref_adj, _, _ = multipletests(p.astype(np.float64), alpha=0.05, method=method)
    res = mtest.reject(p, 0.05, method)
    np.testing.assert_array_equal(res.reject, ref_reject)
    np.testing.assert_allclose(res.pvalues_adjusted, ref_adj, rtol=0, atol=1e-12)


# --- differential: literal R p.adjust --------------------------------------------------------------

@pytest.mark.parametrize("method", ["bonferroni", "holm"])
def test_equals_R_p_adjust(r_reference, method):
    for case in r_reference:
        got = mtest.adjust(np.array(case["pvalues"]), method)
        np.testing.assert_allclose(got, case["adjusted"][method], rtol=1e-15, atol=0)


def test_R_first_case_literal():
    # R: p.adjust(c(0.001,0.008,0.039,0.041,0.042,0.06,0.074,0.205), "holm")
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    expected = [0.008, 0.056, 0.23399999999999999, 0.23399999999999999, 0.23399999999999999,
                0.23399999999999999, 0.23399999999999999, 0.23399999999999999]
    np.testing.assert_array_equal(mtest.adjust(p, "holm"), expected)


# --- Lehmann–Romano against a plain sort-based reference ----------------------------------------------

def lr_reference(p, k, alpha):
    """Written from the definition: alpha_i = k a/m (i <= k), k a/(m + k - i) (i > k); step down."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    ps = p[order]
    i = np.arange(1, m + 1)
    factor = np.where(i <= k, m / k, (m + k - i) / k)
    ok = ps * factor <= alpha
    r = m if ok.all() else int(np.argmin(ok))
    reject = np.zeros(m, dtype=bool)
    reject[order[:r]] = True
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate(ps * factor), 1.0)
    return reject, adjusted


def lr_reference_by_division(p, k, alpha):
    """The textbook comparison p(i) <= alpha_i (division form); agrees away from rounding ties."""
    ps = np.sort(p)
    m = ps.size
    i = np.arange(1, m + 1)
    crit = np.where(i <= k, k * alpha / m, k * alpha / (m + k - i))
    ok = ps <= crit
    return m if ok.all() else int(np.argmin(ok))


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, 50])
@pytest.mark.parametrize("n", [1, 4, 10, 100, 1000, 20_000])
def test_lehmann_romano_reference(k, n):
    rng = np.random.default_rng(100 * k + n)
    if k > n:  # k-FWER control is vacuous with fewer than k hypotheses: refused
        with pytest.raises(ValueError, match=rf"k \({k}\) exceeds the number of tested hypotheses m \({n}\)"):
            mtest.lehmann_romano(random_pvalues(n, seed=rng), k=k)
        return
    for _ in range(5):
        p = random_pvalues(n, seed=rng) * 10.0 ** rng.uniform(-6, 0)
        for alpha in (0.001, 0.05, 0.2):
            ref_reject, ref_adj = lr_reference(p, k, alpha)
            res = mtest.lehmann_romano(p, k=k, alpha=alpha)
            np.testing.assert_array_equal(res.reject, ref_reject)
            np.testing.assert_array_equal(res.pvalues_adjusted, ref_adj)
            assert res.n_rejected == lr_reference_by_division(p, k, alpha)


def test_lehmann_romano_k1_is_holm_exactly():
    rng = np.random.default_rng(0)
    p = random_pvalues(5000, seed=rng) * 1e-3
    a, b = mtest.lehmann_romano(p, k=1), mtest.holm(p)
    np.testing.assert_array_equal(a.reject, b.reject)
    np.testing.assert_array_equal(a.pvalues_adjusted, b.pvalues_adjusted)
    assert a.threshold == b.threshold


def test_counting_fast_path_falls_back_to_sort():
    # Holm advances by one per counting pass on p(i) = alpha/(m - i + 1): exactly the adversarial case
    m = 2000
    i = np.arange(1, m + 1)
    p = 0.05 / (m - i + 1)
    p = p * (1 - 1e-12)
    res = mtest.holm(np.random.default_rng(1).permutation(p))
    assert res.n_rejected == m
    p[1500] = 0.9  # now rank m stops at the position where 0.9 sorts
    res = mtest.holm(p)
    ref, _, _, _ = multipletests(p, 0.05, "holm")
    np.testing.assert_array_equal(res.reject, ref)


@pytest.mark.parametrize("method, k", [("holm", 1), ("lr", 3), ("holm-sidak", 1)])
def test_adjusted_cutoff_path_equals_full_sort(method, k, monkeypatch):
    """The step-down shortcut (sort only p below a cutoff, the rest is exactly 1) changes nothing."""
    import mtest._stepwise as stepwise

    rng = np.random.default_rng(21)
    cases = []
    for n in (1, 2, 10, 1000, 50_000):
        p = random_pvalues(n, seed=rng)
        cases += [p, p * 1e-3, p.astype(np.float32)]
        q = p.copy()
        q[rng.random(n) < 0.1] = np.nan
        cases.append(q)
    cases = [p for p in cases if np.count_nonzero(~np.isnan(p)) >= k]  # k > m is refused
    fast = [mtest.adjust(p, method, k=k, nan_policy="omit") for p in cases]
    monkeypatch.setattr(stepwise, "stepdown_cutoff", lambda *a: None)
    for p, got in zip(cases, fast):
        np.testing.assert_array_equal(got, mtest.adjust(p, method, k=k, nan_policy="omit"))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_parallel_sort_equals_numpy(dtype):
    from mtest._sorting import sort_with_order as _sort_with_order

    rng = np.random.default_rng(4)
    p = random_pvalues(1_200_001, seed=rng).astype(dtype)
    p[rng.random(p.size) < 0.01] = np.nan
    values, order = _sort_with_order(p)
    np.testing.assert_array_equal(values, np.sort(p).astype(np.float64))  # NaN last
    np.testing.assert_array_equal(p[order], values)
    assert np.unique(order).size == p.size


@pytest.mark.parametrize("kind", ["tiny", "ties", "zeros-and-ones", "float32", "clustered"])
def test_packed_key_sort_equals_numpy(kind):
    """The packed-key sort (no NaN, >= 1e6 values) gives the sorted values and a valid argsort;
    with values too close for its truncated keys it gives up and the two-thread path takes over."""
    from mtest._sorting import sort_packed as _sort_packed, sort_with_order as _sort_with_order

    rng = np.random.default_rng(6)
    n = 1_000_003
    p = {"tiny": rng.random(n) * 1e-9,
         "ties": rng.choice(rng.random(1000), n),
         "zeros-and-ones": np.where(rng.random(n) < 0.5, 0.0, 1.0) * rng.integers(0, 2, n),
         "float32": rng.random(n).astype(np.float32),
         "clustered": 0.5 + rng.random(n) * 1e-13}[kind]
    if kind == "zeros-and-ones":
        p[:5] = -0.0  # equal to 0.0; the sign bit must not change the order
    packed = _sort_packed(p)
    if kind == "clustered":
        assert packed is None
    values, order = _sort_with_order(p, 0)
    np.testing.assert_array_equal(values, np.sort(p).astype(np.float64))
    np.testing.assert_array_equal(p[order].astype(np.float64), values)
    assert np.unique(order).size == n


def test_holm_adjusted_full_sort_path_equals_statsmodels():
    p = np.random.default_rng(8).random(1_200_000) * 1e-9  # every adjusted value needs its rank
    _, ref, _, _ = multipletests(p, 0.05, "holm")
    np.testing.assert_allclose(mtest.adjust(p, "holm"), ref, rtol=0, atol=1e-12)


def test_holm_large_vector():
    p = np.random.default_rng(5).random(2_000_000)
    p[:1000] *= 1e-9
    res = mtest.holm(p)
    ref, _, _, _ = multipletests(p, 0.05, "holm")
    np.testing.assert_array_equal(res.reject, ref)


# --- results, shapes, pandas, dtype, NaN ---------------------------------------------------------------

def test_result_fields_and_repr():
    res = mtest.holm([0.01, 0.04, 0.03, 0.005])
    assert res.n_rejected == 2 and res.n_tests == 4 and res.method == "holm" and res.alpha == 0.05
    assert res.k == 1
    assert "holm" in repr(res) and "n_rejected=2" in repr(res)
    with pytest.raises(AttributeError):
        res.alpha = 0.1  # frozen


def test_any_shape_is_kept():
    rng = np.random.default_rng(0)
    p = rng.random((3, 4, 5)) * 1e-2
    res = mtest.holm(p)
    assert res.reject.shape == p.shape and res.pvalues_adjusted.shape == p.shape
    flat = mtest.holm(p.ravel())
    np.testing.assert_array_equal(res.reject.ravel(), flat.reject)


def test_pandas_series_keeps_index():
    s = pd.Series([0.01, 0.5, 0.001], index=["a", "b", "c"])
    res = mtest.holm(s)
    assert isinstance(res.reject, pd.Series)
    assert list(res.reject.index) == ["a", "b", "c"]
    assert list(res.reject) == [True, False, True]
    assert list(res.pvalues_adjusted.index) == ["a", "b", "c"]
    assert isinstance(mtest.adjust(s, "bonferroni"), pd.Series)


def test_float32_and_float64_are_not_copied():
    for dtype in (np.float32, np.float64):
        p = np.random.default_rng(0).random(100).astype(dtype)
        flat, *_ = as_pvalues(p)
        assert np.shares_memory(flat, p)


def test_lists_and_integers_accepted():
    assert mtest.holm([0, 1, 0]).n_rejected == 2
    assert mtest.bonferroni((0.001, 0.5)).n_rejected == 1


def test_nan_omit_is_R_semantics():
    rng = np.random.default_rng(2)
    p = random_pvalues(200, seed=rng) * 1e-2
    nan_at = rng.random(200) < 0.2
    p_nan = p.copy()
    p_nan[nan_at] = np.nan
    for method in ("bonferroni", "holm"):
        res = mtest.reject(p_nan, 0.05, method, nan_policy="omit")
        sub = mtest.reject(p[~nan_at], 0.05, method)
        np.testing.assert_array_equal(res.reject[~nan_at], sub.reject)
        assert not res.reject[nan_at].any()
        assert np.isnan(res.pvalues_adjusted[nan_at]).all()
        np.testing.assert_array_equal(res.pvalues_adjusted[~nan_at], sub.pvalues_adjusted)
        assert res.n_tests == (~nan_at).sum()


def test_all_nan_and_empty():
    res = mtest.holm([np.nan, np.nan], nan_policy="omit")
    assert res.n_rejected == 0 and res.n_tests == 0 and np.isnan(res.threshold)
    assert np.isnan(res.pvalues_adjusted).all()
    empty = mtest.holm([])
    assert empty.n_rejected == 0 and empty.reject.shape == (0,)
    assert mtest.adjust([], "holm").shape == (0,)


def test_input_not_mutated():
    rng = np.random.default_rng(9)
    for dtype in (np.float32, np.float64):
        p = (random_pvalues(1000, seed=rng) * 1e-3).astype(dtype)
        before = p.copy()
        for method in ("bonferroni", "holm", "lr"):
            res = mtest.reject(p, 0.05, method, k=2 if method == "lr" else 1)
            _ = res.pvalues_adjusted
        np.testing.assert_array_equal(p, before)
    s = pd.Series([0.2, 0.01])
    mtest.holm(s).pvalues_adjusted
    assert list(s) == [0.2, 0.01]


def test_registry_aliases():
    for alias, name in [("b", "bonferroni"), ("bonf", "bonferroni"), ("h", "holm"),
                        ("HOLM", "holm"), ("lr", "lehmann-romano"), ("k-fwer", "lehmann-romano")]:
        assert mtest.get_procedure(alias).name == name
    assert mtest.reject([0.01], method="bonf").method == "bonferroni"


# --- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, match", [
    ([0.1, 1.5], r"pvalues must lie in \[0, 1\]; got 1.5"),
    ([-0.1, 0.5], r"pvalues must lie in \[0, 1\]; got -0.1"),
    ([0.1, np.inf], r"pvalues must be finite; got inf"),
    ([0.1, -np.inf], r"pvalues must be finite"),
    ([0.1, np.nan], r"pvalues contains NaN"),
    (["a", "b"], r"pvalues must be .*numeric"),
    ([True, False], r"pvalues must be a numeric array"),
    ([0.1 + 1j], r"pvalues must be a numeric array"),
    ([[0.1, 0.2], [0.3]], r"pvalues must be an array"),
    ([None, 0.2], r"pvalues"),
])
def test_bad_pvalues(bad, match):
    with pytest.raises(ValueError, match=match):
        mtest.holm(bad)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, np.nan, np.inf, "0.05", True, None])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        mtest.holm([0.1, 0.2], alpha=alpha)


@pytest.mark.parametrize("k", [0, -1, 2.5, 2.0, "2", True, None])
def test_bad_k(k):
    with pytest.raises(ValueError, match=r"k must be an integer"):
        mtest.lehmann_romano([0.1, 0.2], k=k)


def test_k_for_method_without_k():
    with pytest.raises(ValueError, match=r"k \(2\) is only defined for"):
        mtest.reject([0.1, 0.2], method="holm", k=2)


def test_unknown_method_and_nan_policy():
    with pytest.raises(ValueError, match=r"method \('nope'\) not recognized; use one of"):
        mtest.reject([0.1], method="nope")
    with pytest.raises(ValueError, match=r"nan_policy \('drop'\) not recognized"):
        mtest.holm([0.1], nan_policy="drop")
    with pytest.raises(ValueError, match="method"):
        mtest.adjust([0.1], method=None)


# --- hypothesis properties (through mtest.testing.properties) ----------------------------------------

from mtest.testing import (assert_consistent_with_adjusted, assert_monotone_in_alpha,
                           assert_permutation_equivariant, assert_rejections_contain, procedure)

alphas = st.floats(1e-4, 0.5)
HOLM, BONF = procedure("holm"), procedure("bonferroni")


@given(p=pvalue_arrays(max_size=2000), alpha=alphas)
def test_holm_contains_bonferroni(p, alpha):
    assert_rejections_contain(HOLM, BONF, p, alpha)


@given(p=pvalue_arrays(max_size=2000), alpha=alphas)
def test_lr_k1_equals_holm(p, alpha):
    np.testing.assert_array_equal(procedure("lr", k=1)(p, alpha), HOLM(p, alpha))


@given(p=pvalue_arrays(max_size=2000), alpha=alphas, k=st.integers(2, 20))
def test_lr_monotone_in_k(p, alpha, k):
    assume(k <= p.size)  # k > m is refused
    assert_rejections_contain(procedure("lr", k=k), procedure("lr", k=k - 1), p, alpha)


@given(p=pvalue_arrays(max_size=2000), a=st.lists(alphas, min_size=2, max_size=4),
       method=st.sampled_from(["bonferroni", "holm", "lr"]), k=st.integers(1, 5))
def test_monotone_in_alpha(p, a, method, k):
    assume(method == "holm" or k <= max(p.size, 1))  # k > m is refused
    assert_monotone_in_alpha(procedure(method, k=k if method != "holm" else 1), p, a)


@given(p=pvalue_arrays(max_size=2000), alpha=alphas, seed=st.integers(0, 2**31),
       method=st.sampled_from(["bonferroni", "holm", "lr"]), k=st.integers(1, 5))
def test_permutation_equivariant(p, alpha, seed, method, k):
    k = k if method != "holm" else 1
    assume(k <= max(p.size, 1))  # k > m is refused
    assert_permutation_equivariant(procedure(method, k=k), p, alpha, seed)
    perm = np.random.default_rng(seed).permutation(p.size)
    np.testing.assert_array_equal(mtest.adjust(p, method, k=k)[perm], mtest.adjust(p[perm], method, k=k))


@given(p=pvalue_arrays(max_size=2000, allow_nan=True), alpha=alphas,
       method=st.sampled_from(["bonferroni", "holm", "lr"]), k=st.integers(1, 5))
def test_adjusted_consistency_and_threshold(p, alpha, method, k):
    k = k if method != "holm" else 1
    tested = ~np.isnan(p)
    if k > max(int(tested.sum()), 1):  # k > m: k-FWER control is vacuous, refused
        with pytest.raises(ValueError, match="exceeds the number of tested hypotheses"):
            mtest.reject(p, alpha, method, k=k, nan_policy="omit")
        return
    before = p.copy()
    res = mtest.reject(p, alpha, method, k=k, nan_policy="omit")
    adj = res.pvalues_adjusted
    # adjusted >= raw
    assert (adj[tested] >= p[tested].astype(np.float64)).all()
    # reject exactly when adjusted <= alpha, and the rejection set is exactly {p <= threshold}
    assert_consistent_with_adjusted(res.reject, adj, alpha, p, res.threshold if res.n_tests else None)
    assert res.n_rejected == res.reject.sum()
    np.testing.assert_array_equal(p, before)
