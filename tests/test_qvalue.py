"""mtest.qvalue against Bioconductor's qvalue (R), plus properties and input checks.

R's outputs are pinned in tests/data/qvalue_R.json (made by tests/data/make_qvalue_reference.py
with R 4.2.2 and qvalue 2.30.0). The bootstrap method, a single lambda and a given pi0 agree bit
for bit; the smoother (R's smooth.spline, solved by LINPACK banded routines in R and dense ones
here) agrees to about 1e-11 relative, and is held to 1e-9.
"""
import base64
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mtest
from mtest.testing.strategies import pvalue_arrays

DATA = Path(__file__).parent / "data"
SMOOTH_RTOL = 1e-9
EXACT = {"bootstrap", "bootstrap-fine", "one-lambda", "pi0-given"}


def _decode(s):
    return np.frombuffer(base64.b64decode(s), dtype="<f8").astype(np.float64)


def _r_seq(start, stop, by):  # R's seq(start, stop, by), bit for bit
    n = int((stop - start) / by + 1e-10)
    return np.minimum(start + np.arange(n + 1) * by, stop)


def _large_pvalues(seed, m):  # as make_qvalue_reference.large_pvalues: exact operations only
    u = np.random.default_rng(seed).random(2 * m)
    signal = u[m:] < 0.2
    v = u[:m] * u[:m]
    v = v * v
    return np.where(signal, v * v, u[:m])


@pytest.fixture(scope="module")
def reference():
    return json.loads((DATA / "qvalue_R.json").read_text())


def _kwargs(config):
    kwargs = dict(config["kwargs"])
    if isinstance(kwargs.get("lambda_"), str):  # "seq(a, b, by)"
        kwargs["lambda_"] = _r_seq(*(float(v) for v in kwargs["lambda_"][4:-1].split(",")))
    return kwargs


def _cases(reference):
    for case in reference["cases"]:
        if "p" in case:
            yield case, _decode(case["p"]), slice(None)
        else:
            p = _large_pvalues(case["seed"], case["m"])
            assert hashlib.sha256(p.astype("<f8").tobytes()).hexdigest() == case["sha256"]
            yield case, p, np.array(case["kept"])


CONFIG_NAMES = ["smoother", "smoother-log", "bootstrap", "one-lambda", "lambda-fine", "df5",
                "bootstrap-fine", "pfdr", "fdr-level", "pi0-given"]


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_equals_R_qvalue(reference, name):
    config = next(c for c in reference["configs"] if c["name"] == name)
    kwargs = _kwargs(config)
    rtol = 0.0 if name in EXACT else SMOOTH_RTOL
    for case, p, kept in _cases(reference):
        expected = case["results"][name]
        res = mtest.qvalue(p, nan_policy="omit", **kwargs)
        where = f"{case['name']} / {name}"
        np.testing.assert_allclose(res.pi0, expected["pi0"], rtol=rtol, atol=0, err_msg=where)
        q, expected_q = np.asarray(res.qvalues)[kept], _decode(expected["qvalues"])
        if name == "pfdr":  # R gives NaN at p = 0 (0/0); mtest the limit 1/i there
            zero = p[kept] == 0
            assert np.all(np.isnan(expected_q[zero])) and np.all(np.isfinite(q[zero]))
            q, expected_q = q[~zero], expected_q[~zero]
        np.testing.assert_allclose(q, expected_q, rtol=rtol, atol=0, equal_nan=True, err_msg=where)
        if "lambda" in expected:
            np.testing.assert_array_equal(res.lambda_, expected["lambda"], err_msg=where)
            np.testing.assert_array_equal(res.pi0_lambda, expected["pi0_lambda"], err_msg=where)
        if "pi0_smooth" in expected:
            np.testing.assert_allclose(res.pi0_smooth, expected["pi0_smooth"], rtol=SMOOTH_RTOL,
                                       atol=0, err_msg=where)
        else:
            assert res.pi0_smooth is None
        if "n_significant" in expected:
            assert int(np.sum(res.significant)) == expected["n_significant"], where


def test_reference_covers_its_cases(reference):
    names = {c["name"] for c in reference["cases"]}
    assert {"large", "m300-nan", "m400-ties-zeros-ones", "m5000-signal0.2"} <= names
    assert [c["name"] for c in reference["configs"]] == CONFIG_NAMES
    smoothed = [c["results"]["smoother"]["pi0"] for c in reference["cases"]]
    assert sum(v < 1 for v in smoothed) >= 4  # the smoother's value is used, not only the cap at 1


def test_default_lambda_is_R_seq():
    res = mtest.qvalue(np.linspace(0, 1, 101))
    np.testing.assert_array_equal(res.lambda_, _r_seq(0.05, 0.95, 0.05))


# --- properties -------------------------------------------------------------------------------------

@given(pvalue_arrays(min_size=1, max_size=300), st.floats(0.01, 1.0))
def test_given_pi0_is_pi0_times_bh(p, pi0):
    res = mtest.qvalue(p, pi0=pi0)
    np.testing.assert_allclose(res.qvalues, pi0 * mtest.adjust(p, "BH"), rtol=1e-14, atol=0)


@given(pvalue_arrays(min_size=20, max_size=500), st.sampled_from(["smoother", "bootstrap"]))
def test_qvalues_monotone_and_bounded(p, method):
    p = np.asarray(p, dtype=np.float64)
    if not np.any(p >= 0.95):
        p = np.append(p, 0.97)
    try:
        res = mtest.qvalue(p, pi0_method=method)
    except ValueError as exc:  # the smoother can go to <= 0 on odd inputs; R stops there too
        assert "pi0" in str(exc)
        return
    q = res.qvalues
    assert 0 < res.pi0 <= 1
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= 0)
    assert np.all(q <= res.pi0 + 1e-15) and np.all(q >= res.pi0 * p * (1 - 1e-15))


def test_shape_index_nan_and_no_mutation():
    rng = np.random.default_rng(5)
    p = rng.random((20, 30))
    p[3, 4] = np.nan
    before = p.copy()
    res = mtest.qvalue(p, nan_policy="omit", fdr_level=0.3)
    np.testing.assert_array_equal(p, before)
    assert res.qvalues.shape == p.shape and np.isnan(res.qvalues[3, 4])
    assert not res.significant[3, 4]
    flat = mtest.qvalue(np.delete(p.ravel(), 3 * 30 + 4))
    np.testing.assert_array_equal(np.delete(res.qvalues.ravel(), 3 * 30 + 4), flat.qvalues)
    with pytest.raises(ValueError):
        res.qvalues[0, 0] = 0.0  # results do not change after they are returned
    series = pd.Series(rng.random(50), index=[f"g{i}" for i in range(50)])
    out = mtest.qvalue(series, fdr_level=0.1)
    assert list(out.qvalues.index) == list(series.index)
    assert list(out.significant.index) == list(series.index)


def test_float32_input_same_as_float64():
    p = np.random.default_rng(2).random(1000).astype(np.float32)
    np.testing.assert_array_equal(mtest.qvalue(p).qvalues, mtest.qvalue(p.astype(np.float64)).qvalues)


def test_repr_is_compact():
    res = mtest.qvalue(np.random.default_rng(1).random(10_000), fdr_level=0.05)
    text = repr(res)
    assert text.startswith("QValueResult(m=10000, pi0=") and "significant=0 at fdr_level=0.05" in text
    assert len(text) < 120


def test_pfdr_handles_tiny_pvalues():
    # m p / (i (1 - (1 - p)^m)) -> 1 / i as p -> 0. R's direct 1 - (1 - p)^m is 0 for p < 1e-16,
    # so every term is Inf and R reports q = 1 here; the true pFDR q-values are all 1/4
    p = np.array([1e-20, 3e-20, 0.0, 2e-20])
    q = mtest.qvalue(p, pfdr=True, pi0=1.0).qvalues
    np.testing.assert_allclose(q, 0.25, rtol=1e-12, atol=0)


# --- input checks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, p, match", [
    ({}, [0.1, 1.2], "p must lie in"),
    ({}, [0.1, np.nan], "p contains NaN"),
    ({"nan_policy": "omit"}, [np.nan, np.nan], "p has no p-values"),
    ({"lambda_": [0.1, 0.5]}, None, "lambda_ must have one value or at least four"),
    ({"lambda_": [0.1, 0.2, 0.5, 1.0]}, None, r"lambda_ values must lie in \[0, 1\)"),
    ({"lambda_": -0.1}, None, r"lambda_ values must lie in \[0, 1\)"),
    ({"lambda_": [0.1, 0.1, 0.1, 0.2]}, None, "lambda_ needs at least four distinct"),
    ({"fdr_level": 0.0}, None, "fdr_level must lie in"),
    ({"fdr_level": 1.5}, None, "fdr_level must lie in"),
    ({"pi0": 0.0}, None, "pi0 must lie in"),
    ({"pi0": 1.01}, None, "pi0 must lie in"),
    ({"pi0_method": "bootstrapp"}, None, "pi0_method"),
    ({"smooth_df": 1}, None, "smooth_df must be in"),
    ({"smooth_df": 20}, None, "smooth_df must be in"),
    ({"pfdr": "yes"}, None, "pfdr must be True or False"),
    ({"nan_policy": "drop"}, None, "nan_policy"),
])
def test_bad_input_names_the_argument(kwargs, p, match):
    p = np.random.default_rng(0).random(100) if p is None else p
    with pytest.raises(ValueError, match=match):
        mtest.qvalue(p, **kwargs)


@pytest.mark.parametrize("method", ["smoother", "bootstrap"])
def test_refuses_when_no_pvalue_reaches_the_largest_lambda(method):
    # R's pi0est gets NA there and stops; a silent 0 would bias pi0 down
    p = np.random.default_rng(0).random(500) * 0.9
    with pytest.raises(ValueError, match="no p-value is >= the largest lambda_"):
        mtest.qvalue(p, pi0_method=method)
    assert mtest.qvalue(p, lambda_=_r_seq(0.05, 0.85, 0.05), pi0_method=method).pi0 > 0


def test_refuses_pi0_zero_with_one_lambda():
    with pytest.raises(ValueError, match="estimated pi0 is 0"):
        mtest.qvalue([0.01, 0.02, 0.3], lambda_=0.5)
