"""Error rates of every built-in procedure under every dependence generator (mtest.testing).

    python benchmarks/fwer_harness.py [--reps 2000] [--out results/harness]

Writes a markdown table (docs/testing-your-procedure.md shows it) and a CSV, then searches the
Gaussian generators for a configuration where the reference script's lenient k-FWER constants
exceed alpha, and runs the staggered-blocks construction that provably breaks them.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import pandas as pd

from mtest.testing import check_fdr, check_fwer
from mtest.testing.examples import lenient_kfwer, staggered_blocks

GENERATORS = [("independent", 0.0, 10), ("equicorrelated", 0.5, 10), ("block", 0.8, 10),
              ("negative", 0.0, 2), ("negative", 0.0, 10)]
FWER_METHODS = [("bonferroni", 1), ("sidak", 1), ("holm", 1), ("holm-sidak", 1), ("hochberg", 1),
                ("hommel", 1), ("lehmann-romano", 2), ("lehmann-romano", 5)]
FDR_METHODS = ["fdr_bh", "fdr_by"]


def _label(dep, rho, block):
    if dep == "independent":
        return "independent"
    if dep == "negative":
        return f"negative (blocks of {block}, ρ = {-1 / (block - 1):.2g})"
    return f"{dep} (ρ = {rho:g})"


def built_in_table(reps: int, alpha: float, m: int, n_null: int, seed: int):
    rows = []
    for (dep, rho, block), (method, k) in itertools.product(GENERATORS, FWER_METHODS):
        r = check_fwer(method, n_hypotheses=m, n_null=n_null, alpha=alpha, k=k, dependence=dep, rho=rho,
                       block_size=block, reps=reps, seed=seed)
        rows.append(dict(generator=_label(dep, rho, block), method=r.procedure, rate="FWER" if k == 1 else
                         f"P(≥{k} false)", estimate=r.rate, ci_low=r.ci_low, ci_high=r.ci_high,
                         verdict=r.verdict, power=r.power))
    for (dep, rho, block), method in itertools.product(GENERATORS, FDR_METHODS):
        r = check_fdr(method, n_hypotheses=m, n_null=n_null, alpha=alpha, dependence=dep, rho=rho,
                      block_size=block, reps=reps, seed=seed)
        rows.append(dict(generator=_label(dep, rho, block), method=r.procedure, rate="FDR",
                         estimate=r.rate, ci_low=r.ci_low, ci_high=r.ci_high, verdict=r.verdict,
                         power=r.power))
    return pd.DataFrame(rows)


def lenient_search(reps: int, alpha: float, seed: int):
    """Grid over the Gaussian generators: lenient constants vs Lehmann–Romano."""
    rows = []
    for (dep, rho, block), m, frac, k in itertools.product(
            GENERATORS + [("equicorrelated", 0.9, 10), ("block", 0.95, 5)], (20, 60), (1.0, 0.5), (2, 5)):
        n_null = int(m * frac)
        for proc in (lenient_kfwer, "lehmann-romano"):
            r = check_fwer(proc, n_hypotheses=m, n_null=n_null, alpha=alpha, k=k, dependence=dep, rho=rho,
                           block_size=block, effect=5.0, reps=reps, seed=seed)
            rows.append(dict(generator=_label(dep, rho, block), m=m, n_null=n_null, k=k,
                             method=r.procedure.split("(")[0], estimate=r.rate, ci_low=r.ci_low,
                             verdict=r.verdict))
    return pd.DataFrame(rows)


def staggered(reps: int, alpha: float, seed: int):
    rows = []
    for n_null, n_false, k in [(10, 5, 5), (20, 5, 5), (50, 10, 10), (100, 5, 5)]:
        blocks = n_null // k
        theory = blocks * k * alpha / (n_null - k + 1)
        for proc in (lenient_kfwer, "lehmann-romano"):
            r = check_fwer(proc, n_hypotheses=n_null + n_false, n_null=n_null, alpha=alpha, k=k,
                           dependence="staggered-blocks", reps=reps, seed=seed,
                           simulate=lambda size, rng: staggered_blocks(size, n_null=n_null, n_false=n_false,
                                                                       k=k, alpha=alpha, seed=rng))
            rows.append(dict(n_null=n_null, n_false=n_false, k=k, method=r.procedure.split("(")[0],
                             estimate=r.rate, ci_low=r.ci_low, ci_high=r.ci_high, verdict=r.verdict,
                             theory=theory if proc is lenient_kfwer else float("nan")))
    return pd.DataFrame(rows)


def _md(df, fmt=".4f"):
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(format(v, fmt) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/harness")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table = built_in_table(args.reps, args.alpha, 100, 80, args.seed)
    table.to_csv(out / "built_in.csv", index=False)
    search = lenient_search(args.reps, 0.1, args.seed)
    search.to_csv(out / "lenient_search.csv", index=False)
    stag = staggered(max(args.reps, 20_000), 0.1, args.seed)
    stag.to_csv(out / "staggered.csv", index=False)
    wide = table.assign(cell=[f"{e:.4f} {'✓' if v == 'pass' else '✗'}" for e, v in zip(table.estimate, table.verdict)])
    pivot = wide.pivot_table(index=["method", "rate"], columns="generator", values="cell", aggfunc="first",
                             sort=False)
    text = [f"# Harness figures (m = 100, 80 true nulls, effect 3, alpha = {args.alpha}, {args.reps} reps)", "",
            _md(pivot.reset_index()), "",
            "## Lenient k-FWER constants, Gaussian search (alpha = 0.1, effect 5)", "",
            f"max estimate lenient: {search[search.method == 'lenient-kfwer'].estimate.max():.4f}; "
            f"max estimate Lehmann–Romano: {search[search.method == 'lehmann-romano'].estimate.max():.4f}; "
            f"lenient verdicts 'fail': {(search[search.method == 'lenient-kfwer'].verdict == 'fail').sum()} "
            f"of {(search.method == 'lenient-kfwer').sum()}", "",
            "## staggered_blocks (alpha = 0.1)", "", _md(stag), "",
            f"({time.perf_counter() - t0:.0f} s)"]
    (out / "harness.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
