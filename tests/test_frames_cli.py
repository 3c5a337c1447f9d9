"""adjust_frame and `mtest adjust`: round trips, groups, errors, input untouched, atomic output."""
import hashlib

import numpy as np
import pandas as pd
import pytest

import mtest
from mtest.cli import main


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 300
    return pd.DataFrame({"gene": [f"g{i}" for i in range(n)], "set": rng.integers(0, 5, n),
                         "p": rng.random(n) ** 3}, index=pd.RangeIndex(10, 10 + n))


def test_adjust_frame_whole_and_grouped(frame):
    before = frame.copy()
    out = mtest.adjust_frame(frame, "p", "fdr_bh")
    pd.testing.assert_frame_equal(frame, before)  # not modified
    assert list(out.index) == list(frame.index)
    np.testing.assert_array_equal(out["p_adjusted"], mtest.adjust(frame["p"].to_numpy(), "fdr_bh"))
    grouped = mtest.adjust_frame(frame, "p", "holm", by="set")
    for _, sub in frame.groupby("set"):
        ref = mtest.holm(sub["p"].to_numpy())
        np.testing.assert_array_equal(grouped.loc[sub.index, "p_adjusted"], ref.pvalues_adjusted)
        np.testing.assert_array_equal(grouped.loc[sub.index, "reject"], ref.reject)


def test_adjust_frame_errors(frame):
    with pytest.raises(ValueError, match=r"column \('q'\) not found"):
        mtest.adjust_frame(frame, "q")
    with pytest.raises(ValueError, match=r"by \(\['nope'\]\) not found"):
        mtest.adjust_frame(frame, "p", by="nope")
    with pytest.raises(ValueError, match="column 'gene' must be numeric"):
        mtest.adjust_frame(frame, "gene")
    with pytest.raises(ValueError, match="output column 'p' already exists"):
        mtest.adjust_frame(frame, "p", adjusted_column="p")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
def test_cli_round_trip(tmp_path, frame, ext, capsys):
    src = tmp_path / f"in{ext}"
    if ext == ".parquet":
        frame.to_parquet(src, index=False)
    else:
        frame.to_csv(src, sep="," if ext == ".csv" else "\t", index=False)
    digest = _digest(src)
    dst = tmp_path / f"out{ext}"
    assert main(["adjust", str(src), "-o", str(dst), "--method", "BH", "--by", "set", "--alpha", "0.1"]) == 0
    assert "rows in 5 groups" in capsys.readouterr().out
    assert _digest(src) == digest  # input untouched
    out = pd.read_parquet(dst) if ext == ".parquet" else pd.read_csv(dst, sep="," if ext == ".csv" else "\t")
    assert list(out.columns) == ["gene", "set", "p", "p_adjusted", "reject"]
    ref = mtest.adjust_frame(frame.reset_index(drop=True), "p", "fdr_bh", alpha=0.1, by="set")
    np.testing.assert_allclose(out["p_adjusted"], ref["p_adjusted"], rtol=1e-15)
    np.testing.assert_array_equal(out["reject"].astype(bool), ref["reject"])
    assert not list(tmp_path.glob(".*.part"))  # no temporary file left


def test_cli_k_fwer_and_nan_omit(tmp_path, capsys):
    src = tmp_path / "in.csv"
    pd.DataFrame({"p": [0.001, 0.012, np.nan, 0.02, 0.03, 0.5]}).to_csv(src, index=False)
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv")]) == 2
    assert "is missing (empty, NA or NaN) in data rows 3" in capsys.readouterr().err
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--method", "lr", "--k", "2",
                 "--nan-policy", "omit"]) == 0
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["reject"].tolist() == [True, True, False, True, True, False]
    assert np.isnan(out["p_adjusted"][2])


@pytest.mark.parametrize("content, args, message", [
    ("p\n0.1\nx\n0.3\ny\n", [], "column 'p' in .* has non-numeric values in data rows 2, 4, e.g. 'x'"),
    ("p\n0.1\n1.5\n", [], r"values outside \[0, 1\] in data rows 2, e.g. 1.5"),
    ("p\n0.1\n-2\n", [], r"values outside \[0, 1\] in data rows 2"),
    ("q\n0.1\n", [], r"column 'p' not found in .*; the columns are \['q'\]"),
    ("p\n0.1\n", ["--by", "grp"], r"--by column 'grp' not found"),
    ("p\n0.1\n", ["--method", "nope"], r"method \('nope'\) not recognized"),
    ("p\n0.1\n", ["--alpha", "2"], r"alpha must lie strictly between 0 and 1; got 2.0"),
    ("p\n0.1\n", ["--k", "2"], r"k \(2\) is only defined for"),
])
def test_cli_errors_exit_2(tmp_path, capsys, content, args, message):
    src = tmp_path / "in.csv"
    src.write_text(content)
    dst = tmp_path / "out.csv"
    assert main(["adjust", str(src), "-o", str(dst), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mtest adjust: error: ")
    import re
    assert re.search(message, err), err
    assert not dst.exists()


def test_cli_refuses_to_overwrite_input_and_bad_extensions(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("p\n0.1\n")
    assert main(["adjust", str(src), "-o", str(src)]) == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err
    assert src.read_text() == "p\n0.1\n"
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.xlsx")]) == 2
    assert "unknown extension '.xlsx'" in capsys.readouterr().err
    assert main(["adjust", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.csv")]) == 2


def test_cli_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    src.write_text("p\n0.1\n0.2\n")
    dst = tmp_path / "out.csv"
    dst.write_text("old output\n")
    from mtest import _delimited

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(_delimited, "format_floats", boom)
    assert main(["adjust", str(src), "-o", str(dst)]) == 130
    assert dst.read_text() == "old output\n"  # the old file is intact, no partial output
    assert not list(tmp_path.glob(".*.part"))
