"""``mtest certify-demo``: the paper's Tables 1/2 in miniature on the shipped demo models."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch

import mtest
from mtest._validation import check_alpha, check_positive_int

from ..metrics import certified_accuracy_curve, dataset_metrics, plot_certified_accuracy, plot_segmentation
from ..noise import GaussianNoise, RotationNoise
from ..sampler import SegmentationSmoother
from .data import IMAGE_CLASSES, POINT_CLASSES, make_images, make_point_clouds
from .models import load_model
from .train import TEST_SEED

__all__ = ["run_demo", "format_rows"]


def _row(setting, noise, n, tau, method, labels, targets, classes, radius, seconds, unit=""):
    """One table row: scores over all inputs as in the paper's Table 1 (one confusion matrix);
    ``miou_per_input`` (the mean of per-input mIoUs) is kept for comparison, not printed."""
    scores = dataset_metrics(labels, targets, len(classes))
    per_input = dataset_metrics(labels, targets, len(classes), average="per-input")
    return dict(setting=setting, noise=noise, n=n, tau=tau, method=method, acc=scores.accuracy, miou=scores.miou,
                abstain=scores.abstain_rate, miou_per_input=per_input.miou,
                certified=int(sum(np.count_nonzero(np.asarray(lab) != mtest.ABSTAIN) for lab in labels)),
                radius=radius, radius_unit=unit, seconds=seconds)


def _check_can_certify(ns, settings, alpha, components):
    """No component can be certified when even n matches out of n is not significant at alpha / N
    (Holm's first step equals Bonferroni's): refuse such settings before sampling."""
    for n in ns:
        for tau, method in settings(n):
            smallest = float(mtest.binom_pvalue(n, n, tau, "greater"))
            if smallest > alpha / components:
                raise ValueError(f"no component can be certified with n={n}, tau={tau}, alpha={alpha:g} over "
                                 f"N={components} components: the smallest p-value tau^n = {smallest:.3g} exceeds "
                                 f"alpha/N = {alpha / components:.3g}; raise n or alpha")


def _evaluate(models, smoothings, data, classes, n0, ns, settings, alpha, batch_size, device, bar, task):
    """Rows of the table and the runs used for figures."""
    inputs, targets = data
    rows, curves, examples = [], [], {}
    for label, model in models.items():
        t0 = time.perf_counter()
        predictor = SegmentationSmoother(model, smoothings[0][1], device=device, progress=False)
        labels = [predictor.predict(torch.from_numpy(x)) for x in inputs]
        seconds = (time.perf_counter() - t0) / len(inputs)
        rows.append(_row(label, "-", "-", "-", "-", labels, targets, classes, float("nan"), seconds))
    model = models[list(models)[-1]]
    for noise_name, noise in smoothings:
        smoother = SegmentationSmoother(model, noise, batch_size=batch_size, device=device, progress=False)
        unit = getattr(noise, "radius_unit", "")
        for n in ns:
            runs = []
            for i, x in enumerate(inputs):
                bar.set_description(f"{task} {i + 1}/{len(inputs)}, {noise_name}, n0={n0}, n={n}")
                runs.append(smoother.certify(torch.from_numpy(x), n0=n0, n=n, tau=0.75, alpha=alpha, seed=i))
                bar.update(1)
            sampling = np.mean([r.seconds_sampling for r in runs])
            for tau, method in settings(n):
                decided = [r.recertify(tau, alpha, method=method) for r in runs]
                certify = np.mean([d.seconds_certify for d in decided])
                rows.append(_row("SEGCERTIFY", noise_name, n, tau, method, [d.labels for d in decided], targets,
                                 classes, decided[0].radius, sampling + certify, unit))
                if n == max(ns) and method == "holm":
                    curves += [dict(sigma=getattr(noise, "sigma", float("nan")), tau=tau, radius=d.radius,
                                    radius_unit=unit, labels=d.labels, target=y) for d, y in zip(decided, targets)]
                    examples[(noise_name, n, tau)] = decided[0].labels
            if n == max(ns):  # more points for the certified-accuracy-against-radius curve
                for tau in (0.6, 0.85, 0.99):
                    decided = [r.recertify(tau, alpha) for r in runs]
                    curves += [dict(sigma=getattr(noise, "sigma", float("nan")), tau=tau, radius=d.radius,
                                    radius_unit=unit, labels=d.labels, target=y) for d, y in zip(decided, targets)]
            rows[-1]["samples_per_second"] = (n0 + n) / sampling
    return rows, curves, examples


def format_rows(rows) -> str:
    head = "| setting | noise | n | τ | FWER | acc | mIoU | % abstain | radius | s/input |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        unit = {"rad": " rad", "": ""}.get(r.get("radius_unit", ""), f" ({r.get('radius_unit')})")
        radius = "-" if np.isnan(r["radius"]) else f"{r['radius']:.3f}{unit}"
        lines.append(f"| {r['setting']} | {r['noise']} | {r['n']} | {r['tau']} | {r['method']} | {r['acc']:.3f} | "
                     f"{r['miou']:.3f} | {100 * r['abstain']:.1f} | {radius} | {r['seconds']:.2f} |")
    return "\n".join(lines)


def run_demo(task: str = "images", *, quick: bool = False, out="mtest-demo", n0: int = 10, alpha: float = 0.001,
             batch_size: int = 64, device: str = "cpu", progress: bool = True, count: int | None = None):
    """Certify the shipped demo model on generated test inputs; print the table, write figures.

    ``quick`` runs one setting (n = 100, tau = 0.75, Holm) on fewer inputs; its figures say so in
    their titles. No global state is touched: noise comes from per-sample generators.
    Returns ``(rows, markdown table, list of written files)``.
    """
    if task not in ("images", "pointclouds"):
        raise ValueError(f"task ({task!r}) not recognized; use 'images' or 'pointclouds'")
    n0 = check_positive_int("n0", n0)
    alpha = check_alpha(alpha)
    batch_size = check_positive_int("batch_size", batch_size)
    if count is not None:
        count = check_positive_int("count", count)
    out = Path(out)
    # n = 100 is the smallest round n with which tau = 0.75 can certify N = 4096 pixels at alpha = 0.001
    # (0.75^n <= alpha / N needs n >= 53); n = 50 could certify nothing
    ns = (100,) if quick else (100, 500)
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
        smoothings = [("Gaussian σ=0.05 (ℓ2, xyz)", GaussianNoise(0.05, features=range(3))),
                      ("rotation z, σ=0.25 rad", RotationNoise(0.25))]
        classes = POINT_CLASSES

    def settings(n):
        """(tau, FWER method) per n: a high tau needs enough samples (0.95^100 > alpha / N)."""
        if quick:
            return [(0.75, "holm")]
        return [(0.75, "holm"), (0.75, "bonferroni"), (0.85 if n < 300 else 0.95, "holm")]

    _check_can_certify(ns, settings, alpha, targets[0].size)
    out.mkdir(parents=True, exist_ok=True)
    from mtest._optional import progress as tqdm  # without tqdm: no bar, the work runs

    with tqdm(total=len(smoothings) * len(ns) * count, unit="input", disable=not progress) as bar:
        rows, curves, examples = _evaluate(models, smoothings, (inputs, targets), classes, n0, ns, settings, alpha,
                                           batch_size, device, bar, task)
    if all(r["certified"] == 0 for r in rows if r["setting"] == "SEGCERTIFY"):
        warnings.warn("the demo certified no component in any setting", RuntimeWarning, stacklevel=2)
    table = format_rows(rows)
    files = []
    curve = certified_accuracy_curve(curves, len(classes))
    mark = "\n[--quick: reduced settings, not the documented figure]" if quick else ""
    files.append(plot_certified_accuracy(
        curve, out / f"{task}_certified_accuracy.png",
        title=f"{task}: certified accuracy against radius ({count} inputs, n0 = {n0}, n = {max(ns)}, "
              f"α = {alpha:g}){mark}"))
    panels = {f"{name}\nn={n}, τ={tau}": lab for (name, n, tau), lab in examples.items()}
    files.append(plot_segmentation(inputs[0], targets[0], panels, out / f"{task}_segmentation.png",
                                   title=f"certified segmentation (white = abstain){mark}"))
    (out / f"{task}_table.md").write_text(table + "\n")
    files.append(out / f"{task}_table.md")
    return rows, table, files
