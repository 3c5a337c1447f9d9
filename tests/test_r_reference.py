"""mtest.adjust against R's stats::p.adjust, bit for bit, on every family size 1..200 and more.

The references are in tests/data/p_adjust_R_more.json, made by tests/data/make_r_reference.py
(R 4.2.2 from Debian; CI only reads the file). The p-vectors mix uniform values, many tiny values
and subnormals, exact ties, exact 0 and 1, and values within a few ulps of 0, 1 and common
thresholds. Equality is exact (float64 bits, NaN in the same places), not a tolerance.
"""
import base64
import json
from pathlib import Path

import numpy as np
import pytest

import mtest

DATA = Path(__file__).parent / "data"

R_METHODS = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none")
SIZES = set(range(1, 201)) | {256, 333, 500, 1000, 1024, 2000, 5000}


def _decode(s):
    return np.frombuffer(base64.b64decode(s), dtype="<f8").astype(np.float64)


@pytest.fixture(scope="module")
def reference():
    return json.loads((DATA / "p_adjust_R_more.json").read_text())


def _mismatches(cases, method, nan_policy):
    """One line per case where mtest and R differ in any bit: size, count, largest gap in ulps."""
    out = []
    for case in cases:
        p = _decode(case["p"])
        expected = _decode(case["adjusted"][method])
        got = mtest.adjust(p, method, nan_policy=nan_policy)
        assert got.dtype == np.float64 and got.shape == p.shape
        if not np.array_equal(got, expected, equal_nan=True):
            differ = ~((got == expected) | (np.isnan(got) & np.isnan(expected)))
            ulps = np.abs(got[differ] - expected[differ]) / np.spacing(expected[differ])
            out.append(f"{case['name']} (m={np.count_nonzero(~np.isnan(p))}): "
                       f"{differ.sum()} of {p.size} differ, up to {ulps.max():.3g} ulp")
    return out


def test_reference_covers_the_promised_cases(reference):
    assert tuple(reference["methods"]) == R_METHODS
    sizes = {_decode(c["p"]).size for c in reference["cases"]}
    assert SIZES <= sizes
    for case in reference["cases"] + reference["nan_cases"]:
        p = _decode(case["p"])
        assert set(case["adjusted"]) == set(R_METHODS)
        assert all(_decode(v).shape == p.shape for v in case["adjusted"].values())
    # the classes the vectors were built to contain are really there
    everything = np.concatenate([_decode(c["p"]) for c in reference["cases"]])
    assert (everything == 0).sum() > 100 and (everything == 1).sum() > 100
    assert ((everything > 0) & (everything < np.finfo(float).tiny)).sum() > 10  # subnormals
    assert (everything == np.nextafter(1.0, 0)).any() and (everything == np.nextafter(0.05, 1)).any()
    assert any(np.unique(_decode(c["p"])).size < _decode(c["p"]).size // 2 for c in reference["cases"])


#: R's methods that are registered procedures; "none" (the identity) controls no error rate and is
#: refused by mtest.adjust with a pointer to mtest.compat.p_adjust, which has it (tests/test_compat.py)
PROCEDURE_METHODS = tuple(m for m in R_METHODS if m != "none")


def test_none_is_refused_with_a_pointer_to_the_R_drop_in(reference):
    with pytest.raises(ValueError, match=r"method \('none'\).*mtest\.compat\.p_adjust"):
        mtest.adjust(np.array([0.01, 0.5]), method="none")
    with pytest.raises(ValueError, match="controls no error rate"):
        mtest.reject(np.array([0.01, 0.5]), 0.05, "NONE")
    # ... and the drop-in returns R's identity, bit for bit, on every stored case
    for case in reference["cases"]:
        p = _decode(case["p"])
        np.testing.assert_array_equal(mtest.compat.p_adjust(p, "none"), _decode(case["adjusted"]["none"]))


@pytest.mark.parametrize("method", PROCEDURE_METHODS)
def test_adjust_equals_R_bit_for_bit(reference, method):
    bad = _mismatches(reference["cases"], method, "raise")
    assert not bad, f"{method}: mtest differs from R p.adjust in {len(bad)} cases:\n" + "\n".join(bad)


@pytest.mark.parametrize("method", PROCEDURE_METHODS)
def test_adjust_with_nan_equals_R(reference, method):
    # R drops NA and adjusts the rest with n = the number left; nan_policy='omit' promises the same
    bad = _mismatches(reference["nan_cases"], method, "omit")
    assert not bad, f"{method}: mtest differs from R p.adjust in {len(bad)} cases:\n" + "\n".join(bad)


def test_partial_n_references_are_stored(reference):
    # p.adjust(p, method, n = N) with N > length(p): mtest.compat.p_adjust is checked against these
    # in tests/test_compat.py. Here: only that the data are there and sane.
    partial = reference["partial_n"]
    assert sum(c["n"] > _decode(c["p"]).size for c in partial) >= 6
    for case in partial:
        p = _decode(case["p"])
        bonferroni = _decode(case["adjusted"]["bonferroni"])
        np.testing.assert_array_equal(bonferroni, p if case["n"] <= 1 else np.minimum(1.0, case["n"] * p))
