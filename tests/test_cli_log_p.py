"""`mtest adjust FILE --log-p ln|log10`: one file whose p column holds ln p or log10 p."""
import numpy as np
import pandas as pd
import pytest

import mtest
from mtest.cli import main

pytest.importorskip("pyarrow")

METHODS = ["holm", "hochberg", "fdr_bh", "fdr_by", "bonferroni", "sidak", "holm-sidak"]


def _log(p, log_p):
    with np.errstate(divide="ignore"):
        return np.log(p) if log_p == "ln" else np.log10(p)


def _linear(v, log_p):
    return np.exp(v) if log_p == "ln" else np.power(10.0, v)


def _frame(seed=0, n=400):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    p[:40] *= 1e-6
    p[100:120] = p[100]  # ties
    p[7] = 0.0
    p[rng.choice(n, 4, replace=False)] = np.nan
    return pd.DataFrame({"snp": [f"rs{i}" for i in range(n)], "p": p,
                         "set": rng.choice(["a", "b", "c"], n)})


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
@pytest.mark.parametrize("log_p", ["ln", "log10"])
@pytest.mark.parametrize("method", METHODS)
def test_log_p_single_file_matches_linear_scale(tmp_path, capsys, ext, log_p, method):
    # where P(v) is a normal double, the adjusted values are exactly log of the linear ones
    df = _frame()
    df["v"] = _log(df["p"].to_numpy(), log_p)
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    df.to_csv(src, index=False, float_format="%.17g") if ext == ".csv" else df.to_parquet(src)
    assert main(["adjust", str(src), "-o", str(dst), "--column", "v", "--log-p", log_p,
                 "--method", method, "--by", "set", "--nan-policy", "omit"]) == 0, \
        capsys.readouterr().err
    out = pd.read_csv(dst) if ext == ".csv" else pd.read_parquet(dst)
    v = out["v"].to_numpy()
    for key in ("a", "b", "c"):
        sel = (df["set"] == key).to_numpy()
        linear = mtest.reject(_linear(v[sel], log_p), 0.05, method, nan_policy="omit")
        got = out["p_adjusted"].to_numpy()[sel]
        assert np.array_equal(got, _log(linear.pvalues_adjusted, log_p), equal_nan=True)
        np.testing.assert_array_equal(out["reject"].to_numpy()[sel], linear.reject)


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
@pytest.mark.parametrize("log_p", ["ln", "log10"])
@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_log_p_single_file_below_double_range(tmp_path, capsys, ext, log_p, method):
    # p = 10^-500 and the like: not representable as doubles; the CLI equals mtest.reject(log_p=)
    rng = np.random.default_rng(1)
    n = 300
    log10p = np.log10(rng.uniform(size=n))
    log10p[:4] = [-500.0, -320.0, -308.5, -12.0]
    v = log10p if log_p == "log10" else log10p * np.log(10.0)
    v[5] = -np.inf  # p = 0
    df = pd.DataFrame({"id": np.arange(n), "logp": v})
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    if ext == ".parquet":
        df.to_parquet(src)
    else:
        df.to_csv(src, index=False, sep="\t" if ext == ".tsv" else ",", float_format="%.17g")
    assert main(["adjust", str(src), "-o", str(dst), "--column", "logp", "--log-p", log_p,
                 "--method", method]) == 0, capsys.readouterr().err
    out = pd.read_parquet(dst) if ext == ".parquet" else pd.read_csv(dst, sep="\t" if ext == ".tsv" else ",")
    ref = mtest.reject(v, 0.05, method, log_p=log_p)
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref.pvalues_adjusted)
    np.testing.assert_array_equal(out["reject"].to_numpy(), ref.reject)
    assert out["p_adjusted"][5] == -np.inf
    if method == "holm":  # rank 2 (after p = 0): log((m - 1) p), far below log(1e-308)
        expected = np.log10(n - 1) - 500
        expected = expected if log_p == "log10" else expected * np.log(10.0)
        assert abs(out["p_adjusted"][0] - expected) < 1e-12 * abs(expected)


def test_log_p_single_file_errors(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("logp\n-3.5\n0.25\n-1\n")
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--column", "logp",
                 "--log-p", "ln"]) == 2
    err = capsys.readouterr().err
    assert "above 0" in err and "data rows 2" in err and "0.25" in err
    src.write_text("logp\n-3.5\n+inf\n")
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--column", "logp",
                 "--log-p", "ln"]) == 2
    assert "non-numeric" in capsys.readouterr().err
    # without --log-p the same negative column is refused as p-values outside [0, 1]
    src.write_text("logp\n-3.5\n-1\n")
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--column", "logp"]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--per-file"]) == 2
    assert "--per-file needs a directory" in capsys.readouterr().err
