"""adjust_frame and `mtest adjust`: round trips, groups, errors, input untouched, atomic output."""
import hashlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- every field other than p comes back byte for byte ----------------------------------------------

def _records(out: bytes):
    """Split output bytes into (content, terminator) records on LF outside quotes."""
    recs, i, start, quoted = [], 0, 0, False
    while i < len(out):
        c = out[i:i + 1]
        if c == b'"':
            quoted = not quoted
        elif c == b"\n" and not quoted:
            end = i - 1 if i > start and out[i - 1:i] == b"\r" else i
            recs.append((out[start:end], out[end:i + 1]))
            start = i + 1
        i += 1
    if start < len(out):
        recs.append((out[start:], b""))
    return recs


# (content, terminator) per record: ISO codes and IDs that a type-guessing reader would rewrite,
# quoting with separators, quotes and newlines inside, empty fields, CRLF and LF, no final newline
_ROWS = [
    (b'\xef\xbb\xbfcountry,id,big,x,note,p', b"\r\n"),
    (b'NA,007,12345678901234567890,1.50,"a, b",0.01', b"\r\n"),
    (b'None,0012,00000000000000000001,1e3,"say ""hi""",0.04', b"\n"),
    (b'n/a,,-0,  7 ,"line one\nline two",0.03', b"\r\n"),
    (b'null,1.0,9007199254740993,TRUE,,"0.2"', b"\n"),
    (b'"NaN",x,1,2,\xc3\xa9\xe2\x82\xac,  0.5  ', b""),
]


@pytest.mark.parametrize("pyarrow_present", [True, False])
@pytest.mark.parametrize("ext, sep", [(".csv", b","), (".tsv", b"\t")])
def test_cli_keeps_every_other_field_verbatim(tmp_path, capsys, monkeypatch, ext, sep, pyarrow_present):
    from mtest import _delimited

    if not pyarrow_present:
        monkeypatch.setattr(_delimited, "_have_pyarrow", lambda: False)
    rows = [(c.replace(b",", sep) if sep != b"," else c, t) for c, t in _ROWS]
    if sep != b",":  # the quoted separators stay commas in the TSV version
        rows = [(c.replace(b'"a\tb"', b'"a, b"').replace(b'"a\t b"', b'"a, b"'), t) for c, t in rows]
    raw = b"".join(c + t for c, t in rows)
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    src.write_bytes(raw)
    assert main(["adjust", str(src), "-o", str(dst), "--method", "bonferroni"]) == 0, capsys.readouterr().err
    got = _records(dst.read_bytes())
    assert len(got) == len(rows)
    assert got[0] == (rows[0][0] + sep + b"p_adjusted" + sep + b"reject", rows[0][1])
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.5])
    adjusted = mtest.adjust(p, "bonferroni")
    for (content, term), (out, out_term), adj in zip(rows[1:], got[1:], adjusted):
        assert out_term == term
        assert out.startswith(content + sep)
        value, flag = out[len(content) + 1:].split(sep)
        assert float(value) == adj  # round-trips to the same double
        assert flag == (b"true" if adj <= 0.05 else b"false")


def test_cli_verbatim_regression_of_the_issue(tmp_path):
    # pandas-style reading turned NA (Namibia) into an empty field, 007 into 7, a 20-digit ID into
    # 1.2345678901234567e+19 and 1.50 into 1.5
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("country,code,id,price,p\nNA,007,12345678901234567890,1.50,0.01\n"
                   "None,n/a,null,00,0.2\n")
    assert main(["adjust", str(src), "-o", str(dst)]) == 0
    lines = dst.read_text().splitlines()
    assert lines[1].startswith("NA,007,12345678901234567890,1.50,0.01,")
    assert lines[2].startswith("None,n/a,null,00,0.2,")


@pytest.mark.parametrize("spelling", ["", "NA", "na", "NaN", "nan", "N/A", "#N/A", "NULL", "None", '""',
                                      " NA ", '"NA"'])
def test_cli_missing_p_spellings(tmp_path, capsys, spelling):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(f"id,p\na,0.01\nb,{spelling}\nc,0.04\n")
    assert main(["adjust", str(src), "-o", str(dst)]) == 2
    assert "is missing (empty, NA or NaN) in data rows 2" in capsys.readouterr().err
    assert main(["adjust", str(src), "-o", str(dst), "--nan-policy", "omit"]) == 0
    lines = dst.read_text().splitlines()
    assert lines[2] == f"b,{spelling},,false"  # untested: no adjusted value, not rejected
    want = mtest.adjust([0.01, 0.04], "holm")
    assert [float(x.split(",")[2]) for x in (lines[1], lines[3])] == list(want)


@pytest.mark.parametrize("value", ["1_0", "0x1p-3", "1e", "--0.1", "0.1.2", "1,5", "infinity", "-"])
def test_cli_p_that_is_not_a_number(tmp_path, capsys, value):
    src = tmp_path / "in.tsv"
    src.write_text(f"p\n0.1\n{value}\n")
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.tsv")]) == 2
    assert f"non-numeric values in data rows 2, e.g. {value!r}" in capsys.readouterr().err


@settings(max_examples=60)
@given(st.lists(st.floats(0.0, 1.0, allow_subnormal=True), min_size=1, max_size=40),
       st.sampled_from(["{!r}", "{:.17e}", "{:.40f}", "{:.25E}", "{:.3g}"]))
def test_cli_parses_p_exactly_like_python_float(tmp_path_factory, values, style):
    folder = tmp_path_factory.mktemp("parse")
    text = [style.format(v) for v in values]
    (folder / "in.csv").write_text("p\n" + "\n".join(text) + "\n")
    assert main(["adjust", str(folder / "in.csv"), "-o", str(folder / "out.csv"), "--method", "bonferroni",
                 "--no-progress"]) == 0
    out = pd.read_csv(folder / "out.csv", dtype={"p": str})
    want = mtest.adjust(np.array([float(t) for t in text]), "bonferroni")
    np.testing.assert_array_equal(out["p_adjusted"].to_numpy(), want)


def test_cli_text_errors(tmp_path, capsys):
    cases = {
        "a,p\n1,0.1\n2,0.2,9\n": r"line 3 has 3 fields; the header has 2",
        'a,p\n"open,0.1\n2,0.2\n': r"a quoted field opened on line 2 is never closed",
        "p,x,p\n0.1,1,0.2\n": r"column 'p' names 2 columns of .* \(columns 1, 3\)",
        "p,p_adjusted\n0.1,1\n": r"already has a column 'p_adjusted'",
        "": r"is empty: no header row and no data",
        "\n\n": r"holds only blank lines",
        "p\r0.1\r0.2\r": r"lines end with a bare CR",
    }
    import re
    for content, message in cases.items():
        src = tmp_path / "in.csv"
        src.write_bytes(content.encode())
        assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv")]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and re.search(message, err), (content, err)


def test_cli_header_only_and_blank_lines(tmp_path, capsys):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,p\n")
    assert main(["adjust", str(src), "-o", str(dst)]) == 0
    assert dst.read_text() == "id,p,p_adjusted,reject\n"
    assert capsys.readouterr().out.startswith("0 rows: 0 rejected")
    src.write_text("id,p\na,0.01\n\nb,0.2\n\n")
    assert main(["adjust", str(src), "-o", str(dst)]) == 0
    assert dst.read_text() == "id,p,p_adjusted,reject\na,0.01,0.02,true\n\nb,0.2,0.2,false\n\n"
    assert capsys.readouterr().out.startswith("2 rows:")


# --- formats: conversions, Parquet types, index and metadata ------------------------------------------

def test_cli_text_to_other_formats_keeps_text(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b'code,id,note,p\n007,12345678901234567890,"a\tb, ""c""",0.01\nNA,1.50,,0.5\n')
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.tsv")]) == 0
    back = pd.read_csv(tmp_path / "o.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert back["code"].tolist() == ["007", "NA"] and back["id"].tolist() == ["12345678901234567890", "1.50"]
    assert back["note"].tolist() == ['a\tb, "c"', ""] and back["p"].tolist() == ["0.01", "0.5"]
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.parquet")]) == 0
    pq = pd.read_parquet(tmp_path / "o.parquet")
    assert pq["code"].tolist() == ["007", "NA"] and pq["id"].tolist() == ["12345678901234567890", "1.50"]
    assert pq["p"].dtype == np.float64 and pq["reject"].tolist() == [True, False]


def test_cli_parquet_keeps_index_types_and_metadata(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.DataFrame({
        "small": np.array([1, 2, 3], dtype=np.int8),
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]).tz_localize("Europe/Zurich"),
        "cat": pd.Categorical(["x", "y", "x"]),
        "amount": [decimal.Decimal("1.10"), decimal.Decimal("2.00"), None],
        "p": [0.01, 0.04, 0.03],
    }, index=pd.Index(["g1", "g2", "g3"], name="gene"))
    table = pa.Table.from_pandas(df)
    table = table.replace_schema_metadata({**table.schema.metadata, b"owner": b"lab 7"})
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, src)
    assert main(["adjust", str(src), "-o", str(dst)]) == 0
    out = pd.read_parquet(dst)
    pd.testing.assert_frame_equal(out.drop(columns=["p_adjusted", "reject"]), pd.read_parquet(src))
    assert out.index.name == "gene" and list(out.index) == ["g1", "g2", "g3"]
    np.testing.assert_array_equal(out["p_adjusted"], mtest.adjust(df["p"].to_numpy(), "holm"))
    written, read = pq.read_table(dst), pq.read_table(src)
    assert written.schema.metadata[b"owner"] == b"lab 7"
    for name in read.column_names:
        assert written.schema.field(name).type == read.schema.field(name).type


def test_cli_parquet_p_types(tmp_path, capsys):
    import decimal

    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    values = [decimal.Decimal("0.01"), decimal.Decimal("0.04"), decimal.Decimal("0.03")]
    pd.DataFrame({"p": values}).to_parquet(src)
    assert main(["adjust", str(src), "-o", str(dst)]) == 0
    np.testing.assert_array_equal(pd.read_parquet(dst)["p_adjusted"], mtest.holm(np.array(values, dtype=object)).pvalues_adjusted)
    pd.DataFrame({"p": ["0.1", "0.2"]}).to_parquet(src)
    assert main(["adjust", str(src), "-o", str(dst)]) == 2
    assert "column 'p' in" in capsys.readouterr().err
    pd.DataFrame({"p": [True, False]}).to_parquet(src)
    assert main(["adjust", str(src), "-o", str(dst)]) == 2
    assert "has type bool" in capsys.readouterr().err


# --- families -------------------------------------------------------------------------------------

def test_cli_missing_by_keys_are_families_and_counted(tmp_path, capsys):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    # "" (empty) and "NA" (Namibia) are different keys; before, both became NaN: one family, uncounted
    src.write_text("country,p\nNA,0.01\n,0.02\nNA,0.03\n,0.04\nDE,0.05\n")
    assert main(["adjust", str(src), "-o", str(dst), "--by", "country", "--method", "bonferroni"]) == 0
    assert "5 rows in 3 groups" in capsys.readouterr().out
    out = pd.read_csv(dst, keep_default_na=False)
    na, empty = mtest.adjust([0.01, 0.03], "bonferroni"), mtest.adjust([0.02, 0.04], "bonferroni")
    np.testing.assert_array_equal(out["p_adjusted"], [na[0], empty[0], na[1], empty[1], 0.05])
    src = tmp_path / "in.parquet"
    pd.DataFrame({"g": ["a", None, "a", None, "b"], "p": [0.01, 0.02, 0.03, 0.04, 0.05]}).to_parquet(src)
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.parquet"), "--by", "g"]) == 0
    assert "5 rows in 3 groups" in capsys.readouterr().out


@pytest.mark.parametrize("pyarrow_present", [True, False])
def test_cli_grouped_matches_adjust_frame_on_two_keys(tmp_path, capsys, monkeypatch, pyarrow_present):
    from mtest import _delimited

    if not pyarrow_present:
        monkeypatch.setattr(_delimited, "_have_pyarrow", lambda: False)
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.integers(0, 4, 500), "b": rng.choice(["x", "y", "z"], 500),
                       "p": rng.random(500) ** 4})
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    assert main(["adjust", str(src), "-o", str(dst), "--by", "a", "--by", "b", "--method", "hommel"]) == 0
    assert "500 rows in 12 groups" in capsys.readouterr().out
    want = mtest.adjust_frame(pd.read_csv(src), "p", "hommel", by=["a", "b"])
    np.testing.assert_array_equal(pd.read_csv(dst)["p_adjusted"], want["p_adjusted"])


# --- options, summary, help ---------------------------------------------------------------------------

def test_cli_k_fwer_needs_k_and_summary_shows_it(tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("p\n0.001\n0.012\n0.02\n0.03\n0.5\n")
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--method", "lr"]) == 2
    assert "needs --k" in capsys.readouterr().err
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--method", "lr", "--k", "2"]) == 0
    assert "4 rejected by lehmann-romano (k=2) at alpha=0.05" in capsys.readouterr().out
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--method", "bonferroni"]) == 0
    assert "rejected by bonferroni at" in capsys.readouterr().out
    assert main(["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--method", "bonferroni", "--k", "3"]) == 0
    assert "rejected by bonferroni (k=3) at" in capsys.readouterr().out


def test_cli_adjust_help_lists_defaults_and_methods():
    from mtest.cli import build_parser

    parser = build_parser()
    adjust = parser._subparsers._group_actions[0].choices["adjust"]
    for action in adjust._actions:
        if action.dest in ("help", "input", "output"):
            continue
        assert action.help and "default" in action.help, action.dest
    method = next(a for a in adjust._actions if a.dest == "method")
    for name in mtest.PROCEDURES:
        assert name in method.help


def test_cli_stage_messages_on_a_terminal_only(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    src = tmp_path / "in.csv"
    src.write_text("p\n0.1\n0.2\n")
    cmd = [sys.executable, "-m", "mtest.cli", "adjust", str(src), "-o", str(tmp_path / "o.csv")]
    master, slave = pty.openpty()
    proc = subprocess.run(cmd, stderr=slave, stdout=subprocess.PIPE, timeout=300)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"mtest adjust: reading" in seen and b"adjusting 2 p-values" in seen and b"writing" in seen
    quiet = subprocess.run(cmd + ["--no-progress"], capture_output=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == b""
    piped = subprocess.run(cmd, capture_output=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == b""


# --- the output file: permissions, signals, unwritable targets, symlinks ------------------------------

def test_cli_output_honours_umask_and_keeps_existing_mode(tmp_path):
    import os
    import stat

    src = tmp_path / "in.csv"
    src.write_text("p\n0.1\n")
    old = os.umask(0o027)
    try:
        assert main(["adjust", str(src), "-o", str(tmp_path / "new.csv")]) == 0
        assert main(["adjust", str(src), "-o", str(tmp_path / "new.parquet")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "new.parquet").stat().st_mode) == 0o640
    existing = tmp_path / "existing.csv"
    existing.write_text("old\n")
    existing.chmod(0o604)
    assert main(["adjust", str(src), "-o", str(existing)]) == 0
    assert stat.S_IMODE(existing.stat().st_mode) == 0o604 and existing.read_text().startswith("p,")


_SLOW_WRITER = """
import sys, time
from mtest import _delimited
real = _delimited.format_floats
calls = []
def slow(values):
    calls.append(1)
    if len(calls) == 2:  # the first chunk is written: the temporary file exists and holds data
        print("writing", flush=True)
        time.sleep(120)
    return real(values)
_delimited.format_floats = slow
_delimited.CHUNK_RECORDS = 1000
from mtest.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGINT", 130), ("SIGHUP", 129)])
def test_cli_signal_while_writing_removes_the_temporary_file(tmp_path, signame, code):
    import signal
    import subprocess
    import sys

    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("p\n" + "\n".join(["0.5"] * 3000) + "\n")
    dst.write_text("previous result\n")
    script = tmp_path / "slow.py"
    script.write_text(_SLOW_WRITER)
    # SIGINT at its default in the child even where the test runner was started in the
    # background by a shell, which ignores SIGINT (and the child would inherit that)
    proc = subprocess.Popen([sys.executable, str(script), "adjust", str(src), "-o", str(dst), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # small chunks so that the first one is written before the pause
    assert proc.stdout.readline() == b"writing\n"
    parts = list(tmp_path.glob(".out.csv.*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size > 0
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert b"Traceback" not in err and b"no output written" in err
    assert not list(tmp_path.glob(".*.part"))
    assert dst.read_text() == "previous result\n"


def test_cli_unwritable_outputs_give_one_line_and_exit_2(tmp_path, capsys):
    import os

    src = tmp_path / "in.csv"
    src.write_text("p\n0.1\n")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    readonly = tmp_path / "readonly.csv"
    readonly.write_text("keep\n")
    readonly.chmod(0o444)
    full = tmp_path / "full.csv"
    full.symlink_to("/dev/full")  # a real device that answers every write with ENOSPC
    cases = [(folder, "is a directory"), (readonly, "is read-only"),
             (full, "cannot write OUTPUT .*full.csv.*: No space left on device"),
             (tmp_path / "nope" / "o.csv", "does not exist")]
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        cases.append((locked / "o.csv", "cannot write OUTPUT .*: Permission denied"))
    import re
    for target, message in cases:
        assert main(["adjust", str(src), "-o", str(target)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(target) in err and re.search(message, err), err
    assert readonly.read_text() == "keep\n"
    assert not list(tmp_path.glob(".*.part"))


def test_cli_full_disk_on_a_real_filesystem(tmp_path, capsys):
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        src = tmp_path / "in.csv"
        src.write_text("id,p\n" + "".join(f"row{i},0.5\n" for i in range(20000)))
        assert main(["adjust", str(src), "-o", str(mount / "o.csv"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "cannot write OUTPUT" in err and "No space left on device" in err and "Traceback" not in err
        assert list(mount.iterdir()) == []  # no temporary file left on the full disk
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_cli_symlinked_output_is_written_through(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("p\n0.1\n")
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "result.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(target)  # dangling until the first run
    assert main(["adjust", str(src), "-o", str(link)]) == 0
    assert link.is_symlink() and target.read_text() == "p,p_adjusted,reject\n0.1,0.1,false\n"
    assert not list((tmp_path / "real").glob(".*.part"))
    to_input = tmp_path / "to_input.csv"
    to_input.symlink_to(src)
    assert main(["adjust", str(src), "-o", str(to_input)]) == 2
    hard = tmp_path / "hard.csv"
    hard.hardlink_to(src)
    assert main(["adjust", str(src), "-o", str(hard)]) == 2
    assert src.read_text() == "p\n0.1\n"
