"""One public function per registered procedure: the same engine as ``reject``, equal to statsmodels."""
import inspect

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

import mtest

# function, registry name, statsmodels method
NAMED = [
    (mtest.bonferroni, "bonferroni", "bonferroni"),
    (mtest.holm, "holm", "holm"),
    (mtest.sidak, "sidak", "sidak"),
    (mtest.holm_sidak, "holm-sidak", "holm-sidak"),
    (mtest.hochberg, "hochberg", "simes-hochberg"),
    (mtest.hommel, "hommel", "hommel"),
    (mtest.benjamini_hochberg, "fdr_bh", "fdr_bh"),
    (mtest.benjamini_yekutieli, "fdr_by", "fdr_by"),
    (mtest.benjamini_krieger_yekutieli, "fdr_tsbky", "fdr_tsbky"),
    (mtest.gavrilov_benjamini_sarkar, "fdr_gbs", "fdr_gbs"),
]
IDS = [fn.__name__ for fn, _, _ in NAMED]


def _vectors():
    rng = np.random.default_rng(20261127)
    for m in (1, 2, 3, 5, 10, 40, 257):
        for power in (1.0, 3.0, 8.0):  # from all-null to mostly signal
            p = rng.random(m) ** power
            yield p
            tied = p.copy()
            tied[rng.random(m) < 0.3] = p[0]
            yield tied
    yield np.array([0.0, 1.0, 1.0, 0.5, 0.05])
    yield np.full(6, 0.05 / 6)


@pytest.mark.parametrize("fn,name,sm", NAMED, ids=IDS)
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_equals_statsmodels(fn, name, sm, alpha):
    for p in _vectors():
        ours = fn(p, alpha)
        rej, adj, _, _ = multipletests(p, alpha=alpha, method=sm)
        np.testing.assert_array_equal(ours.reject, rej, err_msg=f"{name} m={p.size}")
        np.testing.assert_allclose(ours.pvalues_adjusted, adj, rtol=1e-12, atol=1e-15,
                                   err_msg=f"{name} m={p.size}")
        assert ours.method == name and ours.n_rejected == rej.sum()


@pytest.mark.parametrize("fn,name,sm", NAMED, ids=IDS)
def test_is_reject_with_its_method(fn, name, sm):
    x = np.random.default_rng(5).random((4, 30)) ** 4
    x[0, :3] = np.nan
    for kwargs in ({}, {"axis": 1}, {"axis": 0}):
        ours = fn(x, 0.1, nan_policy="omit", **kwargs)
        ref = mtest.reject(x, 0.1, name, nan_policy="omit", **kwargs)
        np.testing.assert_array_equal(ours.reject, ref.reject)
        np.testing.assert_array_equal(ours.threshold, ref.threshold)
        np.testing.assert_array_equal(ours.pvalues_adjusted, ref.pvalues_adjusted)
        assert ours.guarantee == ref.guarantee == mtest.get_procedure(name).guarantee(alpha=0.1)
    logs = np.log(np.ravel(x)[np.isfinite(np.ravel(x))])
    np.testing.assert_array_equal(fn(logs, log_p="ln").reject, mtest.reject(logs, method=name, log_p="ln").reject)


@pytest.mark.parametrize("fn,name,sm", NAMED, ids=IDS)
def test_signature_and_docstring(fn, name, sm):
    params = inspect.signature(fn).parameters
    assert list(params)[:2] == ["pvalues", "alpha"] and params["alpha"].default == 0.05
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("axis", "nan_policy", "log_p"))
    assert ("k" in params) == mtest.get_procedure(name).uses_k
    doc = inspect.getdoc(fn)
    for section in ("Parameters", "Returns", "References", "Examples"):
        assert f"\n{section}\n" in doc, (fn.__name__, section)
    # the guarantee the registry declares is the one the summary states
    rate = mtest.get_procedure(name).error_rate.replace("kfwer", "fwer").upper()
    assert f"{rate} <= alpha" in " ".join(doc.split("\n\n")[0].split()), fn.__name__
    assert fn.__name__ in mtest.__all__


@pytest.mark.parametrize("method", ["fdr_tsbky", "fdr_tsbh"])
def test_level_dependent_procedures_take_log_p(method):
    # their adjusted values need alpha; the log-scale path used to drop it and raise
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])
    for alpha in (0.05, 0.2):
        ours, ref = mtest.reject(np.log(p), alpha, method, log_p="ln"), mtest.reject(p, alpha, method)
        np.testing.assert_array_equal(ours.reject, ref.reject)
        np.testing.assert_allclose(np.exp(ours.pvalues_adjusted), ref.pvalues_adjusted, rtol=1e-13)
        np.testing.assert_allclose(10 ** mtest.adjust(np.log10(p), method, alpha=alpha, log_p="log10"),
                                   mtest.adjust(p, method, alpha=alpha), rtol=1e-13)


def test_every_builtin_procedure_with_a_literature_level_has_a_function():
    named = {name for _, name, _ in NAMED} | {"lehmann-romano"}
    # fdr_tsbh (statsmodels' variant) is proven only at alpha/(1 - alpha): reachable through reject
    assert set(mtest.PROCEDURES) - named <= {"fdr_tsbh"}


@pytest.mark.parametrize("fn,name,sm", NAMED, ids=IDS)
def test_a_tensor_stays_a_tensor(fn, name, sm):
    torch = pytest.importorskip("torch")
    p = torch.tensor([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])
    ours, ref = fn(p), mtest.reject(p, method=name)
    assert type(ours) is type(ref) and isinstance(ours.reject, torch.Tensor)
    assert torch.equal(ours.reject, ref.reject)
    with pytest.raises(ValueError, match="log_p"):
        fn(p, log_p="ln")
