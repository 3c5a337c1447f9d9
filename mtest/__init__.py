"""mtest: statistics-first multiple testing and certified segmentation on counts.

The table of contents of the package; see README.md for a tour and docs/ for the theory.
Nothing here imports torch: the PyTorch adapters live in :mod:`mtest.adapters`.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from .fwer import (
    PROCEDURES,
    MultipleTestResult,
    Procedure,
    adjust,
    bonferroni,
    get_procedure,
    holm,
    lehmann_romano,
    register,
    reject,
)

try:
    __version__ = _version("mtest")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "PROCEDURES",
    "MultipleTestResult",
    "Procedure",
    "adjust",
    "bonferroni",
    "get_procedure",
    "holm",
    "lehmann_romano",
    "register",
    "reject",
]
