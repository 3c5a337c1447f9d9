"""The demo's networks and their shipped weights."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["ImageFCN", "PointNetSeg", "load_model", "WEIGHTS"]

HERE = Path(__file__).parent
#: shipped weights: name -> (file, constructor, keyword arguments)
WEIGHTS = {
    "images-clean": ("images_clean.pt", "ImageFCN", {}),
    "images-sigma0.25": ("images_sigma025.pt", "ImageFCN", {}),
    "pointclouds": ("pointclouds.pt", "PointNetSeg", {}),
}


class ImageFCN(nn.Module):
    """A small fully-convolutional segmentation network: (B, 3, H, W) -> logits (B, C, H, W).

    Dilated 3x3 convolutions give a receptive field of 31 pixels at full resolution.
    """

    def __init__(self, classes: int = 5, width: int = 24):
        super().__init__()
        layers, ch = [], 3
        for dilation in (1, 2, 4, 8, 1):
            layers += [nn.Conv2d(ch, width, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
            ch = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        return self.classifier(self.features(x))


class PointNetSeg(nn.Module):
    """A PointNet-style part segmenter: (B, P, 3) -> logits (B, C, P).

    Per-point MLP, a global max-pooled feature, and a per-point head on [local, global].
    """

    def __init__(self, classes: int = 8, width: int = 64):
        super().__init__()
        self.local = nn.Sequential(nn.Conv1d(3, width, 1), nn.ReLU(), nn.Conv1d(width, 2 * width, 1), nn.ReLU())
        self.glob = nn.Sequential(nn.Conv1d(2 * width, 4 * width, 1), nn.ReLU())
        self.head = nn.Sequential(nn.Conv1d(6 * width, 2 * width, 1), nn.ReLU(), nn.Conv1d(2 * width, width, 1),
                                  nn.ReLU(), nn.Conv1d(width, classes, 1))

    def forward(self, x):
        h = self.local(x.transpose(1, 2))
        g = self.glob(h).amax(dim=2, keepdim=True).expand(-1, -1, h.shape[2])
        return self.head(torch.cat([h, g], dim=1))


def load_model(name: str, device="cpu") -> nn.Module:
    """A shipped demo model in eval mode ('images-clean', 'images-sigma0.25', 'pointclouds').

    Examples
    --------
    >>> from mtest.adapters.demo import load_model
    >>> model = load_model("pointclouds")
    >>> type(model).__name__, model.training
    ('PointNetSeg', False)
    """
    if name not in WEIGHTS:
        raise ValueError(f"name ({name!r}) not recognized; use one of {', '.join(repr(k) for k in WEIGHTS)}")
    file, cls, kwargs = WEIGHTS[name]
    path = HERE / file
    if not path.exists():
        raise ValueError(f"weights {path} are missing; train them with python -m mtest.adapters.demo.train")
    with torch.random.fork_rng(devices=[]):  # the random init (overwritten below) leaves the global RNG as it was
        model = {"ImageFCN": ImageFCN, "PointNetSeg": PointNetSeg}[cls](**kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()
