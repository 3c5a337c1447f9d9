"""The built-in procedures: Bonferroni, Holm, Lehmann–Romano k-FWER, Šidák, Holm–Šidák,
Hochberg, Hommel, Benjamini–Hochberg and Benjamini–Yekutieli, with the statsmodels and R aliases.

Each is registered in :mod:`mtest.registry` with the error rate it controls and the dependence
under which it does (see docs/procedures.md, generated from this registry). Definitions follow
``docs/theory.md``; notation: m tested hypotheses, sorted p-values p(1) <= ... <= p(m).

References
----------
.. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
       Scandinavian Journal of Statistics 6(2), 65-70.
.. [2] Lehmann, E. L. and Romano, J. P. (2005). Generalizations of the familywise error rate.
       Annals of Statistics 33(3), 1138-1154.
.. [3] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
       randomized smoothing. ICML. §5, §5.2, App. B.2.
.. [4] Benjamini, Y. and Yekutieli, D. (2001). The control of the false discovery rate in
       multiple testing under dependency. Annals of Statistics 29(4), 1165-1188.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import _kernels
from .registry import SpecialProcedure, StepwiseProcedure, mark_builtin, register

__all__: list[str] = []


def _bonferroni_raw(values, ranks, m, k):
    return np.asarray(values, dtype=np.float64) * (m / k)


def _holm_raw(values, ranks, m, k):
    return values * (m - ranks + 1).astype(np.float64)


def _lr_factor(ranks, m, k):
    ranks = np.asarray(ranks)
    # c_i = m/k for i <= k, (m + k - i)/k after  (Lehmann & Romano 2005, Thm 2.2)
    return np.where(ranks <= k, m / k, (m + k - ranks) / k)


def _lr_raw(values, ranks, m, k):
    return values * _lr_factor(ranks, m, k)


register(StepwiseProcedure(
    name="bonferroni",
    aliases=("b", "bonf"),
    step="single",
    error_rate="kfwer",
    dependence="arbitrary",
    raw=_bonferroni_raw,
    critical_guess=lambda rank, m, k, alpha: np.full(np.shape(rank), k * alpha / m),
    reference="Bonferroni (1936); k-FWER form: Lehmann & Romano (2005), Thm 2.1",
))
register(StepwiseProcedure(
    name="holm",
    aliases=("h", "holm-bonferroni"),
    step="down",
    error_rate="fwer",
    dependence="arbitrary",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    reference="Holm (1979); paper §5",
))
register(StepwiseProcedure(
    name="lehmann-romano",
    aliases=("lr", "kfwer", "k-fwer", "lehmann_romano"),
    step="down",
    error_rate="kfwer",
    dependence="arbitrary",
    raw=_lr_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / _lr_factor(rank, m, k),
    reference="Lehmann & Romano (2005), Thm 2.2; paper §5.2 and App. B.2",
))


def _log1m(values):
    with np.errstate(divide="ignore"):  # p = 1 gives log 0 = -inf, and then exactly 1 below
        return np.log1p(-np.asarray(values, dtype=np.float64))


def _sidak_raw(values, ranks, m, k):
    # -expm1(m log1p(-p)) = 1 - (1 - p)^m without cancellation (statsmodels' form)
    return -np.expm1(m * _log1m(values))


def _holm_sidak_raw(values, ranks, m, k):
    return -np.expm1((m - np.asarray(ranks) + 1) * _log1m(values))


def _bh_raw(values, ranks, m, k):
    return (m / np.asarray(ranks, dtype=np.float64)) * values  # R: n/i * p


@lru_cache(maxsize=64)
def _harmonic(m: int) -> float:
    # R's sum() accumulates in long double; so does this (then rounds once to double)
    return float(np.sum(1.0 / np.arange(1, m + 1, dtype=np.longdouble)))


def _by_raw(values, ranks, m, k):
    q = _harmonic(m)
    return ((q * m) / np.asarray(ranks, dtype=np.float64)) * values  # R: q * n/i * p


def _hommel_adjust_sorted(values, k):
    m = values.size
    if m <= 1:
        return values.copy()
    if m == 2:  # R's p.adjust switches to Hochberg for n == 2
        raw = _holm_raw(values, np.arange(1, 3), 2, 1)
        return np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
    return _kernels.hommel_sorted(np.ascontiguousarray(values, dtype=np.float64))


register(StepwiseProcedure(
    name="sidak",
    aliases=("s", "šidák"),
    step="single",
    error_rate="fwer",
    dependence="positive-orthant",
    raw=_sidak_raw,
    critical_guess=lambda rank, m, k, alpha: np.full(np.shape(rank), -np.expm1(np.log1p(-alpha) / m)),
    reference="Šidák (1967)",
))
register(StepwiseProcedure(
    name="holm-sidak",
    aliases=("hs", "holm-šidák"),
    step="down",
    error_rate="fwer",
    dependence="positive-orthant",
    raw=_holm_sidak_raw,
    critical_guess=lambda rank, m, k, alpha: -np.expm1(np.log1p(-alpha) / (m - np.asarray(rank) + 1)),
    reference="Holm (1979) with Šidák's constants",
))
register(StepwiseProcedure(
    name="hochberg",
    aliases=("sh", "simes-hochberg"),
    step="up",
    error_rate="fwer",
    dependence="prds",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    reference="Hochberg (1988)",
))
register(SpecialProcedure(
    name="hommel",
    aliases=("ho",),
    error_rate="fwer",
    dependence="prds",
    adjust_sorted=_hommel_adjust_sorted,
    reference="Hommel (1988); in O(m) after sorting: Meijer, Krebs & Goeman (2019)",
))
register(StepwiseProcedure(
    name="fdr_bh",
    aliases=("bh", "fdr", "benjamini-hochberg", "fdr_i", "fdr_p", "fdri", "fdrp"),
    step="up",
    error_rate="fdr",
    dependence="prds",
    raw=_bh_raw,
    critical_guess=lambda rank, m, k, alpha: alpha * np.asarray(rank, dtype=np.float64) / m,
    reference="Benjamini & Hochberg (1995)",
))
register(StepwiseProcedure(
    name="fdr_by",
    aliases=("by", "benjamini-yekutieli", "fdr_n", "fdr_c", "fdrn", "fdrcorr"),
    step="up",
    error_rate="fdr",
    dependence="arbitrary",
    raw=_by_raw,
    critical_guess=lambda rank, m, k, alpha: alpha * np.asarray(rank, dtype=np.float64)
    / (m * _harmonic(m)),
    reference="Benjamini & Yekutieli (2001), Thm 1.3",
))

mark_builtin()
