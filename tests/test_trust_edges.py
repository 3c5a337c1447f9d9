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
