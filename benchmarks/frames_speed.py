"""adjust_frame over many families: the vectorized pass against one registry call per family.

    python benchmarks/frames_speed.py                       # 10^5 families, 10^6 rows
    python benchmarks/frames_speed.py --families 1000 --rows 10000000

Both columns are measured in the same run; the script also checks that they agree bitwise.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import mtest


def per_family(df, method):
    adjusted = np.empty(len(df))
    for rows in df.groupby("family", sort=False).indices.values():
        adjusted[rows] = mtest.adjust(df["p"].to_numpy()[rows], method)
    return adjusted


def best_of(repeats, fn):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="holm,fdr_bh,bonferroni,hochberg")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"family": rng.integers(0, args.families, args.rows), "p": rng.random(args.rows)})
    mtest.adjust_frame(df.head(1000), "p", "holm", by="family")  # compile the kernels
    print(f"{df['family'].nunique()} families, {args.rows} rows")
    print(f"{'method':<12}{'vectorized s':>14}{'per family s':>14}{'speed-up':>10}")
    for method in args.methods.split(","):
        fast, out = best_of(args.repeats, lambda: mtest.adjust_frame(df, "p", method, by="family"))
        slow, ref = best_of(1, lambda: per_family(df, method))
        assert np.array_equal(out["p_adjusted"].to_numpy(), ref), method
        print(f"{method:<12}{fast:>14.3f}{slow:>14.3f}{slow / fast:>10.1f}")


if __name__ == "__main__":
    main()
