"""Error-rate harness: estimate P(k or more false rejections) or the FDR of any procedure by
simulation, with an exact confidence interval and a verdict against alpha.

Any callable ``pvalues -> reject mask`` can be checked — a registered method name too — so this
is how users test their own corrections.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import t as student_t

from .._validation import check_alpha, check_positive_int, check_probability
from ..binomial import clopper_pearson
from .dependence import gaussian_pvalues

__all__ = ["ErrorRateCheck", "check_fwer", "check_fdr", "assert_fwer_controlled",
           "assert_fdr_controlled", "as_procedure"]


def as_procedure(method, *, alpha: float, k: int = 1) -> Callable:
    """A registered method as a callable ``pvalues -> reject mask`` (for the harness).

    Parameters
    ----------
    method : str or Procedure
        A registered name or alias, or a procedure object.
    alpha : float
        Level in (0, 1).
    k : int
        k of k-FWER.

    Returns
    -------
    callable
        ``pvalues (1-D array) -> boolean reject mask``.
    """
    from ..multitest import reject
    from ..registry import get_procedure

    proc = get_procedure(method)

    def run(pvalues):
        return reject(pvalues, alpha, proc, k=k).reject

    run.__name__ = proc.name if k == 1 else f"{proc.name}(k={k})"
    return run


@dataclass(frozen=True)
class ErrorRateCheck:
    """Outcome of ``check_fwer`` / ``check_fdr``.

    ``rate`` estimates P(k or more false rejections) (``kind='FWER'``) or the FDR; ``ci_low`` and
    ``ci_high`` bound it at ``confidence`` (Clopper–Pearson for FWER, Student t for the FDR);
    ``power`` is the average fraction of false nulls rejected. ``verdict`` is 'fail' when the
    whole interval lies above ``alpha`` (evidence that the procedure does not control the rate),
    else 'pass'.

    Attributes
    ----------
    kind : {'FWER', 'FDR'}
        Which rate was estimated.
    procedure : str
        The procedure's name.
    rate, ci_low, ci_high : float
        The estimate and its interval at ``confidence``.
    confidence : float
        Level of the interval.
    alpha : float
        The level the procedure claims.
    k : int
        k of k-FWER (1 for the FWER and the FDR).
    power : float
        Average fraction of false nulls rejected.
    reps, n_hypotheses, n_null : int
        Repetitions, hypotheses per repetition, true nulls among them.
    dependence : str
        The dependence of the simulated p-values.
    rho : float
        Its correlation parameter.
    verdict : {'pass', 'fail'}
        ``'fail'`` when the whole interval lies above ``alpha``.
    """

    kind: str
    procedure: str
    rate: float
    ci_low: float
    ci_high: float
    confidence: float
    alpha: float
    k: int
    power: float
    reps: int
    n_hypotheses: int
    n_null: int
    dependence: str
    rho: float
    verdict: str

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def __str__(self) -> str:
        what = ("FDR" if self.kind == "FDR" else
                f"P(>= {self.k} false rejections)" if self.k > 1 else "FWER")
        return (f"{self.procedure}: {what} = {self.rate:.4f} "
                f"[{self.ci_low:.4f}, {self.ci_high:.4f}] ({self.confidence:.0%} CI) vs alpha = "
                f"{self.alpha} -> {self.verdict.upper()}; power {self.power:.3f}; "
                f"{self.n_hypotheses} hypotheses, {self.n_null} true nulls, {self.dependence}"
                f"{f' (rho={self.rho:g})' if self.dependence in ('equicorrelated', 'block') else ''}, "
                f"{self.reps} repetitions")


def _name(procedure) -> str:
    return getattr(procedure, "__name__", type(procedure).__name__)


def _simulate(procedure, *, n_hypotheses, n_null, alpha, k, dependence, rho, block_size, effect,
              reps, seed, simulate=None, chunk_cells=10_000_000):
    """Per repetition: (#false rejections, #false nulls rejected, #rejections)."""
    from ..registry import Procedure

    if isinstance(procedure, (str, Procedure)):
        procedure = as_procedure(procedure, alpha=alpha, k=k)
    if not callable(procedure):
        raise ValueError(f"procedure must be a callable pvalues -> reject mask or a method name; "
                         f"got {procedure!r}")
    m = check_positive_int("n_hypotheses", n_hypotheses)
    n_null = check_positive_int("n_null", n_null, 0)
    if n_null > m:
        raise ValueError(f"n_null must be <= n_hypotheses ({m}); got {n_null}")
    reps = check_positive_int("reps", reps)
    rng = np.random.default_rng(seed)
    false_rej = np.empty(reps, dtype=np.int64)
    true_rej = np.empty(reps, dtype=np.int64)
    chunk = max(1, chunk_cells // m)
    for start in range(0, reps, chunk):
        size = min(chunk, reps - start)
        if simulate is None:
            sim = gaussian_pvalues(size, m, n_null=n_null, effect=effect, dependence=dependence,
                                   rho=rho, block_size=block_size, seed=rng)
        else:
            sim = simulate(size, rng)
            if sim.pvalues.shape != (size, m) or int(sim.is_null.sum()) != n_null:
                raise ValueError(f"simulate must return SimulatedPValues with pvalues of shape "
                                 f"({size}, {m}) and {n_null} true nulls; got {sim.pvalues.shape} "
                                 f"and {int(sim.is_null.sum())}")
        for j in range(size):
            mask = np.asarray(procedure(sim.pvalues[j]), dtype=bool)
            if mask.shape != (m,):
                raise ValueError(f"procedure must return a boolean mask of shape ({m},); got shape "
                                 f"{mask.shape}")
            false_rej[start + j] = np.count_nonzero(mask & sim.is_null)
            true_rej[start + j] = np.count_nonzero(mask & ~sim.is_null)
    return procedure, false_rej, true_rej


def check_fwer(procedure, *, n_hypotheses: int, n_null: int, alpha: float = 0.05, k: int = 1,
               dependence: str = "independent", rho: float = 0.5, block_size: int = 10,
               effect: float = 3.0, reps: int = 2000, seed=None, confidence: float = 0.99,
               simulate=None) -> ErrorRateCheck:
    """Estimate P(k or more false rejections) of ``procedure`` by simulation.

    p-values come from ``mtest.testing.gaussian_pvalues`` (the first ``n_null`` hypotheses are
    true nulls, the rest have z-shift ``effect``) with the chosen dependence.

    Parameters
    ----------
    procedure : callable, str or Procedure
        ``pvalues (1-D array) -> boolean reject mask``, or a method name / ``mtest.Procedure``
        (run at ``alpha`` and ``k``).
    n_hypotheses, n_null : int
    alpha : float
        The level the procedure claims.
    k : int
        Count an error when k or more true nulls are rejected (k = 1: the FWER).
    dependence : {'independent', 'equicorrelated', 'block', 'negative'}
    rho, block_size, effect
        See ``mtest.testing.gaussian_pvalues``.
    reps : int
    seed : int or numpy.random.Generator
    confidence : float
        Level of the Clopper–Pearson interval.
    simulate : callable, optional
        ``(reps, rng) -> SimulatedPValues`` replacing the Gaussian copula (any joint law; e.g.
        ``mtest.testing.examples.staggered_blocks``). ``dependence`` is then only a label.

    Returns
    -------
    ErrorRateCheck

    Examples
    --------
    >>> from mtest.testing import check_fwer
    >>> naive = lambda p: p <= 0.05          # no correction at all
    >>> check_fwer(naive, n_hypotheses=100, n_null=100, alpha=0.05, reps=500, seed=0).verdict
    'fail'
    >>> check_fwer("holm", n_hypotheses=100, n_null=100, alpha=0.05, reps=500, seed=0).verdict
    'pass'
    """
    alpha = check_alpha(alpha)
    k = check_positive_int("k", k)
    confidence = check_probability("confidence", confidence, low_open=True, high_open=True)
    proc, false_rej, true_rej = _simulate(
        procedure, n_hypotheses=n_hypotheses, n_null=n_null, alpha=alpha, k=k, dependence=dependence,
        rho=rho, block_size=block_size, effect=effect, reps=reps, seed=seed, simulate=simulate)
    hits = int(np.count_nonzero(false_rej >= k))
    ci = clopper_pearson(hits, reps, 1 - confidence, alternative="two-sided")
    n_false = n_hypotheses - n_null
    power = float(true_rej.mean() / n_false) if n_false else float("nan")
    low, high = float(ci.low), float(ci.high)
    return ErrorRateCheck(kind="FWER", procedure=_name(proc), rate=hits / reps, ci_low=low,
                          ci_high=high, confidence=confidence, alpha=alpha, k=k, power=power,
                          reps=reps, n_hypotheses=n_hypotheses, n_null=n_null,
                          dependence=dependence, rho=rho, verdict="fail" if low > alpha else "pass")


def check_fdr(procedure, *, n_hypotheses: int, n_null: int, alpha: float = 0.05,
              dependence: str = "independent", rho: float = 0.5, block_size: int = 10,
              effect: float = 3.0, reps: int = 2000, seed=None, confidence: float = 0.99) -> ErrorRateCheck:
    """Estimate the false discovery rate E[V / max(R, 1)] of ``procedure`` by simulation.

    As ``check_fwer``; the interval is mean ± Student-t quantile × standard error.

    Parameters
    ----------
    procedure : callable, str or Procedure
        ``pvalues (1-D array) -> boolean reject mask``, or a method name / ``mtest.Procedure``
        (run at ``alpha``).
    n_hypotheses, n_null : int
        Hypotheses per repetition and true nulls among them.
    alpha : float
        The FDR level the procedure claims.
    dependence : {'independent', 'equicorrelated', 'block', 'negative'}
        Dependence of the simulated z-statistics.
    rho, block_size, effect : float, int, float
        See ``mtest.testing.gaussian_pvalues``.
    reps : int
        Repetitions.
    seed : int or numpy.random.Generator
        Randomness.
    confidence : float
        Level of the Student-t interval.

    Returns
    -------
    ErrorRateCheck
        The estimated FDR, its interval, the power and the verdict.

    References
    ----------
    .. [1] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate.
           Journal of the Royal Statistical Society B 57(1), 289-300.

    Examples
    --------
    >>> from mtest.testing import check_fdr
    >>> check_fdr("fdr_bh", n_hypotheses=50, n_null=40, alpha=0.1, reps=500, seed=0).verdict
    'pass'
    """
    alpha = check_alpha(alpha)
    confidence = check_probability("confidence", confidence, low_open=True, high_open=True)
    proc, false_rej, true_rej = _simulate(
        procedure, n_hypotheses=n_hypotheses, n_null=n_null, alpha=alpha, k=1, dependence=dependence,
        rho=rho, block_size=block_size, effect=effect, reps=reps, seed=seed)
    fdp = false_rej / np.maximum(false_rej + true_rej, 1)
    rate = float(fdp.mean())
    se = float(fdp.std(ddof=1) / np.sqrt(reps)) if reps > 1 else float("inf")
    half = float(student_t.ppf(0.5 + confidence / 2, max(reps - 1, 1))) * se
    n_false = n_hypotheses - n_null
    power = float(true_rej.mean() / n_false) if n_false else float("nan")
    low = max(0.0, rate - half)
    return ErrorRateCheck(kind="FDR", procedure=_name(proc), rate=rate, ci_low=low,
                          ci_high=min(1.0, rate + half), confidence=confidence, alpha=alpha, k=1,
                          power=power, reps=reps, n_hypotheses=n_hypotheses, n_null=n_null,
                          dependence=dependence, rho=rho, verdict="fail" if low > alpha else "pass")


def assert_fwer_controlled(procedure, **kwargs) -> ErrorRateCheck:
    """``check_fwer``, raising ``AssertionError`` with a readable message on a 'fail'.

    Parameters
    ----------
    procedure : callable, str or Procedure
        As in ``check_fwer``.
    **kwargs
        The other arguments of ``check_fwer``.

    Returns
    -------
    ErrorRateCheck
        The passing check.

    Examples
    --------
    >>> from mtest.testing import assert_fwer_controlled
    >>> res = assert_fwer_controlled("bonferroni", n_hypotheses=20, n_null=20, reps=300, seed=1)
    """
    result = check_fwer(procedure, **kwargs)
    if not result.passed:
        raise AssertionError(f"error rate not controlled: {result}")
    return result


def assert_fdr_controlled(procedure, **kwargs) -> ErrorRateCheck:
    """``check_fdr``, raising ``AssertionError`` with a readable message on a 'fail'.

    Parameters
    ----------
    procedure : callable, str or Procedure
        As in ``check_fdr``.
    **kwargs
        The other arguments of ``check_fdr``.

    Returns
    -------
    ErrorRateCheck
        The passing check.
    """
    result = check_fdr(procedure, **kwargs)
    if not result.passed:
        raise AssertionError(f"FDR not controlled: {result}")
    return result
