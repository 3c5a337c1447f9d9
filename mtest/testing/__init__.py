"""Tools to *check* multiple-testing procedures — the project's own tests use them, and so can you.

* ``dependence`` — p-values with known truth from a Gaussian copula
  (independent, equicorrelated, block, negative dependence).
* ``harness`` — ``check_fwer``, ``check_fdr``: simulated error rates of
  any ``pvalues -> reject mask`` callable, with exact intervals and a verdict against alpha.
* ``properties`` — reusable assertions (containment, monotonicity in alpha,
  permutation equivariance, consistency with adjusted p-values).
* ``strategies`` — hypothesis strategies (needs the ``hypothesis`` package,
  installed with the ``dev`` extra; import it explicitly).

See ``docs/testing-your-procedure.md``.
"""
from .dependence import DEPENDENCE, SimulatedPValues, gaussian_pvalues
from .harness import (ErrorRateCheck, as_procedure, assert_fdr_controlled, assert_fwer_controlled,
                      check_fdr, check_fwer)
from .properties import (assert_consistent_with_adjusted, assert_monotone_in_alpha,
                         assert_permutation_equivariant, assert_rejections_contain, procedure,
                         pvalues_with_ties)

__all__ = [
    "DEPENDENCE",
    "ErrorRateCheck",
    "SimulatedPValues",
    "as_procedure",
    "assert_consistent_with_adjusted",
    "assert_fdr_controlled",
    "assert_fwer_controlled",
    "assert_monotone_in_alpha",
    "assert_permutation_equivariant",
    "assert_rejections_contain",
    "check_fdr",
    "check_fwer",
    "gaussian_pvalues",
    "procedure",
    "pvalues_with_ties",
]
