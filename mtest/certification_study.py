"""Figures for certification beyond the paper, on toy oracles (no model): sequential sample savings,
radius maps against J separate runs, FDR against FWER certification.

``mtest power --figure sequential|radius|fdr`` writes their CSV and PNG; each runs in seconds.
The FDR figure is a power-study figure (``mtest.power.FIGURES`` 'fdr', 'fdr-N'); this module
holds the other two. The demo-model versions are in ``benchmarks/certification_beyond.py``, which
uses ``stream_savings`` too.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._plotting import new_figure, save_figure
from ._records import Table
from ._validation import check_positive_int
from .certify import CertificationWarning, GaussianL2, segcertify
from .oracle import Oracle
from .radius_map import segcertify_radius_map
from .sequential import SequentialCertifier

__all__ = ["SequentialSettings", "stream_savings", "sequential_study", "savings_summary",
           "plot_sequential", "radius_study", "plot_radius"]


@dataclass(frozen=True)
class SequentialSettings:
    """What the sequential study compares: fixed-n SEGCERTIFY at each of ``fixed_n`` against the
    sequential certifier fed the same samples in rounds of ``round_size`` up to ``n_max``."""

    tau: float = 0.75
    alpha: float = 0.001
    round_size: int = 10
    n_max: int = 1000
    fixed_n: tuple = (100, 200, 500, 1000)
    method: str = "holm"


def stream_savings(rounds: np.ndarray, settings: SequentialSettings = SequentialSettings()):
    """Fixed-n against sequential certification of one input, on the same samples.

    ``rounds`` (n_max / round_size, N): per round and component, how many of the round's samples
    match the guess. Fixed n certifies from the first n samples; the sequential certifier takes
    the rounds in order. Returns ``(rows, curve)``: per fixed n a dict with the fixed-n certified
    fraction, the first sample count at which the sequential certificates (futility off: its
    anytime curve, any prefix a valid stop) reach the fixed-n count (``None``: not by n_max), and
    where the default rule (stop when every component is certified or futile) stops and what it
    has certified then; ``curve`` lists (samples, certified fraction) after every round.
    """
    s = settings
    N = rounds.shape[1]
    guess = np.zeros(N, dtype=np.int64)
    cum = np.cumsum(rounds, axis=0)
    fixed = {n: segcertify(guess, cum[n // s.round_size - 1], n=n, tau=s.tau, alpha=s.alpha,
                           method=s.method).n_certified for n in s.fixed_n}
    stop = SequentialCertifier(guess, tau=s.tau, alpha=s.alpha, n_max=s.n_max, method=s.method)
    for r in rounds:
        if stop.done:
            break
        stop.update(r, s.round_size)
    full = SequentialCertifier(guess, tau=s.tau, alpha=s.alpha, n_max=s.n_max, method=s.method,
                               futility=None)
    curve = []
    for r in rounds:
        full.update(r, s.round_size)
        curve.append((full.n_samples, full.result().n_certified / N))
    rows = []
    for n in s.fixed_n:
        reach = next((t for t, c in curve if c * N >= fixed[n]), None)
        rows.append(dict(fixed_n=n, fixed_certified=fixed[n] / N, seq_samples_to_match=reach,
                         seq_stop_samples=stop.n_samples, seq_stop_certified=stop.result().n_certified / N))
    return rows, curve


def _toy_inputs(quick: bool):
    """(name, match probabilities) of the toy inputs: the §6.1 oracle and a boundary-like image."""
    rng = np.random.default_rng(12345)
    size = 1024 if quick else 4096
    boundary = np.where(rng.random(size) < 0.95, 0.999, rng.uniform(0.5, 1.0, size))
    oracle = Oracle(N=200 if quick else 1000, n_bad=10 if quick else 50, gamma=0.01)
    return [(f"oracle §6.1, N={oracle.N}, k={oracle.n_bad}, γ=0.01", oracle.p_correct),
            (f"toy {size}: 95% p=0.999, 5% p~U(0.5, 1)", boundary)]


def sequential_study(*, reps: int = 5, seed: int = 0, quick: bool = False,
                     settings: SequentialSettings = SequentialSettings()):
    """Sample savings of sequential SEGCERTIFY on toy inputs: ``(table, curves)``, two
    ``mtest._records.Table`` (numpy columns, ``to_csv``, ``to_pandas``; no pandas needed).

    ``table``: one row per input, repetition and fixed n (columns of ``stream_savings``,
    plus input, rep, components); ``curves``: input, rep, samples, certified (the anytime curve).

    Examples
    --------
    >>> from mtest.certification_study import sequential_study
    >>> table, curves = sequential_study(reps=1, quick=True)
    >>> sorted(set(map(int, table["fixed_n"])))
    [100, 200, 500, 1000]
    """

    reps = check_positive_int("reps", reps)
    rng = np.random.default_rng(seed)
    rows, curves = [], []
    for name, p in _toy_inputs(quick):
        for rep in range(reps):
            rounds = rng.binomial(settings.round_size, p, size=(settings.n_max // settings.round_size, p.size))
            r, curve = stream_savings(rounds, settings)
            rows += [dict(input=name, rep=rep, components=p.size, **row) for row in r]
            curves += [dict(input=name, rep=rep, samples=t, certified=c) for t, c in curve]
    return Table(rows), Table(curves)


def savings_summary(table):
    """Mean over repetitions per (input, fixed n), in order of appearance (a ``Table``);
    ``samples_to_match`` is NaN where some repetition did not match by n_max, and ``savings`` =
    fixed n / samples to match."""
    inputs, fixed = table["input"], table["fixed_n"]
    reach = table["seq_samples_to_match"].astype(float)
    rows = []
    for name, n in dict.fromkeys(zip(inputs.tolist(), fixed.tolist())):
        sel = (inputs == name) & (fixed == n)
        missed = int(np.isnan(reach[sel]).sum())
        match = float("nan") if missed else float(reach[sel].mean())
        rows.append(dict(input=name, fixed_n=int(n), fixed_certified=float(table["fixed_certified"][sel].mean()),
                         samples_to_match=match, missed=missed,
                         stop_samples=float(table["seq_stop_samples"][sel].mean()),
                         stop_certified=float(table["seq_stop_certified"][sel].mean()),
                         savings=n / match))
    return Table(rows)


def _mean_by(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and the mean of ``values`` per key."""
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inv, weights=values) / np.bincount(inv)


def plot_sequential(table, curves, path, settings: SequentialSettings = SequentialSettings(), title: str = ""):
    """One panel per input: the mean anytime certified curve against the fixed-n points."""
    names = list(dict.fromkeys(table["input"].tolist()))
    fig, axes = new_figure(1, len(names), figsize=(5.2 * len(names), 3.8), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], names):
        on_curve, on_table = curves["input"] == name, table["input"] == name
        cx, c = _mean_by(curves["samples"][on_curve], curves["certified"][on_curve].astype(float))
        fx, f = _mean_by(table["fixed_n"][on_table], table["fixed_certified"][on_table].astype(float))
        ax.plot(cx, c, color="tab:blue", label="sequential (anytime, e-Holm)")
        ax.plot(fx, f, "o--", color="tab:red", label="fixed-n SEGCERTIFY (Holm)")
        ax.set_xscale("log")
        ax.set_xlabel("counting samples (forward passes)")
        ax.set_ylabel("certified fraction")
        ax.set_ylim(max(0.0, min(f.min(), c[c > 0].min() if (c > 0).any() else 0) - 0.02), 1.005)
        ax.grid(alpha=0.3)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or f"τ = {settings.tau}, α = {settings.alpha}, rounds of {settings.round_size}",
                 fontsize=9)
    return save_figure(fig, path)


def radius_study(*, reps: int = 3, seed: int = 0, quick: bool = False, n: int = 500, alpha: float = 0.001,
                 taus=(0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99), sigma: float = 0.25):
    """Radius map against J separate SEGCERTIFY runs at alpha/J (both simultaneously valid) and at
    alpha each (not simultaneous), on toy components with p_A ~ Beta(20, 1) (guess right).

    Returns a ``Table`` (numpy columns, no pandas needed): tau, radius, and per method the mean
    fraction of components certified at a radius of at least R(tau).

    Examples
    --------
    >>> from mtest.certification_study import radius_study
    >>> df = radius_study(reps=1, quick=True)
    >>> bool((df["radius_map"] <= df["separate_alpha_each"]).all())   # the price of simultaneity
    True
    """
    reps = check_positive_int("reps", reps)
    rng = np.random.default_rng(seed)
    taus = np.asarray(taus, dtype=np.float64)
    radius = GaussianL2(sigma)
    size = 32 * 32 if quick else 64 * 64
    got = {"radius_map": [], "separate_alpha_over_J": [], "separate_alpha_each": []}
    for _ in range(reps):
        count = rng.binomial(n, rng.beta(20, 1, size))
        guess = np.zeros(size, dtype=np.int64)
        m = segcertify_radius_map(guess, count, n=n, taus=taus, alpha=alpha, sigma=sigma)
        best = {"separate_alpha_over_J": np.full(size, -1.0), "separate_alpha_each": np.full(size, -1.0)}
        for t in taus:
            for key, level in (("separate_alpha_over_J", alpha / taus.size), ("separate_alpha_each", alpha)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CertificationWarning)  # unreachable top tau
                    res = segcertify(guess, count, n=n, tau=t, alpha=level, sigma=sigma)
                best[key][res.reject] = res.radius
        r_map = np.where(m.level >= 0, m.radius, -1.0)
        for key, r in (("radius_map", r_map), *best.items()):
            got[key].append([np.mean(r >= radius(t) - 1e-12) for t in taus])
    means = {k: np.mean(v, axis=0) for k, v in got.items()}
    radii = radius(taus)
    return Table([dict(tau=float(t), radius=float(radii[j]), **{k: float(v[j]) for k, v in means.items()})
                  for j, t in enumerate(taus)])


def plot_radius(df, path, title: str = ""):
    """Certified fraction against radius for the three ways of certifying several radii."""
    fig, axes = new_figure(1, 1, figsize=(5.8, 3.9), dpi=110)
    ax = axes
    J = len(df)
    ax.step(df["radius"], df["radius_map"], where="pre", label="radius map (α, simultaneous)")
    ax.step(df["radius"], df["separate_alpha_over_J"], "--", where="pre",
            label=f"{J} runs at α/{J} (simultaneous)")
    ax.step(df["radius"], df["separate_alpha_each"], ":", where="pre", color="grey",
            label="runs at α each (not simultaneous)")
    ax.set_xlabel("ℓ2 radius")
    ax.set_ylabel("certified fraction")
    ax.grid(alpha=0.3)
    ax.set_title(title or "toy components, p_A ~ Beta(20, 1)", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
