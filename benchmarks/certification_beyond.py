"""Certification beyond the paper, measured: sequential SEGCERTIFY, radius maps, hierarchies.

    python benchmarks/certification_beyond.py            # oracle + shipped demo images (CPU, ~1 min)

Writes CSV + PNG under docs/figures/ (seq_savings, radius_map, fdr_demo, hierarchy). The toy-oracle
versions run in seconds with `mtest power --figure sequential|radius|fdr`. Every method sees the
same noise: the demo images are sampled once per image (n0 = 10 guessing, 1000 counting samples,
seeded per sample as in SegmentationSmoother), fixed-n SEGCERTIFY uses the first n counting
samples, and the sequential certifier gets the same samples in rounds of 10.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import mtest
from mtest.certification_study import SequentialSettings, stream_savings

FIG = Path(__file__).resolve().parent.parent / "docs" / "figures"
TAU, ALPHA, ROUND, N_MAX = 0.75, 0.001, 10, 1000
FIXED_N = (100, 200, 500, 1000)


def _save(fig, name):
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(FIG / name, dpi=110)


def _write(name, rows):
    with open(FIG / name, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


# --- streams: per-round matches with the guess, and class counts at the fixed n ---------------------------

def oracle_streams(name, p, reps, seed):
    """Bernoulli components with match probabilities p (guess = the majority class)."""
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        rounds = rng.binomial(ROUND, p, size=(N_MAX // ROUND, p.size))
        yield name, rounds, None, None


def demo_streams(count, seed):
    import torch
    import mtest.adapters as ad
    from mtest.adapters.demo import load_model, make_images
    from mtest.adapters.sampler import COUNT_PHASE, GUESS_PHASE, phase_seeds

    model = load_model("images-sigma0.25")
    smoother = ad.SegmentationSmoother(model, ad.GaussianNoise(0.25), batch_size=ROUND, progress=False)
    images, targets = make_images(count, seed=999)
    for i in range(count):
        x = torch.from_numpy(images[i])
        with smoother.evaluation():
            preds0 = [smoother.predict_batch(smoother.noisy_batch(x, s[None])) for s in phase_seeds(seed, GUESS_PHASE, 10)]
            C = preds0[0][2]  # the class count of the model's output
            counts0 = torch.stack([torch.nn.functional.one_hot(pred[0], C) for pred, _, _ in preds0]).sum(0)
            guess = counts0.argmax(1)
            seeds = phase_seeds(seed, COUNT_PHASE, N_MAX)
            rounds, snap, running = [], {}, torch.zeros_like(counts0)
            for start in range(0, N_MAX, ROUND):
                pred = smoother.predict_batch(smoother.noisy_batch(x, seeds[start:start + ROUND]))[0]
                rounds.append((pred == guess).sum(0).numpy())
                running += torch.nn.functional.one_hot(pred, C).sum(0)
                if start + ROUND in FIXED_N:
                    snap[start + ROUND] = running.numpy().copy()
        yield f"demo image {i}", np.array(rounds), (counts0.numpy(), snap, guess.numpy()), targets[i].reshape(-1)


# --- 1. sequential against fixed n ---------------------------------------------------------------------------

SETTINGS = SequentialSettings(tau=TAU, alpha=ALPHA, round_size=ROUND, n_max=N_MAX, fixed_n=FIXED_N)


def savings(stream):
    """mtest.certification_study.stream_savings on one stream, in this script's row and curve format."""
    name, rounds, _, _ = stream
    N = rounds.shape[1]
    rows, curve = stream_savings(rounds, SETTINGS)
    fixed = {r["fixed_n"]: round(r["fixed_certified"] * N) for r in rows}
    rows = [dict(input=name, components=N, fixed_n=r["fixed_n"], fixed_certified=r["fixed_certified"],
                 seq_samples_to_match=r["seq_samples_to_match"] if r["seq_samples_to_match"] is not None else "",
                 seq_stop_samples=r["seq_stop_samples"], seq_stop_certified=r["seq_stop_certified"]) for r in rows]
    return rows, [(t, round(c * N)) for t, c in curve], fixed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    FIG.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(0)
    toy_boundary = np.where(rng.random(4096) < 0.95, 0.999, rng.uniform(0.5, 1.0, 4096))
    streams = list(oracle_streams("oracle N=1000, k=50, gamma=0.01", mtest.oracle.Oracle(1000, 50, 0.01).p_correct,
                                  args.reps, 1))
    streams += list(oracle_streams("toy 4096: 95% p=0.999, 5% p~U(0.5,1)", toy_boundary, args.reps, 2))
    demo = list(demo_streams(args.images, seed=0))
    streams += demo

    rows, curves = [], []
    for s in streams:
        r, curve, fixed = savings(s)
        rows += r
        curves.append((s[0], curve, fixed, s[1].shape[1]))
    _write("seq_savings.csv", rows)
    fig = Figure(figsize=(11, 3.6))
    kinds = [("oracle", "oracle N=1000"), ("toy", "toy 4096 (boundary-like)"), ("demo", "demo images (64x64)")]
    for ax_i, (prefix, title) in enumerate(kinds):
        ax = fig.add_subplot(1, 3, ax_i + 1)
        picked = [c for c in curves if c[0].startswith(prefix)]
        for j, (name, curve, fixed, N) in enumerate(picked):
            t, c = zip(*curve)
            ax.plot(t, np.array(c) / N, color="C0", alpha=0.6, label="sequential (anytime)" if j == 0 else None)
            ax.plot(list(fixed), np.array(list(fixed.values())) / N, "o--", color="C3", alpha=0.6,
                    label="fixed-n SEGCERTIFY" if j == 0 else None)
        ax.set_xscale("log")
        ax.set_xlabel("counting samples (forward passes)")
        ax.set_ylabel("certified fraction")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(bottom=0.5 if prefix != "demo" else 0.8)
        ax.legend(fontsize=7)
    _save(fig, "seq_savings.png")

    # --- 2. radius maps on the demo counts (n = 500) ---
    taus = np.round(np.arange(0.5, 0.991, 0.05), 3).tolist() + [0.99]
    taus = sorted(set(taus))
    sigma = 0.25
    rad_rows = []
    acc_map, acc_sep, acc_single = [], [], []
    radii = np.linspace(0, mtest.GaussianL2(sigma)(max(taus)), 60)
    for name, _, (counts0, snap, guess), target in demo:
        count = np.take_along_axis(snap[500], guess[:, None], axis=1)[:, 0]
        m = mtest.segcertify_radius_map(guess, count, n=500, taus=taus, alpha=ALPHA, sigma=sigma)
        correct = m.labels == target
        r_map = np.where(correct, m.radius, -1.0)
        best_sep = np.full(guess.size, -1.0)
        best_single = np.full(guess.size, -1.0)
        for t in taus:
            sep = mtest.segcertify(guess, count, n=500, tau=t, alpha=ALPHA / len(taus), sigma=sigma)
            best_sep[sep.reject & (guess == target)] = sep.radius
            one = mtest.segcertify(guess, count, n=500, tau=t, alpha=ALPHA, sigma=sigma)
            best_single[one.reject & (guess == target)] = one.radius
        acc_map.append([(r_map >= r).mean() for r in radii])
        acc_sep.append([(best_sep >= r).mean() for r in radii])
        acc_single.append([(best_single >= r).mean() for r in radii])
        for j, t in enumerate(taus):
            rad_rows.append(dict(input=name, tau=t, radius=float(mtest.GaussianL2(sigma)(t)),
                                 map_certified_accuracy=float(np.mean(r_map >= mtest.GaussianL2(sigma)(t) - 1e-12)),
                                 separate_alpha_over_J=float(np.mean(best_sep >= mtest.GaussianL2(sigma)(t) - 1e-12)),
                                 separate_alpha_each_not_simultaneous=float(
                                     np.mean(best_single >= mtest.GaussianL2(sigma)(t) - 1e-12))))
    _write("radius_map.csv", rad_rows)
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(radii, np.mean(acc_map, 0), label=f"radius map (alpha={ALPHA}, simultaneous)")
    ax.plot(radii, np.mean(acc_sep, 0), "--", label=f"{len(taus)} runs at alpha/{len(taus)} (simultaneous)")
    ax.plot(radii, np.mean(acc_single, 0), ":", color="grey", label="runs at alpha each (not simultaneous)")
    reachable = max(r for r, a in zip(radii, np.mean(acc_map, 0)) if a > 0)
    ax.set_xlim(0, reachable * 1.05)
    ax.set_ylim(0.85, 0.975)          # the curves differ by tenths of a point: zoom on them
    ax.set_xlabel("l2 radius")
    ax.set_ylabel("certified accuracy")
    ax.set_title(f"demo images, n = 500, sigma = {sigma}, {len(taus)} thresholds", fontsize=9)
    ax.legend(fontsize=7)
    _save(fig, "radius_map.png")

    # --- 3. FDR (BY) against FWER (Holm) certification on the demo counts ---
    fdr_rows = []
    for n in FIXED_N:
        rates = {"holm": [], "fdr_by": []}
        for name, _, (counts0, snap, guess), target in demo:
            for method, rate in (("holm", "fwer"), ("fdr_by", "fdr")):
                res = mtest.segcertify_counts(counts0, snap[n], tau=TAU, alpha=ALPHA, method=method, error_rate=rate)
                rates[method].append((res.n_certified / res.labels.size, float(np.mean(res.labels == target))))
        h, b = np.mean(rates["holm"], axis=0), np.mean(rates["fdr_by"], axis=0)
        fdr_rows.append(dict(n=n, holm_certified=round(h[0], 4), by_certified=round(b[0], 4),
                             holm_certified_correct=round(h[1], 4), by_certified_correct=round(b[1], 4)))
    _write("fdr_demo.csv", fdr_rows)
    for row in fdr_rows:
        print(row)

    # --- 4. hierarchy on the demo counts ---
    h = mtest.DEMO_IMAGE_HIERARCHY
    hier_rows = []
    for n in (100, 500):
        agg = {k: [] for k in ("flat", "nested", "n0")}
        for name, _, (counts0, snap, guess), target in demo:
            flat = mtest.segcertify_counts(counts0, snap[n], tau=TAU, alpha=ALPHA)
            nested = mtest.hierarchical_segcertify(counts0, snap[n], h, tau=TAU, alpha=ALPHA)
            chosen = mtest.hierarchical_segcertify(counts0, snap[n], h, tau=TAU, alpha=ALPHA, levels="n0")
            for k, node, lvl in (("flat", flat.labels, (flat.labels >= 0).astype(int) - 1),
                                 ("nested", nested.node, nested.level), ("n0", chosen.node, chosen.level)):
                cig = mtest.certified_information_gain(node, target, h)
                agg[k].append((cig.cig, cig.ccig, cig.certified_rate, cig.abstain_rate,
                               float(np.mean(lvl > 0))))
        for k, vals in agg.items():
            v = np.mean(vals, axis=0)
            hier_rows.append(dict(n=n, method={"flat": "SEGCERTIFY (leaves only)", "nested": "hierarchical, nested",
                                               "n0": "hierarchical, level from n0"}[k],
                                  cig=round(v[0], 4), ccig=round(v[1], 4), certified_correct=round(v[2], 4),
                                  abstain=round(v[3], 4), coarser_than_leaf=round(v[4], 4)))
    _write("hierarchy.csv", hier_rows)
    for row in hier_rows:
        print(row)


if __name__ == "__main__":
    main()
