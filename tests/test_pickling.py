"""Results cross process boundaries (multiprocessing pools, joblib caches): they pickle, and the
copy gives the same rejections and adjusted values. Registered procedures pickle by name."""
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import mtest

NAMED = ["holm", "bonferroni", "sidak", "holm_sidak", "hochberg", "hommel", "benjamini_hochberg",
         "benjamini_yekutieli", "benjamini_krieger_yekutieli", "gavrilov_benjamini_sarkar"]


def _pvalues(size=200, seed=0):
    p = np.random.default_rng(seed).random(size)
    p[: size // 10] *= 1e-4
    return p


@pytest.mark.parametrize("name", NAMED)
@pytest.mark.parametrize("size", [200, 70_000])  # a private copy / a fingerprinted input
def test_every_named_procedure_result_round_trips(name, size):
    res = getattr(mtest, name)(_pvalues(size))
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.reject, res.reject)
    np.testing.assert_array_equal(back.pvalues_adjusted, res.pvalues_adjusted)
    assert back.threshold == res.threshold and str(back.guarantee) == str(res.guarantee)


def test_axis_lr_and_certification_results_round_trip():
    table = _pvalues(120).reshape(30, 4)
    for res in (mtest.holm(table, axis=1), mtest.lehmann_romano(_pvalues(), k=3)):
        back = pickle.loads(pickle.dumps(res))
        np.testing.assert_array_equal(back.pvalues_adjusted, res.pvalues_adjusted)
    cert = mtest.segcertify(np.arange(12) % 3, np.full(12, 99), n=100, tau=0.75, alpha=0.01,
                            error_rate="fdr")
    back = pickle.loads(pickle.dumps(cert))
    np.testing.assert_array_equal(back.labels, cert.labels)
    assert str(back.guarantee) == str(cert.guarantee)


def test_registered_procedure_pickles_as_itself():
    for name in ("holm", "fdr_by", "hommel", "fdr_tsbky"):
        proc = mtest.get_procedure(name)
        assert pickle.loads(pickle.dumps(proc)) is proc


def _holm_in_child(seed):
    return mtest.holm(_pvalues(seed=seed))


def test_results_come_back_from_a_process_pool():
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(_holm_in_child, [1, 2]))
    for seed, res in zip([1, 2], results):
        np.testing.assert_array_equal(res.pvalues_adjusted, mtest.holm(_pvalues(seed=seed)).pvalues_adjusted)
