"""Sampler cost: model forward alone against forward + on-device counting, and peak memory against n.

    python benchmarks/adapter_speed.py --device cuda --height 1024 --width 2048   # on a GPU
    python benchmarks/adapter_speed.py --device cpu --height 256 --width 512      # CPU-sized

The forward-only baseline draws the same per-sample noise and runs the same model; the difference
is the argmax and the counting (per-class counts for the n0 guesses, matches with the guess for
the n counting samples). Goal: counting adds <= 5 %, and peak device memory does not grow with n.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import mtest.adapters as ad
from mtest.adapters.demo.models import ImageFCN
from mtest.adapters.sampler import _COUNT, _phase_seeds


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_only(smoother, x, n, seed=0):
    seeds = _phase_seeds(seed, _COUNT, n)
    with smoother._eval():
        for start in range(0, n, smoother.batch_size):
            out = smoother.model(smoother._noisy_batch(x, seeds[start:start + smoother.batch_size]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--autocast", action="store_true")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    model = ImageFCN(classes=args.classes, width=24).to(device)
    x = torch.rand(3, args.height, args.width, device=device)
    smoother = ad.SegmentationSmoother(model, ad.GaussianNoise(0.25), batch_size=args.batch_size, device=device,
                                       autocast=args.autocast, progress=False)
    smoother.counts(x, n0=args.batch_size, n=args.batch_size)  # warm-up (cuDNN autotuning, allocator)
    forward_only(smoother, x, args.batch_size)

    _sync(device)
    t0 = time.perf_counter()
    forward_only(smoother, x, args.n)
    _sync(device)
    t_forward = time.perf_counter() - t0
    t0 = time.perf_counter()
    smoother.counts(x, n0=args.batch_size, n=args.n)  # n0 = one batch, as the forward-only run has no guess
    _sync(device)
    t_count = time.perf_counter() - t0
    # the counting run also did one batch of guessing: compare per forward pass
    per_fwd = t_forward / math.ceil(args.n / args.batch_size)
    per_cnt = t_count / (math.ceil(args.n / args.batch_size) + 1)
    print(f"device {device}, input 3x{args.height}x{args.width}, {args.classes} classes, batch {args.batch_size}")
    print(f"forward only:       {per_fwd * 1e3:8.1f} ms per batch ({args.batch_size / per_fwd:.1f} samples/s)")
    print(f"forward + counting: {per_cnt * 1e3:8.1f} ms per batch ({args.batch_size / per_cnt:.1f} samples/s)")
    print(f"counting overhead:  {100 * (per_cnt / per_fwd - 1):+.1f} %  (goal <= 5 %)")
    if device.type == "cuda":
        for n in (args.batch_size, 4 * args.batch_size, 16 * args.batch_size):
            torch.cuda.reset_peak_memory_stats(device)
            smoother.counts(x, n0=args.batch_size, n=n)
            _sync(device)
            print(f"n = {n:5d}: peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:9.1f} MiB")
    else:
        print("peak device memory: measured on CUDA only (torch.cuda.max_memory_allocated)")


if __name__ == "__main__":
    main()
