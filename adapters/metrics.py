"""Segmentation metrics with abstentions, certified accuracy against radius, and figures.

Abstained components (``mtest.ABSTAIN``) count as *not correct* everywhere (paper §6.2).

Over a dataset the scores follow the paper's Table 1 (and the usual Cityscapes/Pascal protocol):
one confusion matrix is accumulated over all inputs (``ConfusionMatrix``), the IoU of each
class comes from that matrix and the mIoU averages the classes; accuracy is pooled over all
scored components and the abstention rate counts every component, ignored ones included. The
mean of per-input scores is a different number (small inputs and rare classes weigh more); it is
available as ``dataset_metrics(..., average="per-input")`` and labelled so.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from mtest._validation import ReadOnlyArrays

from mtest import ABSTAIN
from mtest._plotting import colour, new_figure, save_figure
from mtest._validation import check_choice, check_positive_int

__all__ = ["ConfusionMatrix", "SegmentationScores", "segmentation_metrics", "dataset_metrics",
           "certified_accuracy_curve", "plot_certified_accuracy", "plot_segmentation", "PALETTE"]

#: colours of up to 20 classes (RGB in [0, 1]); abstentions are drawn white
PALETTE = np.array([
    [0.12, 0.12, 0.12], [0.90, 0.10, 0.10], [0.10, 0.60, 0.90], [0.95, 0.75, 0.10], [0.20, 0.75, 0.25],
    [0.60, 0.30, 0.80], [0.95, 0.50, 0.10], [0.40, 0.80, 0.80], [0.80, 0.40, 0.55], [0.55, 0.45, 0.25],
    [0.10, 0.35, 0.55], [0.70, 0.90, 0.30], [0.95, 0.60, 0.70], [0.35, 0.35, 0.80], [0.50, 0.50, 0.50],
    [0.80, 0.80, 0.50], [0.25, 0.55, 0.45], [0.65, 0.15, 0.35], [0.90, 0.85, 0.70], [0.30, 0.20, 0.10]])


@dataclass(frozen=True)
class SegmentationScores(ReadOnlyArrays):
    """Scores of certified labels against a target.

    ``accuracy``: correct / scored components (abstain = wrong; ignored components not scored).
    ``miou``: mean over classes of ``iou`` (classes whose union is empty are left out).
    ``iou``: per class TP / (TP + FP + FN), an abstained component of true class c a false negative.
    ``abstain_rate``: abstained / all components, ignored ones included.
    ``n_components``: scored components; ``n_ignored``: components whose target is ``ignore_index``.
    ``average``: ``"dataset"`` (one confusion matrix, the paper's Table 1) or ``"per-input"``.

    Attributes
    ----------
    accuracy : float
        Correct / scored components (abstain = wrong).
    miou : float
        Mean of ``iou`` over classes whose union is non-empty.
    abstain_rate : float
        Abstained / all components, ignored ones included.
    iou : ndarray of float
        Per class TP / (TP + FP + FN).
    n_components : int
        Scored components.
    n_ignored : int
        Components whose target is ``ignore_index``.
    average : {'dataset', 'per-input'}
        How the scores were pooled.
    """

    accuracy: float
    miou: float
    abstain_rate: float
    iou: np.ndarray
    n_components: int
    n_ignored: int = 0
    average: str = "dataset"


def _int_array(name, value):
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array (class indices); got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class ConfusionMatrix:
    """Accumulate a confusion matrix with abstentions over a dataset (paper Table 1's mIoU).

    ``matrix[t, p]`` counts scored components of true class ``t`` labelled ``p``; the last column
    (``p = num_classes``) counts abstentions. Components whose target is ``ignore_index`` are not
    scored (only their abstentions are counted, for the abstention rate).

    Parameters
    ----------
    num_classes : int
        Classes are ``0 .. num_classes - 1``.
    ignore_index : int, optional
        A target value outside ``[0, num_classes)`` marking unlabelled components (e.g. 255).

    Examples
    --------
    >>> from mtest.adapters import ConfusionMatrix
    >>> cm = ConfusionMatrix(num_classes=2)
    >>> cm.update([0, 0, 0, 0], [0, 0, 0, 0]).update([1, -1], [1, 0])   # -1 = ABSTAIN
    ConfusionMatrix(num_classes=2, ignore_index=None, components=6)
    >>> s = cm.scores()
    >>> round(s.accuracy, 4), round(s.miou, 4), round(s.abstain_rate, 4)
    (0.8333, 0.9, 0.1667)
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None):
        self.num_classes = check_positive_int("num_classes", num_classes)
        if ignore_index is not None:
            if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, numbers.Integral):
                raise ValueError(f"ignore_index must be an integer or None; got {ignore_index!r}")
            if 0 <= ignore_index < num_classes:
                raise ValueError(f"ignore_index ({ignore_index}) must lie outside the classes [0, {num_classes}); "
                                 f"relabel the ignored class first")
            ignore_index = int(ignore_index)
        self.ignore_index = ignore_index
        self._matrix = np.zeros((num_classes, num_classes + 1), np.int64)
        self._ignored = 0
        self._ignored_abstained = 0

    @classmethod
    def from_counts(cls, matrix, *, ignored: int = 0, ignored_abstained: int = 0,
                    ignore_index: int | None = None) -> "ConfusionMatrix":
        """A matrix rebuilt from stored counts (e.g. summed per-input matrices of a results table).

        ``matrix`` is the (C, C + 1) array of ``matrix``; ``ignored`` counts components whose
        target was ``ignore_index`` and ``ignored_abstained`` those of them that abstained.

        Examples
        --------
        >>> from mtest.adapters import ConfusionMatrix
        >>> a = ConfusionMatrix(2).update([0, 1, -1], [0, 1, 1])
        >>> b = ConfusionMatrix(2).update([1, 1], [0, 1])
        >>> merged = ConfusionMatrix.from_counts(a.matrix + b.matrix)
        >>> pooled = ConfusionMatrix(2).update([0, 1, -1, 1, 1], [0, 1, 1, 0, 1])
        >>> merged.scores().miou == pooled.scores().miou, round(merged.scores().miou, 4)
        (True, 0.5)
        """
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[1] != m.shape[0] + 1 or m.shape[0] == 0:
            raise ValueError(f"matrix must have shape (C, C + 1); got {m.shape}")
        m = _int_array("matrix", m)
        counts = {"ignored": ignored, "ignored_abstained": ignored_abstained}
        for name, value in counts.items():
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
        if (m < 0).any() or ignored_abstained > ignored:
            raise ValueError(f"counts must be non-negative and ignored_abstained ({ignored_abstained}) <= "
                             f"ignored ({ignored})")
        out = cls(m.shape[0], ignore_index)
        out._matrix = m.copy()
        out._ignored, out._ignored_abstained = int(ignored), int(ignored_abstained)
        return out

    def __repr__(self):
        return (f"ConfusionMatrix(num_classes={self.num_classes}, ignore_index={self.ignore_index}, "
                f"components={int(self._matrix.sum()) + self._ignored})")

    @property
    def matrix(self) -> np.ndarray:
        """A copy of the (C, C + 1) counts; the last column is abstentions."""
        return self._matrix.copy()

    def update(self, labels, target) -> "ConfusionMatrix":
        """Add one input's ``labels`` (classes or ABSTAIN) against its ``target``; returns ``self``."""
        labels = _int_array("labels", labels)
        target = _int_array("target", target)
        if labels.shape != target.shape:
            raise ValueError(f"labels and target must have the same shape; got {labels.shape} and {target.shape}")
        C = self.num_classes
        bad = (labels != ABSTAIN) & ((labels < 0) | (labels >= C))
        if bad.any():
            raise ValueError(f"labels must be ABSTAIN or in [0, {C}); got {labels[bad].flat[0]}")
        ignored = (target == self.ignore_index) if self.ignore_index is not None else np.zeros(target.shape, bool)
        bad = ~ignored & ((target < 0) | (target >= C))
        if bad.any():
            extra = "" if self.ignore_index is None else f" or ignore_index={self.ignore_index}"
            raise ValueError(f"target must be in [0, {C}){extra}; got {target[bad].flat[0]}")
        lab, tgt = labels[~ignored], target[~ignored]
        cols = np.where(lab == ABSTAIN, C, lab)
        self._matrix += np.bincount(tgt * (C + 1) + cols, minlength=C * (C + 1)).reshape(C, C + 1)
        self._ignored += int(np.count_nonzero(ignored))
        self._ignored_abstained += int(np.count_nonzero(labels[ignored] == ABSTAIN))
        return self

    def scores(self) -> SegmentationScores:
        """Accuracy, per-class IoU, mIoU and abstention rate of everything added so far."""
        m, C = self._matrix, self.num_classes
        scored = int(m.sum())
        if scored == 0:
            raise ValueError("no components left to score (all ignored or empty)")
        tp = np.diag(m[:, :C]).astype(np.float64)
        union = m.sum(axis=1) + m[:, :C].sum(axis=0) - tp  # TP + FN (abstentions included) + FP
        iou = np.full(C, np.nan)
        iou[union > 0] = tp[union > 0] / union[union > 0]
        abstained = int(m[:, C].sum()) + self._ignored_abstained
        return SegmentationScores(accuracy=float(tp.sum() / scored), miou=float(np.mean(iou[union > 0])),
                                  abstain_rate=abstained / (scored + self._ignored), iou=iou,
                                  n_components=scored, n_ignored=self._ignored, average="dataset")


def segmentation_metrics(labels, target, num_classes: int, ignore_index: int | None = None) -> SegmentationScores:
    """Accuracy, mIoU and abstention rate of one input's ``labels`` (with ABSTAIN) against ``target``.

    See ``SegmentationScores`` for the definitions; over several inputs use
    ``dataset_metrics`` (or a ``ConfusionMatrix``), not the mean of these scores.

    Parameters
    ----------
    labels : array_like of int
        Certified labels (``ABSTAIN`` where abstained).
    target : array_like of int
        Ground truth, the same shape.
    num_classes : int
        The model's class count.
    ignore_index : int, optional
        Target value of components that are not scored.

    Returns
    -------
    SegmentationScores
        Accuracy, mIoU, per-class IoU and abstention rate of this input.

    Examples
    --------
    >>> from mtest.adapters import segmentation_metrics
    >>> s = segmentation_metrics([0, 1, -1, 1], [0, 1, 1, 0], num_classes=2)
    >>> s.accuracy, s.abstain_rate, round(s.miou, 4)
    (0.5, 0.25, 0.4167)
    """
    return ConfusionMatrix(num_classes, ignore_index).update(labels, target).scores()


def dataset_metrics(labels, targets, num_classes: int, ignore_index: int | None = None, *,
                    average: str = "dataset") -> SegmentationScores:
    """Scores over a dataset: ``labels`` and ``targets`` are sequences of per-input arrays.

    ``average="dataset"`` (default, the paper's Table 1): one confusion matrix over all inputs,
    mIoU averaged over classes. ``average="per-input"``: every score computed per input, then
    averaged over inputs (``iou`` per class over the inputs where the class occurs).

    Parameters
    ----------
    labels : sequence of array_like of int
        Certified labels per input (``ABSTAIN`` where abstained).
    targets : sequence of array_like of int
        Ground truth per input, the same shapes.
    num_classes : int
        The model's class count.
    ignore_index : int, optional
        Target value of components that are not scored.
    average : {'dataset', 'per-input'}
        One confusion matrix over all inputs, or the mean of per-input scores.

    Returns
    -------
    SegmentationScores
        Accuracy, mIoU, per-class IoU and abstention rate.

    Examples
    --------
    >>> from mtest.adapters import dataset_metrics
    >>> labels = [[0, 0, 0, 0], [1, -1]]
    >>> targets = [[0, 0, 0, 0], [1, 0]]
    >>> round(dataset_metrics(labels, targets, 2).miou, 4)
    0.9
    >>> round(dataset_metrics(labels, targets, 2, average="per-input").miou, 4)
    0.75
    """
    check_choice("average", average, ("dataset", "per-input"))
    labels, targets = list(labels), list(targets)
    if len(labels) != len(targets) or not labels:
        raise ValueError(f"labels and targets must be non-empty sequences of the same length; got {len(labels)} "
                         f"and {len(targets)}")
    if average == "dataset":
        cm = ConfusionMatrix(num_classes, ignore_index)
        for lab, tgt in zip(labels, targets):
            cm.update(lab, tgt)
        return cm.scores()
    per = [segmentation_metrics(lab, tgt, num_classes, ignore_index) for lab, tgt in zip(labels, targets)]
    ious = np.array([s.iou for s in per])
    seen = ~np.isnan(ious)
    iou = np.full(num_classes, np.nan)
    iou[seen.any(axis=0)] = (np.where(seen, ious, 0).sum(axis=0)[seen.any(axis=0)]
                             / seen.sum(axis=0)[seen.any(axis=0)])
    return SegmentationScores(accuracy=float(np.mean([s.accuracy for s in per])),
                              miou=float(np.mean([s.miou for s in per])),
                              abstain_rate=float(np.mean([s.abstain_rate for s in per])), iou=iou,
                              n_components=sum(s.n_components for s in per), n_ignored=sum(s.n_ignored for s in per),
                              average="per-input")


#: x-axis labels of the certified-accuracy figure, by the noise's ``radius_unit``
_UNIT_LABELS = {"ℓ2": "certified radius, ℓ2 norm (input units)", "ℓ1": "certified radius, ℓ1 norm (input units)",
                "rad": "certified rotation angle (radians)", "": "certified radius"}


def certified_accuracy_curve(entries, num_classes: int, ignore_index: int | None = None, *,
                             average: str = "dataset"):
    """Certified accuracy against radius: one row per (radius unit, sigma, tau).

    ``entries`` are dicts with keys ``sigma``, ``tau``, ``radius``, ``labels``, ``target`` (one
    SEGCERTIFY run each) and optionally ``radius_unit`` (the noise's, e.g. ``"ℓ2"`` or ``"rad"``:
    curves with different units are never mixed). Certified accuracy = fraction of components
    certified with the right class, i.e. robust at that radius, pooled over the entries of a row
    (``average`` as in ``dataset_metrics``). Returns a pandas DataFrame.

    Parameters
    ----------
    entries : iterable of dict
        One SEGCERTIFY run each, with ``sigma``, ``tau``, ``radius``, ``labels``, ``target`` and
        optionally ``radius_unit``.
    num_classes : int
        The model's class count.
    ignore_index : int, optional
        Target value of components that are not scored.
    average : {'dataset', 'per-input'}
        As in ``dataset_metrics``.

    Returns
    -------
    pandas.DataFrame
        One row per (radius_unit, sigma, tau) with its radius and certified accuracy.
    """
    import pandas as pd

    groups: dict = {}
    for e in entries:
        key = (e.get("radius_unit", ""), float(e["sigma"]), float(e["tau"]))
        groups.setdefault(key, []).append(e)
    rows = []
    for (unit, sigma, tau), group in groups.items():
        radii = {float(e["radius"]) for e in group}
        if len(radii) > 1:
            raise ValueError(f"entries with sigma={sigma:g}, tau={tau:g} report different radii {sorted(radii)}")
        scores = dataset_metrics([e["labels"] for e in group], [e["target"] for e in group], num_classes,
                                 ignore_index, average=average)
        rows.append(dict(radius_unit=unit, sigma=sigma, tau=tau, radius=radii.pop(),
                         certified_accuracy=scores.accuracy, miou=scores.miou, abstain_rate=scores.abstain_rate,
                         inputs=len(group)))
    unit_order = {u: i for i, u in enumerate(dict.fromkeys(key[0] for key in groups))}  # as first given
    df = pd.DataFrame(rows)
    return df.sort_values(["radius_unit", "sigma", "radius"], key=lambda col: col.map(unit_order)
                          if col.name == "radius_unit" else col, ignore_index=True)


def plot_certified_accuracy(df, path, title: str = "Certified accuracy against radius"):
    """Paper Fig. 3/4 style: certified accuracy against radius, one curve per sigma over tau.

    One panel per ``radius_unit`` (an ℓ2 radius and a rotation angle are different quantities and
    never share an axis); axis labels and legends carry the units.

    Parameters
    ----------
    df : pandas.DataFrame
        From ``certified_accuracy_curve``.
    path : str or pathlib.Path
        Where to write the figure (its folder is created).
    title : str
        Figure title.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    units = list(dict.fromkeys(df["radius_unit"])) if "radius_unit" in df else [""]
    fig, axes = new_figure(1, len(units), figsize=(5.6 * len(units), 3.8), dpi=130, squeeze=False)
    for ax, unit in zip(axes[0], units):
        panel = df[df["radius_unit"] == unit] if "radius_unit" in df else df
        for i, (sigma, sub) in enumerate(panel.groupby("sigma")):
            sub = sub.sort_values("radius")
            scale = " rad" if unit == "rad" else ""
            ax.plot(sub["radius"], sub["certified_accuracy"], "-o", color=colour("tab10", i),
                    label=f"σ = {sigma:g}{scale}" + (f" ({unit} smoothing)" if unit not in ("rad", "") else ""))
            for _, row in sub.iterrows():
                ax.annotate(f"τ={row['tau']:g}", (row["radius"], row["certified_accuracy"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(_UNIT_LABELS.get(unit, f"certified radius ({unit})"))
        ax.set_ylabel("certified accuracy")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
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

    Parameters
    ----------
    inputs : array_like
        An image (3, H, W) / (H, W, 3) in [0, 1] or a point cloud (P, 3+).
    target : array_like of int
        Ground-truth labels.
    panels : dict
        Title -> labels of the target's shape (``ABSTAIN`` drawn white).
    path : str or pathlib.Path
        Where to write the figure (its folder is created).
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    inputs = np.asarray(inputs)
    cloud = inputs.ndim == 2 and inputs.shape[-1] >= 3 and np.asarray(target).ndim == 1
    count = 2 + len(panels)
    fig, axes = new_figure(1, count, figsize=(2.6 * count, 2.8), dpi=130)
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
