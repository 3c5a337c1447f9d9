"""Perturbations for randomized smoothing, with one small protocol.

A noise object has ``sample(x, generator) -> perturbed copy of x`` (``x`` without a batch
dimension, ``generator`` a ``torch.Generator`` on x's device) and ``radius(p) -> float``, the
certified radius when the smoothed top-class probability is at least ``p`` (paper §3, §5.2).
Pass your own object with these two methods for other smoothings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtest.certify import GaussianL2, LaplaceL1
from mtest._validation import check_positive

__all__ = ["GaussianNoise", "LaplaceNoise", "RotationNoise"]


@dataclass(frozen=True)
class GaussianNoise:
    """x + N(0, sigma^2 I): l2 radius sigma * Phi^-1(p) (paper Theorem 3.1 / 5.1)."""

    sigma: float

    def __post_init__(self):
        check_positive("sigma", self.sigma)

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + self.sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    def radius(self, p):
        return _scalar(GaussianL2(self.sigma)(p))


def _scalar(value):
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value


@dataclass(frozen=True)
class LaplaceNoise:
    """x + i.i.d. Laplace(0, scale): l1 radius -scale * ln(2(1 - p)) (Teng et al. 2020)."""

    scale: float

    def __post_init__(self):
        check_positive("scale", self.scale)

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 0.5
        # inverse CDF: -scale * sign(u) * log(1 - 2|u|); clamp keeps log finite at u = -0.5
        return x - self.scale * torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 1e-7))

    def radius(self, p):
        return _scalar(LaplaceL1(self.scale)(p))


_AXES = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}


@dataclass(frozen=True)
class RotationNoise:
    """Rotate a point cloud (P, 3+) about one axis by an angle ~ N(0, sigma^2) (radians).

    Rotations about a fixed axis compose additively, so smoothing the angle is Gaussian smoothing
    in one dimension: the certified rotation is sigma * Phi^-1(p) radians (Fischer et al. 2020;
    paper §5.2). Only the first three features (coordinates) are rotated.
    """

    sigma: float
    axis: str = "z"

    def __post_init__(self):
        check_positive("sigma", self.sigma)
        if self.axis not in _AXES:
            raise ValueError(f"axis ({self.axis!r}) not recognized; use one of 'x', 'y', 'z'")

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.ndim != 2 or x.shape[-1] < 3:
            raise ValueError(f"RotationNoise expects a point cloud of shape (P, 3+); got {tuple(x.shape)}")
        angle = self.sigma * torch.randn((), generator=generator, device=x.device, dtype=x.dtype)
        i, j = _AXES[self.axis]
        c, s = torch.cos(angle), torch.sin(angle)
        out = x.clone()
        out[:, i] = c * x[:, i] - s * x[:, j]
        out[:, j] = s * x[:, i] + c * x[:, j]
        return out

    def radius(self, p):
        return _scalar(GaussianL2(self.sigma)(p))  # the angle is smoothed with N(0, sigma^2)
