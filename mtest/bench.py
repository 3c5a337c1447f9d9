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
    cpu_seconds: float = float("nan")
    cpu_ratio: float = float("nan")


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its threads) over ``repeats``
    calls after a warm-up call. On a shared machine the CPU time is the work done: a
    single-threaded call waiting for a core does not add to it."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def _best(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after a warm-up call (the median: on a shared
    machine the best of a few calls is luck, the median is what a user sees)."""
    fn()  # warm-up: compiled kernels loaded, caches touched
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


#: SIMD flags of /proc/cpuinfo worth naming, in increasing order
_SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
               "avx512_vbmi2", "avx512_fp16")


def machine() -> dict:
    """What the ratios depend on: the CPU, its SIMD flags, numpy's dispatch level, core count.

    numpy's vectorized 64-bit sorts (x86-simd-sort) run at the highest dispatch target the CPU
    has: ``X86_V4``/``AVX512_SKX`` (AVX-512) or ``X86_V3``/``AVX2``; ``argsort`` has fewer SIMD
    paths, which is why mtest never calls it on large inputs (the measured ratio says which).
    """
    info = {"cpu": "", "simd": "", "numpy": np.__version__, "numpy_simd": "", "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name") and not info["cpu"]:
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["simd"] = " ".join(f for f in _SIMD_FLAGS if f in flags)
                break
    except OSError:  # not Linux: the platform module names the CPU at least
        import platform

        info["cpu"] = platform.processor() or platform.machine()
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        found = [t for t in __cpu_dispatch__ if __cpu_features__.get(t)]
        info["numpy_simd"] = ("dispatch " + ", ".join(found)) if found else "baseline only"
    except ImportError:  # numpy < 2
        info["numpy_simd"] = "unknown (numpy < 2)"
    return info


def sort_dispatch(size: int = 1_000_000, repeats: int = 5) -> str:
    """numpy's sort paths as measured: float64 sort, uint64 sort and float64 argsort of one array."""
    p = np.random.default_rng(1).random(size)
    keys = p.view(np.uint64).copy()
    t_sort = _best(lambda: np.sort(p), repeats)
    t_u64 = _best(lambda: np.sort(keys), repeats)
    t_arg = _best(lambda: np.argsort(p), repeats)
    return (f"np.sort float64 {t_sort * 1e3:.1f} ms, np.sort uint64 {t_u64 * 1e3:.1f} ms, "
            f"np.argsort float64 {t_arg * 1e3:.1f} ms ({t_arg / t_sort:.1f}x the sort) at {size:.0e}")


def machine_line() -> str:
    m = machine()
    return (f"CPU: {m['cpu'] or 'unknown'} ({m['cores']} cores); SIMD: {m['simd'] or 'unknown'}; "
            f"numpy {m['numpy']}: {m['numpy_simd']}")


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
    """Cold JIT compile of the core kernels, in a fresh process with an empty Numba cache (on
    10^5 p-values: a smaller input runs on numpy and compiles nothing, ``mtest._small``)."""
    import tempfile

    code = ("import time, numpy as np; t = time.perf_counter(); import mtest; "
            "p = np.random.default_rng(0).random(100_000); mtest.holm(p).pvalues_adjusted; "
            "mtest.segcertify(np.zeros(10, int), np.full(10, 90), n=100, tau=0.75, alpha=0.01); "
            "mtest.reject(p, 0.05, 'bonferroni'); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def _inputs(kind: str, n: int, seed: int = 0) -> np.ndarray:
    """The p-values of the full-sort and counting comparisons (built in chunks, so that building
    them leaves no high-water mark above the array itself)."""
    rng = np.random.default_rng(seed)
    p = np.empty(n)
    for a in range(0, n, 1 << 20):
        b = min(n, a + (1 << 20))
        u = rng.random(b - a)
        if kind == "tiny":  # every p-value tiny: every adjusted value needs its exact rank
            u *= 1e-12
        elif kind == "mixed":  # 90 % below 1e-12, as in segmentation certificates
            u = np.where(rng.random(b - a) < 0.9, u * 1e-12, u)
        p[a:b] = u
    return p


KINDS = {"uniform": "uniform p", "mixed": "90 % < 1e-12", "tiny": "all < 1e-12"}

_PEAK_CODE = """
import sys, numpy as np, mtest
from mtest.bench import _inputs
kind, method, n, what = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
call = (lambda q: mtest.adjust(q, method)) if what == "adjust" else (lambda q: mtest.reject(q, 0.05, method))
call(_inputs(kind, 300_000))  # compiled kernels and threads started: not counted
p = _inputs(kind, n)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
before = status("VmRSS:")
out = call(p)
print((status("VmHWM:") - before) / n)
"""


def extra_bytes_per_pvalue(kind: str, method: str, n: int, what: str = "adjust") -> float:
    """Peak resident memory of one call beyond its input, per p-value (the output included),
    measured in a fresh process (Linux; NaN elsewhere). Numba's allocations are invisible to
    tracemalloc, so this reads the kernel's high-water mark instead."""
    if not os.path.exists("/proc/self/clear_refs"):
        return float("nan")
    out = subprocess.run([sys.executable, "-c", _PEAK_CODE, kind, method, str(n), what],
                         capture_output=True, text=True)
    try:
        return float(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return float("nan")


def full_sort_and_counting(sizes=(10_000_000,), repeats: int = 5, memory: bool = True,
                           progress: bool = True):
    """The issue-17 comparisons, every ratio from this run: adjusted p-values (Holm, Hochberg,
    BH) against ``np.sort`` of the same float64 array, and rejections (Holm, BH) against one
    ``np.sum`` pass and statsmodels ``multipletests``, for uniform, mixed and all-tiny inputs.
    Each reference is timed right before the calls it is compared with (statsmodels, ~2 s a
    call at 10^7: the median of at most 3 calls)."""
    import mtest

    multipletests = _statsmodels()
    rows = []

    def row(work, n, impl, timed, ref=None, target="", ok=None, peak=float("nan")):
        wall, cpu = timed
        ratio = cpu_ratio = float("nan")
        if ref is not None:
            ratio, cpu_ratio = wall / ref[1][0], cpu / ref[1][1]
        verdict = "" if ok is None else ("yes" if ok(ratio) else "NO")
        rows.append(_Row(work, n, impl, wall, ref[0] if ref else "", ratio, target, verdict, peak,
                         cpu, cpu_ratio))

    for n in sizes:
        for kind in KINDS:
            p = _inputs(kind, n)
            if progress:
                print(f"  {n:.0e} {kind}", file=sys.stderr, flush=True)
            sort = (f"np.sort ({KINDS[kind]})", _timed(lambda: np.sort(p), repeats))
            row("yardstick", n, sort[0], sort[1])
            for method, name in [("holm", "Holm"), ("hochberg", "Hochberg"), ("fdr_bh", "BH")]:
                timed = _timed(lambda: mtest.adjust(p, method), repeats)
                peak = extra_bytes_per_pvalue(kind, method, n) if memory else float("nan")
                row(f"{name} adjusted", n, f"mtest ({KINDS[kind]})", timed, sort, "<= 1.5x np.sort",
                    lambda r: r <= 1.5, peak)
            if kind == "tiny":
                continue
            total = (f"np.sum ({KINDS[kind]})", _timed(lambda: np.sum(p), repeats))
            row("yardstick", n, total[0], total[1])
            for method, name in [("holm", "Holm"), ("fdr_bh", "BH")]:
                timed = _timed(lambda: mtest.reject(p, 0.05, method), repeats)
                row(f"{name} rejections", n, f"mtest ({KINDS[kind]})", timed, total, "<= 2x np.sum",
                    lambda r: r <= 2)
                if multipletests is not None:
                    reference = (f"statsmodels ({KINDS[kind]})",
                                 _timed(lambda: multipletests(p, 0.05, method), min(3, repeats)))
                    row(f"{name} rejections", n, f"mtest ({KINDS[kind]})", timed, reference,
                        ">= 200x faster", lambda r: r <= 1 / 200)
    return rows


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


def format_section(rows) -> str:
    """Markdown table of the full-sort and counting comparisons: wall time and CPU time (this
    process, all threads) with their ratios to the reference timed right before; extra bytes
    per p-value: peak resident memory beyond the input, the float64 output included."""
    lines = ["| work | N | input | wall | CPU | vs | wall ratio | CPU ratio | target (wall) | met | "
             "extra B / p-value |", "|---|---|---|---|---|---|---|---|---|---|---|"]

    def show(r):
        if np.isnan(r):
            return ""
        return f"{1 / r:.0f}x faster" if r < 0.05 else f"{r:.2f}"

    for r in rows:
        peak = "" if np.isnan(r.peak_extra_mb) else f"{r.peak_extra_mb:.1f}"
        lines.append(f"| {r.work} | {r.size:.0e} | {r.impl} | {r.seconds * 1e3:.1f} ms | "
                     f"{r.cpu_seconds * 1e3:.1f} ms | {r.reference} | {show(r.ratio)} | "
                     f"{show(r.cpu_ratio)} | {r.target} | {r.ok} | {peak} |")
    return "\n".join(lines)


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
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (seconds) (default: 10^7 values)")
    ap.add_argument("--repeats", type=int, default=5, help="timings per measurement, median kept (default: %(default)s)")
    ap.add_argument("--out", default=None, help="folder for speed.csv, speed.md and full_sort.md (default: print only)")
    ap.add_argument("--no-progress", action="store_true", help="no progress output (default: progress on stderr)")
    ap.add_argument("--section", choices=("all", "full-sort"), default="all",
                    help="all (default) or full-sort: only the adjusted-value and rejection ratios of issue 17")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses (default: measure memory)")
    args = ap.parse_args(argv)
    head = [machine_line(), sort_dispatch(100_000 if args.quick else 1_000_000, 1 if args.quick else 5)]
    print("\n".join(head), flush=True)
    sizes = (100_000,) if args.quick else (10_000_000,)
    rows = full_sort_and_counting(sizes, 1 if args.quick else args.repeats, memory=not args.no_memory,
                                  progress=not args.no_progress)
    section = format_section(rows)
    print(section, flush=True)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "full_sort.md").write_text("\n".join(head) + "\n\n" + section + "\n")
    if args.section == "full-sort":
        return 0
    df = run_benchmark(quick=args.quick, repeats=args.repeats, progress=not args.no_progress)
    table = format_table(df)
    print(table)
    if out:
        df.to_csv(out / "speed.csv")
        (out / "speed.md").write_text(table + "\n")
    return 0
