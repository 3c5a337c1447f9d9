"""Segmentation metrics with abstentions, certified accuracy against radius, and figures.

Abstained components (``mtest.ABSTAIN``) count as *not correct* everywhere (paper §6.2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtest import ABSTAIN
from mtest._plotting import pyplot, save_figure

__all__ = ["SegmentationScores", "segmentation_metrics", "certified_accuracy_curve",
           "plot_certified_accuracy", "plot_segmentation", "PALETTE"]

#: colours of up to 20 classes (RGB in [0, 1]); abstentions are drawn white
PALETTE = np.array([
    [0.12, 0.12, 0.12], [0.90, 0.10, 0.10], [0.10, 0.60, 0.90], [0.95, 0.75, 0.10], [0.20, 0.75, 0.25],
    [0.60, 0.30, 0.80], [0.95, 0.50, 0.10], [0.40, 0.80, 0.80], [0.80, 0.40, 0.55], [0.55, 0.45, 0.25],
    [0.10, 0.35, 0.55], [0.70, 0.90, 0.30], [0.95, 0.60, 0.70], [0.35, 0.35, 0.80], [0.50, 0.50, 0.50],
    [0.80, 0.80, 0.50], [0.25, 0.55, 0.45], [0.65, 0.15, 0.35], [0.90, 0.85, 0.70], [0.30, 0.20, 0.10]])


@dataclass(frozen=True)
class SegmentationScores:
    """Per-component accuracy (abstain = wrong), mean IoU over classes present, abstention rate."""

    accuracy: float
    miou: float
    abstain_rate: float
    iou: np.ndarray
    n_components: int


def segmentation_metrics(labels, target, num_classes: int, ignore_index: int | None = None) -> SegmentationScores:
    """Accuracy, mIoU and abstention rate of ``labels`` (with ABSTAIN) against ``target``.

    IoU of class c = TP / (TP + FP + FN), where an abstained component of true class c is a false
    negative; mIoU averages the classes that occur in ``target`` or ``labels``. Components whose
    target equals ``ignore_index`` are left out of everything.

    Examples
    --------
    >>> from mtest.adapters import segmentation_metrics
    >>> s = segmentation_metrics([0, 1, -1, 1], [0, 1, 1, 0], num_classes=2)
    >>> s.accuracy, s.abstain_rate, round(s.miou, 4)
    (0.5, 0.25, 0.4167)
    """
    labels = np.asarray(labels)
    target = np.asarray(target)
    if labels.shape != target.shape:
        raise ValueError(f"labels and target must have the same shape; got {labels.shape} and {target.shape}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    lab, tgt = labels[keep].astype(np.int64), target[keep].astype(np.int64)
    if lab.size == 0:
        raise ValueError("no components left to score (all ignored or empty)")
    bad = (lab != ABSTAIN) & ((lab < 0) | (lab >= num_classes))
    if bad.any():
        raise ValueError(f"labels must be ABSTAIN or in [0, {num_classes}); got {lab[bad][0]}")
    correct = lab == tgt
    iou = np.full(num_classes, np.nan)
    for c in range(num_classes):
        tp = np.count_nonzero(correct & (tgt == c))
        fp = np.count_nonzero((lab == c) & (tgt != c))
        fn = np.count_nonzero((tgt == c) & (lab != c))
        if tp + fp + fn:
            iou[c] = tp / (tp + fp + fn)
    return SegmentationScores(accuracy=float(correct.mean()), miou=float(np.nanmean(iou)),
                              abstain_rate=float(np.mean(lab == ABSTAIN)), iou=iou, n_components=int(lab.size))


def certified_accuracy_curve(entries, num_classes: int, ignore_index: int | None = None):
    """Certified accuracy against radius: one row per entry.

    ``entries`` are dicts with keys ``sigma``, ``tau``, ``radius``, ``labels``, ``target`` (one
    SEGCERTIFY run each); certified accuracy = fraction of components certified with the right
    class, i.e. robust at that radius. Returns a pandas DataFrame sorted by sigma and radius.
    """
    import pandas as pd

    rows = []
    for e in entries:
        scores = segmentation_metrics(e["labels"], e["target"], num_classes, ignore_index)
        rows.append(dict(sigma=e["sigma"], tau=e["tau"], radius=e["radius"],
                         certified_accuracy=scores.accuracy, miou=scores.miou,
                         abstain_rate=scores.abstain_rate))
    df = pd.DataFrame(rows)
    return df.groupby(["sigma", "tau"], as_index=False).mean().sort_values(["sigma", "radius"])


def plot_certified_accuracy(df, path, title: str = "Certified accuracy against radius"):
    """Paper Fig. 3/4 style: certified accuracy against radius, one curve per sigma over tau."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.6, 3.8), dpi=130)
    for i, (sigma, sub) in enumerate(df.groupby("sigma")):
        sub = sub.sort_values("radius")
        ax.plot(sub["radius"], sub["certified_accuracy"], "-o", color=plt.cm.tab10(i), label=f"σ = {sigma:g}")
        for _, row in sub.iterrows():
            ax.annotate(f"τ={row['tau']:g}", (row["radius"], row["certified_accuracy"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("radius")
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def _colour(labels):
    labels = np.asarray(labels)
    rgb = PALETTE[np.clip(labels, 0, len(PALETTE) - 1) % len(PALETTE)]
    rgb[labels == ABSTAIN] = 1.0
    return rgb


def plot_segmentation(inputs, target, panels: dict, path, title: str | None = None):
    """Paper Fig. 1 style: input, ground truth, then one panel per labelling (abstentions white).

    ``inputs`` is an image (3, H, W) / (H, W, 3) in [0, 1] or a point cloud (P, 3+); ``panels``
    maps a title to labels of the target's shape.
    """
    plt = pyplot()

    inputs = np.asarray(inputs)
    cloud = inputs.ndim == 2 and inputs.shape[-1] >= 3 and np.asarray(target).ndim == 1
    count = 2 + len(panels)
    fig, axes = plt.subplots(1, count, figsize=(2.6 * count, 2.8), dpi=130)
    if cloud:
        xy = inputs[:, [0, 2]] if inputs.shape[-1] >= 3 else inputs[:, :2]  # side view: x against height
        axes[0].scatter(xy[:, 0], xy[:, 1], s=5, c="0.15")
        for ax, (name, lab) in zip(axes[1:], [("ground truth", target), *panels.items()]):
            ax.scatter(xy[:, 0], xy[:, 1], s=5, c=_colour(lab), edgecolors="none")
            ax.set_title(name, fontsize=8)
        axes[0].set_title("input (side view)", fontsize=8)
        for ax in axes:
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_facecolor("0.62")  # mid grey, so that white abstentions stand out
    else:
        img = inputs if inputs.shape[-1] == 3 else np.moveaxis(inputs, 0, -1)
        axes[0].imshow(np.clip(img, 0, 1))
        axes[0].set_title("input", fontsize=8)
        for ax, (name, lab) in zip(axes[1:], [("ground truth", target), *panels.items()]):
            ax.imshow(_colour(lab), interpolation="nearest")
            ax.set_title(name, fontsize=8)
        for ax in axes:
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
