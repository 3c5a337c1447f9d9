"""Models and datasets that ``mtest certify`` can build by name (nothing is downloaded).

* ``demo-images`` / ``demo-images-clean``: the shipped FCN trained with / without Gaussian noise
  (σ = 0.25), on generated test scenes (5 classes).
* ``demo-pointclouds``: the shipped PointNet-style part segmenter on generated objects (8 parts).
* ``segformer-random``: a Hugging Face SegFormer with random weights from a config (``tiny``,
  ``b0``, ``b1`` or a JSON file), ImageNet normalization inside the model, on the generated
  scenes: it exercises the whole pipeline at real model sizes, its scores mean nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import IMAGENET_MEAN, IMAGENET_STD, HFSegmentation, random_segformer
from .data import IMAGE_CLASSES, POINT_CLASSES, make_images, make_point_clouds
from .models import load_model
from .train import TEST_SEED

__all__ = ["MODELS", "build"]

MODELS = ("demo-images", "demo-images-clean", "demo-pointclouds", "segformer-random")


@dataclass(frozen=True)
class Built:
    """A model, its test dataset and what the runner needs to know about them."""

    model: torch.nn.Module
    dataset: torch.utils.data.Dataset
    num_classes: int
    kind: str  # "images" or "pointclouds"
    description: str


def build(name: str, *, count: int | None = None, size: int = 64, points: int = 512, config="tiny",
          seed: int = 0) -> Built:
    """The named model and its generated test dataset (``count`` inputs, test seed never trained on).

    Examples
    --------
    >>> from mtest.adapters.demo.catalog import build
    >>> built = build("demo-pointclouds", count=2, points=64)
    >>> len(built.dataset), built.num_classes, tuple(built.dataset[0][0].shape)
    (2, 8, (64, 3))
    """
    if name not in MODELS:
        raise ValueError(f"model ({name!r}) not recognized; use one of {', '.join(repr(m) for m in MODELS)}")
    if name == "demo-pointclouds":
        x, y = make_point_clouds(count or 6, points=points, seed=TEST_SEED)
        return Built(load_model("pointclouds"), torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                     len(POINT_CLASSES), "pointclouds", f"demo PointNet, {len(x)} generated objects of {points} points")
    x, y = make_images(count or 8, size=size, seed=TEST_SEED)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    if name == "segformer-random":
        model = HFSegmentation(random_segformer(config, num_labels=len(IMAGE_CLASSES), seed=seed),
                               mean=IMAGENET_MEAN, std=IMAGENET_STD).eval()
        what = f"random-init SegFormer ({config}), {len(x)} generated scenes {size}x{size}"
    else:
        model = load_model("images-sigma0.25" if name == "demo-images" else "images-clean")
        what = f"demo FCN ({name}), {len(x)} generated scenes {size}x{size}"
    return Built(model, dataset, len(IMAGE_CLASSES), "images", what)
