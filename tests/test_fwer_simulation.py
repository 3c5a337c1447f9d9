"""Simulated error rates: with all nulls true, P(k or more false rejections) <= alpha + 3 SE."""
import zlib

import numpy as np
import pytest

import mtest
from mtest.testing import gaussian_pvalues
from conftest import FULL

REPS = 20_000 if FULL else 4_000  # >= 2000 either way


def error_rate(procedure, pvalues, is_null, k):
    hits = 0
    for row in pvalues:
        hits += int(np.count_nonzero(procedure(row) & is_null) >= k)
    return hits / pvalues.shape[0]


@pytest.mark.slow
@pytest.mark.parametrize("dependence, rho", [("independent", 0.0), ("equicorrelated", 0.3),
                                             ("block", 0.8)])
@pytest.mark.parametrize("method, k", [("bonferroni", 1), ("holm", 1), ("lehmann-romano", 2),
                                       ("lehmann-romano", 5), ("bonferroni", 3)])
def test_fwer_controlled(dependence, rho, method, k):
    alpha = 0.1
    sim = gaussian_pvalues(REPS, 50, n_null=40, effect=3.0, dependence=dependence, rho=rho,
                           seed=zlib.crc32(f"{dependence}{method}{k}".encode()))
    rate = error_rate(lambda p: mtest.reject(p, alpha, method, k=k).reject, sim.pvalues, sim.is_null, k)
    se = np.sqrt(alpha * (1 - alpha) / REPS)
    assert rate <= alpha + 3 * se, f"{method} k={k} {dependence}: rate {rate:.4f} > {alpha} + 3 SE"


@pytest.mark.slow
def test_simulation_detects_missing_correction():
    """The same check flags 'reject every p <= alpha', so a pass above means something."""
    alpha = 0.1
    sim = gaussian_pvalues(REPS, 50, seed=0)
    rate = error_rate(lambda p: p <= alpha, sim.pvalues, sim.is_null, 1)
    assert rate > alpha + 10 * np.sqrt(alpha * (1 - alpha) / REPS)


@pytest.mark.slow
def test_holm_fwer_near_alpha_under_independence():
    """Holm is not grossly conservative at the global null: the rate is close to 1-(1-a/m)^m."""
    alpha, m = 0.1, 20
    sim = gaussian_pvalues(REPS, m, seed=11)
    rate = error_rate(lambda p: mtest.holm(p, alpha).reject, sim.pvalues, sim.is_null, 1)
    expected = 1 - (1 - alpha / m) ** m
    se = np.sqrt(expected * (1 - expected) / REPS)
    assert abs(rate - expected) <= 4 * se
