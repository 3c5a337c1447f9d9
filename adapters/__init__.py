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
from .sampler import CertifyRun, Counts, NoisyPrediction, SegmentationSmoother  # noqa: E402
from .metrics import (ConfusionMatrix, SegmentationScores, certified_accuracy_curve,  # noqa: E402
                      dataset_metrics, plot_certified_accuracy, plot_segmentation, segmentation_metrics)
from .sequential import SequentialRun, certify_sequential  # noqa: E402
from .models import (PAPER_SCALES, Denoised, DictOutput, HFSegmentation, MultiScale, PlainModel,  # noqa: E402
                     SegmentationModel, random_segformer, segformer_config)
from .runner import DatasetRun, certify_dataset, format_summary, summarize  # noqa: E402

__all__ = [
    "CertifyRun",
    "ConfusionMatrix",
    "Counts",
    "DatasetRun",
    "Denoised",
    "DictOutput",
    "GaussianNoise",
    "HFSegmentation",
    "LaplaceNoise",
    "MultiScale",
    "NoisyPrediction",
    "PAPER_SCALES",
    "PlainModel",
    "RotationNoise",
    "SegmentationModel",
    "SegmentationScores",
    "SegmentationSmoother",
    "certified_accuracy_curve",
    "certify_dataset",
    "dataset_metrics",
    "format_summary",
    "plot_certified_accuracy",
    "plot_segmentation",
    "random_segformer",
    "segformer_config",
    "segmentation_metrics",
    "summarize",
    "SequentialRun",
    "certify_sequential",
]


def __dir__() -> list[str]:
    """The public API only: not torch, nor the submodules the imports above bind."""
    return sorted(__all__)
