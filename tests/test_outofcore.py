"""mtest.adjust_files / `mtest adjust DIR`: streaming over partitioned files, bit for bit equal to
the in-memory path; verbatim columns; atomic outputs."""
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mtest

pytest.importorskip("pyarrow")

METHODS = [("bonferroni", 1), ("holm", 1), ("lehmann-romano", 3), ("sidak", 1), ("holm-sidak", 1),
           ("hochberg", 1), ("fdr_bh", 1), ("fdr_by", 1)]


@pytest.fixture(params=["tables", "rows", "tables-then-rows"])
def table_max(request, monkeypatch):
    """Each way the ranges' adjusted values reach the write pass: step tables (the default),
    spilled rows (no table allowed), and a table that fills up after 5 entries (then rows)."""
    from mtest import outofcore

    limit = {"tables": outofcore._TABLE_MAX, "rows": 0, "tables-then-rows": 5}[request.param]
    monkeypatch.setattr(outofcore, "_TABLE_MAX", limit)
    return request.param


def _write_partitions(root: Path, seed=0, n_files=4, rows=900, signal_share=0.05, fmt="parquet"):
    rng = np.random.default_rng(seed)
    parts = []
    for c in range(1, n_files + 1):
        p = rng.uniform(size=rows)
        p[: int(signal_share * rows)] *= 1e-6
        p[50:70] = p[50]  # ties
        p[rng.choice(rows, 3, replace=False)] = np.nan
        df = pd.DataFrame({"snp": [f"rs{c}_{i:05d}" for i in range(rows)], "p": p,
                           "pheno": rng.choice(["height", "bmi"], rows),
                           "beta": rng.normal(size=rows)})
        folder = root / f"chrom={c}"
        folder.mkdir(parents=True)
        if fmt == "parquet":
            df.to_parquet(folder / "part-0.parquet", index=False)
        else:
            df.to_csv(folder / "part-0.csv", index=False, float_format="%.17g")
        parts.append(df)
    return parts


def _read_outputs(out: Path, n_files):
    return [pd.read_parquet(out / f"chrom={c}" / "part-0.parquet") for c in range(1, n_files + 1)]


@pytest.mark.parametrize("method,k", METHODS)
def test_parity_one_family(tmp_path, method, k, table_max):
    parts = _write_partitions(tmp_path / "in")
    # chunk_rows=500 over 3600 values: several chunks per file and several spilled ranges
    res = mtest.adjust_files(tmp_path / "in", tmp_path / "out", method=method, k=k,
                             nan_policy="omit", chunk_rows=500, progress=False)
    p = np.concatenate([d["p"].to_numpy() for d in parts])
    ref = mtest.reject(p, 0.05, method, k=k, nan_policy="omit")
    out = pd.concat(_read_outputs(tmp_path / "out", 4), ignore_index=True)
    assert (res.n_tests, res.n_rejected) == (ref.n_tests, ref.n_rejected)
    assert res.families[0].threshold == ref.threshold
    np.testing.assert_array_equal(out["reject"].to_numpy(), ref.reject)
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref.pvalues_adjusted, equal_nan=True)
    # other columns verbatim
    pd.testing.assert_frame_equal(out[["snp", "p", "pheno", "beta"]],
                                  pd.concat(parts, ignore_index=True))
    assert not list((tmp_path / "out").rglob("*.part")) and not list((tmp_path / "out").glob(".mtest-spill*"))


def test_step_down_without_cutoff_uses_ranges(tmp_path, table_max):
    parts = _write_partitions(tmp_path / "in", signal_share=0.8)
    p = np.concatenate([d["p"].to_numpy() for d in parts])
    for method in ("holm", "lehmann-romano"):
        mtest.adjust_files(tmp_path / "in", tmp_path / method, method=method, k=2 if method != "holm" else 1,
                           nan_policy="omit", chunk_rows=400, progress=False)
        out = pd.concat(_read_outputs(tmp_path / method, 4), ignore_index=True)
        ref = mtest.adjust(p, method, k=2 if method != "holm" else 1, nan_policy="omit")
        assert np.array_equal(out["p_adjusted"].to_numpy(), ref, equal_nan=True)


@pytest.mark.parametrize("method", ["holm", "fdr_bh"])
def test_by_and_per_file_families(tmp_path, method, table_max):
    parts = _write_partitions(tmp_path / "in")
    whole = pd.concat(parts, ignore_index=True)
    res = mtest.adjust_files(tmp_path / "in", tmp_path / "by", method=method, by="pheno",
                             nan_policy="omit", chunk_rows=700, progress=False)
    ref = mtest.adjust_frame(whole, "p", method, by="pheno", nan_policy="omit")
    out = pd.concat(_read_outputs(tmp_path / "by", 4), ignore_index=True)
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref["p_adjusted"].to_numpy(), equal_nan=True)
    np.testing.assert_array_equal(out["reject"].to_numpy(), ref["reject"].to_numpy())
    assert sorted(f.key for f in res.families) == [("bmi",), ("height",)]
    # a missing key is a family of its own (as in adjust_frame), in every chunk and file
    for f in sorted((tmp_path / "in").rglob("*.parquet")):
        df = pd.read_parquet(f)
        df.loc[df.index % 7 == 0, "pheno"] = None
        df["chunk_key"] = np.where(df.index % 5 == 0, np.nan, (df.index % 3).astype(float))
        df.to_parquet(f, index=False)
    whole = pd.concat([pd.read_parquet(f) for f in sorted((tmp_path / "in").rglob("*.parquet"))],
                      ignore_index=True)
    res = mtest.adjust_files(tmp_path / "in", tmp_path / "by_na", method=method, by="pheno",
                             nan_policy="omit", chunk_rows=300, progress=False)
    ref = mtest.adjust_frame(whole, "p", method, by="pheno", nan_policy="omit")
    out = pd.concat(_read_outputs(tmp_path / "by_na", 4), ignore_index=True)
    assert len(res.families) == 3
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref["p_adjusted"].to_numpy(), equal_nan=True)
    res = mtest.adjust_files(tmp_path / "in", tmp_path / "by_na2", method=method,
                             by=["chunk_key"], nan_policy="omit", chunk_rows=300, progress=False)
    ref = mtest.adjust_frame(whole, "p", method, by="chunk_key", nan_policy="omit")
    out = pd.concat(_read_outputs(tmp_path / "by_na2", 4), ignore_index=True)
    assert len(res.families) == 4
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref["p_adjusted"].to_numpy(), equal_nan=True)
    res = mtest.adjust_files(tmp_path / "in", tmp_path / "file", method=method, per_file=True,
                             nan_policy="omit", chunk_rows=700, progress=False)
    assert len(res.families) == 4
    for part, got in zip(parts, _read_outputs(tmp_path / "file", 4)):
        expected = mtest.adjust(part["p"].to_numpy(), method, nan_policy="omit")
        assert np.array_equal(got["p_adjusted"].to_numpy(), expected, equal_nan=True)


@pytest.mark.parametrize("method", ["fdr_bh", "holm", "bonferroni"])
def test_csv_text_kept_and_log10(tmp_path, method):
    parts = _write_partitions(tmp_path / "in", fmt="csv")
    for f in (tmp_path / "in").rglob("*.csv"):  # -log10 p with deep values, as regenie writes
        df = pd.read_csv(f)
        with np.errstate(divide="ignore"):
            df["p"] = np.log10(df["p"])
        df.loc[:3, "p"] = [-500.0, -400.25, -350.0, -320.5]
        df.to_csv(f, index=False, float_format="%.17g")
    texts = [pd.read_csv(f, dtype=str, keep_default_na=False)
             for f in sorted((tmp_path / "in").rglob("*.csv"))]
    res = mtest.adjust_files(str(tmp_path / "in" / "*" / "*.csv"), tmp_path / "out", method=method,
                             log_p="log10", nan_policy="omit", chunk_rows=600, progress=False)
    out = _read_outputs(tmp_path / "out", 4)
    v = np.array([float(x) if x else np.nan for t in texts for x in t["p"]])
    ref = mtest.reject(v, 0.05, method, nan_policy="omit", log_p="log10")
    got = pd.concat(out, ignore_index=True)
    assert np.array_equal(got["p_adjusted"].to_numpy(), ref.pvalues_adjusted, equal_nan=True)
    np.testing.assert_array_equal(got["reject"].to_numpy(), ref.reject)
    assert res.families[0].threshold == ref.threshold
    for text, o in zip(texts, out):  # every input column as its text
        pd.testing.assert_frame_equal(o[list(text.columns)], text)


def test_cli_directory(tmp_path, capsys):
    from mtest.cli import main

    parts = _write_partitions(tmp_path / "in", n_files=2)
    assert main(["adjust", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--method", "BH",
                 "--nan-policy", "omit"]) == 0
    assert "rejected by fdr_bh" in capsys.readouterr().out
    p = np.concatenate([d["p"].to_numpy() for d in parts])
    out = pd.concat(_read_outputs(tmp_path / "out", 2), ignore_index=True)
    assert np.array_equal(out["p_adjusted"].to_numpy(), mtest.adjust(p, "fdr_bh", nan_policy="omit"),
                          equal_nan=True)
    assert main(["adjust", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--method", "hommel",
                 "--nan-policy", "omit"]) == 2
    assert "cannot stream" in capsys.readouterr().err


def test_errors_name_file_and_row(tmp_path):
    _write_partitions(tmp_path / "in", n_files=2)
    bad = tmp_path / "in" / "chrom=2" / "part-0.parquet"
    df = pd.read_parquet(bad)
    df.loc[7, "p"] = 1.5
    df.to_parquet(bad, index=False)
    with pytest.raises(ValueError, match=r"chrom=2.*part-0.parquet must hold p-values in \[0, 1\]; got 1.5 in data row 8"):
        mtest.adjust_files(tmp_path / "in", tmp_path / "out", nan_policy="omit", progress=False)
    with pytest.raises(ValueError, match="NaN/empty in data row"):
        mtest.adjust_files(tmp_path / "in", tmp_path / "out2", progress=False)
    with pytest.raises(ValueError, match="column 'pval' not found"):
        mtest.adjust_files(tmp_path / "in", tmp_path / "out3", column="pval", progress=False)
    with pytest.raises(ValueError, match="lies inside the input folder"):
        mtest.adjust_files(tmp_path / "in", tmp_path / "in", progress=False)
    with pytest.raises(ValueError, match="would overwrite an input"):
        mtest.adjust_files(str(tmp_path / "in" / "*" / "*.parquet"), tmp_path / "in", progress=False)
    with pytest.raises(ValueError, match="matches no Parquet or CSV"):
        mtest.adjust_files(tmp_path / "nothing*", tmp_path / "out4", progress=False)
    assert not list(tmp_path.rglob("*.part"))


def test_sigterm_during_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    _write_partitions(tmp_path / "in", n_files=3)
    calls = {"n": 0}
    original = pq.ParquetWriter.write_table

    def write_then_term(self, table, *args, **kwargs):
        original(self, table, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # 2 chunks per file: the first chunk of the second file
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_then_term)
    with pytest.raises(SystemExit):
        mtest.adjust_files(tmp_path / "in", tmp_path / "out", method="fdr_bh", nan_policy="omit",
                           chunk_rows=500, progress=False)
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
                     if p.is_file())
    assert written == ["chrom=1/part-0.parquet"]  # the first file complete, nothing partial
    assert not list((tmp_path / "out").glob(".mtest-spill*"))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def _write_values(root: Path, values, n_files=3):
    """``values`` split over ``n_files`` Parquet files (column ``p``)."""
    for c, part in enumerate(np.array_split(np.asarray(values), n_files), start=1):
        folder = root / f"chrom={c}"
        folder.mkdir(parents=True)
        pd.DataFrame({"p": part}).to_parquet(folder / "part-0.parquet", index=False)


def _adversarial(kind, rng):
    if kind == "all-equal":
        return np.full(3000, 0.0125)
    if kind == "cluster":  # 2000 copies of one value among uniform values
        p = rng.uniform(size=3000)
        p[rng.choice(3000, 2000, replace=False)] = 0.37
        return p
    # values one ulp apart: one top-level bucket, refined down to the last bits of the key
    base = np.nextafter(0.02, 1.0) + np.arange(60) * np.spacing(0.02)
    p = np.concatenate([np.repeat(base, 40), rng.uniform(size=600), np.full(200, 1e-9),
                        [np.nan] * 5])
    return rng.permutation(p)


@pytest.mark.parametrize("kind", ["all-equal", "cluster", "ulps"])
@pytest.mark.parametrize("method", ["fdr_bh", "fdr_by", "hochberg", "holm", "holm-sidak"])
def test_bucket_larger_than_a_chunk(tmp_path, kind, method, table_max):
    # one histogram bucket (ties, a dense cluster, values an ulp apart) holds far more than a
    # chunk: the ranges are refined, and the result is still the in-memory one bit for bit
    rng = np.random.default_rng(3)
    p = _adversarial(kind, rng)
    _write_values(tmp_path / "in", p)
    res = mtest.adjust_files(tmp_path / "in", tmp_path / "out", method=method, nan_policy="omit",
                             chunk_rows=37, progress=False)
    ref = mtest.reject(p, 0.05, method, nan_policy="omit")
    out = pd.concat(_read_outputs(tmp_path / "out", 3), ignore_index=True)
    assert res.n_rejected == ref.n_rejected
    np.testing.assert_array_equal(out["reject"].to_numpy(), ref.reject)
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref.pvalues_adjusted, equal_nan=True)


@pytest.mark.parametrize("log_p", ["ln", "log10"])
def test_bucket_larger_than_a_chunk_log_scale(tmp_path, log_p, table_max):
    rng = np.random.default_rng(4)
    p = _adversarial("ulps", rng)
    p[:50] = 1e-320  # subnormal: log values far below log(1e-308), tied
    v = np.log(p) if log_p == "ln" else np.log10(p)
    v[60:900] = v[60]  # a large tie in log scale
    _write_values(tmp_path / "in", v)
    mtest.adjust_files(tmp_path / "in", tmp_path / "out", method="fdr_bh", log_p=log_p,
                       nan_policy="omit", chunk_rows=29, progress=False)
    ref = mtest.adjust(v, "fdr_bh", log_p=log_p, nan_policy="omit")
    out = pd.concat(_read_outputs(tmp_path / "out", 3), ignore_index=True)
    assert np.array_equal(out["p_adjusted"].to_numpy(), ref, equal_nan=True)


def test_memory_does_not_grow_with_a_tie_group(tmp_path):
    # the bound O(chunk + head): a tie group 4x larger must not raise the peak of numpy
    # allocations (tracemalloc sees them) by more than a fraction of one group's records
    import tracemalloc

    peaks = []
    for n in (250_000, 1_000_000):
        folder = tmp_path / f"n{n}"
        _write_values(folder / "in", np.full(n, 0.3), n_files=2)
        tracemalloc.start()
        mtest.adjust_files(folder / "in", folder / "out", method="fdr_bh", chunk_rows=20_000,
                           progress=False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # loading the 10^6 ties at once takes > 24 MB of records alone (plus the sort's copies)
    assert peaks[1] - peaks[0] < 8e6, peaks


# ------------------------------------------------------------------ fast paths and their fallbacks

from hypothesis import given, settings, strategies as st  # noqa: E402

from mtest import outofcore  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, -0.0, 1.0, 0.5, 5e-324, 1e-300]),
                          st.floats(max_value=0.0, allow_nan=False)), max_size=300),
       st.booleans())
def test_stable_order_is_a_stable_argsort(values, negative_only):
    v = np.asarray(values, dtype=np.float64)
    if negative_only:  # log-scale ranges: values <= 0, -inf included
        v = -np.abs(v)
    got = outofcore.stable_order(v)
    np.testing.assert_array_equal(got, np.argsort(v, kind="stable"))


def test_stable_order_packed_and_fallback_paths():
    rng = np.random.default_rng(3)
    close = 0.3 + rng.integers(0, 50, 5000) * 1e-12  # narrow span, many ties: packed keys
    wide = np.concatenate([close, [0.0, 1.0, 1e-300]])  # span too wide for packed keys
    for v in (close, wide, np.repeat(0.25, 1000), -close):
        np.testing.assert_array_equal(outofcore.stable_order(v), np.argsort(v, kind="stable"))


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "hochberg"])
def test_sparse_histogram_and_searched_ranges_match(tmp_path, monkeypatch, method):
    """With many families the scan keeps a sparse histogram and routing searches the range
    starts; both must give the dense paths' (and the in-memory) values bit for bit."""
    parts = _write_partitions(tmp_path / "in", signal_share=0.6)
    whole = pd.concat(parts, ignore_index=True)
    ref = mtest.adjust_frame(whole, "p", method, by="pheno", nan_policy="omit")
    outputs = {}
    for name, limit in [("dense", outofcore._DENSE_HIST_MAX), ("sparse", 0)]:
        monkeypatch.setattr(outofcore, "_DENSE_HIST_MAX", limit)
        monkeypatch.setattr(outofcore, "_DENSE_LUT_MAX", limit)
        mtest.adjust_files(tmp_path / "in", tmp_path / name, method=method, by="pheno",
                           nan_policy="omit", chunk_rows=200, progress=False)
        outputs[name] = pd.concat(_read_outputs(tmp_path / name, 4), ignore_index=True)
        assert np.array_equal(outputs[name]["p_adjusted"].to_numpy(),
                              ref["p_adjusted"].to_numpy(), equal_nan=True), name


def test_step_tables_keep_a_tie_group_over_chunks_as_one_entry():
    """Chunks of one tie group come one after another with the same adjusted value: one entry;
    a different adjusted value for the same value is refused (its rows are spilled)."""
    from mtest.outofcore import _StepTables

    for step, order in [("down", [0.1, 0.2, 0.2, 0.3]), ("up", [0.3, 0.2, 0.2, 0.1])]:
        t = _StepTables(step)
        for v in order:
            assert t.add(0, np.array([v]), np.array([v * 2]))
        ends, fins = t.table(0)
        np.testing.assert_array_equal(ends, [0.1, 0.2, 0.3])
        np.testing.assert_array_equal(fins, [0.2, 0.4, 0.6])
        assert not t.add(0, np.array([order[-1]]), np.array([9.0]))  # same value, other result


def test_output_encodings_dictionary_for_keys_not_for_float_inputs(tmp_path):
    """Float input columns are written without a dictionary (nearly all distinct: Parquet would
    build one and give it up), key columns and the adjusted values with one."""
    import pyarrow.parquet as pq

    _write_partitions(tmp_path / "in", n_files=1)
    mtest.adjust_files(tmp_path / "in", tmp_path / "out", method="fdr_bh", nan_policy="omit",
                       progress=False)
    meta = pq.ParquetFile(tmp_path / "out" / "chrom=1" / "part-0.parquet").metadata.row_group(0)
    enc = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert any("DICTIONARY" in e for e in enc["snp"]) and any("DICTIONARY" in e for e in enc["pheno"])
    assert any("DICTIONARY" in e for e in enc["p_adjusted"])
    assert not any("DICTIONARY" in e for e in enc["p"]) and not any("DICTIONARY" in e for e in enc["beta"])
