"""Perturbations for randomized smoothing, with one small protocol.

A noise object has ``sample(x, generator) -> perturbed copy of x`` (``x`` without a batch
dimension, ``generator`` a ``torch.Generator`` on x's device) and ``radius(p) -> float``, the
certified radius when the smoothed top-class probability is at least ``p`` (paper §3, §5.2).
Pass your own object with these two methods for other smoothings; ``radius_unit`` (a short
string such as ``"ℓ2"`` or ``"rad"``) labels figures.

Noise is always drawn and added in at least float32, then cast to ``x``'s dtype: the base
classifier then sees ``cast(x + noise)``, a function of ``x + noise`` like any other model, so the
certificate is unchanged. Drawing in float16/bfloat16 instead would round the noise itself
(Laplace tails even overflow to ±inf) and smooth with a different distribution.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from mtest.certify import GaussianL2, LaplaceL1
from mtest._validation import check_positive

__all__ = ["GaussianNoise", "LaplaceNoise", "RotationNoise"]


def _work_dtype(x) -> torch.dtype:
    """The dtype noise is drawn and added in: float32 for half types, the input's otherwise."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise ValueError(f"x must be a floating-point tensor; got dtype {x.dtype} (convert integer images "
                         f"with x.float() / 255 and smooth on that scale)")
    return torch.promote_types(x.dtype, torch.float32)


def _scalar(value):
    value = np.asarray(value, dtype=np.float64)
    return float(value) if value.ndim == 0 else value


def _feature_index(features):
    """None, or a sorted tuple of distinct non-negative feature indices (last dimension of x)."""
    if features is None:
        return None
    if isinstance(features, slice):
        raise ValueError(f"features must be None or a sequence of feature indices such as range(3); got {features!r}")
    try:
        items = tuple(features)
    except TypeError:
        raise ValueError(f"features must be None or a sequence of feature indices; got {features!r}") from None
    if not items or any(isinstance(i, (bool, np.bool_)) or not isinstance(i, numbers.Integral) or i < 0
                        for i in items) or len(set(items)) != len(items):
        raise ValueError(f"features must be distinct non-negative integers (indices into x's last dimension); "
                         f"got {features!r}")
    return tuple(sorted(int(i) for i in items))


def _add_to_features(x, features, draw):
    """``x`` with ``draw(shape, dtype)`` added to the chosen features (all entries when None)."""
    dtype = _work_dtype(x)
    if features is None:
        return (x.to(dtype) + draw(x.shape, dtype)).to(x.dtype)
    if x.ndim < 1 or features[-1] >= x.shape[-1]:
        raise ValueError(f"features {features} do not fit x of shape {tuple(x.shape)} (features index its last "
                         f"dimension)")
    index = torch.tensor(features, device=x.device)
    out = x.to(dtype)  # a copy whenever it matters: x.dtype differs, or clone below
    out = out.clone() if out is x else out
    out[..., index] += draw((*x.shape[:-1], len(features)), dtype)
    return out.to(x.dtype)


@dataclass(frozen=True)
class GaussianNoise:
    """x + N(0, sigma^2 I): l2 radius sigma * Phi^-1(p) (paper Theorem 3.1 / 5.1).

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise.
    features : sequence of int, optional
        Indices into the last dimension of ``x`` that are perturbed, e.g. ``range(3)`` for the
        coordinates of a point cloud (P, 6) with normals — the paper (§6.3) perturbs the location
        only. Default ``None``: every entry of ``x`` (images: every pixel and channel). The radius
        then certifies l2 perturbations of **those features only**; the others are not covered.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import GaussianNoise
    >>> cloud = torch.zeros(4, 6)                        # xyz + normals
    >>> out = GaussianNoise(0.1, features=range(3)).sample(cloud, torch.Generator().manual_seed(0))
    >>> bool((out[:, 3:] == 0).all()), bool((out[:, :3] != 0).all())
    (True, True)
    >>> round(GaussianNoise(0.25).radius(0.75), 4)
    0.1686
    """

    sigma: float
    features: tuple | None = None
    radius_unit: ClassVar[str] = "ℓ2"

    def __post_init__(self):
        check_positive("sigma", self.sigma)
        object.__setattr__(self, "features", _feature_index(self.features))

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return _add_to_features(x, self.features, lambda shape, dtype: self.sigma * torch.randn(
            shape, generator=generator, device=x.device, dtype=dtype))

    def radius(self, p):
        return _scalar(GaussianL2(self.sigma)(p))


@dataclass(frozen=True)
class LaplaceNoise:
    """x + i.i.d. Laplace(0, scale): l1 radius -scale * ln(2(1 - p)) (Teng et al. 2020).

    Parameters
    ----------
    scale : float
        Scale of the Laplace noise.
    features : sequence of int, optional
        As for ``GaussianNoise``: the perturbed (and certified) features; default every entry.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import LaplaceNoise
    >>> out = LaplaceNoise(1.0).sample(torch.zeros(3, 64, 64, dtype=torch.float16), torch.Generator().manual_seed(0))
    >>> out.dtype, bool(torch.isfinite(out).all())
    (torch.float16, True)
    >>> round(LaplaceNoise(1.0).radius(0.75), 4)
    0.6931
    """

    scale: float
    features: tuple | None = None
    radius_unit: ClassVar[str] = "ℓ1"

    def __post_init__(self):
        check_positive("scale", self.scale)
        object.__setattr__(self, "features", _feature_index(self.features))

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        def draw(shape, dtype):
            u = torch.rand(shape, generator=generator, device=x.device, dtype=dtype) - 0.5
            # inverse CDF: -scale * sign(u) * log(1 - 2|u|); the bound (representable in float32 and
            # float64, unlike in half types) keeps the log finite at u = -0.5
            return -self.scale * torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 2.0 ** -26))
        return _add_to_features(x, self.features, draw)

    def radius(self, p):
        return _scalar(LaplaceL1(self.scale)(p))


_AXES = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}


def _vector_groups(groups):
    if groups is None:
        return None
    try:
        items = tuple(tuple(g) for g in groups)
    except TypeError:
        raise ValueError(f"vector_groups must be a sequence of (start, stop) pairs such as [(0, 3), (3, 6)]; "
                         f"got {groups!r}") from None
    covered = set()
    for g in items:
        ok = (len(g) == 2 and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                                  for v in g) and g[0] >= 0 and g[1] - g[0] == 3)
        if not ok:
            raise ValueError(f"vector_groups must hold (start, start + 3) pairs of feature indices, one per 3-D "
                             f"vector; got {groups!r}")
        if covered & set(range(g[0], g[1])):
            raise ValueError(f"vector_groups must not overlap; got {groups!r}")
        covered |= set(range(g[0], g[1]))
    if not items:
        raise ValueError("vector_groups must name at least one group (the coordinates, usually (0, 3))")
    return tuple((int(a), int(b)) for a, b in items)


@dataclass(frozen=True)
class RotationNoise:
    """Rotate a point cloud (P, F) rigidly about one axis by an angle ~ N(0, sigma^2) (radians).

    Rotations about a fixed axis compose additively, so smoothing the angle is Gaussian smoothing
    in one dimension: the certified rotation is sigma * Phi^-1(p) radians (Fischer et al. 2020;
    paper §5.2). The certificate covers an attacker who rotates the **object**: every 3-D vector
    feature (coordinates, normals, velocities, ...) turns with the same matrix, scalar features
    (colour, intensity) stay.

    Parameters
    ----------
    sigma : float
        Standard deviation of the angle, in radians.
    axis : {'x', 'y', 'z'}
        The rotation axis.
    vector_groups : sequence of (start, stop), optional
        The features that are 3-D vectors, as half-open ranges of the last dimension, e.g.
        ``[(0, 3), (3, 6)]`` for xyz + normals or ``[(0, 3)]`` when the other features are
        rotation-invariant. Default ``None``: ``[(0, 3)]`` for clouds with exactly 3 features; any
        other feature count is refused, since rotating only xyz while normals stay would not be a
        rigid motion and the certificate would cover no real rotation.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import RotationNoise
    >>> cloud = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])   # a point and its normal
    >>> out = RotationNoise(0.5, vector_groups=[(0, 3), (3, 6)]).sample(cloud, torch.Generator().manual_seed(0))
    >>> torch.allclose(out[:, :3], out[:, 3:])                  # the normal turned with the point
    True
    >>> RotationNoise(0.5).radius_unit
    'rad'
    """

    sigma: float
    axis: str = "z"
    vector_groups: tuple | None = None
    radius_unit: ClassVar[str] = "rad"

    def __post_init__(self):
        check_positive("sigma", self.sigma)
        if self.axis not in _AXES:
            raise ValueError(f"axis ({self.axis!r}) not recognized; use one of 'x', 'y', 'z'")
        object.__setattr__(self, "vector_groups", _vector_groups(self.vector_groups))

    def groups_for(self, features: int) -> tuple:
        """The vector groups used for a cloud with ``features`` features per point (see the class doc)."""
        if self.vector_groups is None:
            if features != 3:
                raise ValueError(
                    f"RotationNoise: x has {features} features per point, so say which are 3-D vectors that turn "
                    f"with the points: vector_groups=[(0, 3), (3, 6)] for xyz + normals, or [(0, 3)] if the other "
                    f"features are rotation-invariant (colour, intensity)")
            return ((0, 3),)
        if max(stop for _, stop in self.vector_groups) > features:
            raise ValueError(f"vector_groups {self.vector_groups} do not fit a cloud with {features} features")
        return self.vector_groups

    def matrix(self, angle, dtype=torch.float32, device=None) -> torch.Tensor:
        """The 3 x 3 rotation by ``angle`` radians about ``axis`` (applied as ``v @ matrix.T``)."""
        angle = torch.as_tensor(angle, dtype=dtype, device=device)
        i, j = _AXES[self.axis]
        rot = torch.eye(3, dtype=dtype, device=device)
        c, s = torch.cos(angle), torch.sin(angle)
        rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
        return rot

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        dtype = _work_dtype(x)
        if x.ndim != 2:
            raise ValueError(f"RotationNoise expects a point cloud of shape (P, F); got {tuple(x.shape)}")
        groups = self.groups_for(x.shape[-1])
        angle = self.sigma * torch.randn((), generator=generator, device=x.device, dtype=dtype)
        rot = self.matrix(angle, dtype, x.device)
        out = x.to(dtype).clone()
        for start, stop in groups:
            out[:, start:stop] = out[:, start:stop] @ rot.T
        return out.to(x.dtype)

    def radius(self, p):
        return _scalar(GaussianL2(self.sigma)(p))  # the angle is smoothed with N(0, sigma^2)
