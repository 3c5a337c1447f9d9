"""Scale benchmark: Holm and BH over N = 10^7 / 10^8 (/ 10^9 with --billion) p-values stored as
partitioned Parquet, streamed (mtest.adjust_files), in memory, and on a Dask LocalCluster.

    python benchmarks/scale.py --n 1e7 1e8 --out results/scale      # table on stdout + scale.csv
    python benchmarks/scale.py --billion --out results/scale        # adds N = 10^9 (~12 GB on disk)
    python benchmarks/scale.py --n 1e9 1e7 1e8 --skip 1e9:fdr_bh:dask --data /tmp/d --delete-data

Each finished run is appended to ``<out>/scale.csv`` at once (with its CPU seconds, workers included, and the 1-minute load average
before and after it), so an interrupted benchmark still leaves its figures.

The data: N p-values in 24 files ``chrom=<c>/part-0.parquet`` (columns ``pos`` int64, ``p``
float64), seeded; ``N // 10^4`` signals have p = U * 1e-12 (every one a true discovery for Holm and
BH at 0.05 up to N = 10^10), the rest are uniform. Each run is a child process, so that its peak
RSS (``ru_maxrss``) is its own; Dask workers report theirs through ``client.run``.

Runs, per N and method (holm, fdr_bh):

* ``stream``: ``mtest.adjust_files`` — read, reject, adjusted values, write Parquet.
* ``memory``: read the column into one array, ``mtest.reject`` + ``pvalues_adjusted`` (no write);
  only up to 10^8 (at 10^9 the array alone is 8 GB).
* ``dask``: ``LocalCluster(n_workers=2, threads_per_worker=1)``, the column as a Dask array
  (one block per file), ``mtest.reject`` + the adjusted values reduced to a count
  (computed, not written); every pass reads the files again.
* ``dask-persist`` (not run by default): the same after ``x.persist()`` (timed): the files are
  read once, and the workers hold all values (8 bytes each).

Timings are wall-clock on whatever machine runs it; say which one when quoting them.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

N_FILES = 24
ALPHA = 0.05


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def generate(folder: Path, n: int, seed: int = 0, progress: bool = True) -> Path:
    """N p-values in 24 Parquet files (skipped if the folder is complete)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    done = folder / "_COMPLETE"
    if done.exists():
        return folder
    rng = np.random.default_rng(seed)
    n_signal = n // 10_000
    sizes = np.full(N_FILES, n // N_FILES)
    sizes[: n % N_FILES] += 1
    signal_file = rng.integers(0, N_FILES, n_signal)
    chunk = 1 << 23
    for c in tqdm(range(N_FILES), desc=f"generate {n:.0e}", delay=2.0, disable=not progress,
                  file=sys.stderr):
        out = folder / f"chrom={c + 1}" / "part-0.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        k = int(np.count_nonzero(signal_file == c))
        writer = None
        for start in range(0, int(sizes[c]), chunk):
            size = min(chunk, int(sizes[c]) - start)
            p = rng.uniform(size=size)
            if start == 0:
                p[:k] = rng.uniform(size=k) * 1e-12
            table = pa.table({"pos": np.arange(start, start + size, dtype=np.int64), "p": p})
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
        writer.close()
    done.write_text(json.dumps({"n": n, "signals": int(n_signal), "seed": seed}))
    return folder


# ------------------------------------------------------------------------------ children


def _child_stream(data: Path, method: str, out: Path):
    import mtest

    t0 = time.perf_counter()
    res = mtest.adjust_files(data, out, method=method, alpha=ALPHA, progress=True)
    return time.perf_counter() - t0, res.n_rejected, res.n_tests, {}


def _child_memory(data: Path, method: str, out: Path):
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    import mtest

    t0 = time.perf_counter()
    files = sorted(data.rglob("*.parquet"))
    parts = [pq.read_table(f, columns=["p"]).column("p").to_numpy()
             for f in tqdm(files, desc="read", delay=2.0, file=sys.stderr)]
    p = np.concatenate(parts)
    del parts
    t_read = time.perf_counter() - t0
    res = mtest.reject(p, ALPHA, method)
    adjusted = res.pvalues_adjusted
    assert adjusted.size == p.size
    return time.perf_counter() - t0, res.n_rejected, res.n_tests, {"read_s": round(t_read, 2)}


def _read_p(path):
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["p"]).column("p").to_numpy()


def _child_dask_persist(data: Path, method: str, out: Path):
    return _child_dask(data, method, out, persist=True)


def _child_dask(data: Path, method: str, out: Path, persist: bool = False):
    import dask
    import dask.array as da
    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster

    import mtest

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit="6GB")
    client = Client(cluster)
    try:
        t0 = time.perf_counter()
        files = sorted(data.rglob("*.parquet"))  # one block per file, lengths from the metadata
        x = da.concatenate([da.from_delayed(dask.delayed(_read_p)(str(f)),
                                            shape=(pq.ParquetFile(f).metadata.num_rows,),
                                            dtype=np.float64) for f in files])
        if persist:  # read the files once into the workers' memory (8 bytes per value)
            from distributed import wait

            x = x.persist()
            wait(x)
        res = mtest.reject(x, ALPHA, method)
        n_adj = int((res.pvalues_adjusted <= ALPHA).sum().compute())
        assert n_adj == res.n_rejected, (n_adj, res.n_rejected)
        wall = time.perf_counter() - t0
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
        return wall, res.n_rejected, res.n_tests, {
            "worker_peak_rss_gb": round(max(workers.values()), 2), "blocks": len(x.to_delayed().ravel())}
    finally:
        client.close()
        cluster.close()


CHILDREN = {"stream": _child_stream, "memory": _child_memory, "dask": _child_dask,
            "dask-persist": _child_dask_persist}


def _run_child(kind, data, method, out):
    cmd = [sys.executable, __file__, "--child", kind, str(data), method, str(out)]
    load_before = os.getloadavg()[0]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the run and every process it waited for (Dask workers included): on a
    # shared machine a steadier figure than wall time
    cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    load = {"load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "cpu_s": round(cpu, 1)}
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}", **load}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), **load}


FIELDS = ["n", "method", "run", "wall_s", "cpu_s", "peak_rss_gb", "worker_peak_rss_gb", "throughput_per_s",
          "n_rejected", "n_tests", "load_before", "load_after", "read_s", "blocks", "error"]


def _append_csv(path: Path, row: dict) -> None:
    """One line per finished run, written at once (a partial benchmark keeps its figures)."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def _skipped(skip, n, method, kind) -> bool:
    for item in skip:
        sn, sm, sk = item.split(":")
        if int(float(sn)) == n and sm in (method, "*") and sk in (kind, "*"):
            return True
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", nargs="+", type=float, default=[1e7])
    parser.add_argument("--billion", action="store_true", help="add N = 10^9 (~12 GB on disk)")
    parser.add_argument("--methods", nargs="+", default=["holm", "fdr_bh"])
    parser.add_argument("--runs", nargs="+", default=["stream", "memory", "dask"])
    parser.add_argument("--data", default="bench-data", help="folder for the generated Parquet")
    parser.add_argument("--out", default="results/scale")
    parser.add_argument("--skip", nargs="*", default=[],
                        help="runs to leave out, as N:method:run (method/run may be *), "
                             "e.g. 1e9:fdr_bh:dask")
    parser.add_argument("--delete-data", action="store_true",
                        help="remove each N's generated Parquet after its runs")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, data, method, out = args.child
        wall, r, m, extra = CHILDREN[kind](Path(data), method, Path(out))
        print(json.dumps({"wall_s": round(wall, 2), "n_rejected": int(r), "n_tests": int(m),
                          "peak_rss_gb": round(_rss_gb(), 2), **extra}))
        return 0
    sizes = [int(n) for n in args.n] + ([10**9] if args.billion else [])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    csv_path = out / "scale.csv"
    for n in sizes:
        t0 = time.perf_counter()
        data = generate(Path(args.data) / f"n{n:.0e}", n)
        print(json.dumps({"n": n, "generate_s": round(time.perf_counter() - t0, 1)}), flush=True)
        for method in args.methods:
            for kind in args.runs:
                if (kind == "memory" and n > 10**8) or _skipped(args.skip, n, method, kind):
                    continue
                target = out / f"adjusted-{n:.0e}-{method}"
                result = _run_child(kind, data, method, target)
                row = {"n": n, "method": method, "run": kind, **result}
                if "wall_s" in result:
                    row["throughput_per_s"] = f"{n / result['wall_s']:.3g}"
                rows.append(row)
                _append_csv(csv_path, row)
                print(json.dumps(row), flush=True)
                if target.exists():
                    shutil.rmtree(target)
        if args.delete_data:
            shutil.rmtree(data)
    print("\n| N | method | run | wall (s) | CPU (s) | peak RSS (GB) | throughput (p/s) | rejected | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rss = r.get("peak_rss_gb", "")
        if "worker_peak_rss_gb" in r:
            rss = f"{rss} (+ workers {r['worker_peak_rss_gb']})"
        print(f"| {r['n']:.0e} | {r['method']} | {r['run']} | {r.get('wall_s', r.get('error'))} | "
              f"{r.get('cpu_s', '')} | "
              f"{rss} | {r.get('throughput_per_s', '')} | {r.get('n_rejected', '')} | "
              f"{r.get('load_before', '')}–{r.get('load_after', '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
