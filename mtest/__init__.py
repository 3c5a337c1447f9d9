"""mtest: statistics-first multiple testing and certified segmentation on counts.

The table of contents of the package; see README.md for a tour and docs/ for the theory.
Nothing here imports torch: the PyTorch adapters live in ``mtest.adapters``.

Every public name is loaded on first use (PEP 562 ``__getattr__``): ``import mtest`` imports
neither numba nor scipy, and ``mtest.holm`` loads only what Holm needs. ``from mtest import X``,
``mtest.X``, ``dir(mtest)`` and ``help(mtest)`` behave as if everything were imported eagerly.
"""
from __future__ import annotations

import importlib as _importlib
import importlib.util as _importlib_util
import sys as _sys
import types as _types
from typing import TYPE_CHECKING

#: public name -> the submodule that defines it
_LAZY = {
    "ABSTAIN": "certify",
    "BinomTestResult": "binomial",
    "CertificationWarning": "certify",
    "CertifyResult": "certify",
    "ConfidenceInterval": "binomial",
    "GaussianL2": "certify",
    "GuessCount": "certify",
    "IndivClassResult": "certify",
    "JointClassResult": "certify",
    "LaplaceL1": "certify",
    "PlanResult": "power",
    "PredictResult": "certify",
    "SegCertifyResult": "certify",
    "binom_pvalue": "binomial",
    "binom_pvalue_table": "binomial",
    "binomtest": "binomial",
    "clopper_pearson": "binomial",
    "cohen_certify": "certify",
    "cohen_predict": "certify",
    "guess_and_count": "certify",
    "indiv_class": "certify",
    "joint_class": "certify",
    "joint_class_from_count": "certify",
    "plan_samples": "power",
    "reject_table": "tables",
    "reject_table_rows": "tables",
    "segcertify": "certify",
    "segcertify_counts": "certify",
    "PROCEDURES": "registry",
    "Guarantee": "registry",
    "MultipleTestResult": "multitest",
    "Procedure": "registry",
    "RowsResult": "tables",
    "SpecialProcedure": "registry",
    "StepwiseProcedure": "registry",
    "adjust": "multitest",
    "adjust_frame": "frames",
    "adjust_files": "outofcore",
    "FilesResult": "outofcore",
    "FamilySummary": "outofcore",
    "bonferroni": "multitest",
    "get_procedure": "registry",
    "holm": "multitest",
    "lehmann_romano": "multitest",
    "sidak": "multitest",
    "holm_sidak": "multitest",
    "hochberg": "multitest",
    "hommel": "multitest",
    "benjamini_hochberg": "multitest",
    "benjamini_yekutieli": "multitest",
    "benjamini_krieger_yekutieli": "multitest",
    "gavrilov_benjamini_sarkar": "multitest",
    "register": "registry",
    "reject": "multitest",
    "QValueResult": "qvalue",
    "qvalue": "qvalue",
    "compat": None,  # the submodule mtest.compat itself (statsmodels / R / scipy drop-ins)
    "SequentialCertifier": "sequential",
    "SequentialResult": "sequential",
    "RadiusMapResult": "radius_map",
    "segcertify_radius_map": "radius_map",
    "CITYSCAPES_HIERARCHY": "hierarchy",
    "DEMO_IMAGE_HIERARCHY": "hierarchy",
    "CIGResult": "hierarchy",
    "Hierarchy": "hierarchy",
    "HierarchyCertifyResult": "hierarchy",
    "certified_information_gain": "hierarchy",
    "hierarchical_segcertify": "hierarchy",
}

__all__ = [
    "__version__",
    "ABSTAIN",
    "BinomTestResult",
    "CertificationWarning",
    "CertifyResult",
    "ConfidenceInterval",
    "GaussianL2",
    "GuessCount",
    "IndivClassResult",
    "JointClassResult",
    "LaplaceL1",
    "PlanResult",
    "PredictResult",
    "SegCertifyResult",
    "binom_pvalue",
    "binom_pvalue_table",
    "binomtest",
    "clopper_pearson",
    "cohen_certify",
    "cohen_predict",
    "guess_and_count",
    "indiv_class",
    "joint_class",
    "joint_class_from_count",
    "plan_samples",
    "reject_table",
    "reject_table_rows",
    "segcertify",
    "segcertify_counts",
    "PROCEDURES",
    "Guarantee",
    "MultipleTestResult",
    "Procedure",
    "RowsResult",
    "SpecialProcedure",
    "StepwiseProcedure",
    "adjust",
    "adjust_frame",
    "adjust_files",
    "FilesResult",
    "FamilySummary",
    "bonferroni",
    "get_procedure",
    "holm",
    "lehmann_romano",
    "sidak",
    "holm_sidak",
    "hochberg",
    "hommel",
    "benjamini_hochberg",
    "benjamini_yekutieli",
    "benjamini_krieger_yekutieli",
    "gavrilov_benjamini_sarkar",
    "register",
    "reject",
    "QValueResult",
    "qvalue",
    "compat",
    "SequentialCertifier",
    "SequentialResult",
    "RadiusMapResult",
    "segcertify_radius_map",
    "CITYSCAPES_HIERARCHY",
    "DEMO_IMAGE_HIERARCHY",
    "CIGResult",
    "Hierarchy",
    "HierarchyCertifyResult",
    "certified_information_gain",
    "hierarchical_segcertify",
]


if TYPE_CHECKING:  # the eager form, for static analysers (type checkers, the docs' griffe)
    from .binomial import (
        BinomTestResult,
        ConfidenceInterval,
        binom_pvalue,
        binom_pvalue_table,
        binomtest,
        clopper_pearson,
    )
    from .certify import (
        ABSTAIN,
        CertificationWarning,
        CertifyResult,
        GaussianL2,
        GuessCount,
        IndivClassResult,
        JointClassResult,
        LaplaceL1,
        PredictResult,
        SegCertifyResult,
        cohen_certify,
        cohen_predict,
        guess_and_count,
        indiv_class,
        joint_class,
        joint_class_from_count,
        segcertify,
        segcertify_counts,
    )
    from .frames import adjust_frame
    from .outofcore import FamilySummary, FilesResult, adjust_files
    from .power import PlanResult, plan_samples
    from .multitest import MultipleTestResult, adjust, bonferroni, holm, lehmann_romano, reject
    from .multitest import (
        sidak,
        holm_sidak,
        hochberg,
        hommel,
        benjamini_hochberg,
        benjamini_yekutieli,
        benjamini_krieger_yekutieli,
        gavrilov_benjamini_sarkar,
    )
    from .registry import (
        PROCEDURES,
        Guarantee,
        Procedure,
        SpecialProcedure,
        StepwiseProcedure,
        get_procedure,
        register,
    )
    from .tables import RowsResult, reject_table, reject_table_rows
    from .qvalue import QValueResult, qvalue
    from . import compat
    from .sequential import SequentialCertifier, SequentialResult
    from .radius_map import RadiusMapResult, segcertify_radius_map
    from .hierarchy import (
        CITYSCAPES_HIERARCHY,
        DEMO_IMAGE_HIERARCHY,
        CIGResult,
        Hierarchy,
        HierarchyCertifyResult,
        certified_information_gain,
        hierarchical_segcertify,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mtest")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
        globals()[name] = value
        return value
    if name not in _LAZY:
        # a submodule used as an attribute (``import mtest; mtest.power.run_study``) worked when
        # the package imported everything eagerly: import it on first use
        if not name.startswith("__") and _importlib_util.find_spec(f"{__name__}.{name}") is not None:
            return _importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'mtest' has no attribute {name!r}")
    module = _LAZY[name]
    if module is None:
        return _importlib.import_module(f".{name}", __name__)
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(_types.ModuleType):
    """mtest's module type: binds a submodule's public names when it is first imported.

    Importing ``mtest.qvalue`` (the submodule) would otherwise leave the attribute ``mtest.qvalue``
    pointing at the submodule rather than the function of that name, whichever import came first.
    """

    def __setattr__(self, name, value):
        if isinstance(value, _types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            super().__setattr__(name, value)
            for public, module in _LAZY.items():
                if module == name:  # the submodule is now fully imported: bind its public names
                    super().__setattr__(public, getattr(value, public))
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
