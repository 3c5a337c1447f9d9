"""mtest: statistics-first multiple testing and certified segmentation on counts.

The table of contents of the package; see README.md for a tour and docs/ for the theory.
Nothing here imports torch: the PyTorch adapters live in :mod:`mtest.adapters`.
"""
from importlib.metadata import PackageNotFoundError, version as _version

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
from . import compat  # noqa: E402  (mtest.compat: statsmodels / R / scipy drop-ins)
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

try:
    __version__ = _version("mtest")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

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
    "sidak",
    "holm_sidak",
    "hochberg",
    "hommel",
    "benjamini_hochberg",
    "benjamini_yekutieli",
    "benjamini_krieger_yekutieli",
    "gavrilov_benjamini_sarkar",
]
