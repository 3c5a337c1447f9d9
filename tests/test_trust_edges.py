"""Trust at the edges of the public API: k > m is refused everywhere k is taken, adjusted values are
never below the raw ones (in every scale), results are read-only, and axis= works with log_p=."""
import numpy as np
import pytest

import mtest

K_MESSAGE = r"k \(5\) exceeds the number of tested hypotheses"


# ---------------------------------------------------------------------------------------------
# 1. k-FWER with k > m


def _pair():
    return np.array([0.01, 0.2])


@pytest.mark.parametrize("call", [
    lambda: mtest.bonferroni(_pair(), k=5),
    lambda: mtest.lehmann_romano(_pair(), k=5),
    lambda: mtest.reject(_pair(), 0.05, "bonferroni", k=5),
    lambda: mtest.reject(_pair(), 0.05, "lr", k=5),
    lambda: mtest.adjust(_pair(), "bonferroni", k=5),
    lambda: mtest.adjust(_pair(), "lr", k=5),
    lambda: mtest.bonferroni(np.log(_pair()), k=5, log_p="ln"),
    lambda: mtest.lehmann_romano(np.log10(_pair()), k=5, log_p="log10"),
    lambda: mtest.adjust(np.log(_pair()), "lr", k=5, log_p="ln"),
    lambda: mtest.reject_table(np.array([0.01, 0.2]), np.array([0, 1]), 0.05, "bonferroni", k=5),
    lambda: mtest.reject_table_rows(np.array([0.01, 0.2]), np.array([[0, 1]]), 0.05, "lr", k=5),
    # NaN is not tested: 4 values, 2 tested
    lambda: mtest.bonferroni(np.array([0.01, np.nan, 0.2, np.nan]), k=5, nan_policy="omit"),
], ids=["bonferroni", "lehmann_romano", "reject-b", "reject-lr", "adjust-b", "adjust-lr",
        "log-ln", "log-log10", "adjust-log", "reject_table", "reject_table_rows", "nan-omit"])
def test_k_above_m_is_refused(call):
    with pytest.raises(ValueError, match=K_MESSAGE + r".*m \(2\).*k-FWER control is vacuous"):
        call()


@pytest.mark.parametrize("method", ["bonferroni", "lr"])
def test_k_equal_m_is_accepted_and_adjusted_not_below_raw(method):
    p = np.array([0.01, 0.2, 0.03])
    res = mtest.reject(p, 0.05, method, k=3)
    assert np.all(res.pvalues_adjusted >= p)
    assert np.all(mtest.adjust(p, method, k=3) >= p)


@pytest.mark.parametrize("entry", ["reject", "adjust"])
def test_k_above_m_with_axis_names_the_family(entry):
    x = np.array([[0.01, 0.02, 0.03], [0.01, np.nan, np.nan], [0.1, 0.2, 0.3]])
    call = (lambda: mtest.reject(x, 0.05, "lr", k=2, axis=1, nan_policy="omit")) if entry == "reject" \
        else (lambda: mtest.adjust(x, "lr", k=2, axis=1, nan_policy="omit"))
    with pytest.raises(ValueError, match=r"k \(2\) exceeds .* m \(1\) of family at \(1,\) \(the 1-D slice "
                                         r"along axis 1\)"):
        call()
    # the same along axis 0 of the transpose, in a 3-D array: the index of the other axes
    x3 = np.stack([x.T, np.full((3, 3), 0.5)], axis=2)   # (3, 3, 2): families along axis 0
    with pytest.raises(ValueError, match=r"of family at \(1, 0\)"):
        mtest.reject(x3, 0.05, "bonferroni", k=2, axis=0, nan_policy="omit")


def test_k_above_m_frames_names_the_group():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"g": ["a", "a", "a", "b", "b"], "p": [0.01, 0.02, 0.03, 0.04, np.nan]})
    with pytest.raises(ValueError, match=r"k \(2\) exceeds .* m \(1\) of family \{'g': 'b'\}"):
        mtest.adjust_frame(df, "p", "lr", k=2, by="g", nan_policy="omit")
    out = mtest.adjust_frame(df[df.g == "a"], "p", "lr", k=2, by="g")
    assert np.all(out["p_adjusted"] >= out["p"])


def test_k_above_m_files_names_the_family(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    (tmp_path / "in").mkdir()
    pd.DataFrame({"g": ["a", "a", "a", "b"], "p": [0.01, 0.02, 0.03, 0.04]}).to_parquet(
        tmp_path / "in" / "x.parquet", index=False)
    with pytest.raises(ValueError, match=r"k \(2\) exceeds .* m \(1\) of family \('b',\)"):
        mtest.adjust_files(tmp_path / "in", tmp_path / "out", method="lr", k=2, by="g", progress=False)
    assert not (tmp_path / "out" / "x.parquet").exists()
    with pytest.raises(ValueError, match=r"k \(5\) exceeds .* m \(4\):"):
        mtest.adjust_files(tmp_path / "in", tmp_path / "out", method="bonferroni", k=5, progress=False)


def test_k_above_m_dask():
    da = pytest.importorskip("dask.array")
    x = da.from_array(_pair(), chunks=1)
    with pytest.raises(ValueError, match=K_MESSAGE):
        mtest.bonferroni(x, k=5)
    with pytest.raises(ValueError, match=K_MESSAGE):
        mtest.adjust(x, "lr", k=5)


def test_k_above_m_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=K_MESSAGE):
        mtest.bonferroni(torch.tensor([0.01, 0.2]), k=5)
    with pytest.raises(ValueError, match=K_MESSAGE):
        mtest.adjust(torch.tensor([0.01, 0.2]), "lr", k=5)
    with pytest.raises(ValueError, match=r"of family at \(1,\)"):
        mtest.reject(torch.tensor([[0.01, 0.2, 0.3], [0.1, float("nan"), float("nan")]]), 0.05, "lr",
                     k=2, axis=1, nan_policy="omit")


def _counts(N=2, C=3):
    counts0 = np.zeros((N, C), dtype=np.int64)
    counts0[:, 0] = 10
    counts = np.zeros((N, C), dtype=np.int64)
    counts[:, 0] = 100
    return counts0, counts


@pytest.mark.parametrize("call", [
    lambda: mtest.segcertify(np.zeros(2, dtype=np.int64), np.array([100, 100]), n=100, tau=0.75,
                             alpha=0.01, method="bonferroni", k=5),
    lambda: mtest.segcertify_counts(*_counts(), tau=0.75, alpha=0.01, method="lr", k=5),
    lambda: mtest.segcertify_radius_map(np.zeros(2, dtype=np.int64), np.array([100, 100]), n=100,
                                        taus=[0.6, 0.75], alpha=0.01, method="bonferroni", k=5),
    lambda: mtest.SequentialCertifier(np.zeros(2, dtype=np.int64), tau=0.75, alpha=0.01, n_max=100,
                                      method="bonferroni", k=5),
    lambda: mtest.hierarchical_segcertify(*_counts(), mtest.Hierarchy.from_groups(
        ["c0", "c1", "c2"], {"root": ["c0", "c1", "c2"]}), tau=0.75, alpha=0.01, method="bonferroni", k=5),
], ids=["segcertify", "segcertify_counts", "radius_map", "sequential", "hierarchical"])
def test_k_above_components_is_refused_by_certification(call):
    with pytest.raises(ValueError, match=K_MESSAGE + r" \(components\) m \(2\)"):
        call()


def test_k_above_components_predict_noisy_and_certify_refused_before_sampling():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(x.shape[0])
            return x

    smoother = ad.SegmentationSmoother(Counting(), ad.GaussianNoise(0.25), batch_size=50, progress=False)
    x = torch.zeros(3, 2)   # 3 classes, N = 2 components
    with pytest.raises(ValueError, match=K_MESSAGE + r" \(components of the model's output\) m \(2\)"):
        smoother.predict_noisy(x, n=200, alpha=0.01, k=5)
    with pytest.raises(ValueError, match=K_MESSAGE + r" \(components of the model's output\) m \(2\)"):
        smoother.certify(x, n0=10, n=200, tau=0.75, alpha=0.01, method="bonferroni", k=5)
    assert sum(calls) <= 2  # one clean forward pass each, no noisy sampling
    assert smoother.predict_noisy(x, n=50, alpha=0.01, k=2).labels.shape == (2,)


def test_k_above_m_cli(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "p.csv"
    src.write_text("p\n0.01\n0.2\n")
    out = subprocess.run([sys.executable, "-m", "mtest.cli", "adjust", str(src), "-o", str(tmp_path / "o.csv"),
                          "--method", "bonferroni", "--k", "5"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "k (5) exceeds the number of tested hypotheses m (2)" in out.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("log_p", [None, "ln"])
def test_k_above_m_cli_names_the_family(tmp_path, capsys, log_p):
    """With --by, the family whose size is below k is named by its --by columns and its first
    data row (1-based, as every other CLI message counts rows), on the linear and the log
    path alike."""
    from mtest import cli

    src = tmp_path / "p.csv"
    values = ["0.001", "0.02", "0.01", "0.5", "0.3", "0.2"]
    if log_p:
        values = [repr(float(np.log(float(v)))) for v in values]
    rows = zip(["a", "a", "a", "b", "b", "a"], values)
    src.write_text("g,p\n" + "".join(f"{g},{v}\n" for g, v in rows))
    argv = ["adjust", str(src), "-o", str(tmp_path / "o.csv"), "--method", "lehmann-romano",
            "--k", "3", "--by", "g"] + (["--log-p", log_p] if log_p else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "k (3) exceeds the number of tested hypotheses m (2) of family --by g of data row 4" in err
    assert not (tmp_path / "o.csv").exists()


# ---------------------------------------------------------------------------------------------
# 2. adjusted >= raw, adjusted <= one, monotone: every procedure, every scale, 1-D and axis=

from hypothesis import given, settings, strategies as st  # noqa: E402

PROCEDURES = sorted(mtest.PROCEDURES)
#: the adaptive FDR procedures scale BH's values by an estimate m0/m < 1 (or GBS's (m+1-i)/i
#: p/(1-p)): their adjusted values fall below p by design, so only <= one and monotonicity hold
BELOW_BY_DESIGN = {name for name, proc in mtest.PROCEDURES.items() if proc.adjusted_below_p}
SCALES = {None: lambda p: p, "ln": np.log, "log10": np.log10}
ONE = {None: 1.0, "ln": 0.0, "log10": 0.0}

# p-values close to 1 (where exp/log round trips and Šidák's expm1(log1p) round an ulp low),
# tiny ones, exact ties and NaN
_P = st.one_of(st.floats(0.5, 1.0), st.floats(1e-300, 1.0), st.sampled_from([1.0, 0.5, 0.9, 1e-10]))
# log p-values drawn in the log scale itself (all doubles near 0 are reachable, not only logs)
# (down to p = 1e-300: Hommel and the two-stage procedures refuse p below 1e-308 in log scale)
_LOG = {"ln": st.one_of(st.floats(-3.0, 0.0), st.floats(-690.0, 0.0), st.sampled_from([-0.1, 0.0, -1e-300])),
        "log10": st.one_of(st.floats(-1.5, 0.0), st.floats(-300.0, 0.0), st.sampled_from([-0.1, 0.0]))}


def _values(log_p, min_size=1, max_size=12):
    return st.lists(_P if log_p is None else _LOG[log_p], min_size=min_size, max_size=max_size)


def _check_properties(values, adjusted, log_p, method):
    tested = ~np.isnan(values)
    assert np.array_equal(np.isnan(adjusted), ~tested)
    a, v = adjusted[tested], values[tested]
    assert np.all(a <= ONE[log_p]), (method, log_p)
    if method not in BELOW_BY_DESIGN:
        bad = a < v
        assert not bad.any(), (method, log_p, v[bad], a[bad])
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(a[order]) >= 0), (method, log_p)  # monotone in the raw values


@pytest.mark.parametrize("log_p", [None, "ln", "log10"])
@pytest.mark.parametrize("method", PROCEDURES)
@settings(max_examples=80)
@given(data=st.data())
def test_adjusted_not_below_raw_one_family(method, log_p, data):
    values = np.array(data.draw(_values(log_p)))
    res = mtest.reject(values, 0.05, method, log_p=log_p)
    adjusted = np.asarray(res.pvalues_adjusted)
    _check_properties(values, adjusted, log_p, method)
    np.testing.assert_array_equal(adjusted, mtest.adjust(values, method, alpha=0.05, log_p=log_p))


@pytest.mark.parametrize("log_p", [None, "ln", "log10"])
@pytest.mark.parametrize("method", PROCEDURES)
@settings(max_examples=30)
@given(data=st.data(), width=st.sampled_from([1, 2, 3, 6]))
def test_adjusted_not_below_raw_along_axis(method, log_p, data, width):
    p = data.draw(_values(log_p, 6, 36))
    n = len(p) // width * width
    values = np.array(p[:n]).reshape(-1, width)
    res = mtest.reject(values, 0.05, method, axis=0, log_p=log_p)
    adjusted = np.asarray(res.pvalues_adjusted)
    for j in range(width):
        _check_properties(values[:, j], adjusted[:, j], log_p, method)
    np.testing.assert_array_equal(adjusted, mtest.adjust(values, method, alpha=0.05, axis=0, log_p=log_p))


@pytest.mark.parametrize("method", ["holm", "hochberg", "bonferroni", "sidak", "holm-sidak", "fdr_bh",
                                    "fdr_by", "lehmann-romano", "hommel"])
def test_reported_round_trip_cases(method):
    # ln: exp then log rounds -0.1 to -0.10000000000000006; Šidák: -expm1(log1p(-p)) < p
    v = np.array([-0.1, -0.7, -2.0])
    assert np.all(mtest.adjust(v, method, log_p="ln") >= v)
    grid = np.linspace(-3, -1e-3, 2001)
    for log_p in ("ln", "log10"):
        assert np.all(mtest.adjust(grid, method, log_p=log_p) >= grid)
    p = np.random.default_rng(0).random(2000)
    for m in (1, 2):
        for chunk in p.reshape(-1, m):
            assert np.all(mtest.adjust(chunk, method) >= chunk), (method, chunk)


def test_adjusted_below_p_only_where_the_procedure_says_so():
    # the flag is what exempts a procedure from the property: it must be right
    assert BELOW_BY_DESIGN == {"fdr_gbs", "fdr_tsbh", "fdr_tsbky"}
    p = np.array([0.001] * 6 + [0.02, 0.03, 0.04, 0.3])
    for method in BELOW_BY_DESIGN:
        assert np.any(mtest.adjust(p, method, alpha=0.05) < p), method


# ---------------------------------------------------------------------------------------------
# 4. axis= with log_p=: each family bitwise as on its own


@pytest.mark.parametrize("log_p", ["ln", "log10"])
@pytest.mark.parametrize("method", PROCEDURES)
@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_axis_with_log_p_equals_each_family(method, log_p, axis):
    rng = np.random.default_rng(7)
    p = rng.random((3, 5, 4)) ** 4
    p[rng.random(p.shape) < 0.1] = np.nan
    p[0, 0, 0] = p[0, 1, 0]  # ties
    x = SCALES[log_p](p)
    res = mtest.reject(x, 0.1, method, axis=axis, nan_policy="omit", log_p=log_p)
    adj = mtest.adjust(x, method, axis=axis, nan_policy="omit", log_p=log_p, alpha=0.1)
    assert res.reject.shape == x.shape and adj.shape == x.shape and res.axis == axis % 3
    moved = [np.moveaxis(np.asarray(v), axis, -1) for v in (x, res.reject, res.pvalues_adjusted, adj)]
    assert res.threshold.shape == moved[0].shape[:-1]
    for idx in np.ndindex(moved[0].shape[:-1]):
        one = mtest.reject(moved[0][idx], 0.1, method, nan_policy="omit", log_p=log_p)
        np.testing.assert_array_equal(moved[1][idx], one.reject)
        np.testing.assert_array_equal(moved[2][idx].view(np.uint64),
                                      np.asarray(one.pvalues_adjusted).view(np.uint64))
        np.testing.assert_array_equal(moved[3][idx].view(np.uint64),
                                      np.asarray(one.pvalues_adjusted).view(np.uint64))
        assert np.array_equal(res.threshold[idx], one.threshold, equal_nan=True)
        assert res.n_rejected[idx] == one.n_rejected and res.n_tests[idx] == one.n_tests


def test_axis_with_log_p_checks():
    x = np.log(np.array([[0.01, 0.2], [0.5, np.nan]]))
    with pytest.raises(ValueError, match=r"k \(2\) exceeds .* m \(1\) of family at \(1,\)"):
        mtest.reject(x, 0.05, "lr", k=2, axis=1, nan_policy="omit", log_p="ln")
    with pytest.raises(ValueError, match=r"axis \(3\) is out of bounds"):
        mtest.adjust(x, "holm", axis=3, nan_policy="omit", log_p="ln")
    with pytest.raises(ValueError, match=r"log p-values, which must be <= 0"):
        mtest.reject(-x, 0.05, "holm", axis=0, nan_policy="omit", log_p="ln")
    res = mtest.holm(x[:0], axis=1, log_p="ln")   # no families
    assert res.reject.shape == (0, 2) and res.threshold.shape == (0,)


def test_axis_with_dask_is_refused_clearly():
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match=r"axis \(0\) is not supported for Dask arrays"):
        mtest.holm(da.from_array(np.full((2, 2), 0.1)), axis=0)


# ---------------------------------------------------------------------------------------------
# 3. every public result is read-only and shares no memory with the caller's input

import dataclasses  # noqa: E402

from mtest._validation import ReadOnlyArrays  # noqa: E402


def _arrays_of(obj, path, seen):
    """(path, ndarray) of every public array reachable from a result: fields, properties,
    nested results, tuples."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        yield path, obj
    elif isinstance(obj, (tuple, list)):
        for i, item in enumerate(obj):
            yield from _arrays_of(item, f"{path}[{i}]", seen)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = [f.name for f in dataclasses.fields(obj)]
        names += [n for n in dir(type(obj)) if isinstance(getattr(type(obj), n, None),
                                                           (property, __import__("functools").cached_property))]
        for name in names:
            if name.startswith("_"):
                continue
            yield from _arrays_of(getattr(obj, name), f"{path}.{name}", seen)


def _results():
    """(result, inputs) built by real calls, one or more per public result class."""
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    p2 = np.array([[0.01, 0.04, 0.5], [0.03, 0.005, 0.2]])
    guess, count = np.array([0, 1, 1, 2]), np.array([100, 97, 60, 90])
    counts0 = np.array([[8, 1, 1], [1, 8, 1], [5, 5, 0], [0, 1, 9]])
    counts = counts0 * 10
    table = mtest.binom_pvalue_table(100, 0.75, "greater")
    h = mtest.Hierarchy.from_groups(["c0", "c1", "c2"], {"root": ["c0", "c1", "c2"]})
    seq = mtest.SequentialCertifier(guess.copy(), tau=0.75, alpha=0.01, n_max=200, sigma=0.25)
    seq.update(np.full(4, 50), 50)
    out = [
        (mtest.holm(p), [p]), (mtest.hommel(p), [p]), (mtest.reject(p2, 0.05, "fdr_bh", axis=1), [p2]),
        (mtest.reject(p2, 0.05, "hommel", axis=0), [p2]),
        (mtest.bonferroni(np.log(p), log_p="ln"), [p]), (mtest.hommel(np.log10(p), log_p="log10"), [p]),
        (mtest.holm(np.log(p2), axis=1, log_p="ln"), [p2]),
        (mtest.reject_table(table, count), [table, count]),
        (mtest.reject_table_rows(table, np.array([[100, 99, 60]])), [table]),
        (mtest.binomtest(7, 10, 0.5), []), (mtest.clopper_pearson(np.array([95, 90]), 100, alpha=0.001), []),
        (mtest.guess_and_count(counts0, counts), [counts0, counts]),
        (mtest.segcertify(guess, count, n=100, tau=0.75, alpha=0.01, sigma=0.25), [guess, count]),
        (mtest.segcertify_counts(counts0, counts, tau=0.75, alpha=0.01), [counts0, counts]),
        (mtest.cohen_certify(guess, count, n=100, alpha=0.01, sigma=0.25), [guess, count]),
        (mtest.cohen_predict(counts, alpha=0.01), [counts]),
        (mtest.indiv_class(guess, count, n=100, alpha=0.01), [guess, count]),
        (mtest.joint_class_from_count(guess, 95, n=100, alpha=0.01), [guess]),
        (mtest.joint_class(np.array([[0, 1], [0, 1], [1, 1]]), np.tile([0, 1], (50, 1)), alpha=0.01), []),
        (mtest.segcertify_radius_map(guess, count, n=100, taus=[0.6, 0.75], alpha=0.01), [guess, count]),
        (seq.result(), [guess]),
        (mtest.hierarchical_segcertify(counts0, counts, h, tau=0.75, alpha=0.01), [counts0, counts]),
        (mtest.certified_information_gain(np.array([0, 3, -1, 2]), np.array([0, 1, 1, 2]), h), []),
        (mtest.qvalue(np.linspace(0.001, 1, 50)), []),
        (mtest.plan_samples(N=10, tau=0.75, alpha=0.01, p_true=0.99, target_rate=0.5), []),
        (h, []),
    ]
    return out


def test_every_result_array_is_read_only_and_private():
    covered = set()
    for result, inputs in _results():
        covered.add(type(result).__mro__[0])
        for path, arr in _arrays_of(result, type(result).__name__, set()):
            assert not arr.flags.writeable, path
            if arr.size:
                with pytest.raises(ValueError, match="read-only"):
                    first = (0,) * arr.ndim
                    arr[first] = arr[first]
            for source in inputs:
                assert not np.shares_memory(arr, source), path
    # every public result class is covered (the adapters' ones in the torch test below)
    public = {getattr(mtest, n) for n in mtest.__all__ if isinstance(getattr(mtest, n), type)}
    results = {c for c in public if dataclasses.is_dataclass(c) and issubclass(c, ReadOnlyArrays)}
    missing = {c.__name__ for c in results} - {c.__name__ for c in covered} - {"FilesResult", "FamilySummary",
                                                                                  "ConfidenceInterval"}
    assert not missing
    exported = {c.__name__ for c in public if dataclasses.is_dataclass(c) and c.__name__.endswith("Result")}
    assert exported <= {c.__name__ for c in results}, exported - {c.__name__ for c in results}


def test_writing_into_a_result_is_refused_and_changes_nothing():
    p = np.array([0.01, 0.2, 0.03])
    r = mtest.holm(p)
    for name in ("pvalues_adjusted", "reject"):
        before = getattr(r, name).copy()
        with pytest.raises(ValueError, match="read-only"):
            getattr(r, name)[0] = 7
        np.testing.assert_array_equal(getattr(r, name), before)
    editable = r.pvalues_adjusted.copy()   # the documented way to edit
    editable[0] = 7
    assert r.pvalues_adjusted[0] != 7
    seg = mtest.segcertify(np.array([0, 1]), np.array([100, 60]), n=100, tau=0.75, alpha=0.01)
    for name in ("labels", "pvalues", "reject"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(seg, name)[0] = 1
    assert p.flags.writeable   # the caller's input is untouched
    p[0] = 0.5


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "hommel", "bonferroni"])
def test_series_results_do_not_change_when_edited(method):
    """A pandas result (Series input keeps its index) cannot be frozen, and pandas copies on
    write into the same object; editing what the result hands out must not change the result
    (before: ``r.reject.iloc[0] = True`` did), nor the caller's Series."""
    pd = pytest.importorskip("pandas")
    s = pd.Series([0.001, 0.2, 0.03, 0.5], index=list("abcd"))
    kept = s.copy()
    r = mtest.reject(s, 0.05, method)
    before = {name: getattr(r, name).copy() for name in ("reject", "pvalues_adjusted")}
    for name, value in before.items():
        got = getattr(r, name)
        assert isinstance(got, pd.Series) and list(got.index) == list("abcd")
        try:
            got.iloc[0] = not got.iloc[0] if got.dtype == bool else 7.0
            got.loc["b"] = got.loc["b"]
        except ValueError:  # pandas without copy-on-write: the read-only data refuses the edit
            pass
        pd.testing.assert_series_equal(getattr(r, name), value)
    pd.testing.assert_series_equal(s, kept)
    assert r.pvalues_adjusted is not r.pvalues_adjusted  # a new (shallow) object per read


def test_adapters_results_read_only():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    smoother = ad.SegmentationSmoother(torch.nn.Identity(), ad.GaussianNoise(0.25), batch_size=50, progress=False)
    x = torch.zeros(3, 2, 2)
    x[0, 0] = 2.0
    runs = [smoother.predict_noisy(x, n=100, alpha=0.01), smoother.certify(x, n0=10, n=100, tau=0.75, alpha=0.01)]
    runs.append(runs[1].recertify(0.6, 0.01))
    runs.append(ad.segmentation_metrics(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]]), 2))
    runs.append(smoother.certify_sequential(x, n0=10, tau=0.75, alpha=0.01, n_max=200))
    n_arrays = 0
    for run in runs:
        for path, arr in _arrays_of(run, type(run).__name__, set()):
            n_arrays += 1
            assert not arr.flags.writeable, path
    assert n_arrays >= 8
