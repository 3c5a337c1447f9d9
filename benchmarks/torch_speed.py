"""mtest on torch tensors against ``torch.sort`` of the same tensor and the numpy CPU path.

    python benchmarks/torch_speed.py                          # CPU torch
    python benchmarks/torch_speed.py --device cuda --out results/torch_speed_cuda.csv
    python benchmarks/torch_speed.py --quick                  # seconds, small sizes

Every mtest-on-torch time stands next to two references measured in the same run on the same
data: ``torch.sort`` of the tensor along the family axis (the physical anchor: a full sort is
what adjusted p-values need, and a memory pass is what rejections need, so ``torch.sum`` is
printed too) and the numpy path (``mtest.reject`` / ``mtest.adjust`` on the host array, one call
per family for batches). Each row also says whether the torch result equals the numpy path's
bit for bit (``exact``) or to how many ulps (Šidák), so a GPU run doubles as the device check.
Times are the best of ``--repeats`` after a warm-up call, with ``torch.cuda.synchronize()``
around each call on CUDA. Self-contained: needs only mtest, numpy and torch.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time

import numpy as np
import torch

import mtest
from mtest._torch_backend import adjust_torch, reject_torch

CASES = [  # (label, method, k, what)
    ("bonferroni rejections", "bonferroni", 1, "reject"),
    ("holm rejections", "holm", 1, "reject"),
    ("lehmann-romano k=10 rejections", "lehmann-romano", 10, "reject"),
    ("hochberg rejections", "hochberg", 1, "reject"),
    ("BH rejections", "fdr_bh", 1, "reject"),
    ("holm adjusted", "holm", 1, "adjust"),
    ("hochberg adjusted", "hochberg", 1, "adjust"),
    ("BH adjusted", "fdr_bh", 1, "adjust"),
    ("holm-sidak adjusted", "holm-sidak", 1, "adjust"),
]


def data(kind: str, shape, rng) -> np.ndarray:
    if kind == "uniform":
        return rng.random(shape)
    if kind == "mixed":  # 90 % below 1e-12, as in segmentation
        return np.where(rng.random(shape) < 0.9, 10.0 ** rng.uniform(-16, -12, shape),
                        rng.random(shape))
    raise ValueError(kind)


CLOCK = time.perf_counter


def best_time(fn, repeats: int, sync) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = CLOCK()
        fn()
        sync()
        best = min(best, CLOCK() - start)
    return best


def numpy_path(host: np.ndarray, method: str, k: int, what: str, batched: bool):
    """The numpy path on every family: (reject mask, adjusted) as arrays of host's shape."""
    rows = host if batched else host.reshape(1, -1)
    if what == "reject":
        return np.stack([mtest.reject(row, 0.05, method, k=k).reject for row in rows]).reshape(host.shape)
    return np.stack([mtest.adjust(row, method, k=k) for row in rows]).reshape(host.shape)


def agreement(got: np.ndarray, want: np.ndarray) -> str:
    if got.dtype == bool:
        return "exact" if np.array_equal(got, want) else f"DIFFERS ({np.count_nonzero(got != want)})"
    if np.array_equal(got.view(np.int64), want.view(np.int64)):
        return "exact"
    return f"{int(np.max(np.abs(got.view(np.int64) - want.view(np.int64))))} ulp"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (default cpu)")
    parser.add_argument("--out", default=None, help="CSV file to write")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--only", default=None, choices=["reject", "adjust"],
                        help="only rejections or only adjusted p-values")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated shapes, e.g. '1000000,1000x10000' (default: 10^6, "
                             "10^7, 1000x10^4)")
    parser.add_argument("--clock", default="wall", choices=["wall", "process"],
                        help="'process': CPU time of this process (all threads), for a loaded "
                             "shared CPU machine; CPU devices only")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    global CLOCK
    if args.clock == "process":
        if args.device != "cpu":
            parser.error("--clock process measures CPU time: use it with --device cpu")
        CLOCK = time.process_time

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: rerun with --device cpu", file=sys.stderr)
        return 2
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    dtype = getattr(torch, args.dtype)
    shapes = [(10**5,), (100, 1000)] if args.quick else [(10**6,), (10**7,), (1000, 10**4)]
    if args.sizes:
        shapes = [tuple(int(n) for n in item.split("x")) for item in args.sizes.split(",")]
    print(f"device: {device_name(device)}")
    print(f"torch {torch.__version__}, numpy {np.__version__}, mtest {mtest.__version__}, "
          f"python {platform.python_version()}, dtype {args.dtype}, clock {args.clock}")

    rng = np.random.default_rng(0)
    rows = []
    header = ["work", "shape", "data", "implementation", "ms", "vs torch.sort", "vs numpy path",
              "torch = numpy"]
    width = [30, 12, 8, 18, 10, 13, 13, 13]
    print(" | ".join(h.ljust(w) for h, w in zip(header, width)), flush=True)

    def emit(row):
        rows.append(row)
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        print(" | ".join(c.ljust(w) for c, w in zip(cells, width)), flush=True)
    for shape in shapes:
        batched = len(shape) == 2
        axis = 1 if batched else None
        for kind in ("uniform", "mixed"):
            host = data(kind, shape, rng).astype(args.dtype)
            x = torch.from_numpy(host).to(device)
            label = "x".join(f"{n:.0e}" if n >= 10**4 else str(n) for n in shape)
            t_sort = best_time(lambda: torch.sort(x, dim=-1), args.repeats, sync)
            t_sum = best_time(lambda: x.sum(dim=-1), args.repeats, sync)
            emit(["yardstick", label, kind, "torch.sort", t_sort * 1e3, "", "", ""])
            emit(["yardstick", label, kind, "torch.sum (one pass)", t_sum * 1e3, "", "", ""])
            for work, method, k, what in CASES:
                if args.only and what != args.only:
                    continue
                if what == "reject":
                    fn = lambda: reject_torch(x, 0.05, method, k=k, axis=axis)  # noqa: E731
                    got = lambda: fn().reject.cpu().numpy()  # noqa: E731
                else:
                    fn = lambda: adjust_torch(x, method, k=k, axis=axis)  # noqa: E731
                    got = lambda: fn().cpu().numpy()  # noqa: E731
                t_torch = best_time(fn, args.repeats, sync)
                t_numpy = best_time(lambda: numpy_path(host, method, k, what, batched),
                                    max(1, args.repeats - 1), lambda: None)
                same = agreement(got(), numpy_path(host, method, k, what, batched))
                emit([work, label, kind, "numpy path (CPU)", t_numpy * 1e3, t_numpy / t_sort, "", ""])
                emit([work, label, kind, f"mtest torch ({device.type})", t_torch * 1e3,
                      t_torch / t_sort, t_torch / t_numpy, same])
            del x
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["device", "torch", "dtype"] + header)
            for row in rows:
                writer.writerow([device_name(device), torch.__version__, args.dtype] + row)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
