"""Simulated error rates: with nulls true, P(k or more false rejections) <= alpha + 3 SE.

Uses the public harness ``mtest.testing.check_fwer`` (the same one users get).
"""
import zlib

import numpy as np
import pytest

from mtest.testing import check_fwer
from conftest import FULL

REPS = 20_000 if FULL else 4_000  # >= 2000 either way


@pytest.mark.slow
@pytest.mark.parametrize("dependence, rho", [("independent", 0.0), ("equicorrelated", 0.3),
                                             ("block", 0.8)])
@pytest.mark.parametrize("method, k", [("bonferroni", 1), ("holm", 1), ("lehmann-romano", 2),
                                       ("lehmann-romano", 5), ("bonferroni", 3)])
@pytest.mark.parametrize("n_null", [40, 50])
def test_fwer_controlled(dependence, rho, method, k, n_null):
    alpha = 0.1
    res = check_fwer(method, n_hypotheses=50, n_null=n_null, alpha=alpha, k=k, dependence=dependence,
                     rho=rho, effect=3.0, reps=REPS,
                     seed=zlib.crc32(f"{dependence}{method}{k}{n_null}".encode()))
    se = np.sqrt(alpha * (1 - alpha) / REPS)
    assert res.rate <= alpha + 3 * se, str(res)


@pytest.mark.slow
def test_simulation_detects_missing_correction():
    """The same check flags 'reject every p <= alpha', so a pass above means something."""
    alpha = 0.1
    res = check_fwer(lambda p: p <= alpha, n_hypotheses=50, n_null=50, alpha=alpha, reps=REPS, seed=0)
    assert res.rate > alpha + 10 * np.sqrt(alpha * (1 - alpha) / REPS)


@pytest.mark.slow
def test_holm_fwer_near_alpha_under_independence():
    """Holm is not grossly conservative at the global null: the rate is close to 1-(1-a/m)^m."""
    alpha, m = 0.1, 20
    res = check_fwer("holm", n_hypotheses=m, n_null=m, alpha=alpha, reps=REPS, seed=11)
    expected = 1 - (1 - alpha / m) ** m
    assert abs(res.rate - expected) <= 4 * np.sqrt(expected * (1 - expected) / REPS)
