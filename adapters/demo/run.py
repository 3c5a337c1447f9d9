"""``mtest certify-demo``: the paper's Tables 1/2 in miniature on the shipped demo models."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..metrics import certified_accuracy_curve, plot_certified_accuracy, plot_segmentation, segmentation_metrics
from ..noise import GaussianNoise, RotationNoise
from ..sampler import SegmentationSmoother
from .data import IMAGE_CLASSES, POINT_CLASSES, make_images, make_point_clouds
from .models import load_model
from .train import TEST_SEED

__all__ = ["run_demo"]


def _row(setting, noise, n, tau, method, scores, radius, seconds):
    """One table row; ``scores`` are per-input SegmentationScores, averaged here."""
    return dict(setting=setting, noise=noise, n=n, tau=tau, method=method,
                acc=float(np.mean([s.accuracy for s in scores])), miou=float(np.mean([s.miou for s in scores])),
                abstain=float(np.mean([s.abstain_rate for s in scores])), radius=radius, seconds=seconds)


def _evaluate(task, models, smoothings, data, classes, n0, ns, settings, alpha, batch_size, device, progress):
    """Rows of the table and the runs used for figures."""
    inputs, targets = data
    rows, curves, examples = [], [], {}
    for label, model in models.items():
        t0 = time.perf_counter()
        scores = [segmentation_metrics(SegmentationSmoother(model, smoothings[0][1], device=device,
                                                            progress=False).predict(torch.from_numpy(x)),
                                       y, len(classes)) for x, y in zip(inputs, targets)]
        seconds = (time.perf_counter() - t0) / len(inputs)
        rows.append(_row(label, "-", "-", "-", "-", scores, float("nan"), seconds))
    model = models[list(models)[-1]]
    for noise_name, noise in smoothings:
        smoother = SegmentationSmoother(model, noise, batch_size=batch_size, device=device, progress=progress)
        for n in ns:
            runs = []
            for i, x in enumerate(inputs):
                runs.append(smoother.certify(torch.from_numpy(x), n0=n0, n=n, tau=0.75, alpha=alpha, seed=i))
            sampling = np.mean([r.seconds_sampling for r in runs])
            for tau, method in settings(n):
                decided = [r.recertify(tau, alpha, method=method) for r in runs]
                scores = [segmentation_metrics(d.labels, y, len(classes)) for d, y in zip(decided, targets)]
                certify = np.mean([d.seconds_certify for d in decided])
                rows.append(_row("SEGCERTIFY", noise_name, n, tau, method, scores, decided[0].radius,
                                 sampling + certify))
                if n == max(ns) and method == "holm":
                    curves += [dict(sigma=getattr(noise, "sigma", float("nan")), tau=tau, radius=d.radius,
                                    labels=d.labels, target=y) for d, y in zip(decided, targets)]
                    examples[(noise_name, n, tau)] = decided[0].labels
            if n == max(ns):  # more points for the certified-accuracy-against-radius curve
                for tau in (0.6, 0.85, 0.99):
                    decided = [r.recertify(tau, alpha) for r in runs]
                    curves += [dict(sigma=getattr(noise, "sigma", float("nan")), tau=tau, radius=d.radius,
                                    labels=d.labels, target=y) for d, y in zip(decided, targets)]
            rows[-1]["samples_per_second"] = (n0 + n) / sampling
    return rows, curves, examples


def format_rows(rows) -> str:
    head = "| setting | noise | n | τ | FWER | acc | mIoU | % abstain | radius | s/input |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        radius = "-" if np.isnan(r["radius"]) else f"{r['radius']:.3f}"
        lines.append(f"| {r['setting']} | {r['noise']} | {r['n']} | {r['tau']} | {r['method']} | {r['acc']:.3f} | "
                     f"{r['miou']:.3f} | {100 * r['abstain']:.1f} | {radius} | {r['seconds']:.2f} |")
    return "\n".join(lines)


def run_demo(task: str = "images", *, quick: bool = False, out="mtest-demo", n0: int = 10, alpha: float = 0.001,
             batch_size: int = 64, device: str = "cpu", progress: bool = True, count: int | None = None):
    """Certify the shipped demo model on generated test inputs; print the table, write figures.

    Returns ``(rows, markdown table, list of written files)``.
    """
    if task not in ("images", "pointclouds"):
        raise ValueError(f"task ({task!r}) not recognized; use 'images' or 'pointclouds'")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    ns = (50,) if quick else (100, 500)
    if task == "images":
        count = count or (2 if quick else 4)
        inputs, targets = make_images(count, seed=TEST_SEED)
        models = {"non-robust model (no noise in training)": load_model("images-clean", device),
                  "base model (trained with σ = 0.25), no smoothing": load_model("images-sigma0.25", device)}
        smoothings = [("Gaussian σ=0.25 (ℓ2)", GaussianNoise(0.25))]
        classes = IMAGE_CLASSES
    else:
        count = count or (3 if quick else 6)
        inputs, targets = make_point_clouds(count, seed=TEST_SEED)
        models = {"base model, no smoothing": load_model("pointclouds", device)}
        smoothings = [("Gaussian σ=0.05 (ℓ2)", GaussianNoise(0.05)), ("rotation z, σ=0.25 rad", RotationNoise(0.25))]
        classes = POINT_CLASSES
    def settings(n):
        """(tau, FWER method) per n: a high tau needs enough samples (0.95^100 > alpha / N)."""
        if quick:
            return [(0.75, "holm")]
        return [(0.75, "holm"), (0.75, "bonferroni"), (0.85 if n < 300 else 0.95, "holm")]

    rows, curves, examples = _evaluate(task, models, smoothings, (inputs, targets), classes, n0, ns, settings,
                                       alpha, batch_size, device, progress)
    table = format_rows(rows)
    files = []
    curve = certified_accuracy_curve(curves, len(classes))
    files.append(plot_certified_accuracy(curve, out / f"{task}_certified_accuracy.png",
                                         title=f"{task}: certified accuracy against radius (n = {max(ns)}, α = {alpha})"))
    panels = {f"{name}\nn={n}, τ={tau}": lab for (name, n, tau), lab in examples.items()}
    files.append(plot_segmentation(inputs[0], targets[0], panels, out / f"{task}_segmentation.png",
                                   title="certified segmentation (white = abstain)"))
    (out / f"{task}_table.md").write_text(table + "\n")
    files.append(out / f"{task}_table.md")
    return rows, table, files
