"""Every answer is right or refused (issue #12, items 2, 3 and 6): results never change after they
are returned, thresholds are exact in the input's dtype, any integer dtype works, odd inputs get a
ValueError (never a Numba TypingError or an OverflowError), and the last digits are true."""
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import betainc, betaincc

import mtest
from mtest import procedures as builtin_procedures
from mtest._stepwise import critical
from mtest._validation import COPY_BELOW
from mtest.registry import SpecialProcedure

ALL = list(mtest.PROCEDURES)
STEPWISE = [n for n in ALL if not isinstance(mtest.get_procedure(n), SpecialProcedure)]


def _k(name, m=10):
    return min(2, m) if mtest.get_procedure(name).uses_k else 1


# --- item 2: results never change after they are returned --------------------------------------------

def test_issue_example_mutation_after_return():
    p = np.array([.01, .02, .03, .5])
    r = mtest.holm(p)
    p[:] = .9
    np.testing.assert_array_equal(r.pvalues_adjusted, [0.04, 0.06, 0.06, 0.5])
    np.testing.assert_array_equal(r.reject, [True, False, False, False])


@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 300), name=st.sampled_from(ALL),
       dtype=st.sampled_from([np.float64, np.float32]), series=st.booleans())
@settings(max_examples=150)
def test_mutate_after_return_never_changes_a_result(seed, m, name, dtype, series):
    rng = np.random.default_rng(seed)
    p = (rng.random(m) ** 3).astype(dtype)
    k = _k(name, m)
    expected = mtest.adjust(p.copy(), name, k=k, alpha=0.05)
    data = pd.Series(p, index=np.arange(m) * 2) if series else p
    r = mtest.reject(data, 0.05, name, k=k)
    reject = np.array(r.reject, copy=True)
    if series:
        data.iloc[:] = rng.random(m).astype(dtype)
    p[:] = rng.random(m)
    np.testing.assert_array_equal(np.asarray(r.pvalues_adjusted), expected)
    np.testing.assert_array_equal(np.asarray(r.reject), reject)
    if series:
        np.testing.assert_array_equal(r.reject.index, np.arange(m) * 2)


@pytest.mark.parametrize("name", ["holm", "fdr_bh", "bonferroni", "hochberg"])
def test_large_input_modified_after_return_is_refused(name):
    rng = np.random.default_rng(0)
    p = rng.random(COPY_BELOW + 7) * 1e-3
    expected = mtest.adjust(p, name)
    r = mtest.reject(p, 0.05, name)
    assert np.shares_memory(r._source[0], p)  # not copied: large inputs are guarded instead
    p[5] = np.nextafter(p[5], 1.0)  # one ulp in one value
    with pytest.raises(RuntimeError, match="modified after"):
        r.pvalues_adjusted
    p[5] = np.nextafter(p[5], 0.0)  # restored: the answer is right again
    np.testing.assert_array_equal(r.pvalues_adjusted, expected)
    # read before modifying: kept
    r2 = mtest.reject(p, 0.05, name)
    a = r2.pvalues_adjusted
    p[:] = 0.5
    assert r2.pvalues_adjusted is a


@pytest.mark.parametrize("size", [COPY_BELOW * 2, 300_000])  # serial and parallel scans
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_input_swap_and_sort_detected(size, dtype):
    rng = np.random.default_rng(1)
    p = rng.random(size).astype(dtype)
    r = mtest.holm(p)
    p[[10, size - 20]] = p[[size - 20, 10]]
    with pytest.raises(RuntimeError):
        r.pvalues_adjusted
    r = mtest.holm(p)
    p.sort()
    with pytest.raises(RuntimeError):
        r.pvalues_adjusted
    r = mtest.holm(p[::2])  # a strided view is guarded too
    p[4] = 0.5 if p[4] != 0.5 else 0.25
    with pytest.raises(RuntimeError):
        r.pvalues_adjusted


def test_unregistered_procedure_with_a_registered_name_keeps_its_own_adjusted_values():
    """A result must not look its procedure up by name (an object may reuse 'holm')."""
    mine = dataclasses.replace(mtest.get_procedure("bonferroni"), name="holm", aliases=())
    p = np.array([0.01, 0.02, 0.5])
    np.testing.assert_array_equal(mtest.reject(p, 0.05, mine).pvalues_adjusted, [0.03, 0.06, 1.0])


def test_results_do_not_alias_inputs():
    guess = np.array([[0, 1], [2, 1]], dtype=np.int64)
    count = np.array([[100, 97], [60, 99]], dtype=np.int64)
    res = mtest.segcertify(guess, count, n=100, tau=0.75, alpha=0.001)
    for arr in (res.labels, res.pvalues, res.reject):
        assert not np.shares_memory(arr, guess) and not np.shares_memory(arr, count)
    before = (res.labels.copy(), res.pvalues.copy(), res.fwer.pvalues_adjusted.copy())
    guess[:] = 3
    count[:] = 0
    np.testing.assert_array_equal(res.labels, before[0])
    np.testing.assert_array_equal(res.pvalues, before[1])
    with pytest.raises(ValueError):  # read-only: fwer's adjusted values are computed from it
        res.pvalues[0, 0] = 0.5
    np.testing.assert_array_equal(res.fwer.pvalues_adjusted, before[2])

    g = np.array([0, 1, 1])
    ic = mtest.indiv_class(g, [100, 100, 100], n=100, alpha=0.001)
    jc = mtest.joint_class_from_count(g, 100, n=100, alpha=0.001)
    cc = mtest.cohen_certify(g, [100, 100, 90], n=100, alpha=0.001)
    for labels in (ic.labels, jc.labels, cc.labels):
        assert not np.shares_memory(labels, g)
    k = np.arange(5)
    ci = mtest.clopper_pearson(k, 4, 0.05)
    pv = mtest.binom_pvalue(k, 4, 0.5)
    counts = np.array([[3, 7], [5, 5]])
    gc = mtest.guess_and_count(counts, counts)
    for arr in (ci.low, ci.high, pv, gc.guess, gc.count):
        assert not np.shares_memory(arr, k) and not np.shares_memory(arr, counts)
    p = np.array([0.01, 0.2])
    r = mtest.holm(p)
    assert not np.shares_memory(r.reject, p)
    s = pd.Series(p, index=["a", "b"])
    rs = mtest.holm(s)
    s.iloc[0] = 0.9
    assert rs.reject.tolist() == [True, False] and rs.pvalues_adjusted.tolist() == [0.02, 0.2]


# --- item 2: thresholds exact in the input's dtype ------------------------------------------------------

def test_float32_bonferroni_issue_example():
    x = np.float32([0.05 / 3, .9, .9])
    r = mtest.bonferroni(x)
    np.testing.assert_array_equal(x <= r.threshold, r.reject)
    np.testing.assert_array_equal(x <= np.float64(r.threshold), r.reject)
    assert float(np.float32(r.threshold)) == r.threshold


DTYPES = [np.float64, np.float32, np.float16, np.dtype(">f4"), np.dtype(">f8")]


@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 200), name=st.sampled_from(ALL),
       dtype=st.sampled_from(DTYPES), alpha=st.sampled_from([0.05, 0.1, 1 / 3, 0.01, 0.2]),
       snap=st.booleans())
@settings(max_examples=300)
def test_threshold_agrees_with_reject_in_the_input_dtype(seed, m, name, dtype, alpha, snap):
    rng = np.random.default_rng(seed)
    k = _k(name, m)
    p64 = rng.random(m) ** 4
    if snap:  # put p-values on and next to the critical values, where rounding decides
        proc = mtest.get_procedure(name)
        if not isinstance(proc, SpecialProcedure):
            ranks = rng.integers(1, m + 1, size=m)
            p64 = np.array([critical(proc, int(i), m, k, alpha) for i in ranks])
            p64 = np.nextafter(p64, rng.choice([-1.0, 2.0], size=m)) if rng.random() < 0.5 else p64
            p64 = np.clip(p64, 0, 1)
    p = p64.astype(dtype)
    r = mtest.reject(p, alpha, name, k=k)
    thr = r.threshold
    np.testing.assert_array_equal(p <= thr, r.reject)                  # Python float, NumPy 2 casts
    np.testing.assert_array_equal(p <= np.float64(thr), r.reject)      # float64 comparison
    native = np.dtype(dtype).newbyteorder("=")
    assert float(native.type(thr)) == thr                               # exact in the dtype
    np.testing.assert_array_equal(r.reject, np.asarray(r.pvalues_adjusted) <= alpha)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name", ALL)
def test_tables_threshold_exact_in_the_table_dtype(dtype, name):
    table = mtest.binom_pvalue_table(60, 0.6).astype(dtype)
    rng = np.random.default_rng(0)
    # rows with rejections, and rows without (threshold just below the smallest p-value)
    index = np.vstack([rng.integers(30, 61, size=(20, 40)), rng.integers(30, 45, size=(5, 40))])
    k = _k(name, 40)
    special = isinstance(mtest.get_procedure(name), SpecialProcedure)
    rows = None if special else mtest.reject_table_rows(table, index, 0.05, name, k=k)
    for j in range(index.shape[0]):
        res = mtest.reject_table(table, index[j], 0.05, name, k=k)
        p = table[index[j]]
        np.testing.assert_array_equal(p <= res.threshold, res.reject)
        np.testing.assert_array_equal(p <= np.float64(res.threshold), res.reject)
        if not special:
            assert res.n_rejected == rows.n_rejected[j]
        if res.n_tests and not special:
            np.testing.assert_array_equal(p <= rows.threshold[j], res.reject)
            np.testing.assert_array_equal(p <= float(rows.threshold[j]), res.reject)


# --- item 3: any integer dtype ------------------------------------------------------------------------

INT_DTYPES = [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64,
              np.dtype(">i4"), np.dtype(">i8"), np.dtype(">u2")]


def test_uint8_guess_255_is_a_class_not_abstain():
    guess = np.array([255, 3], dtype=np.uint8)
    res = mtest.segcertify(guess, [100, 10], n=100, tau=0.75, alpha=0.01)
    assert res.labels.tolist() == [255, mtest.ABSTAIN]
    assert res.labels.dtype.kind == "i" and res.labels.dtype == np.int16
    assert mtest.indiv_class(guess, [100, 100], n=100, alpha=0.01).labels.tolist() == [255, 3]
    assert mtest.indiv_class(guess, [100, 10], n=100, alpha=0.01).labels.tolist() == [-1, -1]
    assert mtest.joint_class_from_count(guess, 10, n=100, alpha=0.01).labels.tolist() == [-1, -1]
    assert mtest.cohen_certify(guess, [100, 10], n=100, alpha=0.01).labels.tolist() == [255, -1]


@given(dtype=st.sampled_from(INT_DTYPES), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60)
def test_every_integer_dtype_gives_the_int64_answer(dtype, seed):
    rng = np.random.default_rng(seed)
    high = min(np.iinfo(np.dtype(dtype)).max, 100)
    guess64 = rng.integers(0, min(high, 19) + 1, size=(6, 5))
    count64 = rng.integers(0, high + 1, size=(6, 5))
    n = int(high)
    guess, count = guess64.astype(dtype), count64.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mtest.CertificationWarning)
        a = mtest.segcertify(guess, count, n=n, tau=0.6, alpha=0.05)
        b = mtest.segcertify(guess64, count64, n=n, tau=0.6, alpha=0.05)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.labels.dtype.kind == "i" and np.iinfo(a.labels.dtype).min < 0
    np.testing.assert_array_equal(mtest.cohen_certify(guess, count, n=n, alpha=0.05).labels,
                                  mtest.cohen_certify(guess64, count64, n=n, alpha=0.05).labels)
    ic = mtest.indiv_class(guess, np.full(guess.shape, n, dtype=dtype), n=n, alpha=0.05)
    np.testing.assert_array_equal(ic.labels, guess64 if ic.certified else np.full(guess.shape, -1))
    jc = mtest.joint_class_from_count(guess, n, n=n, alpha=0.05)
    np.testing.assert_array_equal(jc.labels, guess64 if jc.certified else np.full(guess.shape, -1))
    counts = np.stack([count, (high - count64).astype(dtype)], axis=-1)
    counts64 = counts.astype(np.int64)
    np.testing.assert_array_equal(mtest.cohen_predict(counts, alpha=0.05).pvalues,
                                  mtest.cohen_predict(counts64, alpha=0.05).pvalues)
    gc, gc64 = mtest.guess_and_count(counts, counts), mtest.guess_and_count(counts64, counts64)
    np.testing.assert_array_equal(gc.guess, gc64.guess)
    np.testing.assert_array_equal(gc.count, gc64.count)
    np.testing.assert_array_equal(mtest.binom_pvalue(count, n, 0.6), mtest.binom_pvalue(count64, n, 0.6))
    np.testing.assert_array_equal(mtest.clopper_pearson(count, n, 0.05).low,
                                  mtest.clopper_pearson(count64, n, 0.05).low)
    table = mtest.binom_pvalue_table(n, 0.6)
    np.testing.assert_array_equal(mtest.reject_table(table, count, 0.05).reject,
                                  mtest.reject_table(table, count64, 0.05).reject)
    np.testing.assert_array_equal(mtest.reject_table_rows(table, count, 0.05).n_rejected,
                                  mtest.reject_table_rows(table, count64, 0.05).n_rejected)


def test_uint8_counts_do_not_wrap_around():
    """n_A + n_B = 200 + 100 wraps to 44 in uint8: PREDICT must test 200 of 300."""
    counts = np.array([[200, 100, 0]], dtype=np.uint8)
    res = mtest.cohen_predict(counts, alpha=0.05)
    assert res.pvalues[0] == pytest.approx(mtest.binomtest(200, 300, 0.5).pvalue, rel=1e-12)


@pytest.mark.parametrize("fn", [
    lambda g: mtest.segcertify(g, [100, 100], n=100, tau=0.75, alpha=0.01),
    lambda g: mtest.cohen_certify(g, [100, 100], n=100, alpha=0.01),
    lambda g: mtest.indiv_class(g, [100, 100], n=100, alpha=0.01),
    lambda g: mtest.joint_class_from_count(g, 100, n=100, alpha=0.01),
    lambda g: mtest.joint_class(np.stack([g, g]), np.stack([g, g]), alpha=0.01),
])
def test_negative_class_labels_in_a_guess_are_refused(fn):
    with pytest.raises(ValueError, match=r"class labels >= 0; got -1 at flat index 1"):
        fn(np.array([2, -1]))


def test_uint64_beyond_int64_refused():
    with pytest.raises(ValueError, match="int64"):
        mtest.segcertify(np.array([2**63 + 5, 1], dtype=np.uint64), [100, 100], n=100, tau=0.75,
                         alpha=0.01)


# --- item 3: masked arrays and DataFrames --------------------------------------------------------------

def test_masked_array_mask_is_missing():
    data = np.array([0.01, 0.001, 0.04, 0.5])
    masked = np.ma.array(data, mask=[False, True, False, False])
    with pytest.raises(ValueError, match="masked"):
        mtest.holm(masked)
    r = mtest.holm(masked, nan_policy="omit")
    ref = mtest.holm(np.where(masked.mask, np.nan, data), nan_policy="omit")
    np.testing.assert_array_equal(r.reject, ref.reject)
    np.testing.assert_array_equal(r.pvalues_adjusted, ref.pvalues_adjusted)
    assert r.n_tests == 3 and not r.reject[1]
    np.testing.assert_array_equal(mtest.adjust(masked, "BH", nan_policy="omit"),
                                  mtest.adjust(np.where(masked.mask, np.nan, data), "BH", nan_policy="omit"))
    # nothing masked: as the plain array
    np.testing.assert_array_equal(mtest.holm(np.ma.array(data)).reject, mtest.holm(data).reject)
    with pytest.raises(ValueError, match="masked array"):
        mtest.segcertify([0, 1], np.ma.array([100, 100], mask=[0, 1]), n=100, tau=0.75, alpha=0.01)


@pytest.mark.parametrize("call", [
    lambda x: mtest.holm(x), lambda x: mtest.bonferroni(x), lambda x: mtest.lehmann_romano(x, k=2),
    lambda x: mtest.reject(x, 0.05, "BH"), lambda x: mtest.adjust(x, "hommel"),
])
def test_dataframe_refused_with_pointer_to_adjust_frame(call):
    df = pd.DataFrame({"p": [0.01, 0.02], "q": [0.03, 0.5]})
    with pytest.raises(ValueError, match="adjust_frame"):
        call(df)
    call(df["p"])  # one column is one family


def test_nullable_series_na_is_missing():
    s = pd.Series([0.01, None, 0.04], dtype="Float64")
    r = mtest.holm(s, nan_policy="omit")
    assert r.n_tests == 2 and r.reject.tolist() == [True, False, True]


# --- item 3: odd inputs to every public function: a result or a ValueError, nothing else -------------

def _odd_inputs():
    base = [0, 1, 1, 0, 1, 1]
    out = {}
    for dt in ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", ">i4", ">i8", ">u2", ">f8", ">f4",
               "f2", "f4", "f8", "?", "c16", "O", "g"]:
        out[dt] = np.array(base, dtype=dt)
    out["0-d"] = np.array(1)
    out["0-d float"] = np.array(0.5)
    out["empty"] = np.array([], dtype=np.int64)
    out["empty float"] = np.array([])
    strided = np.arange(12, dtype=np.int64) % 2
    out["strided"] = strided[::2]
    out["2-d transposed"] = (np.arange(6).reshape(2, 3) % 2).T
    ro = np.array(base)
    ro.flags.writeable = False
    out["read-only"] = ro
    out["masked"] = np.ma.array(base, mask=[0, 1, 0, 0, 0, 0])
    out["p-like float"] = np.array([0.01, 0.2, 0.5, 0.001, 1.0, 0.0])
    out["negative"] = np.array([0, -1, 1, 0, 1, 1])
    out["nan"] = np.array([0.1, np.nan, 0.2, 0.3, 0.4, 0.5])
    out["str"] = np.array(["a", "b"])
    out["ragged"] = [[1, 2], [3]]
    out["none"] = None
    return out


def _calls():
    table = mtest.binom_pvalue_table(1, 0.5)
    two = lambda x: np.stack([np.asarray(x), np.asarray(x)], axis=-1) if np.ndim(x) else x  # noqa: E731
    five = lambda x: np.stack([np.asarray(x)] * 5, axis=-1) if np.ndim(x) else x  # noqa: E731
    return {
        "adjust": [lambda x: mtest.adjust(x), lambda x: mtest.adjust(x, "hommel")],
        "reject": [lambda x: mtest.reject(x, 0.05, "BH")],
        "holm": [mtest.holm],
        "bonferroni": [mtest.bonferroni],
        "lehmann_romano": [lambda x: mtest.lehmann_romano(x, k=2)],
        "sidak": [mtest.sidak],
        "holm_sidak": [mtest.holm_sidak],
        "hochberg": [mtest.hochberg],
        "hommel": [mtest.hommel],
        "benjamini_hochberg": [mtest.benjamini_hochberg],
        "benjamini_yekutieli": [mtest.benjamini_yekutieli],
        "benjamini_krieger_yekutieli": [mtest.benjamini_krieger_yekutieli],
        "gavrilov_benjamini_sarkar": [mtest.gavrilov_benjamini_sarkar],
        "binom_pvalue": [lambda x: mtest.binom_pvalue(x, 1, 0.5),
                         lambda x: mtest.binom_pvalue(0, x, 0.5),
                         lambda x: mtest.binom_pvalue(0, 1, x),
                         lambda x: mtest.binom_pvalue(x, 1, 0.5, "two-sided")],
        "binom_pvalue_table": [lambda x: mtest.binom_pvalue_table(x, 0.5),
                               lambda x: mtest.binom_pvalue_table(3, x)],
        "binomtest": [lambda x: mtest.binomtest(x, 3), lambda x: mtest.binomtest(1, x)],
        "clopper_pearson": [lambda x: mtest.clopper_pearson(x, 1, 0.05),
                            lambda x: mtest.clopper_pearson(0, x, 0.05, "two-sided")],
        "cohen_certify": [lambda x: mtest.cohen_certify(x, np.ones(np.shape(x), int), n=1, alpha=0.1),
                          lambda x: mtest.cohen_certify(np.zeros(np.shape(x), int), x, n=1, alpha=0.1)],
        "cohen_predict": [lambda x: mtest.cohen_predict(two(x), alpha=0.1)],
        "guess_and_count": [lambda x: mtest.guess_and_count(two(x), two(x))],
        "indiv_class": [lambda x: mtest.indiv_class(x, np.ones(np.shape(x), int), n=1, alpha=0.1),
                        lambda x: mtest.indiv_class(np.zeros(np.shape(x), int), x, n=1, alpha=0.1)],
        "joint_class": [lambda x: mtest.joint_class(two(x), two(x), alpha=0.1)],
        "joint_class_from_count": [lambda x: mtest.joint_class_from_count(x, 1, n=1, alpha=0.1)],
        "plan_samples": [lambda x: mtest.plan_samples(6, 0.75, 0.1, x, 0.5, n_max=50)],
        "reject_table": [lambda x: mtest.reject_table(table, x), lambda x: mtest.reject_table(x, [0, 1])],
        "reject_table_rows": [lambda x: mtest.reject_table_rows(table, np.atleast_2d(x) if x is not None else x),
                              lambda x: mtest.reject_table_rows(x, [[0, 1]])],
        "segcertify": [lambda x: mtest.segcertify(x, np.ones(np.shape(x), int), n=1, tau=0.5, alpha=0.5),
                       lambda x: mtest.segcertify(np.zeros(np.shape(x), int), x, n=1, tau=0.5, alpha=0.5)],
        "segcertify_counts": [lambda x: mtest.segcertify_counts(two(x), two(x), tau=0.5, alpha=0.5)],
        "adjust_frame": [lambda x: mtest.adjust_frame(pd.DataFrame({"p": np.asarray(x).reshape(-1)}), "p")],
        "qvalue": [mtest.qvalue],
        "segcertify_radius_map": [
            lambda x: mtest.segcertify_radius_map(x, np.ones(np.shape(x), int), n=1, taus=[0.5], alpha=0.5),
            lambda x: mtest.segcertify_radius_map(np.zeros(np.shape(x), int), x, n=1, taus=[0.5], alpha=0.5)],
        "hierarchical_segcertify": [
            lambda x: mtest.hierarchical_segcertify(five(x), five(x), mtest.DEMO_IMAGE_HIERARCHY, tau=0.5,
                                                    alpha=0.5)],
        "certified_information_gain": [
            lambda x: mtest.certified_information_gain(x, np.zeros(np.shape(x), int), mtest.DEMO_IMAGE_HIERARCHY),
            lambda x: mtest.certified_information_gain(np.zeros(np.shape(x), int), x, mtest.DEMO_IMAGE_HIERARCHY)],
    }


#: public names that take no arrays (procedures, registry access, version, constants)
NO_ARRAYS = {"__version__", "ABSTAIN", "PROCEDURES", "get_procedure", "register",
             "adjust_files"}  # adjust_files takes paths (tests/test_outofcore.py)


def test_fuzz_covers_every_public_function():
    functions = {name for name in mtest.__all__
                 if callable(getattr(mtest, name)) and not isinstance(getattr(mtest, name), type)}
    assert functions - NO_ARRAYS == set(_calls()), "add the new public function to _calls()"


@pytest.mark.parametrize("name", sorted(_calls()))
def test_odd_inputs_give_a_result_or_a_value_error(name):
    failures = []
    for label, x in _odd_inputs().items():
        for j, call in enumerate(_calls()[name]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", mtest.CertificationWarning)
                try:
                    call(x)
                except ValueError:
                    pass
                except Exception as exc:  # noqa: BLE001 - anything else is the bug
                    failures.append(f"{name}[{j}]({label}): {type(exc).__name__}: {str(exc)[:120]}")
    assert not failures, "\n".join(failures)


# --- item 6: BY's harmonic constant as R sums it -------------------------------------------------------

def _r_by(p):
    """R 4.x p.adjust(p, 'BY'), operation for operation: q <- sum(1/(1L:n)) (double reciprocals,
    long double accumulator in order), then pmin(1, cummin(q * n/i * p[o]))[ro]."""
    n = p.size
    acc = np.longdouble(0.0)
    for j in range(1, n + 1):
        acc += np.longdouble(1.0 / j)
    q = float(acc)
    i = np.arange(n, 0, -1)
    o = np.argsort(-p, kind="stable")
    vals = [(q * n / float(ii)) * pv for ii, pv in zip(i, p[o])]
    out = np.minimum(1.0, np.minimum.accumulate(vals))
    res = np.empty(n)
    res[o] = out
    return res


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps,
                    reason="long double is double on this platform")
@pytest.mark.parametrize("m", [19, 26, 39, 117, 169, 170, 178, 189, 222, 255, 256, 302, 1000])
def test_by_matches_r_arithmetic_to_the_last_bit(m):
    rng = np.random.default_rng(m)
    p = rng.random(m) ** 3
    np.testing.assert_array_equal(mtest.adjust(p, "BY"), _r_by(p))


def test_harmonic_chunks_sum_in_order(monkeypatch):
    builtin_procedures.harmonic_number.cache_clear()
    full = [builtin_procedures.harmonic_number(m) for m in (1, 7, 19, 100, 1000)]
    monkeypatch.setattr(builtin_procedures, "_HARMONIC_CHUNK", 7)
    builtin_procedures.harmonic_number.cache_clear()
    try:
        assert [builtin_procedures.harmonic_number(m) for m in (1, 7, 19, 100, 1000)] == full
    finally:
        builtin_procedures.harmonic_number.cache_clear()


# --- item 6: reject, threshold and adjusted values agree at every critical value ----------------------

@pytest.mark.parametrize("name", STEPWISE)
@pytest.mark.parametrize("m", [1, 3, 13, 100])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 1 / 3])
def test_boundary_at_each_critical_value(name, m, alpha):
    proc = mtest.get_procedure(name)
    for k in ((1, 3) if proc.uses_k else (1,)):
        if k > m:
            continue
        for i in sorted({1, min(k, m), max(1, m // 2), m}):
            t = critical(proc, i, m, k, alpha)
            # the definition: the largest double t with g_i(t) <= alpha
            assert proc.raw(np.array([t]), np.array([i]), m, k)[0] <= alpha
            up = np.nextafter(t, 2.0)
            assert t == 1.0 or proc.raw(np.array([up]), np.array([i]), m, k)[0] > alpha
            for x, expect in ((np.nextafter(t, -1.0), True), (t, True), (up, False)):
                if x < 0 or x > 1 or (t == 1.0 and x > t):
                    continue
                # rank i decides: i - 1 certain rejections below, certain non-rejections above
                p = np.array([0.0] * (i - 1) + [x] + [1.0] * (m - i))
                r = mtest.reject(p, alpha, name, k=k)
                assert bool(r.reject[i - 1]) == expect, (name, m, k, i, x, t)
                assert bool(r.pvalues_adjusted[i - 1] <= alpha) == expect
                np.testing.assert_array_equal(p <= r.threshold, r.reject)


def test_lehmann_romano_issue_example():
    p = [0.002307692307692308] * 3 + [0.5] * 10
    r = mtest.lehmann_romano(p, k=3, alpha=0.01)
    assert r.n_rejected == 3 and r.threshold >= p[0]
    assert (np.asarray(p) <= r.threshold).tolist() == r.reject.tolist()
    assert all(r.pvalues_adjusted[:3] <= 0.01)


# --- item 6: Clopper–Pearson: no NaN, monotone, the defining equation -------------------------------

def test_clopper_pearson_issue_example():
    low = mtest.clopper_pearson(np.arange(6), 5, 1e-300).low
    assert not np.isnan(low).any() and (np.diff(low) > 0).all()
    # I_low(k, n - k + 1) = alpha, checked in high precision
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for k in range(1, 6):
        exact = mpmath.betainc(k, 6 - k, 0, mpmath.mpf(float(low[k])), regularized=True)
        assert abs(float(exact) / 1e-300 - 1) < 1e-10


def test_clopper_pearson_silent_scipy_error_fixed():
    """scipy's beta.ppf(1e-100, 2, 4) is 1.14e-50; the root of 10 x^2 ~ 1e-100 is 3.16e-51."""
    low = float(mtest.clopper_pearson(2, 5, 1e-100).low)
    assert low == pytest.approx(np.sqrt(1e-101), rel=1e-9)


@given(n=st.one_of(st.integers(1, 60), st.integers(1, 10**9)),
       log_alpha=st.floats(-300, np.log10(0.45)),
       alternative=st.sampled_from(["greater", "less", "two-sided"]), data=st.data())
@settings(max_examples=200)
def test_clopper_pearson_no_nan_monotone_and_exact(n, log_alpha, alternative, data):
    alpha = 10.0 ** log_alpha
    if n <= 60:
        k = np.arange(n + 1)
    else:
        k = np.unique(np.r_[0, 1, 2, n - 1, n, data.draw(st.lists(st.integers(0, n), min_size=1, max_size=8))])
    ci = mtest.clopper_pearson(k, n, alpha, alternative)
    low, high = np.atleast_1d(ci.low), np.atleast_1d(ci.high)
    assert np.isfinite(low).all() and np.isfinite(high).all()
    assert ((0 <= low) & (low <= high) & (high <= 1)).all()
    assert (np.diff(low) >= 0).all() and (np.diff(high) >= 0).all()
    tail = alpha / 2 if alternative == "two-sided" else alpha
    kk, nn = k.astype(float), float(n)
    # the root of the defining equation lies within a relative 1e-9 of the bound (the bound
    # itself is a double: near 1 its neighbours change the tail by far more than 1e-9)
    lo_x, hi_x = 1 - 1e-9, 1 + 1e-9
    if alternative != "less":
        pos = kk > 0
        a, b = kk[pos], nn - kk[pos] + 1
        assert (betainc(a, b, low[pos] * lo_x) <= tail).all()
        assert (betainc(a, b, np.minimum(1.0, low[pos] * hi_x)) >= tail).all()
    if alternative != "greater":
        below = kk < nn
        a, b = kk[below] + 1, nn - kk[below]
        assert (betaincc(a, b, np.minimum(1.0, high[below] * hi_x)) <= tail).all()
        assert (betaincc(a, b, high[below] * lo_x) >= tail).all()
    # monotone in alpha: a larger alpha gives a narrower interval
    wider = mtest.clopper_pearson(k, n, alpha / 7, alternative)
    assert (np.atleast_1d(wider.low) <= low).all() and (np.atleast_1d(wider.high) >= high).all()


def test_clopper_pearson_matches_statsmodels_where_finite():
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for n in (1, 7, 100, 2500):
        k = np.arange(n + 1)
        for alpha in (0.2, 0.05, 1e-3, 1e-8):
            lo, hi = sm.proportion_confint(k, n, alpha=alpha, method="beta")
            ci = mtest.clopper_pearson(k, n, alpha, "two-sided")
            ok = np.isfinite(lo)
            np.testing.assert_allclose(ci.low[ok], np.nan_to_num(lo[ok]), rtol=1e-9, atol=1e-300)
            ok = np.isfinite(hi)
            np.testing.assert_allclose(ci.high[ok], np.nan_to_num(hi[ok], nan=1.0), rtol=1e-9)
            one = mtest.clopper_pearson(k, n, alpha, "greater")
            lo2, _ = sm.proportion_confint(k, n, alpha=2 * alpha, method="beta")
            ok = np.isfinite(lo2)
            np.testing.assert_allclose(one.low[ok], np.nan_to_num(lo2[ok]), rtol=1e-9, atol=1e-300)
