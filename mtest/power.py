"""Power studies on the synthetic oracle (paper §6.1, Fig. 2a/2b/2c, App. B.2) and a sample-size
planner.

The metric is the rate of certified (non-abstained) components; an ideal method reaches 1.0
(0.99 in Fig. 2a/2b once the bad component must abstain). Every cell also records the rate of
certified-but-wrong components and of error events (k or more certified components whose true
probability for the certified class is at most tau — 1/2 for the CERTIFY baselines), which the
guarantees bound by alpha.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from ._validation import ReadOnlyArrays
from scipy.special import ndtri
from scipy.stats import binom

from ._plotting import colour, new_figure, save_figure
from ._optional import progress as _progress_bar
from ._records import Table
from ._validation import check_alpha, check_choice, check_positive_int, check_probability
from .binomial import pvalue_table as _binom_table, clopper_pearson
from .certify import certifying_procedure
from .tables import reject_table_rows
from .oracle import TRUE_CLASS, Oracle

__all__ = ["MethodSpec", "StudySpec", "FIGURES", "figure_spec", "run_study", "plot_study",
           "plan_samples", "PlanResult"]


@dataclass(frozen=True)
class MethodSpec:
    """A method of the study: ``kind`` in {'joint', 'indiv', 'segcertify'}; for SEGCERTIFY the
    ``procedure``, ``k`` and ``error_rate`` ('fwer': FWER or k-FWER, 'fdr': BY; under arbitrary
    dependence, as ``mtest.segcertify`` requires). ``alpha`` overrides the study's alpha
    (k-FWER study)."""

    label: str
    kind: str
    procedure: str = "holm"
    k: int = 1
    alpha: float | None = None
    error_rate: str = "fwer"


@dataclass(frozen=True)
class StudySpec:
    """One figure: the grid over ``x`` ('gamma' or 'N') and the fixed parameters (DESIGN.md table)."""

    figure: str
    x: str
    grid: tuple
    N: int
    n_bad: int
    gamma: float
    n0: int
    n: int
    alpha: float
    tau: float
    reps: int
    methods: tuple = field(default=())
    title: str = ""


_BASELINES = (MethodSpec("JointClass", "joint"), MethodSpec("IndivClass", "indiv"),
              MethodSpec("SegCertifyHolm", "segcertify", "holm"),
              MethodSpec("SegCertifyBon", "segcertify", "bonferroni"))
_SEG = (MethodSpec("SegCertifyHolm", "segcertify", "holm"),
        MethodSpec("SegCertifyBon", "segcertify", "bonferroni"))
_FDR = (*_SEG, MethodSpec("SegCertifyBY (FDR)", "segcertify", "fdr_by", error_rate="fdr"))
_GAMMAS = tuple(np.round(np.arange(0, 0.1 + 1e-12, 0.001), 3))
_NS = (100, 1_000, 10_000, 100_000, 1_000_000)

FIGURES = {
    "2a": StudySpec("2a", "gamma", _GAMMAS, N=100, n_bad=1, gamma=0.0, n0=100, n=100, alpha=0.001,
                    tau=0.75, reps=600, methods=_BASELINES,
                    title="Fig. 2a: N = 100, one component with error 5γ, n0 = n = 100"),
    "2b": StudySpec("2b", "gamma", _GAMMAS, N=100, n_bad=1, gamma=0.0, n0=1000, n=1000, alpha=0.001,
                    tau=0.75, reps=600, methods=_BASELINES,
                    title="Fig. 2b: as 2a with n0 = n = 1000"),
    "2c": StudySpec("2c", "N", _NS, N=0, n_bad=0, gamma=0.05, n0=1000, n=1000, alpha=0.1, tau=0.9,
                    reps=20, methods=_SEG, title="Fig. 2c: γ = 0.05, n0 = n = 1000, α = 0.1, τ = 0.9"),
    "kfwer": StudySpec("kfwer", "N", _NS, N=0, n_bad=0, gamma=0.05, n0=1000, n=1000, alpha=0.1,
                       tau=0.9, reps=20, methods=(), title="k-FWER (App. B.2): SEGCERTIFY with "
                       "Lehmann–Romano, γ = 0.05, n0 = n = 1000, τ = 0.9"),
    "fdr": StudySpec("fdr", "gamma", _GAMMAS, N=100, n_bad=1, gamma=0.0, n0=100, n=100, alpha=0.001,
                     tau=0.75, reps=600, methods=_FDR,
                     title="FDR (BY) vs FWER certification at Fig. 2a's setting (N = 100, n0 = n = 100)"),
    "fdr-N": StudySpec("fdr-N", "N", _NS, N=0, n_bad=0, gamma=0.05, n0=1000, n=1000, alpha=0.1, tau=0.9,
                       reps=20, methods=_FDR,
                       title="FDR (BY) vs FWER certification at Fig. 2c's setting (γ = 0.05, α = 0.1, τ = 0.9)"),
}

_QUICK = {"2a": dict(grid=(0.0, 0.02, 0.05, 0.08), reps=60),
          "2b": dict(grid=(0.0, 0.05, 0.1), reps=30),
          "2c": dict(grid=(100, 1_000, 10_000), reps=5),
          "kfwer": dict(grid=(100, 1_000, 10_000), reps=5),
          "fdr": dict(grid=(0.0, 0.05, 0.08, 0.1), reps=60),
          "fdr-N": dict(grid=(100, 1_000, 10_000), reps=5)}


def _kfwer_methods(N: int) -> tuple:
    """Lehmann–Romano with k in {1, 2, 3, 5, N/1000, N/100} (at least 1) at alpha = 0.1 and 0.001.

    The relative choices keep their label across N so that each is one curve in the figure.
    """
    ks = [("1", 1), ("2", 2), ("3", 3), ("5", 5), ("N/1000", max(1, N // 1000)),
          ("N/100", max(1, N // 100))]
    return tuple(MethodSpec(f"SegCertifyLR(k={name}, α={a:g})", "segcertify", "lehmann-romano", k, a)
                 for a in (0.1, 0.001) for name, k in ks)


def figure_spec(figure: str, *, reps: int | None = None, quick: bool = False) -> StudySpec:
    """The parameters for ``figure`` ('2a', '2b', '2c', 'kfwer' as in the paper; 'fdr', 'fdr-N': FDR
    vs FWER certification at 2a's and 2c's settings); ``quick`` shrinks the grid."""
    check_choice("figure", figure, tuple(FIGURES))
    spec = FIGURES[figure]
    if quick:
        spec = replace(spec, **_QUICK[figure], title=f"{spec.title} [--quick: reduced grid and repetitions]")
    if reps is not None:
        spec = replace(spec, reps=check_positive_int("reps", reps))
    return spec


def _cell_params(spec: StudySpec, x):
    if spec.x == "gamma":
        return spec.N, float(x)
    return int(x), spec.gamma


def _segcertify_rows(draws, method: MethodSpec, alpha, tau, table):
    proc, k = certifying_procedure(method.procedure, method.k, method.error_rate)  # SEGCERTIFY's one check
    rows = reject_table_rows(table, draws.count, alpha, proc, k=k)
    pv = table[draws.count]
    certified = pv <= rows.threshold[:, None]
    return certified, np.full(draws.count.shape[0], ndtri(tau)), tau


def _indiv_rows(draws, alpha, N):
    lower_table = np.asarray(clopper_pearson(np.arange(draws.n + 1), draws.n, alpha / N).low)
    lower = lower_table[draws.count]
    all_ok = np.all(lower > 0.5, axis=1)
    certified = np.broadcast_to(all_ok[:, None], draws.count.shape)
    radius = np.where(all_ok, ndtri(np.where(all_ok, lower.min(axis=1), 0.75)), np.nan)
    return certified, radius, 0.5


def _summarize(certified, wrong, null, radius, k):
    reps = certified.shape[0]
    rate = certified.mean(axis=1)
    errors = np.count_nonzero(certified & null, axis=1)
    any_cert = certified.any(axis=1)
    fdp = errors / np.maximum(np.count_nonzero(certified, axis=1), 1)
    return dict(certified_rate=float(rate.mean()),
                certified_rate_se=float(rate.std(ddof=1) / np.sqrt(reps)) if reps > 1 else float("nan"),
                wrong_rate=float((certified & wrong).mean()),
                error_event_rate=float(np.mean(errors >= k)),
                false_certified_proportion=float(fdp.mean()),
                mean_radius=float(np.nanmean(radius[any_cert])) if any_cert.any() else float("nan"))


def run_study(spec: StudySpec, *, seed: int = 0, progress: bool = True, max_cells: int = 20_000_000):
    """Run one figure's study and return a tidy table (one row per x × method).

    The table (``mtest._records.Table``) needs no pandas: ``table["certified_rate"]`` is a numpy
    column, ``table.to_csv(path)`` writes the CSV, ``table.to_pandas()`` gives a DataFrame (with the
    ``frames`` extra).

    Columns: figure, x, N, n_bad, gamma, n0, n, alpha, tau, method, fwer_k, reps, certified_rate,
    certified_rate_se, wrong_rate (certified with the wrong class, per component),
    error_event_rate (fraction of repetitions with >= fwer_k certified true nulls),
    false_certified_proportion (mean over repetitions of certified true nulls / certified: the
    FDR that ``error_rate='fdr'`` bounds), mean_radius
    (in units of sigma, over repetitions that certified anything), seconds.

    All methods of a cell see the same draws (common random numbers), so differences between
    methods are not sampling noise. Repetitions are processed in chunks of at most ``max_cells``
    components.

    Examples
    --------
    >>> from mtest.power import figure_spec, run_study
    >>> table = run_study(figure_spec("2a", quick=True, reps=20), progress=False)
    >>> sorted(set(table["method"]))
    ['IndivClass', 'JointClass', 'SegCertifyBon', 'SegCertifyHolm']
    """
    for m in spec.methods:  # refuse a non-certifying procedure before any sampling
        if m.kind == "segcertify":
            certifying_procedure(m.procedure, m.k, m.error_rate)
    rng = np.random.default_rng(seed)
    table = _binom_table(spec.n, spec.tau, "greater")
    records = []
    cells = _progress_bar(spec.grid, desc=f"figure {spec.figure}", unit="cell", disable=not progress)
    for x in cells:
        N, gamma = _cell_params(spec, x)
        oracle = Oracle(N=N, n_bad=min(spec.n_bad, N), gamma=gamma)
        methods = spec.methods or _kfwer_methods(N)
        chunk = max(1, min(spec.reps, max_cells // N))
        acc = {m.label: [] for m in methods}
        timing = {m.label: 0.0 for m in methods}
        for start in range(0, spec.reps, chunk):
            reps = min(chunk, spec.reps - start)
            draws = oracle.sample_counts(spec.n0, spec.n, reps, rng)
            joint = None
            for m in methods:
                alpha = m.alpha if m.alpha is not None else spec.alpha
                t0 = time.perf_counter()
                if m.kind == "segcertify":
                    certified, radius, null_at = _segcertify_rows(draws, m, alpha, spec.tau, table)
                    null = draws.p_guess <= null_at
                    wrong = draws.guess != TRUE_CLASS
                elif m.kind == "indiv":
                    certified, radius, null_at = _indiv_rows(draws, alpha, N)
                    null = draws.p_guess <= null_at
                    wrong = draws.guess != TRUE_CLASS
                else:
                    if joint is None:
                        joint = oracle.sample_joint(spec.n0, spec.n, reps, rng)
                    lower = np.asarray(clopper_pearson(joint.count, spec.n, alpha).low)
                    ok = lower > 0.5
                    certified = np.broadcast_to(ok[:, None], (reps, N))
                    radius = np.where(ok, ndtri(np.where(ok, lower, 0.75)), np.nan)
                    wrong = joint.guess != TRUE_CLASS
                    # the whole vector is one test: a true null when P(guess vector) <= 1/2
                    null = np.broadcast_to((joint.p_guess <= 0.5)[:, None], (reps, N))
                timing[m.label] += time.perf_counter() - t0
                acc[m.label].append((np.asarray(certified), wrong, null, radius))
        for m in methods:
            parts = acc[m.label]
            certified = np.concatenate([p[0] for p in parts])
            wrong = np.concatenate([p[1] for p in parts])
            null = np.concatenate([p[2] for p in parts])
            radius = np.concatenate([p[3] for p in parts])
            summary = _summarize(certified, wrong, null, radius, m.k if m.kind == "segcertify" else 1)
            if m.kind == "joint":  # one test over the whole vector: one error event per repetition
                summary["error_event_rate"] = float(np.mean(certified[:, 0] & null[:, 0]))
            records.append(dict(figure=spec.figure, x=x, N=N, n_bad=oracle.n_bad, gamma=gamma,
                                n0=spec.n0, n=spec.n,
                                alpha=m.alpha if m.alpha is not None else spec.alpha, tau=spec.tau,
                                method=m.label, fwer_k=m.k, reps=spec.reps, **summary,
                                seconds=timing[m.label]))
    return Table(records)


def plot_study(df, spec: StudySpec, path):
    """A PNG styled like the paper's Fig. 2: certified rate against gamma (linear) or N (log);
    one panel per alpha when the study mixes levels (k-FWER)."""
    col = {c: np.asarray(df[c]) for c in ("alpha", "method", "x", "certified_rate", "certified_rate_se")}
    alphas = sorted(set(col["alpha"].tolist()), reverse=True)
    fig, axes = new_figure(1, len(alphas), figsize=(6.4 * len(alphas), 4.2), dpi=130,
                             squeeze=False, sharey=True)
    styles = {"JointClass": ("tab:red", "-"), "IndivClass": ("tab:orange", "-"),
              "SegCertifyHolm": ("tab:blue", "-"), "SegCertifyBon": ("tab:green", "--"),
              "SegCertifyBY (FDR)": ("tab:purple", "-.")}
    for ax, alpha in zip(axes[0], alphas):
        panel = col["alpha"] == alpha
        labels = list(dict.fromkeys(col["method"][panel].tolist()))
        for i, label in enumerate(labels):
            rows = np.flatnonzero(panel & (col["method"] == label))
            rows = rows[np.argsort(col["x"][rows], kind="stable")]
            x = col["x"][rows].astype(float)
            rate = col["certified_rate"][rows].astype(float)
            color, ls = styles.get(label, (colour("tab10", i % 10), "-"))
            short = label.replace(f", α={alpha:g}", "")
            ax.plot(x, rate, ls, color=color, label=short, lw=1.6,
                    marker="o" if len(rows) < 15 else None, ms=4)
            se = np.nan_to_num(col["certified_rate_se"][rows].astype(float), nan=0.0)
            ax.fill_between(x, rate - se, rate + se, color=color, alpha=0.15, lw=0)
        if spec.x == "N":
            ax.set_xscale("log")
            ax.set_xlabel("N (components)")
        else:
            ax.set_xlabel("γ")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(spec.title if len(alphas) == 1 else f"{spec.title}\nα = {alpha:g}", fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
    axes[0][0].set_ylabel("certified rate")
    return save_figure(fig, path)


# --- sample-size planner --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanResult(ReadOnlyArrays):
    """Outcome of ``plan_samples``: the smallest ``n`` whose expected certified rate reaches
    ``target_rate``, that rate, the critical count at ``n`` and whether the rate is exact
    (Bonferroni) or a guaranteed lower bound (Holm).

    Attributes
    ----------
    n : int
        The smallest number of counting samples reaching ``target_rate``.
    expected_rate : float
        The expected certified rate at ``n`` (a lower bound for Holm).
    critical_count : int
        The count a component needs at ``n`` to be certified (Bonferroni's critical count).
    target_rate : float
        The requested rate.
    method : str
        The procedure's canonical name.
    exact : bool
        Whether ``expected_rate`` is exact (Bonferroni) rather than a lower bound (Holm).
    n0 : int or None
        Guessing samples, when the plan accounts for wrong guesses.
    """

    n: int
    expected_rate: float
    critical_count: int
    target_rate: float
    method: str
    exact: bool
    n0: int | None


def _rate_curve(ns, N, tau, alpha, p_vals, weights, p_guess_ok):
    """Expected certified rate of SEGCERTIFY-Bonferroni for each n in ``ns`` (vectorized)."""
    ns = np.asarray(ns, dtype=np.int64)
    level = alpha / N
    # smallest c with P(Bin(n, tau) >= c) <= alpha / N, corrected for the rounding of isf
    c = binom.isf(level, ns, tau).astype(np.int64) + 1
    for _ in range(3):
        too_low = binom.sf(c - 1, ns, tau) > level
        c = np.where(too_low, c + 1, c)
        can_lower = (c > 0) & (binom.sf(c - 2, ns, tau) <= level)
        c = np.where(can_lower, c - 1, c)
    c = np.minimum(c, ns + 1)  # n + 1: nothing can be certified with this n
    p_cert = binom.sf(c[:, None] - 1, ns[:, None], p_vals[None, :])  # (len(ns), len(p_vals))
    return (p_cert * (p_guess_ok * weights)[None, :]).sum(axis=1), c


def plan_samples(N: int, tau: float, alpha: float, p_true, target_rate: float, *,
                 method: str = "bonferroni", n0: int | None = None, n_max: int = 1_000_000) -> PlanResult:
    """Smallest number of counting samples n for which SEGCERTIFY's expected certified rate
    reaches ``target_rate``.

    The expected rate is computed exactly from binomial tails for SEGCERTIFY with Bonferroni:
    a component with true top-class probability p is certified iff its guess is right and its
    count reaches the critical count c(n) = min{c : P(Bin(n, tau) >= c) <= alpha/N}, so
    rate(n) = mean_i P(guess right)_i * P(Bin(n, p_i) >= c(n)). Holm certifies a superset of
    Bonferroni, so for ``method='holm'`` this is a guaranteed lower bound (``exact=False``).
    With ``n0`` the guess is right with probability at least P(Bin(n0, p) > n0/2) (a strict
    majority wins the argmax); without ``n0`` the guess is assumed right.

    The rate is not monotone in n (binomial discreteness), so every n up to the answer is checked.

    Parameters
    ----------
    N : int
        Components (hypotheses).
    tau : float in [0.5, 1)
    alpha : float in (0, 1)
    p_true : float or array_like
        True probability of the correct class, one value for all components or one per component.
    target_rate : float in (0, 1]
    method : {'bonferroni', 'holm'}
    n0 : int, optional
    n_max : int
        Give up (``ValueError``) beyond this n.

    Returns
    -------
    PlanResult

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. §5 and Figure 2 (the power of SEGCERTIFY).

    Examples
    --------
    >>> from mtest import plan_samples
    >>> plan = plan_samples(N=100, tau=0.75, alpha=0.001, p_true=0.95, target_rate=0.9)
    >>> plan.n, round(plan.expected_rate, 4)
    (101, 0.9337)
    """
    N = check_positive_int("N", N)
    tau = check_probability("tau", tau, low=0.5, high=1.0, high_open=True)
    alpha = check_alpha(alpha)
    target_rate = check_probability("target_rate", target_rate, low=0.0, low_open=True)
    method = check_choice("method", method, ("bonferroni", "holm"))
    certifying_procedure(method)
    n_max = check_positive_int("n_max", n_max)
    p = np.atleast_1d(np.asarray(p_true))
    p = p.astype(np.float64).ravel() if p.dtype.kind in "iuf" else np.array([np.nan])
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p_true must be probabilities in [0, 1]; got {p_true!r}")
    if p.size not in (1, N):
        raise ValueError(f"p_true must be one value or N={N} values; got {p.size}")
    p_vals, counts = np.unique(p, return_counts=True)
    weights = counts / p.size
    if n0 is not None:
        n0 = check_positive_int("n0", n0)
        p_guess_ok = binom.sf(n0 // 2, n0, p_vals)  # P(strict majority of n0)
    else:
        p_guess_ok = np.ones_like(p_vals)
    # the best rate any n can reach (n -> infinity): components with p > tau, guessed right
    ceiling = float(((p_vals > tau) * p_guess_ok * weights).sum())
    if ceiling < target_rate:
        raise ValueError(f"target_rate {target_rate} is unreachable: at most {ceiling:.6g} of the "
                         f"components can be certified (p_true > tau and a right guess)")
    lo = 1
    while lo <= n_max:
        hi = min(n_max, max(2 * lo, lo + 255))
        ns = np.arange(lo, hi + 1)
        rates, c = _rate_curve(ns, N, tau, alpha, p_vals, weights, p_guess_ok)
        hit = np.flatnonzero(rates >= target_rate)
        if hit.size:
            j = hit[0]
            return PlanResult(n=int(ns[j]), expected_rate=float(rates[j]), critical_count=int(c[j]),
                              target_rate=target_rate, method=method, exact=method == "bonferroni",
                              n0=n0)
        lo = hi + 1
    raise ValueError(f"no n <= n_max={n_max} reaches target_rate {target_rate}; raise n_max")
