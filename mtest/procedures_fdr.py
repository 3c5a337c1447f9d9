"""Adaptive FDR procedures: the two-stage linear step-up procedures (``fdr_tsbh``, ``fdr_tsbky``)
and the Gavrilov–Benjamini–Sarkar step-down procedure (``fdr_gbs``), as in statsmodels.

They are registered as built-ins (imported by ``mtest.procedures``), each with the guarantee
the literature proves for it. Notation: m hypotheses, sorted p-values p(1) <= ... <= p(m),
level alpha.

* ``fdr_tsbky`` — Benjamini, Krieger & Yekutieli's two-stage procedure [1]_ (Definition 6):
  Benjamini–Hochberg (BH) at alpha' = alpha/(1 + alpha) gives r1 rejections; if 0 < r1 < m,
  BH again at alpha' m/m0 with the estimate m0 = m - r1 of the number of true nulls. FDR <= alpha
  under independence [1]_ (Theorem 2).
* ``fdr_tsbh`` — statsmodels' ``fdrcorrection_twostage(method='bh')``: the same two stages with
  alpha in place of alpha'. Its rejections at alpha are exactly those of ``fdr_tsbky`` at
  alpha/(1 - alpha) (then alpha' = alpha), so the proven bound is FDR <= alpha/(1 - alpha) under
  independence, and that is what it declares (0.0526 at alpha = 0.05).
* ``fdr_gbs`` — step-down with critical values alpha_i = i alpha / (m + 1 - i (1 - alpha)) [2]_;
  FDR <= alpha under independence [2]_ (Theorem 1). In transform form
  g_i(p) = (m + 1 - i)/i * p/(1 - p), statsmodels' adjusted p-values.

The adjusted p-values of the two-stage procedures depend on alpha through r1 (statsmodels returns
them "specific to the given alpha"): ``BH(p) * m0/m`` (times ``1 + alpha`` for ``fdr_tsbky``),
capped at 1, and BH(p) times the same factor when r1 is 0 or m. They are computed with
statsmodels' floating-point operations, stage counts included, so that they equal
``statsmodels.stats.multitest.multipletests`` bit for bit; rejection is ``adjusted <= alpha``
(statsmodels' stated decision rule) like every SpecialProcedure.

References
----------
.. [1] Benjamini, Y., Krieger, A. M. and Yekutieli, D. (2006). Adaptive linear step-up procedures
       that control the false discovery rate. Biometrika 93(3), 491-507.
.. [2] Gavrilov, Y., Benjamini, Y. and Sarkar, S. K. (2009). An adaptive step-down procedure with
       proven FDR control under independence. Annals of Statistics 37(2), 619-629.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .registry import Guarantee, SpecialProcedure, StepwiseProcedure, register

__all__ = ["TWO_STAGE_VARIANTS", "InflatedLevelProcedure", "two_stage_sorted"]

#: the two-stage variants: 'bky' (level alpha/(1 + alpha) in both stages) and 'bh' (alpha)
TWO_STAGE_VARIANTS = ("bh", "bky")


def _bh_count(values: np.ndarray, ecdf: np.ndarray, level: float) -> int:
    # statsmodels' fdrcorrection decision: largest i with p(i) <= (i/m) * level
    hit = np.flatnonzero(values <= ecdf * level)
    return int(hit[-1]) + 1 if hit.size else 0


def two_stage_sorted(values, alpha: float, variant: str, maxiter: int = 1):
    """Two-stage (or iterated) adaptive BH on ascending p-values, as statsmodels computes it.

    Parameters
    ----------
    values : ndarray
        Ascending p-values in [0, 1], no NaN.
    alpha : float
        The FDR level.
    variant : {'bh', 'bky'}
        ``'bky'``: Benjamini–Krieger–Yekutieli (level alpha/(1 + alpha) in both stages);
        ``'bh'``: alpha in both stages.
    maxiter : int
        Re-estimation rounds of m0 after the first stage (statsmodels' ``maxiter``): 1 is the
        two-stage procedure, 0 the first stage alone, larger values iterate until the number of
        rejections stops growing.

    Returns
    -------
    adjusted : ndarray
        float64 adjusted p-values (alpha-specific), in the order of ``values``.
    m0 : float
        The estimated number of true nulls used in the last stage (m when r1 is 0 or m).
    """
    values = np.asarray(values, dtype=np.float64)
    m = values.size
    if m == 0:
        return np.empty(0, dtype=np.float64), 0.0
    ecdf = np.arange(1, m + 1) / float(m)
    if variant == "bky":
        fact = 1.0 + alpha
        alpha_prime = alpha / fact
    else:
        fact = 1.0
        alpha_prime = alpha
    bh = np.minimum.accumulate((values / ecdf)[::-1])[::-1]
    bh[bh > 1] = 1.0
    r1 = _bh_count(values, ecdf, alpha_prime)
    if r1 in (0, m):
        return np.minimum(bh * fact, 1.0), float(m)
    r_old = r1
    m0 = float(m)
    for it in range(maxiter):
        m0 = np.float64(m) - r_old
        with np.errstate(divide="ignore"):  # iterating can reach m0 = 0: level inf, all rejected
            r = _bh_count(values, ecdf, alpha_prime * m / m0)
        if it >= maxiter - 1 or r == r_old:
            break
        r_old = r  # BH rejections grow with the level, so r > r_old here
    adjusted = bh * float(m0 * 1.0 / m)
    if variant == "bky":
        adjusted *= 1.0 + alpha
    return np.minimum(adjusted, 1.0), float(m0)


def _tsbh_adjust_sorted(values, k, alpha):
    return two_stage_sorted(values, alpha, "bh")[0]


def _tsbky_adjust_sorted(values, k, alpha):
    return two_stage_sorted(values, alpha, "bky")[0]


@dataclass(frozen=True, kw_only=True)
class InflatedLevelProcedure(SpecialProcedure):
    """A SpecialProcedure whose proven bound when run at alpha is ``level_bound(alpha)`` > alpha.

    ``fdr_tsbh`` at alpha is ``fdr_tsbky`` at alpha/(1 - alpha), and that is what is proven, so
    its ``Guarantee`` states that level, not alpha.

    Attributes
    ----------
    level_bound : callable
        ``alpha -> level`` at which the error rate is proven to be controlled.
    bound_text : str
        The same in words, e.g. ``'alpha/(1 - alpha)'``.
    """

    level_bound: Callable
    bound_text: str

    def __post_init__(self):
        super().__post_init__()
        if not callable(self.level_bound):
            raise ValueError(f"level_bound must be callable; got {self.level_bound!r}")

    def guarantee(self, k: int = 1, alpha: float | None = None, subject: str | None = None) -> Guarantee:
        level = None if alpha is None else float(self.level_bound(alpha))
        return Guarantee(error_rate=self.error_rate, dependence=self.dependence, k=int(k),
                         alpha=level, subject=subject)

    @property
    def controls(self) -> str:
        return f"{super().controls}, at level {self.bound_text}"


register(InflatedLevelProcedure(
    name="fdr_tsbh",
    aliases=("fdr_2sbh",),
    error_rate="fdr",
    dependence="independent",
    adjust_sorted=_tsbh_adjust_sorted,
    alpha_dependent=True,
    adjusted_below_p=True,  # BH's values scaled by m0/m < 1
    level_bound=lambda alpha: alpha / (1.0 - alpha),
    bound_text="alpha/(1 - alpha)",
    formula="as `fdr_tsbky` with α in both stages",
    reference="statsmodels fdrcorrection_twostage(method='bh'); equals Benjamini, Krieger & "
              "Yekutieli (2006), Definition 6, at level alpha/(1 - alpha)",
))
register(SpecialProcedure(
    name="fdr_tsbky",
    aliases=("fdr_2sbky", "fdr_twostage", "bky", "two-stage"),
    error_rate="fdr",
    dependence="independent",
    adjust_sorted=_tsbky_adjust_sorted,
    alpha_dependent=True,
    adjusted_below_p=True,  # BH's values scaled by m0/m < 1
    formula="BH at α/(1+α); then BH at α/(1+α)·m/m̂₀, m̂₀ = m − r₁",
    reference="Benjamini, Krieger & Yekutieli (2006), Definition 6 and Theorem 2",
))


def _gbs_raw(values, ranks, m, k):
    values = np.asarray(values, dtype=np.float64)
    ranks = np.asarray(ranks)
    with np.errstate(divide="ignore"):  # p = 1 gives +inf, capped at 1 by the engine
        # statsmodels' operations in its order, so the adjusted values agree bit for bit
        return (m + 1.0 - ranks) / ranks * values / (1.0 - values)


def _gbs_guess(ranks, m, k, alpha):
    ranks = np.asarray(ranks, dtype=np.float64)
    return ranks * alpha / (m + 1.0 - ranks * (1.0 - alpha))


register(StepwiseProcedure(
    name="fdr_gbs",
    aliases=("gbs", "gavrilov-benjamini-sarkar"),
    step="down",
    error_rate="fdr",
    dependence="independent",
    raw=_gbs_raw,
    critical_guess=_gbs_guess,
    adjusted_below_p=True,  # ((m + 1 - i)/i) p/(1 - p) < p at high ranks
    formula="((m + 1 − i)/i) p/(1 − p)",
    reference="Gavrilov, Benjamini & Sarkar (2009), Theorem 1",
))
