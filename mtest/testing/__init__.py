"""Tools to *check* multiple-testing procedures: data generators with known truth, hypothesis
strategies, and error-rate harnesses.

``mtest.testing.strategies`` needs the ``hypothesis`` package (installed with the ``dev`` extra);
the rest needs only numpy and scipy.
"""
from .dependence import DEPENDENCE, SimulatedPValues, gaussian_pvalues

__all__ = ["DEPENDENCE", "SimulatedPValues", "gaussian_pvalues"]
