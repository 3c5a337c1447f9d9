"""Family-wise error rate procedures: Bonferroni, Holm, Lehmann–Romano k-FWER, one registry.

Definitions follow ``docs/theory.md`` and the paper (Fischer et al., ICML 2021, §5 "Multiple
Hypothesis Testing" and §5.2 "Extensions to k-FWER"). Notation: m tested hypotheses (NaN under
``nan_policy='omit'`` is not tested and does not count), sorted p-values p(1) <= ... <= p(m).

Every procedure is written as a *transform* ``g_i(p)``, the raw adjusted p-value of the i-th
smallest p-value (e.g. Holm: ``(m - i + 1) * p``). Adjusted p-values are the running maximum
(step-down) or the running minimum from the top (step-up) of ``min(1, g_i(p(i)))`` — R's
``p.adjust`` to the last digit — and a hypothesis is rejected exactly when its adjusted p-value
is ``<= alpha``. The critical value ``alpha_i`` used by the fast rejection path is the largest
double ``t`` with ``g_i(t) <= alpha``, so the fast path and the adjusted p-values cannot disagree
by a rounding error.

References
----------
.. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
       Scandinavian Journal of Statistics 6(2), 65-70.
.. [2] Lehmann, E. L. and Romano, J. P. (2005). Generalizations of the familywise error rate.
       Annals of Statistics 33(3), 1138-1154.
.. [3] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
       randomized smoothing. ICML. §5, §5.2, App. B.2.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Callable

import numpy as np

from . import _kernels
from ._validation import as_pvalues, check_alpha, check_k

__all__ = [
    "MultipleTestResult",
    "Procedure",
    "PROCEDURES",
    "get_procedure",
    "register",
    "bonferroni",
    "holm",
    "lehmann_romano",
    "reject",
    "reject_table",
    "reject_table_rows",
    "RowsResult",
    "adjust",
]

#: counting passes of the rejection fast path before it sorts the undecided candidates
_MAX_COUNTING_PASSES = 8


@dataclass(frozen=True)
class Procedure:
    """A multiple-testing procedure in transform form.

    Attributes
    ----------
    name : str
        Canonical name (what results report).
    aliases : tuple of str
        Other names accepted by :func:`get_procedure` (statsmodels and R spellings).
    step : {'single', 'down', 'up', 'special'}
        Single-step, step-down (running max), step-up (running min from the top), or a
        procedure with its own ``adjust_sorted`` (Hommel).
    controls : str
        The error rate it controls and under which dependence, in words.
    raw : callable
        ``raw(values, ranks, m, k)``: float64 raw adjusted values of sorted p-values at
        1-based ``ranks``; nondecreasing in the value and nonincreasing in the rank.
    critical_guess : callable
        ``critical_guess(rank, m, k, alpha)``: the inverse of ``raw`` at ``alpha`` up to rounding.
    uses_k : bool
        Whether the procedure takes ``k`` (k-FWER: P(k or more false rejections) <= alpha).
    """

    name: str
    aliases: tuple
    step: str
    controls: str
    raw: Callable
    critical_guess: Callable
    uses_k: bool = False
    adjust_sorted: Callable | None = None
    reference: str = ""


PROCEDURES: dict[str, Procedure] = {}
_ALIASES: dict[str, str] = {}


def register(procedure: Procedure) -> Procedure:
    """Add ``procedure`` to the registry under its name and aliases (case-insensitive)."""
    PROCEDURES[procedure.name] = procedure
    for alias in (procedure.name, *procedure.aliases):
        _ALIASES[alias.lower()] = procedure.name
    return procedure


def get_procedure(method: Any) -> Procedure:
    """Look up a procedure by name or alias; ``ValueError`` lists the valid names."""
    if isinstance(method, Procedure):
        return method
    if isinstance(method, str) and method.lower() in _ALIASES:
        return PROCEDURES[_ALIASES[method.lower()]]
    names = ", ".join(repr(n) for n in PROCEDURES)
    raise ValueError(
        f"method ({method!r}) not recognized; use one of {names} "
        f"(aliases: {', '.join(sorted(a for a in _ALIASES if a not in PROCEDURES))})")


# --- the procedures of this module ------------------------------------------------------------

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


register(Procedure(
    name="bonferroni",
    aliases=("b", "bonf"),
    step="single",
    controls="FWER (k-FWER with k > 1) under any dependence",
    raw=_bonferroni_raw,
    critical_guess=lambda rank, m, k, alpha: np.full(np.shape(rank), k * alpha / m),
    uses_k=True,
    reference="Bonferroni (1936); k-FWER form: Lehmann & Romano (2005), Thm 2.1",
))
register(Procedure(
    name="holm",
    aliases=("h", "holm-bonferroni"),
    step="down",
    controls="FWER under any dependence",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    reference="Holm (1979); paper §5",
))
register(Procedure(
    name="lehmann-romano",
    aliases=("lr", "kfwer", "k-fwer", "lehmann_romano"),
    step="down",
    controls="k-FWER, P(k or more false rejections), under any dependence",
    raw=_lr_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / _lr_factor(rank, m, k),
    uses_k=True,
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


register(Procedure(
    name="sidak",
    aliases=("s", "šidák"),
    step="single",
    controls="FWER under independence or positive orthant dependence",
    raw=_sidak_raw,
    critical_guess=lambda rank, m, k, alpha: np.full(np.shape(rank), -np.expm1(np.log1p(-alpha) / m)),
    reference="Šidák (1967)",
))
register(Procedure(
    name="holm-sidak",
    aliases=("hs", "holm-šidák"),
    step="down",
    controls="FWER under independence or positive orthant dependence",
    raw=_holm_sidak_raw,
    critical_guess=lambda rank, m, k, alpha: -np.expm1(np.log1p(-alpha) / (m - np.asarray(rank) + 1)),
    reference="Holm (1979) with Šidák's constants",
))
register(Procedure(
    name="hochberg",
    aliases=("sh", "simes-hochberg"),
    step="up",
    controls="FWER under independence and positive regression dependence (PRDS); not under "
             "arbitrary dependence",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    reference="Hochberg (1988)",
))
register(Procedure(
    name="hommel",
    aliases=("ho",),
    step="special",
    controls="FWER under independence and positive regression dependence (PRDS); not under "
             "arbitrary dependence",
    raw=_holm_raw,
    critical_guess=lambda rank, m, k, alpha: alpha / (m - np.asarray(rank) + 1),
    adjust_sorted=_hommel_adjust_sorted,
    reference="Hommel (1988); R p.adjust's algorithm, O(m^2)",
))
register(Procedure(
    name="fdr_bh",
    aliases=("bh", "fdr", "benjamini-hochberg", "fdr_i", "fdr_p", "fdri", "fdrp"),
    step="up",
    controls="FDR under independence and positive regression dependence (PRDS)",
    raw=_bh_raw,
    critical_guess=lambda rank, m, k, alpha: alpha * np.asarray(rank, dtype=np.float64) / m,
    reference="Benjamini & Hochberg (1995)",
))
register(Procedure(
    name="fdr_by",
    aliases=("by", "benjamini-yekutieli", "fdr_n", "fdr_c", "fdrn", "fdrcorr"),
    step="up",
    controls="FDR under any dependence",
    raw=_by_raw,
    critical_guess=lambda rank, m, k, alpha: alpha * np.asarray(rank, dtype=np.float64)
    / (m * _harmonic(m)),
    reference="Benjamini & Yekutieli (2001), Thm 1.3",
))


# --- exact critical values ---------------------------------------------------------------------

def _critical_values(proc: Procedure, ranks, m: int, k: int, alpha: float) -> np.ndarray:
    """For each rank i: the largest double t in [0, 1] with raw_i(t) <= alpha.

    Starts from the procedure's closed-form inverse and moves by single ulps, so that
    ``p <= critical`` and ``raw(p) <= alpha`` agree for every double p (raw(0) = 0 <= alpha).
    """
    ranks = np.atleast_1d(np.asarray(ranks, dtype=np.int64))
    guess = proc.critical_guess(ranks, m, k, alpha)
    t = np.clip(np.broadcast_to(np.asarray(guess, dtype=np.float64), ranks.shape), 0.0, 1.0).copy()
    ok = proc.raw(t, ranks, m, k) <= alpha
    down = ~ok  # too large: step down until it passes
    while down.any():
        t[down] = np.nextafter(t[down], -1.0)
        down[down] = ~(proc.raw(t[down], ranks[down], m, k) <= alpha) & (t[down] > 0.0)
    up = ok & (t < 1.0)  # passes: step up while the next double passes too
    while up.any():
        nxt = np.nextafter(t[up], 2.0)
        step = proc.raw(nxt, ranks[up], m, k) <= alpha
        idx = np.flatnonzero(up)
        t[idx[step]] = nxt[step]
        up[idx[~step]] = False
        up &= t < 1.0
    return t


def _critical(proc: Procedure, rank: int, m: int, k: int, alpha: float) -> float:
    """Scalar form of :func:`_critical_values`."""
    return float(_critical_values(proc, rank, m, k, alpha)[0])


# --- results ------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class MultipleTestResult:
    """Outcome of a multiple-testing procedure.

    Attributes
    ----------
    reject : ndarray of bool or pandas.Series
        Same shape as the input (same index for a Series); ``True`` where the null is rejected.
    threshold : float
        Every tested p-value ``<= threshold`` is rejected and every one above it is not.
        NaN when nothing was tested.
    n_rejected : int
        Number of rejections.
    n_tests : int
        Number of hypotheses tested (NaN excluded under ``nan_policy='omit'``).
    method, alpha, k
        The procedure's canonical name and the parameters it ran with.
    pvalues_adjusted : ndarray or pandas.Series
        Adjusted p-values (R ``p.adjust`` semantics), computed on first access only.
        ``reject == (pvalues_adjusted <= alpha)`` holds exactly.
    """

    reject: Any
    threshold: float
    n_rejected: int
    n_tests: int
    method: str
    alpha: float
    k: int = 1
    _source: tuple = field(default=(), compare=False)

    @cached_property
    def pvalues_adjusted(self):
        flat, shape, index, n_nan = self._source
        adjusted = _adjusted_flat(flat, get_procedure(self.method), self.k, n_nan)
        return _wrap(adjusted, shape, index)

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k != 1 else ""
        return (f"MultipleTestResult(method={self.method!r}, alpha={self.alpha}{k}, "
                f"n_tests={self.n_tests}, n_rejected={self.n_rejected}, "
                f"threshold={self.threshold!r})")


def _wrap(flat: np.ndarray, shape, index):
    out = flat.reshape(shape)
    if index is not None:
        import pandas as pd

        return pd.Series(out, index=index)
    return out


# --- algorithms ---------------------------------------------------------------------------------

def _decide_sorted(values: np.ndarray, mult: np.ndarray | None, first_rank: int,
                   proc: Procedure, m: int, k: int, alpha: float) -> int:
    """Number of rejections among ascending ``values`` (blocks of ``mult`` ties) that start at
    sorted rank ``first_rank`` and whose predecessors are all rejected (step-down) or are all
    the smaller p-values (step-up). Returns the count rejected within ``values``."""
    if values.size == 0:
        return 0
    if mult is None:
        starts = first_rank + np.arange(values.size, dtype=np.int64)
        ends = starts
        sizes = None
    else:
        ends = first_rank - 1 + np.cumsum(mult, dtype=np.int64)
        starts = ends - mult + 1
        sizes = mult
    if proc.step == "down":
        # a tied block passes iff its first member passes (critical values grow with rank)
        ok = proc.raw(values.astype(np.float64, copy=False), starts, m, k) <= alpha
        fail = np.flatnonzero(~ok)
        n_blocks = fail[0] if fail.size else values.size
    elif proc.step == "up":
        # the largest rank that passes decides; within a tie block the last member is best
        ok = proc.raw(values.astype(np.float64, copy=False), ends, m, k) <= alpha
        hit = np.flatnonzero(ok)
        n_blocks = hit[-1] + 1 if hit.size else 0
    else:  # single step
        ok = proc.raw(values.astype(np.float64, copy=False), starts, m, k) <= alpha
        n_blocks = int(np.count_nonzero(ok))
        if sizes is None:
            return n_blocks
        return int(sizes[ok].sum())
    return int(n_blocks if sizes is None else sizes[:n_blocks].sum())


def _n_rejected_stepdown(flat: np.ndarray, proc: Procedure, m: int, k: int, alpha: float) -> int:
    """Step-down rejections in the counting form: no full sort (see docs/performance.md)."""
    i = 1
    lo = -1.0
    for _ in range(_MAX_COUNTING_PASSES):
        t = _critical(proc, i, m, k, alpha)
        count = _kernels.count_le(flat, t)
        if count < i:
            return i - 1
        if count >= m:
            return m
        lo, i = t, count + 1
    # still advancing: sort only the undecided candidates lo < p <= alpha_m
    hi = _critical(proc, m, m, k, alpha)
    _, n_mid = _kernels.count_le_between(flat, lo, hi)
    candidates = np.sort(_kernels.gather_between(flat, lo, hi, n_mid))
    return i - 1 + _decide_sorted(candidates, None, i, proc, m, k, alpha)


def _n_rejected_stepup(flat: np.ndarray, proc: Procedure, m: int, k: int, alpha: float) -> int:
    """Step-up rejections r = max{i : p(i) <= alpha_i} in the counting form, from the top.

    If F(alpha_i) < i, no j in (F(alpha_i), i] can pass either (alpha_j <= alpha_i), so the next
    candidate is i = F(alpha_i); stop at the first i with F(alpha_i) >= i. Still descending after a
    few passes: sort only the p-values <= alpha_i, which hold every remaining candidate rank.
    """
    i = m
    for _ in range(_MAX_COUNTING_PASSES):
        count = _kernels.count_le(flat, _critical(proc, i, m, k, alpha))
        if count >= i:
            return i
        if count == 0:
            return 0
        i = count
    hi = _critical(proc, i, m, k, alpha)
    _, n_low = _kernels.count_le_between(flat, -1.0, hi)
    candidates = np.sort(_kernels.gather_between(flat, -1.0, hi, n_low))
    return _decide_sorted(candidates, None, 1, proc, m, k, alpha)


def _n_rejected(flat: np.ndarray, proc: Procedure, m: int, k: int, alpha: float) -> int:
    if m == 0:
        return 0
    if proc.step == "single":
        return _kernels.count_le(flat, _critical(proc, 1, m, k, alpha))
    if proc.step == "down":
        return _n_rejected_stepdown(flat, proc, m, k, alpha)
    return _n_rejected_stepup(flat, proc, m, k, alpha)


def _threshold(proc: Procedure, r: int, m: int, k: int, alpha: float, smallest=None) -> float:
    """A t with {p <= t} equal to the rejection set, given r rejections.

    Single-step, step-down and step-up: the critical value alpha_max(r,1). (Step-up: exactly r
    p-values are <= alpha_r, else a larger rank would pass; with r = 0, none is <= alpha_1.)
    Other procedures (Hommel): the r-th smallest p-value from ``smallest(j)`` (1-based), or just
    below the smallest.
    """
    if m == 0:
        return float("nan")
    if proc.step in ("single", "down", "up"):
        return _critical(proc, max(r, 1), m, k, alpha)
    if r == 0:
        return float(np.nextafter(smallest(1), -1.0))
    return float(smallest(r))


#: above this size argsort runs as two halves on two threads (numpy releases the GIL) plus a merge
_PARALLEL_SORT_MIN = 1_000_000


def _sort_packed(values: np.ndarray):
    """Argsort of p-values in [0, 1] (no NaN) through one ``np.sort`` of uint64 keys.

    The key holds the top bits of the value and the element's index, so numpy's vectorized integer
    sort does the work; elements whose truncated keys tie are put in order by an insertion pass.
    Returns None (caller falls back) if that pass would need more than 8 moves per element.
    """
    index_bits = max(1, int(values.size - 1).bit_length())
    bits = values.astype(np.float64, copy=False).view(np.uint64)
    keys = _kernels.pack_keys(bits, 64 - index_bits, index_bits)
    if (os.cpu_count() or 1) >= 2:
        # two halves sorted on two threads (numpy's sort releases the GIL), then one merge
        from concurrent.futures import ThreadPoolExecutor

        half = keys.size // 2
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(np.ndarray.sort, (keys[:half], keys[half:])))
        keys = _kernels.merge_u64(keys[:half], keys[half:])
    else:
        keys.sort()
    order = np.empty(values.size, dtype=np.int64)
    ordered = np.empty(values.size, dtype=np.float64)
    _kernels.unpack_order(keys, index_bits, values.astype(np.float64, copy=False), order, ordered)
    del keys
    if not _kernels.insertion_fix(ordered, order, 8 * values.size):
        return None
    return ordered, order


def _sort_with_order(values: np.ndarray, n_nan: int = -1):
    """(sorted values as float64, argsort order), NaN last; fast paths for large inputs.

    Without NaN (``n_nan == 0``): one vectorized sort of packed uint64 keys (:func:`_sort_packed`).
    Otherwise, or when that gives up: two halves argsorted on two threads, then merged.
    """
    if values.size >= _PARALLEL_SORT_MIN and n_nan == 0 and values.size < 2**40:
        packed = _sort_packed(values)
        if packed is not None:
            return packed
    if values.size < _PARALLEL_SORT_MIN or (os.cpu_count() or 1) < 2:
        order = np.argsort(values)
        return values[order].astype(np.float64, copy=False), order
    from concurrent.futures import ThreadPoolExecutor

    def run(part):
        order = np.argsort(part)
        return part[order], order

    half = values.size // 2
    with ThreadPoolExecutor(2) as pool:
        left = pool.submit(run, values[:half])
        right = pool.submit(run, values[half:])
        (lv, li), (rv, ri) = left.result(), right.result()
    ri += half
    return _kernels.merge_sorted(lv, li, rv, ri)


def _stepdown_cutoff(flat: np.ndarray, proc: Procedure, m: int, k: int):
    """A cutoff t such that every p >= t has step-down adjusted p-value exactly 1, and the number
    of p < t; ``None`` when no cutoff leaves out at least half of the p-values.

    If F = #{p < t} and g_{F+1}(t) >= 1, the (F+1)-th smallest p-value already has a raw adjusted
    value >= 1 (g is monotone in p), and the running maximum keeps every later one at 1.
    """
    t = 1.0 / m
    while True:
        below = _kernels.count_le(flat, float(np.nextafter(t, -1.0)))
        if below > m // 2:
            return None
        if below < m and proc.raw(np.array([t]), np.array([below + 1]), m, k)[0] >= 1.0:
            return t, below
        if t >= 1.0:
            return None
        t = min(1.0, 2.0 * t)


def _adjusted_flat(flat: np.ndarray, proc: Procedure, k: int, n_nan: int) -> np.ndarray:
    """Adjusted p-values in input order (float64), NaN where the input is NaN."""
    m = flat.size - n_nan
    out = np.empty(flat.size, dtype=np.float64)
    if proc.step == "single":
        np.minimum(proc.raw(flat.astype(np.float64, copy=False), None, m, k), 1.0, out=out)
        return out
    cut = _stepdown_cutoff(flat, proc, m, k) if proc.step == "down" and m > 0 else None
    if cut is not None:
        # only the p-values below the cutoff need sorting; all others are exactly 1 (or NaN)
        t, below = cut
        idx = _kernels.indices_le(flat, float(np.nextafter(t, -1.0)), below)
        values = flat[idx].astype(np.float64, copy=False)
        order = np.argsort(values)
        raw = proc.raw(values[order], np.arange(1, below + 1, dtype=np.int64), m, k)
        adjusted = np.minimum(np.maximum.accumulate(raw), 1.0)
        _kernels.fill_one_or_nan(flat, out)
        out[idx[order]] = adjusted
        return out
    # NaN sorts last; the order among ties cannot change any value
    values, order = _sort_with_order(flat, n_nan)
    valid = order[:m]
    values = values[:m]
    if proc.step == "special":
        adjusted = proc.adjust_sorted(values, k)
    else:
        raw = proc.raw(values, np.arange(1, m + 1, dtype=np.int64), m, k)
        if proc.step == "down":
            adjusted = np.maximum.accumulate(raw)
        else:
            adjusted = np.minimum.accumulate(raw[::-1])[::-1]
        np.minimum(adjusted, 1.0, out=adjusted)
    out[valid] = adjusted
    out[order[m:]] = np.nan
    return out


def _check_k_for(proc: Procedure, k: Any) -> int:
    k = check_k(k)
    if k != 1 and not proc.uses_k:
        users = ", ".join(repr(p.name) for p in PROCEDURES.values() if p.uses_k)
        raise ValueError(f"k ({k}) is only defined for the k-FWER procedures {users}; "
                         f"method {proc.name!r} takes k=1")
    return k


def _run(pvalues, alpha, method, k, nan_policy) -> MultipleTestResult:
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = _check_k_for(proc, k)
    flat, shape, index, n_nan = as_pvalues(pvalues, nan_policy)
    m = flat.size - n_nan
    if proc.step == "special":
        adjusted = _adjusted_flat(flat, proc, k, n_nan)
        mask = adjusted <= alpha
        r = int(np.count_nonzero(mask))
        values = np.sort(flat)[:m]
        threshold = _threshold(proc, r, m, k, alpha, lambda j: values[j - 1])
        result = MultipleTestResult(_wrap(mask, shape, index), threshold, r, m, proc.name, alpha, k,
                                    (flat, shape, index, n_nan))
        object.__setattr__(result, "pvalues_adjusted", _wrap(adjusted, shape, index))
        return result
    r = _n_rejected(flat, proc, m, k, alpha)
    threshold = _threshold(proc, r, m, k, alpha)
    mask = np.empty(flat.size, dtype=bool)
    if m:
        _kernels.less_equal(flat, threshold, mask)
    else:
        mask[:] = False
    return MultipleTestResult(_wrap(mask, shape, index), threshold, r, m, proc.name, alpha, k,
                              (flat, shape, index, n_nan))


def reject_table(table, index, alpha: float = 0.05, method: str = "holm", *,
                 k: int = 1) -> MultipleTestResult:
    """Multiple testing of discrete p-values given as ``table[index]``, in O(N + len(table)).

    When p-values take few distinct values — binomial tests of counts that share n take n + 1 —
    a histogram of ``index`` replaces the sort: a tied block that starts at sorted rank i is
    rejected by a step-down procedure iff its value passes the i-th critical value. Results equal
    ``reject(table[index], ...)`` exactly. SEGCERTIFY (paper Alg. 2) uses this path.

    Parameters
    ----------
    table : array_like of float
        The distinct possible p-values, in [0, 1], any order.
    index : array_like of int
        Any shape; ``0 <= index < len(table)``. The p-value of component i is ``table[index[i]]``.
    alpha, method, k
        As in :func:`reject`.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> table = mtest.binom_pvalue_table(100, 0.75, "greater")
    >>> count = np.array([[100, 99], [80, 60]])
    >>> mtest.reject_table(table, count, alpha=0.001).reject
    array([[ True,  True],
           [False, False]])
    """
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = _check_k_for(proc, k)
    table_flat, _, _, _ = as_pvalues(table, name="table")
    table_flat = table_flat.astype(np.float64, copy=False)
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise ValueError(f"index must be an integer array; got dtype {index.dtype}")
    shape = index.shape
    flat_index = np.ascontiguousarray(index).reshape(-1)
    m = flat_index.size
    if m and (flat_index.min() < 0 or flat_index.max() >= table_flat.size):
        raise ValueError(f"index must lie in [0, {table_flat.size - 1}]; got values from "
                         f"{flat_index.min()} to {flat_index.max()}")
    pvalues = np.empty(m, dtype=np.float64)
    _kernels.gather(table_flat, flat_index, pvalues)
    if proc.step == "special" or m == 0:
        return _run(pvalues.reshape(shape), alpha, proc, k, "raise")
    mult = np.bincount(flat_index, minlength=table_flat.size)
    present = np.flatnonzero(mult)
    order = np.argsort(table_flat[present], kind="stable")
    values, mults = table_flat[present][order], mult[present][order]
    r = _decide_sorted(values, mults, 1, proc, m, k, alpha)
    threshold = _threshold(proc, r, m, k, alpha)
    mask = np.empty(m, dtype=bool)
    _kernels.less_equal(pvalues, threshold, mask)
    return MultipleTestResult(mask.reshape(shape), threshold, r, m, proc.name, alpha, k,
                              (pvalues, shape, None, 0))


@dataclass(frozen=True)
class RowsResult:
    """Per-row outcome of :func:`reject_table_rows`: rejections and threshold of each row."""

    n_rejected: np.ndarray
    threshold: np.ndarray
    method: str
    alpha: float
    k: int


_MODES = {"single": 0, "down": 1, "up": 2}


def reject_table_rows(table, index, alpha: float = 0.05, method: str = "holm", *,
                      k: int = 1) -> RowsResult:
    """:func:`reject_table` for many independent families at once (rows of a 2-D ``index``).

    Each row is one family of m = ``index.shape[1]`` hypotheses; rows run in parallel in one
    Numba kernel (simulations and power studies). Row ``j`` rejects exactly
    ``table[index[j]] <= threshold[j]``, equal to ``reject_table(table, index[j], ...)``.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> table = mtest.binom_pvalue_table(100, 0.75, "greater")
    >>> mtest.reject_table_rows(table, np.array([[100, 99, 60], [70, 60, 50]]), 0.001).n_rejected
    array([2, 0])
    """
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = _check_k_for(proc, k)
    if proc.step not in _MODES:
        raise ValueError(f"method {proc.name!r} has no row-wise table path; use reject() per row")
    table_flat = as_pvalues(table, name="table")[0].astype(np.float64, copy=False)
    index = np.asarray(index)
    if index.ndim != 2 or index.dtype.kind not in "iu":
        raise ValueError(f"index must be a 2-D integer array (rows = families); got dtype "
                         f"{index.dtype} and shape {index.shape}")
    n_rows, m = index.shape
    if index.size and (index.min() < 0 or index.max() >= table_flat.size):
        raise ValueError(f"index must lie in [0, {table_flat.size - 1}]; got values from "
                         f"{index.min()} to {index.max()}")
    out_r = np.zeros(n_rows, dtype=np.int64)
    out_thr = np.full(n_rows, np.nan)
    if m:
        ranks = np.arange(1, m + 1) if proc.step != "single" else np.array([1])
        crit = _critical_values(proc, ranks, m, k, alpha)
        perm = np.argsort(table_flat, kind="stable")
        _kernels.decide_table_rows(np.ascontiguousarray(index), table_flat, perm, crit,
                                   _MODES[proc.step], out_r, out_thr)
    return RowsResult(n_rejected=out_r, threshold=out_thr, method=proc.name, alpha=alpha, k=k)


# --- public API ---------------------------------------------------------------------------------

def reject(pvalues, alpha: float = 0.05, method: str = "holm", *, k: int = 1,
           nan_policy: str = "raise") -> MultipleTestResult:
    """Apply a registered multiple-testing procedure.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
        p-values in [0, 1], any shape; float32 input is read without an upcast copy.
    alpha : float
        Level in (0, 1).
    method : str
        A name or alias from :data:`PROCEDURES` (e.g. ``'holm'``, ``'bonferroni'``, ``'lr'``).
    k : int
        k of k-FWER (control P(k or more false rejections)); only for k-FWER procedures.
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).

    Returns
    -------
    MultipleTestResult

    Examples
    --------
    >>> import mtest
    >>> res = mtest.reject([0.001, 0.02, 0.04, 0.3], alpha=0.05, method="holm")
    >>> res.reject
    array([ True, False, False, False])
    >>> res.n_rejected, res.threshold
    (1, 0.0125)
    """
    return _run(pvalues, alpha, method, k, nan_policy)


def bonferroni(pvalues, alpha: float = 0.05, k: int = 1, *, nan_policy: str = "raise") -> MultipleTestResult:
    """Bonferroni single-step test: reject p <= k*alpha/m (k = 1: classic FWER control).

    With ``k > 1`` it controls the k-FWER, P(k or more false rejections) <= alpha, under any
    dependence (Lehmann & Romano 2005, Thm 2.1). Adjusted p-values are ``min(1, m*p/k)``.
    The paper's SEGCERTIFYBON and INDIVCLASS use it (§4, §5).

    Parameters
    ----------
    pvalues : array_like or pandas.Series
    alpha : float
    k : int
    nan_policy : {'raise', 'omit'}

    Returns
    -------
    MultipleTestResult

    Examples
    --------
    >>> import mtest
    >>> mtest.bonferroni([0.001, 0.02, 0.04, 0.3]).reject
    array([ True, False, False, False])
    >>> mtest.bonferroni([0.001, 0.02, 0.04, 0.3], k=2).n_rejected
    2
    """
    return _run(pvalues, alpha, "bonferroni", k, nan_policy)


def holm(pvalues, alpha: float = 0.05, *, nan_policy: str = "raise") -> MultipleTestResult:
    """Holm's step-down procedure: critical values alpha/(m - i + 1); FWER <= alpha always.

    Rejects the r smallest p-values where r + 1 is the first sorted index with
    p(i) > alpha/(m - i + 1) [1]_. The paper's SEGCERTIFYHOLM (§5, §6.1). Rejections take a few
    counting passes over the data and no full sort.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
    alpha : float
    nan_policy : {'raise', 'omit'}

    Returns
    -------
    MultipleTestResult

    References
    ----------
    .. [1] Holm, S. (1979). Scand. J. Statist. 6(2), 65-70.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.holm([0.01, 0.04, 0.03, 0.005])
    >>> res.reject
    array([ True, False, False,  True])
    >>> res.pvalues_adjusted
    array([0.03, 0.06, 0.06, 0.02])
    """
    return _run(pvalues, alpha, "holm", 1, nan_policy)


def lehmann_romano(pvalues, k: int, alpha: float = 0.05, *, nan_policy: str = "raise") -> MultipleTestResult:
    """Lehmann–Romano step-down k-FWER procedure: P(k or more false rejections) <= alpha.

    Critical values alpha_i = k*alpha/m for i <= k and k*alpha/(m + k - i) for i > k; valid under
    any dependence [1]_ and the procedure the paper plugs into SEGCERTIFY (§5.2, App. B.2).
    ``k = 1`` is exactly Holm. Note the convention: k counts the false rejections that are *not*
    tolerated ("k or more"); some texts shift it by one. The lenient constants
    k*alpha/(m - i + 1) of the paper's reference script are not proven for arbitrary dependence
    and are not used.

    Parameters
    ----------
    pvalues : array_like or pandas.Series
    k : int
        At least 1.
    alpha : float
    nan_policy : {'raise', 'omit'}

    Returns
    -------
    MultipleTestResult

    References
    ----------
    .. [1] Lehmann, E. L. and Romano, J. P. (2005). Ann. Statist. 33(3), 1138-1154, Thm 2.2.

    Examples
    --------
    >>> import mtest
    >>> p = [0.001, 0.012, 0.02, 0.03, 0.5]
    >>> mtest.lehmann_romano(p, k=1).n_rejected   # Holm
    2
    >>> mtest.lehmann_romano(p, k=2).n_rejected
    4
    """
    return _run(pvalues, alpha, "lehmann-romano", k, nan_policy)


def adjust(pvalues, method: str = "holm", *, k: int = 1, nan_policy: str = "raise"):
    """Adjusted p-values, with R ``p.adjust`` semantics (and the k-FWER procedures).

    Returns an array of the input's shape (a Series with its index for a Series input), float64,
    NaN kept in place under ``nan_policy='omit'``. ``adjust(p, m) <= alpha`` is exactly the
    rejection set of ``reject(p, alpha, m)``.

    Examples
    --------
    >>> import mtest
    >>> mtest.adjust([0.01, 0.04, 0.03, 0.005], method="bonferroni")
    array([0.04, 0.16, 0.12, 0.02])
    """
    proc = get_procedure(method)
    k = _check_k_for(proc, k)
    flat, shape, index, n_nan = as_pvalues(pvalues, nan_policy)
    return _wrap(_adjusted_flat(flat, proc, k, n_nan), shape, index)
