"""adjust_frame: the vectorized grouped path equals the registry run family by family, bitwise."""
import decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mtest

# values with many ties, exact 0 and 1, and arbitrary doubles
_P = st.one_of(st.sampled_from([0.0, 1e-300, 1e-4, 0.001, 0.01, 0.02, 0.05, 0.5, 1.0]),
               st.floats(0.0, 1.0, allow_subnormal=True), st.just(float("nan")))


@st.composite
def grouped_frames(draw):
    n = draw(st.integers(1, 60))
    groups = draw(st.lists(st.integers(0, draw(st.integers(0, 12))), min_size=n, max_size=n))
    p = draw(st.lists(_P, min_size=n, max_size=n))
    labels = draw(st.permutations(range(n)))  # a shuffled integer index: labels != positions
    return pd.DataFrame({"g": groups, "p": p}, index=pd.Index(labels) * 7 + 3)


def _per_family(df, method, alpha, k):
    adjusted = pd.Series(np.nan, index=df.index)
    reject = pd.Series(False, index=df.index)
    for _, sub in df.groupby("g", sort=False):
        res = mtest.reject(sub["p"].to_numpy(), alpha, method, k=k, nan_policy="omit")
        adjusted[sub.index] = np.asarray(mtest.adjust(sub["p"].to_numpy(), method, k=k, nan_policy="omit",
                                                   alpha=alpha))
        reject[sub.index] = res.reject
        np.testing.assert_array_equal(res.reject, res.pvalues_adjusted <= alpha)
    return adjusted, reject


@pytest.mark.parametrize("method", sorted(mtest.PROCEDURES))
@settings(max_examples=120)
@given(df=grouped_frames(), alpha=st.sampled_from([0.01, 0.05, 0.2, 0.5]), k=st.integers(1, 3))
def test_grouped_equals_per_family_bitwise(method, df, alpha, k):
    if not mtest.get_procedure(method).uses_k:
        k = 1
    smallest = int(df["p"].notna().groupby(df["g"]).sum().min()) if len(df) else 0
    if len(df) and k > max(smallest, 1):  # a family with fewer than k tested values: refused
        with pytest.raises(ValueError, match=r"exceeds the number of tested hypotheses"):
            mtest.adjust_frame(df, "p", method, alpha=alpha, k=k, by="g", nan_policy="omit")
        k = max(smallest, 1)
    out = mtest.adjust_frame(df, "p", method, alpha=alpha, k=k, by="g", nan_policy="omit")
    adjusted, reject = _per_family(df, method, alpha, k)
    # bitwise: same bytes, NaN in the same places
    np.testing.assert_array_equal(out["p_adjusted"].to_numpy().view(np.uint64),
                                  adjusted.to_numpy().view(np.uint64))
    np.testing.assert_array_equal(out["reject"].to_numpy(), reject.to_numpy())


@pytest.mark.parametrize("r_name, method", [("bonferroni", "bonferroni"), ("holm", "holm"),
                                             ("hochberg", "hochberg"), ("hommel", "hommel"),
                                             ("BH", "fdr_bh"), ("BY", "fdr_by")])
def test_stacked_R_cases_as_families_give_R_p_adjust(r_reference, r_name, method):
    # R's p.adjust vectors (sizes 4 to 100), each case one family, rows shuffled together
    parts = [pd.DataFrame({"case": i, "p": c["pvalues"], "want": c["adjusted"][r_name]})
             for i, c in enumerate(r_reference)]
    df = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)
    out = mtest.adjust_frame(df, "p", method, by="case")
    np.testing.assert_allclose(out["p_adjusted"], df["want"], rtol=1e-15, atol=0)


def test_missing_keys_are_a_family_of_their_own():
    df = pd.DataFrame({"g": ["a", None, "a", np.nan, None], "p": [0.01, 0.02, 0.03, 0.04, 0.2]})
    out = mtest.adjust_frame(df, "p", "bonferroni", by="g")
    # family 'a' has m = 2; the three rows with a missing key form one family with m = 3
    a = mtest.adjust([0.01, 0.03], "bonferroni")
    na = mtest.adjust([0.02, 0.04, 0.2], "bonferroni")
    np.testing.assert_array_equal(out["p_adjusted"], [a[0], na[0], a[1], na[1], na[2]])
    assert na[0] == 0.02 * 3  # m = 3, not 5 (one family of everything) nor 1 (one per row)
    two = pd.DataFrame({"a": [1, 1, 1, 2], "b": [np.nan, np.nan, 5, np.nan], "p": [0.01] * 4})
    out = mtest.adjust_frame(two, "p", "bonferroni", by=["a", "b"])
    np.testing.assert_array_equal(out["p_adjusted"], [0.02, 0.02, 0.01, 0.01])


def test_errors_name_the_row_label_not_a_position_in_a_family():
    df = pd.DataFrame({"g": [1, 2, 1, 2], "p": [0.1, 0.2, 0.3, 1.5]}, index=["w", "x", "y", "z"])
    with pytest.raises(ValueError, match=r"column 'p' must lie in \[0, 1\]; got 1.5 at row label 'z'"):
        mtest.adjust_frame(df, "p", by="g")
    df.loc["y", "p"] = np.nan
    df.loc["z", "p"] = 0.5
    with pytest.raises(ValueError, match=r"contains NaN \(1 of 4\), first at row label 'y'"):
        mtest.adjust_frame(df, "p", by="g")
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]; got inf at row label 'w'"):
        mtest.adjust_frame(df.assign(p=[np.inf, 0.1, 0.1, 0.1]), "p")


def test_duplicate_column_names_are_refused():
    df = pd.DataFrame([[0.1, 0.2, 1], [0.3, 0.4, 1]], columns=["p", "p", "g"])
    with pytest.raises(ValueError, match=r"column \('p'\) names 2 columns"):
        mtest.adjust_frame(df, "p")
    df = pd.DataFrame([[0.1, 1, 1], [0.3, 1, 2]], columns=["p", "g", "g"])
    with pytest.raises(ValueError, match=r"by \('g'\) names 2 columns"):
        mtest.adjust_frame(df, "p", by="g")


def test_object_decimal_and_nullable_p_columns_give_what_holm_gives():
    p = [decimal.Decimal("0.01"), decimal.Decimal("0.04"), 0.03, 1]
    df = pd.DataFrame({"p": pd.Series(p, dtype=object)})
    out = mtest.adjust_frame(df, "p", "holm")
    np.testing.assert_array_equal(out["p_adjusted"], mtest.holm(np.array(p, dtype=object)).pvalues_adjusted)
    nullable = pd.DataFrame({"p": pd.array([0.01, None, 0.03], dtype="Float64")})
    out = mtest.adjust_frame(nullable, "p", "holm", nan_policy="omit")
    np.testing.assert_array_equal(out["p_adjusted"], mtest.holm([0.01, np.nan, 0.03], nan_policy="omit").pvalues_adjusted)
    with pytest.raises(ValueError, match=r"column 'p' must hold numbers; got '0.2' at row label 1"):
        mtest.adjust_frame(pd.DataFrame({"p": pd.Series([0.1, "0.2"], dtype=object)}), "p")
    with pytest.raises(ValueError, match=r"must hold numbers; got True at row label 0"):
        mtest.adjust_frame(pd.DataFrame({"p": pd.Series([True, 0.2], dtype=object)}), "p")
    with pytest.raises(ValueError, match="column 'p' must be numeric; got dtype bool"):
        mtest.adjust_frame(pd.DataFrame({"p": [True, False]}), "p")


def test_input_frame_untouched_and_empty_frame():
    df = pd.DataFrame({"g": [2, 1, 2], "p": [0.3, 0.01, 0.02]})
    before = df.copy()
    mtest.adjust_frame(df, "p", "fdr_bh", by="g")
    pd.testing.assert_frame_equal(df, before)
    empty = mtest.adjust_frame(df.iloc[:0], "p", "holm", by="g")
    assert list(empty.columns) == ["g", "p", "p_adjusted", "reject"] and len(empty) == 0
