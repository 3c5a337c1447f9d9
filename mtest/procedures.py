"""The built-in procedures: Bonferroni, Holm, Lehmann–Romano k-FWER, Šidák, Holm–Šidák,
Hochberg, Hommel, Benjamini–Hochberg and Benjamini–Yekutieli, with the statsmodels and R aliases.

Each is registered in ``mtest.registry`` with the error rate it controls and the dependence
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

from . import _small
from ._lazy import kernels_module
from .registry import SpecialProcedure, StepwiseProcedure, mark_builtin, register

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["harmonic_number"]

#: the transforms that the full-sort kernels evaluate themselves (``mtest._stepwise.raw_form``),
#: by identity: function -> ``form(m, k) -> (name, c, a)``. Not an attribute of the function,
#: which ``functools.wraps`` would copy onto a user's wrapper that computes something else
_KERNEL_FORMS: dict = {}


def _declare_kernel_form(raw, form) -> None:
    _KERNEL_FORMS[id(raw)] = (raw, form)


def kernel_form(raw):
    """``form(m, k) -> (name, c, a)`` when ``raw`` is itself (not a wrapper or copy of) a
    built-in transform whose operations the full-sort kernels repeat (mtest._kernels._raw_at);
    else None."""
    entry = _KERNEL_FORMS.get(id(raw))
    return entry[1] if entry is not None and entry[0] is raw else None


def _bonferroni_raw(values, ranks, m, k):
    return np.asarray(values, dtype=np.float64) * (m / k)


def _holm_raw(values, ranks, m, k):
    return values * (m - ranks + 1).astype(np.float64)


# the forms the full-sort kernels evaluate themselves, operation for operation as the numpy
# transforms above and below (kernel_form; tests compare them bit for bit)
_declare_kernel_form(_holm_raw, lambda m, k: ("count", 0.0, m + 1))


def _lr_factor(ranks, m, k):
    ranks = np.asarray(ranks)
    # c_i = m/k for i <= k, (m + k - i)/k after  (Lehmann & Romano 2005, Thm 2.2)
    return np.where(ranks <= k, m / k, (m + k - ranks) / k)


def _lr_raw(values, ranks, m, k):
    return values * _lr_factor(ranks, m, k)


_declare_kernel_form(_lr_raw, lambda m, k: ("lehmann_romano", m / k, m + k))


register(StepwiseProcedure(
    name="bonferroni",
    aliases=("b", "bonf"),
    step="single",
    error_rate="kfwer",
    dependence="arbitrary",
    raw=_bonferroni_raw,
    critical_guess=lambda rank, m, k, alpha: np.full(np.shape(rank), k * alpha / m),
    formula="(m/k) p",
    reference="Bonferroni (1936); k-FWER: Lehmann & Romano (2005), Thm 2.1",
))
register(StepwiseProcedure(
    name="holm",
    aliases=("h", "holm-bonferroni"),
    step="down",
    error_rate="fwer",
    dependence="arbitrary",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    formula="(m − i + 1) p",
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
    formula="(m/k) p for i ≤ k, ((m + k − i)/k) p after",
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


_declare_kernel_form(_bh_raw, lambda m, k: ("over_rank", m, 0))


#: terms per chunk of the harmonic sum (bounds its memory for huge m)
_HARMONIC_CHUNK = 1 << 20


@lru_cache(maxsize=64)
def harmonic_number(m: int) -> float:
    """sum(1/(1:m)) exactly as R's ``p.adjust`` computes it for BY: the reciprocals in double,
    added in order in a long double accumulator (R's ``rsum``), rounded once to double.

    ``np.sum`` would add pairwise and in long double throughout, which differs from R in the
    last digit for some m (19, 26, 39, ...). Where long double is double (some platforms), the
    sum is sequential in double, as R's own build there does.
    """
    total = np.longdouble(0.0)
    for start in range(1, m + 1, _HARMONIC_CHUNK):
        terms = 1.0 / np.arange(start, min(m, start + _HARMONIC_CHUNK - 1) + 1, dtype=np.float64)
        # cumsum adds strictly left to right (np.sum would add pairwise)
        total = np.cumsum(np.concatenate(([total], terms.astype(np.longdouble))))[-1]
    return float(total)


def _by_raw(values, ranks, m, k):
    q = harmonic_number(m)
    return ((q * m) / np.asarray(ranks, dtype=np.float64)) * values  # R: q * n/i * p


_declare_kernel_form(_by_raw, lambda m, k: ("over_rank", harmonic_number(m) * m, 0))


def _hommel_adjust_sorted(values, k):
    m = values.size
    if m <= 1:
        return values.copy()
    if m == 2:  # R's p.adjust switches to Hochberg for n == 2
        raw = _holm_raw(values, np.arange(1, 3), 2, 1)
        return np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
    if m < _small.HOMMEL_BELOW:  # the same loop in Python: no kernel to compile or load
        return _small.hommel_sorted(values)
    return _kernels.hommel_sorted(np.ascontiguousarray(values, dtype=np.float64))


register(StepwiseProcedure(
    name="sidak",
    aliases=("s", "šidák"),
    step="single",
    error_rate="fwer",
    dependence="positive-orthant",
    raw=_sidak_raw,
    critical_guess=lambda rank, m, k, alpha: np.full(np.shape(rank), -np.expm1(np.log1p(-alpha) / m)),
    formula="1 − (1 − p)^m",
    reference="Šidák (1967); positive orthant dependence: Holland & Copenhaver (1987)",
))
register(StepwiseProcedure(
    name="holm-sidak",
    aliases=("hs", "holm-šidák"),
    step="down",
    error_rate="fwer",
    dependence="positive-orthant",
    raw=_holm_sidak_raw,
    critical_guess=lambda rank, m, k, alpha: -np.expm1(np.log1p(-alpha) / (m - np.asarray(rank) + 1)),
    formula="1 − (1 − p)^(m − i + 1)",
    reference="Holm (1979) with Šidák's constants; Holland & Copenhaver (1987)",
))
register(StepwiseProcedure(
    name="hochberg",
    aliases=("sh", "simes-hochberg"),
    step="up",
    error_rate="fwer",
    dependence="prds",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    formula="(m − i + 1) p",
    reference="Hochberg (1988); PRDS: Simes' inequality, Sarkar (1998, 2008)",
))
register(SpecialProcedure(
    name="hommel",
    aliases=("ho",),
    error_rate="fwer",
    dependence="prds",
    adjust_sorted=_hommel_adjust_sorted,
    formula="closed Simes tests (R's values, O(m) after sorting)",
    reference="Hommel (1988); in O(m) after sorting: Meijer, Krebs & Goeman (2019); PRDS: Simes' "
              "inequality, Sarkar (1998, 2008)",
))
register(StepwiseProcedure(
    name="fdr_bh",
    aliases=("bh", "fdr", "benjamini-hochberg", "fdr_i", "fdr_p", "fdri", "fdrp"),
    step="up",
    error_rate="fdr",
    dependence="prds",
    raw=_bh_raw,
    critical_guess=lambda rank, m, k, alpha: alpha * np.asarray(rank, dtype=np.float64) / m,
    formula="(m/i) p",
    reference="Benjamini & Hochberg (1995); PRDS: Benjamini & Yekutieli (2001), Thm 1.2",
))
register(StepwiseProcedure(
    name="fdr_by",
    aliases=("by", "benjamini-yekutieli", "fdr_n", "fdr_c", "fdrn", "fdrcorr"),
    step="up",
    error_rate="fdr",
    dependence="arbitrary",
    raw=_by_raw,
    critical_guess=lambda rank, m, k, alpha: alpha * np.asarray(rank, dtype=np.float64)
    / (m * harmonic_number(m)),
    formula="(Σ_j 1/j) (m/i) p",
    reference="Benjamini & Yekutieli (2001), Thm 1.3",
))

from . import procedures_fdr  # noqa: E402,F401
mark_builtin()
