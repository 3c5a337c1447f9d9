"""PyTorch adapters for mtest (imported as ``mtest.adapters``); the only code that imports torch.

Install with ``pip install -c constraints.txt -e ".[torch]"``.
"""
try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "mtest.adapters needs PyTorch; install it with "
        "`pip install -c constraints.txt -e \".[torch]\"`") from exc

from .noise import GaussianNoise, LaplaceNoise, RotationNoise  # noqa: E402
from .sampler import CertifyRun, Counts, SegmentationSmoother  # noqa: E402
from .sequential import SequentialRun, certify_sequential  # noqa: E402
from .metrics import (certified_accuracy_curve, plot_certified_accuracy, plot_segmentation,  # noqa: E402
                      segmentation_metrics)

__all__ = [
    "CertifyRun",
    "Counts",
    "GaussianNoise",
    "LaplaceNoise",
    "RotationNoise",
    "SegmentationSmoother",
    "certified_accuracy_curve",
    "plot_certified_accuracy",
    "plot_segmentation",
    "segmentation_metrics",
    "SequentialRun",
    "certify_sequential",
]
