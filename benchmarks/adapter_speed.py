"""Sampler cost: model forward alone against forward + on-device counting, samples/s, peak memory.

    python benchmarks/adapter_speed.py --model segformer-b0 --device cuda --sizes 512x1024,1024x2048 --n 64
    python benchmarks/adapter_speed.py --model segformer-b0 --device cpu --sizes 512x1024 --batch-size 1 --n 2
    python benchmarks/adapter_speed.py --model fcn --device cpu --sizes 256x512 --batch-size 4 --n 16

Models: ``fcn`` (the demo's dilated FCN, 19 classes) or a random-init SegFormer (``segformer-b0``,
``segformer-b1``: the published encoder sizes, 19 Cityscapes classes) wrapped in
``mtest.adapters.HFSegmentation`` (ImageNet normalization inside, ¼-resolution logits
upsampled to the input size). The forward-only baseline draws the same per-sample noise and runs
the same wrapped model; the difference is the argmax and the counting (per-class counts for the
n0 guesses, matches with the guess for the n counting samples). Peak memory: on CUDA the
allocator's peak during ``counts`` for n = 1, 4 and 16 batches (it must not grow with n); on CPU
the process's peak resident set size (``ru_maxrss``), which only grows, so sizes run smallest first.
On CPU the process's CPU time per batch is printed too: on a machine shared with other jobs the
wall-clock times swing with the load, the CPU time much less.
"""
from __future__ import annotations

import argparse
import math
import resource
import time

import torch

import mtest.adapters as ad
from mtest.adapters.demo.models import ImageFCN
from mtest.adapters.sampler import COUNT_PHASE, phase_seeds


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_only(smoother, x, n, seed=0):
    seeds = phase_seeds(seed, COUNT_PHASE, n)
    with smoother.evaluation():
        for start in range(0, n, smoother.batch_size):
            out = smoother.model(smoother.noisy_batch(x, seeds[start:start + smoother.batch_size]))
    return out


def build_model(name: str, classes: int):
    if name == "fcn":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return ImageFCN(classes=classes, width=24)
    size = name.split("-", 1)[1]
    return ad.HFSegmentation(ad.random_segformer(size, num_labels=classes),
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def measure(model, device, height, width, batch_size, n, autocast):
    x = torch.rand(3, height, width, device=device)
    smoother = ad.SegmentationSmoother(model, ad.GaussianNoise(0.25), batch_size=batch_size, device=device,
                                       autocast=autocast, progress=False)
    forward_only(smoother, x, batch_size)  # warm-up (cuDNN autotuning, allocator, lazy init)
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    forward_only(smoother, x, n)
    _sync(device)
    t_forward, c_forward = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    smoother.counts(x, n0=batch_size, n=n)  # n0 = one batch, as the forward-only run has no guess
    _sync(device)
    t_count, c_count = time.perf_counter() - t0, time.process_time() - c0
    # the counting run also did one batch of guessing: compare per forward pass
    batches = math.ceil(n / batch_size)
    per_fwd, per_cnt = t_forward / batches, t_count / (batches + 1)
    cpu_fwd, cpu_cnt = c_forward / batches, c_count / (batches + 1)
    row = dict(height=height, width=width, batch=batch_size, n=n, ms_forward=1e3 * per_fwd, ms_counting=1e3 * per_cnt,
               samples_per_s_forward=batch_size / per_fwd, samples_per_s=batch_size / per_cnt,
               overhead_pct=100 * (per_cnt / per_fwd - 1), cpu_s_forward=cpu_fwd, cpu_s_counting=cpu_cnt,
               cpu_overhead_pct=100 * (cpu_cnt / cpu_fwd - 1))
    if device.type == "cuda":
        peaks = []
        for k in (1, 4, 16):
            torch.cuda.reset_peak_memory_stats(device)
            smoother.counts(x, n0=batch_size, n=k * batch_size)
            _sync(device)
            peaks.append(torch.cuda.max_memory_allocated(device) / 2 ** 20)
        row["peak_mib"] = " / ".join(f"{p:.0f}" for p in peaks) + " (n = 1, 4, 16 batches)"
    else:
        row["peak_mib"] = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} (process peak RSS)"
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="segformer-b0", choices=["fcn", "segformer-b0", "segformer-b1"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default="512x1024,1024x2048", help="HxW,HxW,... (smallest first)")
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--n", type=int, default=64, help="counting samples of the timed runs")
    ap.add_argument("--autocast", action="store_true", help="float16 autocast (CUDA)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    model = build_model(args.model, args.classes).to(device)
    params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"{args.model} ({params / 1e6:.1f} M parameters, {args.classes} classes) on {name}; batch {args.batch_size}, "
          f"n = {args.n}{', autocast float16' if args.autocast else ''}")
    cpu = device.type == "cpu"
    extra = " CPU s/batch: forward / + counting | overhead in CPU time |" if cpu else ""
    print("| input | forward only (ms/batch) | forward + counting (ms/batch) | samples/s | counting overhead | "
          "peak memory (MiB) |" + extra)
    print("|---|---|---|---|---|---|" + ("---|---|" if cpu else ""))
    for height, width in sizes:
        r = measure(model, device, height, width, args.batch_size, args.n, args.autocast)
        print(f"| 3×{height}×{width} | {r['ms_forward']:.1f} | {r['ms_counting']:.1f} | {r['samples_per_s']:.2f} | "
              f"{r['overhead_pct']:+.1f} % | {r['peak_mib']} |"
              + (f" {r['cpu_s_forward']:.2f} / {r['cpu_s_counting']:.2f} | {r['cpu_overhead_pct']:+.1f} % |" if cpu else ""),
              flush=True)


if __name__ == "__main__":
    main()
