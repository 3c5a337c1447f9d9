"""Speed comparisons measured in one run on the same data: ``mtest bench`` / ``benchmarks/speed.py``.

Every mtest timing is put next to a reference measured in the same process (statsmodels, scipy,
a plain numpy implementation, and the memory-bound yardsticks ``np.sum`` and ``np.sort``) and
reported as a ratio, so the numbers survive a noisy shared machine. Numba compile time is kept out
of the timed regions (a warm-up call first) and reported separately.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from ._optional import progress as _progress_bar
from ._records import Table

__all__ = ["run_benchmark", "format_table", "main"]


@dataclass
class _Row:
    work: str
    size: int
    impl: str
    seconds: float
    reference: str = ""
    ratio: float = float("nan")
    target: str = ""
    ok: str = ""
    peak_extra_mb: float = float("nan")


def _best(fn, repeats: int) -> float:
    fn()  # warm-up: compiled kernels loaded, caches touched
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_extra_mb(fn) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return (peak - base) / 2**20


def _statsmodels():
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:  # statsmodels is a dev dependency
        return None
    return multipletests


def _holm_numpy_reference(p, alpha=0.05):
    """A plain sort-based Holm (what one would write with numpy alone)."""
    order = np.argsort(p)
    m = p.size
    ok = p[order] * np.arange(m, 0, -1) <= alpha
    r = m if ok.all() else int(np.argmin(ok))
    reject = np.zeros(m, dtype=bool)
    reject[order[:r]] = True
    return reject


def _compile_seconds() -> float:
    """Cold JIT compile of the core kernels, in a fresh process with an empty Numba cache."""
    import tempfile

    code = ("import time, numpy as np; t = time.perf_counter(); import mtest; "
            "p = np.random.default_rng(0).random(1000); mtest.holm(p).pvalues_adjusted; "
            "mtest.segcertify(np.zeros(10, int), np.full(10, 90), n=100, tau=0.75, alpha=0.01); "
            "mtest.reject(p, 0.05, 'bonferroni'); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def run_benchmark(*, quick: bool = False, repeats: int = 5, seed: int = 0, progress: bool = True):
    """Run the comparisons and return a table (one row per measurement; ``mtest._records.Table``:
    numpy columns, ``to_csv``, ``to_pandas``)."""
    from scipy.stats import binom, binomtest

    import mtest

    multipletests = _statsmodels()
    rng = np.random.default_rng(seed)
    sizes = [100_000] if quick else [1_000_000, 10_000_000]
    repeats = 1 if quick else repeats
    rows: list[_Row] = []
    steps = _progress_bar(total=len(sizes) + 2, desc="mtest bench", disable=not progress)

    def add(work, size, impl, seconds, reference=None, target="", ok=None, peak=float("nan")):
        ref_row = next((r for r in rows if r.size == size and r.impl == reference and r.work in (work, "yardstick")),
                       None) if reference else None
        ratio = seconds / ref_row.seconds if ref_row else float("nan")
        verdict = "" if ok is None else ("yes" if ok(ratio) else "NO")
        rows.append(_Row(work, size, impl, seconds, reference or "", ratio, target, verdict, peak))

    for n in sizes:
        p = rng.random(n)
        tiny = p * 1e-9  # every p-value small: the worst case for adjusted p-values
        add("yardstick", n, "np.sum", _best(lambda: np.sum(p), repeats))
        add("yardstick", n, "np.sort", _best(lambda: np.sort(p), repeats))
        if multipletests is not None:
            add("holm rejections", n, "statsmodels multipletests", _best(lambda: multipletests(p, 0.05, "holm"), 1))
            add("bonferroni rejections", n, "statsmodels multipletests",
                _best(lambda: multipletests(p, 0.05, "bonferroni"), 1))
            add("BH rejections", n, "statsmodels multipletests", _best(lambda: multipletests(p, 0.05, "fdr_bh"), 1))
        add("holm rejections", n, "numpy sort-based reference", _best(lambda: _holm_numpy_reference(p), 1))
        for work, fn in [("holm rejections", lambda: mtest.holm(p)),
                         ("bonferroni rejections", lambda: mtest.bonferroni(p)),
                         ("lehmann-romano k=10 rejections", lambda: mtest.lehmann_romano(p, k=10)),
                         ("BH rejections", lambda: mtest.reject(p, 0.05, "fdr_bh"))]:
            t = _best(fn, repeats)
            peak = _peak_extra_mb(fn)
            if multipletests is not None and "lehmann" not in work:
                add(work, n, "mtest", t, "statsmodels multipletests", ">= 100x faster",
                    lambda r: r <= 0.01, peak)
            if work.startswith("BH"):  # no target in the issue; step-up descends in ~log(m) passes
                add(work, n, "mtest", t, "np.sum", "", None, peak)
            else:
                add(work, n, "mtest", t, "np.sum", "<= 5x np.sum", lambda r: r <= 5, peak)
            add(work, n, "mtest", t, "numpy sort-based reference" if "holm" in work else "np.sort",
                "", None, peak)
        t_uni = _best(lambda: mtest.adjust(p, "holm"), repeats)
        t_tiny = _best(lambda: mtest.adjust(tiny, "holm"), 1)
        if multipletests is not None:
            add("holm adjusted p-values", n, "statsmodels multipletests",
                _best(lambda: multipletests(p, 0.05, "holm"), 1))
            add("holm adjusted p-values", n, "mtest (uniform p)", t_uni, "statsmodels multipletests",
                ">= 3x faster", lambda r: r <= 1 / 3)
        add("holm adjusted p-values", n, "mtest (uniform p)", t_uni, "np.sort", "<= 1.5x np.sort",
            lambda r: r <= 1.5, _peak_extra_mb(lambda: mtest.adjust(p, "holm")))
        add("holm adjusted p-values", n, "mtest (all p < 1e-9, full sort)", t_tiny, "np.sort",
            "<= 1.5x np.sort", lambda r: r <= 1.5)
        steps.update()

    # binomial p-values for 2e6 components sharing n (2e5 when quick)
    size = 200_000 if quick else 2_000_000
    n, tau = 100, 0.75
    count = rng.binomial(n, 0.9, size)
    table = mtest.binom_pvalue_table(n, tau)
    add("yardstick", size, "numpy gather table[count]", _best(lambda: table[count], repeats))
    add("binomial p-values", size, "scipy binom.sf (vectorized)", _best(lambda: binom.sf(count - 1, n, tau), 1))
    sample = 100 if quick else 300
    t0 = time.perf_counter()
    for c in count[:sample]:
        binomtest(int(c), n, tau, alternative="greater")
    add("binomial p-values", size, "scipy binomtest per call (extrapolated)",
        (time.perf_counter() - t0) / sample * size)
    t = _best(lambda: mtest.binom_pvalue(count, n, tau), repeats)
    add("binomial p-values", size, "mtest.binom_pvalue", t, "numpy gather table[count]", "<= 2x gather",
        lambda r: r <= 2)
    add("binomial p-values", size, "mtest.binom_pvalue", t, "scipy binomtest per call (extrapolated)",
        ">= 1e4x faster", lambda r: r <= 1e-4)
    add("binomial p-values", size, "mtest.binom_pvalue", t, "scipy binom.sf (vectorized)")
    steps.update()

    # SEGCERTIFY statistics on a 1024 x 2048 count map, n = 100
    shape = (256, 512) if quick else (1024, 2048)
    count_map = rng.binomial(100, rng.beta(20, 1, shape))
    guess = rng.integers(0, 19, shape)
    t = _best(lambda: mtest.segcertify(guess, count_map, n=100, tau=0.75, alpha=0.001, sigma=0.25), repeats)
    rows.append(_Row("segcertify statistics", int(np.prod(shape)), "mtest.segcertify (holm)", t,
                     "paper: ~30 s per image", t / 30.0, "< 50 ms", "yes" if t < 0.05 else "NO",
                     _peak_extra_mb(lambda: mtest.segcertify(guess, count_map, n=100, tau=0.75, alpha=0.001))))
    steps.update()
    steps.close()
    rows.append(_Row("numba compile (cold, no cache)", 0, "mtest kernels", _compile_seconds()))
    return Table([r.__dict__ for r in rows])


def format_table(df) -> str:
    """Markdown table of times and ratios."""
    lines = ["| work | N | implementation | time | vs | ratio | target | met | peak extra MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in (_Row(**row) for row in df):
        t = f"{r.seconds * 1e3:.2f} ms" if r.seconds < 10 else f"{r.seconds:.1f} s"
        ratio = "" if np.isnan(r.ratio) else (f"{r.ratio:.2e}" if r.ratio < 1e-2 else f"{r.ratio:.3f}")
        peak = "" if np.isnan(r.peak_extra_mb) else f"{r.peak_extra_mb:.1f}"
        size = f"{r.size:.0e}" if r.size else ""
        lines.append(f"| {r.work} | {size} | {r.impl} | {t} | {r.reference} | {ratio} | {r.target} | "
                     f"{r.ok} | {peak} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="mtest bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (seconds)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="folder for speed.csv and speed.md")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    df = run_benchmark(quick=args.quick, repeats=args.repeats, progress=not args.no_progress)
    table = format_table(df)
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "speed.csv")
        (out / "speed.md").write_text(table + "\n")
    return 0
