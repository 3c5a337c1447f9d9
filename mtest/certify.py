"""Certification on counts: SEGCERTIFY and the baselines of Fischer et al. (ICML 2021).

Everything here works on class counts and needs no model and no torch; the PyTorch samplers in
``mtest.adapters`` produce the counts.

* ``segcertify`` — Algorithm 2: a one-sided binomial test per component (H0: p_A <= tau),
  a registered procedure controlling the FWER or k-FWER under arbitrary dependence (checked by
  ``certifying_procedure``), abstain where a test is not rejected, radius R(tau) (§5).
* ``cohen_predict``, ``cohen_certify`` — Algorithm 1 (Cohen et al., 2019), per component.
* ``indiv_class`` — CERTIFY per component at alpha/N, all or nothing, radius = min (§4).
* ``joint_class`` — CERTIFY on the whole output vector as one class (§4).

Radii: ``GaussianL2`` (sigma * Phi^-1(p), Theorem 3.1 / Cohen et al. Thm 1),
``LaplaceL1`` (-lambda * ln(2(1 - p)), Teng et al. 2020 Thm 1 / Yang et al. 2020), or any
callable ``p -> radius`` for other smoothings (§5.2), e.g. rotation angles of point clouds.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ._validation import ReadOnlyArrays
from scipy.special import ndtri

from . import _repr
from ._stepwise import critical
from .binomial import binom_pvalue, clopper_pearson, table_and_index
from .multitest import MultipleTestResult, check_k_for, check_k_within
from .registry import PROCEDURES, Guarantee, Procedure, StepwiseProcedure, get_procedure
from .tables import reject_table
from ._validation import (as_int_array, as_label_array, check_alpha, check_choice, check_positive,
                          check_positive_int, check_probability)

__all__ = [
    "ABSTAIN",
    "radius_function",
    "apply_radius",
    "check_guess_count",
    "CertificationWarning",
    "certifying_procedure",
    "CERTIFICATION_ERROR_RATES",
    "GaussianL2",
    "LaplaceL1",
    "GuessCount",
    "SegCertifyResult",
    "CertifyResult",
    "PredictResult",
    "IndivClassResult",
    "JointClassResult",
    "guess_and_count",
    "segcertify",
    "segcertify_counts",
    "cohen_certify",
    "cohen_predict",
    "indiv_class",
    "joint_class",
    "joint_class_from_count",
]

#: label of an abstained component
ABSTAIN = -1


class CertificationWarning(UserWarning):
    """SEGCERTIFY was asked something it cannot certify (e.g. n too small for tau, alpha and N)."""


#: error rates certification offers: 'fwer' (FWER, or k-FWER with k) and 'fdr' (the expected
#: fraction of certified components that are wrong)
CERTIFICATION_ERROR_RATES = ("fwer", "fdr")
_DEFAULT_METHOD = {"fwer": "holm", "fdr": "fdr_by"}
_FDR_SUBJECT = "certified components"


def certifying_procedure(method: Any = None, k: Any = 1, error_rate: Any = "fwer") -> tuple[Procedure, int]:
    """The procedure and k that SEGCERTIFY runs with, or a ``ValueError`` saying why not.

    SEGCERTIFY tests all components of one input on the same noisy samples, so their p-values
    have unknown dependence: the model decides it. Certification therefore accepts only
    procedures whose guarantee holds under arbitrary dependence (``Guarantee.certifies``,
    ``Guarantee.certifies_fdr``):

    * ``error_rate='fwer'`` (default; method default 'holm'): with probability at least 1 - alpha
      no certified component (k-FWER: fewer than k of them) is wrong — FWER or k-FWER procedures
      ('holm', 'bonferroni', 'lehmann-romano');
    * ``error_rate='fdr'`` (method default 'fdr_by'): the expected fraction of certified
      components that are wrong is at most alpha — Benjamini–Yekutieli. Benjamini–Hochberg is
      refused: its bound needs PRDS p-values, which a model can break (docs/theory.md).

    Procedures proven only under independence or positive dependence (Hochberg, Hommel, Šidák,
    BH, the adaptive FDR procedures) are refused for both. Every path to certification
    (``segcertify``, the PyTorch adapters, the power study, the sequential and radius-map
    certifiers) calls this check.

    Examples
    --------
    >>> import mtest
    >>> mtest.certify.certifying_procedure("holm")[0].name
    'holm'
    >>> mtest.certify.certifying_procedure(error_rate="fdr")[0].name
    'fdr_by'
    >>> mtest.certify.certifying_procedure("BH")
    Traceback (most recent call last):
    ...
    ValueError: method 'fdr_bh' controls FDR under independence or positive regression dependence (PRDS); SEGCERTIFY needs FWER or k-FWER control under arbitrary dependence (all components are tested on the same noisy samples); use one of 'bonferroni', 'holm', 'lehmann-romano'
    """
    error_rate = check_choice("error_rate", error_rate, CERTIFICATION_ERROR_RATES)
    proc = get_procedure(_DEFAULT_METHOD[error_rate] if method is None else method)
    k = check_k_for(proc, k)
    g = proc.guarantee(k)
    if error_rate == "fwer" and not g.certifies:
        valid = ", ".join(repr(p.name) for p in PROCEDURES.values() if p.guarantee().certifies)
        hint = (f"; or certify with FDR control: error_rate='fdr', method={proc.name!r}"
                if g.certifies_fdr else "")
        raise ValueError(
            f"method {proc.name!r} controls {proc.controls}; SEGCERTIFY needs FWER or k-FWER "
            f"control under arbitrary dependence (all components are tested on the same noisy "
            f"samples); use one of {valid}{hint}")
    if error_rate == "fdr" and not g.certifies_fdr:
        valid = ", ".join(repr(p.name) for p in PROCEDURES.values() if p.guarantee().certifies_fdr)
        if g.is_familywise:
            why = (f"method {proc.name!r} controls {proc.controls}, not the FDR; for FWER "
                   f"certification use error_rate='fwer'")
        else:
            why = (f"method {proc.name!r} controls {proc.controls}; the components of one input "
                   f"share their noisy samples and the model decides their dependence, which "
                   f"need not be PRDS (docs/theory.md), so FDR certification needs FDR control "
                   f"under arbitrary dependence")
        raise ValueError(f"{why}; with error_rate='fdr' use one of {valid}")
    return proc, k


def holm_or_bonferroni(method: Any, k: Any, alpha: float, version: str, use: str) -> tuple[str, Guarantee]:
    """``certifying_procedure`` (FWER), then restricted to 'holm' or 'bonferroni': the
    certifiers that replace the procedure by their own version of it (sequential, nested levels).
    ``version`` and ``use`` word the error for any other procedure."""
    proc, k = certifying_procedure(method, k)  # the one rule every certification path applies
    if proc.name not in ("holm", "bonferroni"):
        raise ValueError(f"method ({proc.name!r}) has no {version} version here; use {use}")
    return proc.name, proc.guarantee(k, alpha)


def _certification_guarantee(proc: Procedure, k: int, alpha: float) -> Guarantee:
    """The guarantee a certification result states (FDR spelled out as a fraction of certificates)."""
    g = proc.guarantee(k, alpha)
    return proc.guarantee(k, alpha, subject=_FDR_SUBJECT) if g.error_rate == "fdr" else g


# --- radii ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GaussianL2:
    """l2 radius of Gaussian smoothing N(0, sigma^2 I): R(p) = sigma * Phi^-1(p).

    Paper Theorem 3.1 (Cohen et al. 2019, Thm 1) with p_B = 1 - p_A; SEGCERTIFY uses p = tau
    (Theorem 5.1). Also the certified angle, in radians, of a rotation about one fixed axis
    smoothed with N(0, sigma^2) (rotations about one axis compose additively; Fischer et al. 2020).

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian noise (> 0).

    Attributes
    ----------
    sigma : float
        As given.

    References
    ----------
    .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. (2019). Certified adversarial robustness via
           randomized smoothing. ICML. Theorem 1.
    .. [2] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Theorem 3.1.

    Examples
    --------
    >>> from mtest import GaussianL2
    >>> round(float(GaussianL2(0.25)(0.75)), 6)
    0.168622
    """

    sigma: float

    def __post_init__(self):
        check_positive("sigma", self.sigma)

    def __call__(self, p):
        return self.sigma * ndtri(p)


@dataclass(frozen=True)
class LaplaceL1:
    """l1 radius of i.i.d. Laplace smoothing with scale lambda: R(p) = -lambda * ln(2(1 - p)).

    For p > 1/2 (Teng, Lee, Hsu 2020, Thm 1; Yang et al. 2020). Tight: in one dimension the
    classifier 1[x + eps <= t] loses its majority exactly at a shift of R (tested numerically).

    Parameters
    ----------
    scale : float
        Scale lambda of the Laplace noise (> 0).

    Attributes
    ----------
    scale : float
        As given.

    References
    ----------
    .. [1] Yang, G., Duan, T., Hu, J. E., Salman, H., Razenshteyn, I. and Li, J. (2020).
           Randomized smoothing of all shapes and sizes. ICML.

    Examples
    --------
    >>> from mtest import LaplaceL1
    >>> round(float(LaplaceL1(1.0)(0.75)), 6)
    0.693147
    """

    scale: float

    def __post_init__(self):
        check_positive("scale", self.scale)

    def __call__(self, p):
        return -self.scale * np.log(2.0 * (1.0 - np.asarray(p, dtype=np.float64)))


def radius_function(sigma, radius) -> Callable | None:
    """The radius function of a certification call: ``GaussianL2(sigma)``, ``radius``, or None.

    Shared by every certification entry point (SEGCERTIFY, radius maps, sequential,
    hierarchies), so ``sigma`` and ``radius`` mean the same everywhere.

    Parameters
    ----------
    sigma : float or None
        Gaussian noise level (l2 radius sigma * Phi^-1(p)).
    radius : callable or None
        ``p -> radius``; not together with ``sigma``.

    Returns
    -------
    callable or None
        None when neither is given (radii are NaN).
    """
    if sigma is not None and radius is not None:
        raise ValueError(f"give sigma ({sigma!r}) or radius ({radius!r}), not both")
    if sigma is not None:
        return GaussianL2(sigma)
    if radius is not None:
        if not callable(radius):
            raise ValueError(f"radius must be a callable p -> radius (e.g. GaussianL2(0.25)); got {radius!r}")
        return radius
    return None


def apply_radius(fn, p):
    """``fn(p)`` as float64 (a float for a scalar p); NaN of p's shape when ``fn`` is None.

    Parameters
    ----------
    fn : callable or None
        From ``radius_function``.
    p : float or array_like
        Probability bound(s).

    Returns
    -------
    float or ndarray
        The radius (radii).
    """
    if fn is None:
        return np.full(np.shape(p), np.nan)[()] if np.ndim(p) else float("nan")
    out = np.asarray(fn(p), dtype=np.float64)
    return out[()] if out.ndim == 0 else out


# --- inputs -----------------------------------------------------------------------------------------

def check_guess_count(guess, count, n: int):
    """Validate SEGCERTIFY's inputs: labels and counts of one shape, 0 <= count <= n.

    Parameters
    ----------
    guess : array_like of int
        Guessed class per component.
    count : array_like of int
        Matches with the guess among n samples.
    n : int
        Counting samples (already validated).

    Returns
    -------
    guess, count : ndarray
        As integer arrays.
    """
    guess = as_label_array("guess", guess)
    count = as_int_array("count", count)
    if guess.shape != count.shape:
        raise ValueError(f"guess and count must have the same shape; got {guess.shape} and {count.shape}")
    if count.size:
        lo, hi = int(count.min()), int(count.max())
        if lo < 0 or hi > n:
            bad = lo if lo < 0 else hi
            i = int(np.flatnonzero(count.reshape(-1) == bad)[0])
            raise ValueError(f"count must satisfy 0 <= count <= n={n}; got {bad} at flat index {i}")
    return guess, count


@dataclass(frozen=True)
class GuessCount(ReadOnlyArrays):
    """Per-component guessed class (argmax of the n0 guessing counts), its count among the n
    counting samples, and n.

    Attributes
    ----------
    guess : ndarray of int
        Guessed class per component.
    count : ndarray of int
        Its count among the n counting samples.
    n : int
        Counting samples per component.
    """

    guess: np.ndarray
    count: np.ndarray
    n: int

    def __repr__(self) -> str:
        return (f"GuessCount(components={self.guess.size}, shape={self.guess.shape}, n={self.n}, "
                f"count in {_repr.interval(self.count)})")


def guess_and_count(counts0, counts) -> GuessCount:
    """Derive SEGCERTIFY's inputs from full class counts of shape (..., C).

    ``guess`` = argmax of ``counts0`` over the last axis (ties go to the lowest class index);
    ``count`` = ``counts`` at the guess; ``n`` = the per-component total of ``counts``, which must
    be the same for every component.

    Parameters
    ----------
    counts0 : array_like of int
        Per-class counts of the n0 guessing samples, shape (..., C).
    counts : array_like of int
        Per-class counts of the n counting samples, the same shape.

    Returns
    -------
    GuessCount
        ``guess``, ``count`` and ``n``.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> gc = mtest.guess_and_count(np.array([[3, 7], [5, 5]]), np.array([[1, 9], [6, 4]]))
    >>> gc.guess, gc.count, gc.n
    (array([1, 0]), array([9, 6]), 10)
    """
    counts0 = as_int_array("counts0", counts0)
    counts = as_int_array("counts", counts)
    if counts0.shape != counts.shape or counts.ndim < 1:
        raise ValueError(f"counts0 and counts must have the same shape (..., C); got {counts0.shape} "
                         f"and {counts.shape}")
    if counts.size == 0:
        raise ValueError(f"counts must not be empty; got shape {counts.shape}")
    for name, arr in (("counts0", counts0), ("counts", counts)):
        if arr.min() < 0:
            raise ValueError(f"{name} must be non-negative; got {arr.min()}")
    totals = counts.sum(axis=-1)
    n = int(totals.reshape(-1)[0])
    if not np.all(totals == n):
        raise ValueError(f"counts must sum to the same n for every component; got totals from "
                         f"{totals.min()} to {totals.max()}")
    if n < 1:
        raise ValueError(f"counts must hold at least one sample per component; got n={n}")
    guess = counts0.argmax(axis=-1)
    count = np.take_along_axis(counts, guess[..., None], axis=-1)[..., 0]
    return GuessCount(guess=guess, count=count, n=n)


# --- SEGCERTIFY ----------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class SegCertifyResult(ReadOnlyArrays):
    """Outcome of ``segcertify``.

    Attributes
    ----------
    labels : ndarray of int
        The guess where certified, ``ABSTAIN`` (-1) elsewhere; the input's shape, in a
        signed dtype that holds every guess and -1 (uint8 guesses come back as int16).
    radius : float
        Certified radius R(tau) of every non-abstained component (NaN without sigma/radius).
    pvalues : ndarray
        One-sided binomial p-values P(Bin(n, tau) >= count) (read-only: ``fwer`` computes its
        adjusted p-values from them).
    reject : ndarray of bool
        Rejected nulls (= certified components).
    abstain_rate : float
        Fraction of components that abstain.
    n_certified : int
    fwer : MultipleTestResult
        The multiple-testing result (threshold, adjusted p-values on demand).
    guarantee : Guarantee
        What the certificate promises, whatever the dependence between components: with
        probability at least 1 - alpha, no certified component (k-FWER: fewer than k of them)
        has p_A <= tau, e.g. ``FWER <= 0.001 under arbitrary dependence``; with
        ``error_rate='fdr'``, the expected fraction of certified components with p_A <= tau is
        at most alpha (stated so in its ``str``).
    tau, alpha, n : float, float, int
        The threshold, level and counting samples of the run.
    method, k : str, int
        The procedure's canonical name and k of k-FWER.
    """

    labels: np.ndarray
    radius: float
    pvalues: np.ndarray
    reject: np.ndarray
    abstain_rate: float
    n_certified: int
    tau: float
    alpha: float
    n: int
    method: str
    k: int
    fwer: MultipleTestResult
    guarantee: Guarantee

    def __repr__(self):
        return (f"SegCertifyResult(method={self.method!r}, n={self.n}, tau={self.tau}, "
                f"alpha={self.alpha}, k={self.k}, components={self.labels.size}, "
                f"n_certified={self.n_certified}, abstain_rate={self.abstain_rate:.4f}, "
                f"radius={self.radius:.4g}, guarantee='{self.guarantee}')")


def segcertify(guess, count, *, n: int, tau: float, alpha: float, method: str | None = None, k: int = 1,
               sigma: float | None = None, radius: Callable | None = None,
               error_rate: str = "fwer") -> SegCertifyResult:
    """SEGCERTIFY on counts (paper Algorithm 2, Proposition 1).

    For each component i, test H0,i: p_A,i <= tau with the one-sided binomial p-value
    pv_i = P(Bin(n, tau) >= count_i), run the FWER procedure ``method`` at ``alpha`` over all
    components, and return the guess where H0,i is rejected and ``ABSTAIN`` elsewhere. With
    probability at least 1 - alpha, every non-abstained component has p_A,i > tau and is therefore
    robust within radius R(tau) (Theorem 5.1). With a k-FWER method, at most k - 1 components
    are wrong with probability at least 1 - alpha (§5.2). The promise holds whatever the
    dependence between components, and ``result.guarantee`` states it.

    Only procedures that control the FWER or k-FWER under arbitrary dependence are accepted
    (``certifying_procedure``): with 900 components at p_A = 0.99 and 100 at p_A = tau
    (n = 100, alpha = 0.05), BH would certify a wrong component in about 98 % of runs and BY in
    about 44 %. A ``CertificationWarning`` says when no component can be certified at all
    (the smallest possible p-value tau^n is above every critical value of the procedure).

    ``error_rate='fdr'`` asks for the weaker promise that the *expected fraction* of certified
    components that are wrong is at most alpha (an average over the sampling noise, not a
    statement about this run's certificates), with Benjamini–Yekutieli, valid under arbitrary
    dependence (Benjamini & Yekutieli 2001, Thm 1.3). It certifies more where many components
    sit near the threshold; Benjamini–Hochberg is refused (its PRDS condition can fail here:
    docs/theory.md).

    The n + 1 possible p-values are tabulated once and the procedure runs on a histogram of the
    counts, O(N + n), exactly equal to running it on the p-values.

    Parameters
    ----------
    guess : array_like of int
        Guessed class per component (from n0 separate samples), any shape, e.g. (H, W).
    count : array_like of int
        Occurrences of the guess among the n counting samples; same shape; 0 <= count <= n.
    n : int
        Counting samples, at least 1.
    tau : float
        Threshold in [0.5, 1).
    alpha : float
        Level in (0, 1).
    method : str, optional
        With ``error_rate='fwer'``: a registered procedure that controls the FWER or k-FWER under
        arbitrary dependence: 'holm' (default), 'bonferroni', 'lehmann-romano' ('lr'), or one of
        your own declaring ``error_rate`` 'fwer'/'kfwer' and ``dependence='arbitrary'``. With
        ``error_rate='fdr'``: an FDR procedure valid under arbitrary dependence, 'fdr_by'
        (default). Others raise ``ValueError``.
    k : int
        k of k-FWER methods; at most the number of components N (k > N is refused: there
        cannot be k false certifications among fewer than k components).
    sigma : float, optional
        Gaussian noise level: radius = sigma * Phi^-1(tau).
    radius : callable, optional
        ``p -> radius`` for other smoothings (``LaplaceL1(scale)``, rotations, ...).
    error_rate : {'fwer', 'fdr'}
        What alpha bounds: the probability that any certified component is wrong (k-FWER: k or
        more), or the expected fraction of certified components that are wrong.

    Returns
    -------
    SegCertifyResult

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Algorithm 2, Theorem 5.1.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> guess = np.array([[0, 1], [2, 1]])
    >>> count = np.array([[100, 97], [60, 99]])
    >>> res = mtest.segcertify(guess, count, n=100, tau=0.75, alpha=0.001, sigma=0.25)
    >>> res.labels
    array([[ 0,  1],
           [-1,  1]])
    >>> round(res.radius, 4), res.abstain_rate
    (0.1686, 0.25)
    >>> print(res.guarantee)
    FWER <= 0.001 under arbitrary dependence
    >>> fdr = mtest.segcertify(guess, count, n=100, tau=0.75, alpha=0.001, error_rate="fdr")
    >>> fdr.method, fdr.n_certified
    ('fdr_by', 3)
    >>> print(fdr.guarantee)
    FDR <= 0.001 under arbitrary dependence (expected fraction of certified components that are wrong <= 0.001)
    """
    n = check_positive_int("n", n)
    tau = check_probability("tau", tau, low=0.5, high=1.0, high_open=True)
    alpha = check_alpha(alpha)
    proc, k = certifying_procedure(method, k, error_rate)
    fn = radius_function(sigma, radius)
    guess, count = check_guess_count(guess, count, n)
    if count.size == 0:
        raise ValueError("count must hold at least one component; got an empty array")
    check_k_within(k, count.size, " (components)")
    _warn_if_nothing_certifiable(proc, float(binom_pvalue(n, n, tau, "greater")), n, tau, alpha, k,
                                 count.size)
    # n + 1 tabulated p-values when the components are many, else those of the distinct counts
    table, index = table_and_index(count, n, tau, "greater")
    fwer = reject_table(table, index, alpha, proc, k=k)
    labels = np.where(fwer.reject, guess, ABSTAIN)
    pvalues = np.asarray(table, dtype=np.float64)[index].reshape(count.shape)
    pvalues.flags.writeable = False  # a result never changes after it is returned
    return SegCertifyResult(
        labels=labels, radius=float(apply_radius(fn, tau)), pvalues=pvalues, reject=fwer.reject,
        abstain_rate=1.0 - fwer.n_rejected / count.size, n_certified=fwer.n_rejected, tau=tau,
        alpha=alpha, n=n, method=fwer.method, k=fwer.k, fwer=fwer,
        guarantee=_certification_guarantee(proc, fwer.k, alpha))


def _warn_if_nothing_certifiable(proc, smallest, n, tau, alpha, k, size) -> None:
    """CertificationWarning when even count = n (p-value tau^n) cannot be rejected."""
    if not isinstance(proc, StepwiseProcedure):
        return  # no closed-form first critical value; nothing to say cheaply
    # critical values grow with rank: a step-down (or single step) must pass the first, a
    # step-up rejects everything once all N p-values are at most the last (all counts = n)
    rank = size if proc.step == "up" else 1
    first = critical(proc, rank, size, k, alpha)
    if smallest <= first:
        return
    need = math.ceil(math.log(first) / math.log(tau)) if first > 0 else None
    hint = f"; n >= {need} samples would be needed" if need else ""
    warnings.warn(
        f"no component can be certified: with n={n} the smallest possible p-value tau^n = "
        f"{smallest:.3g} (tau={tau}) is above {proc.name}'s "
        f"{'largest' if rank > 1 else 'first'} critical value {first:.3g} "
        f"for N={size} components at alpha={alpha}{f', k={k}' if k != 1 else ''}{hint}",
        CertificationWarning, stacklevel=3)


def segcertify_counts(counts0, counts, *, tau: float, alpha: float, method: str | None = None, k: int = 1,
                      sigma: float | None = None, radius: Callable | None = None,
                      error_rate: str = "fwer") -> SegCertifyResult:
    """SEGCERTIFY from full class counts of shape (..., C): see ``guess_and_count`` and
    ``segcertify`` (``error_rate='fdr'`` for FDR certification).

    Parameters
    ----------
    counts0 : array_like of int
        Per-class counts of the n0 guessing samples, shape (..., C).
    counts : array_like of int
        Per-class counts of the n counting samples, the same shape (n = their per-component total).
    tau : float
        Threshold in [1/2, 1).
    alpha : float
        Level in (0, 1).
    method : str, optional
        A FWER (or k-FWER) procedure valid under arbitrary dependence (default ``'holm'``); with
        ``error_rate='fdr'``, ``'fdr_by'`` (the default then).
    k : int
        k of k-FWER; at most the number of components (as in ``segcertify``).
    sigma : float, optional
        Gaussian noise level: radius sigma * Phi^-1(p) (``GaussianL2``). Not with ``radius``.
    radius : callable, optional
        ``p -> radius`` (e.g. ``LaplaceL1(scale)``); without sigma or radius the radii are NaN.
    error_rate : {'fwer', 'fdr'}
        What the certificate controls (see ``segcertify``).

    Returns
    -------
    SegCertifyResult
        As ``segcertify``.

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Algorithm 2.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> counts0 = np.array([[1, 9], [8, 2]])
    >>> counts = np.array([[0, 100], [70, 30]])
    >>> mtest.segcertify_counts(counts0, counts, tau=0.75, alpha=0.01).labels
    array([ 1, -1])
    """
    gc = guess_and_count(counts0, counts)
    return segcertify(gc.guess, gc.count, n=gc.n, tau=tau, alpha=alpha, method=method, k=k,
                      sigma=sigma, radius=radius, error_rate=error_rate)


# --- Cohen et al.: CERTIFY and PREDICT -----------------------------------------------------------------

@dataclass(frozen=True)
class CertifyResult(ReadOnlyArrays):
    """Cohen CERTIFY per component: ``labels`` (guess or ABSTAIN), the Clopper–Pearson lower bound
    ``p_lower`` of p_A at confidence 1 - alpha, and ``radius`` (NaN where abstained).

    Attributes
    ----------
    labels : ndarray of int
        The guess where certified, ``ABSTAIN`` (-1) elsewhere.
    p_lower : ndarray of float
        One-sided Clopper–Pearson lower bound of p_A per component.
    radius : ndarray of float
        R(p_lower) where certified, NaN elsewhere (or without sigma/radius).
    alpha : float
        The per-component level.
    """

    labels: np.ndarray
    p_lower: np.ndarray
    radius: np.ndarray
    alpha: float

    def __repr__(self) -> str:
        certified = int(np.count_nonzero(np.asarray(self.labels) != ABSTAIN))
        return (f"CertifyResult(components={np.size(self.labels)}, shape={np.shape(self.labels)}, "
                f"alpha={self.alpha}, n_certified={certified}, radius in {_repr.interval(self.radius)})")


def cohen_certify(guess, count, *, n: int, alpha: float, sigma: float | None = None,
                  radius: Callable | None = None) -> CertifyResult:
    """Cohen et al.'s CERTIFY (paper Algorithm 1), applied to each component independently.

    p_lower = one-sided Clopper–Pearson lower bound of p_A at 1 - alpha; certify if p_lower > 1/2,
    with radius R(p_lower) (sigma * Phi^-1(p_lower) for Gaussian noise). Each component's
    guarantee holds with probability 1 - alpha on its own — no multiple-testing correction.

    Parameters
    ----------
    guess : array_like of int
        Guessed class per component (from independent guessing samples).
    count : array_like of int
        Counting samples (of n) whose output equals the guess, per component.
    n : int
        Counting samples.
    alpha : float
        Level in (0, 1), per component.
    sigma : float, optional
        Gaussian noise level: radius sigma * Phi^-1(p) (``GaussianL2``). Not with ``radius``.
    radius : callable, optional
        ``p -> radius`` (e.g. ``LaplaceL1(scale)``); without sigma or radius the radii are NaN.

    Returns
    -------
    CertifyResult
        Labels (``ABSTAIN`` where p_lower <= 1/2), lower bounds and radii.

    References
    ----------
    .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. (2019). Certified adversarial robustness via
           randomized smoothing. ICML. Algorithm CERTIFY.

    Examples
    --------
    >>> import mtest
    >>> res = mtest.cohen_certify([3, 3], [99, 40], n=100, alpha=0.001, sigma=0.5)
    >>> res.labels
    array([ 3, -1])
    >>> round(float(res.radius[0]), 4)
    0.6746
    """
    n = check_positive_int("n", n)
    alpha = check_alpha(alpha)
    fn = radius_function(sigma, radius)
    guess, count = check_guess_count(guess, count, n)
    p_lower = np.asarray(clopper_pearson(count, n, alpha, "greater").low, dtype=np.float64)
    certified = p_lower > 0.5
    labels = np.where(certified, guess, ABSTAIN)
    rad = np.where(certified, apply_radius(fn, np.where(certified, p_lower, 0.75)), np.nan)
    return CertifyResult(labels=labels, p_lower=p_lower, radius=rad, alpha=alpha)


@dataclass(frozen=True)
class PredictResult(ReadOnlyArrays):
    """Cohen PREDICT per component: ``labels`` (top class or ABSTAIN) and the two-sided
    binomial ``pvalues`` of the top-two test.

    Attributes
    ----------
    labels : ndarray of int
        Top class per component, or ``ABSTAIN`` (-1).
    pvalues : ndarray of float
        Two-sided binomial p-value of n_A out of n_A + n_B against 1/2.
    alpha : float
        The per-component level.
    """

    labels: np.ndarray
    pvalues: np.ndarray
    alpha: float

    def __repr__(self) -> str:
        predicted = int(np.count_nonzero(np.asarray(self.labels) != ABSTAIN))
        return (f"PredictResult(components={np.size(self.labels)}, shape={np.shape(self.labels)}, "
                f"alpha={self.alpha}, n_predicted={predicted})")


def cohen_predict(counts, *, alpha: float) -> PredictResult:
    """Cohen et al.'s PREDICT (paper Algorithm 1) for each component of counts (..., C).

    The top two classes c_A, c_B with counts n_A >= n_B (ties to the lower class index); return
    c_A if the two-sided binomial test of n_A out of n_A + n_B against 1/2 has p-value <= alpha,
    else abstain. The probability of returning a class other than the smoothed classifier's is at
    most alpha.

    Parameters
    ----------
    counts : array_like of int
        Per-class counts of noisy samples, shape (..., C); every component has at least one.
    alpha : float
        Level in (0, 1), per component.

    Returns
    -------
    PredictResult
        Top class or ``ABSTAIN`` per component, and the p-values.

    References
    ----------
    .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. (2019). Certified adversarial robustness via
           randomized smoothing. ICML. Algorithm PREDICT.
    .. [2] Hung, K. and Fithian, W. (2019). Rank verification for exponential families. Annals of
           Statistics 47(2), 758-782.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> mtest.cohen_predict(np.array([[90, 10, 0], [48, 52, 0]]), alpha=0.001).labels
    array([ 0, -1])
    """
    alpha = check_alpha(alpha)
    counts = as_int_array("counts", counts)
    if counts.ndim < 1 or counts.shape[-1] < 1 or counts.size == 0:
        raise ValueError(f"counts must have shape (..., C) with C >= 1; got {counts.shape}")
    if counts.min() < 0:
        raise ValueError(f"counts must be non-negative; got {counts.min()}")
    top = counts.argmax(axis=-1)
    n_a = np.take_along_axis(counts, top[..., None], axis=-1)[..., 0]
    if np.any(n_a == 0):
        raise ValueError("counts must hold at least one sample for every component")
    if counts.shape[-1] > 1:
        rest = counts.copy()
        np.put_along_axis(rest, top[..., None], -1, axis=-1)
        n_b = rest.max(axis=-1)
    else:
        n_b = np.zeros_like(n_a)
    total = n_a + n_b
    pvalues = binom_pvalue(n_a, total, 0.5, alternative="two-sided")
    labels = np.where(pvalues <= alpha, top, ABSTAIN)
    return PredictResult(labels=labels, pvalues=pvalues, alpha=alpha)


# --- the naive segmentation baselines (§4) --------------------------------------------------------------

@dataclass(frozen=True)
class IndivClassResult(ReadOnlyArrays):
    """INDIVCLASS: all components certified (``certified``) or the whole output abstains.

    Attributes
    ----------
    labels : ndarray of int
        The guess everywhere when certified, ``ABSTAIN`` (-1) everywhere otherwise.
    certified : bool
        Whether every component was certified.
    radius : float
        min_i R(p_lower,i) when certified, NaN otherwise.
    p_lower : ndarray of float
        Per-component Clopper–Pearson lower bounds at level alpha/N.
    alpha : float
        The level of the joint statement.
    """

    labels: np.ndarray
    certified: bool
    radius: float
    p_lower: np.ndarray
    alpha: float

    def __repr__(self) -> str:
        return (f"IndivClassResult(components={np.size(self.labels)}, shape={np.shape(self.labels)}, "
                f"alpha={self.alpha}, certified={bool(self.certified)}, radius={self.radius:.4g})")


def indiv_class(guess, count, *, n: int, alpha: float, sigma: float | None = None,
                radius: Callable | None = None) -> IndivClassResult:
    """INDIVCLASS (paper §4): CERTIFY on every component at alpha/N (Bonferroni), all or nothing.

    If every component's lower bound exceeds 1/2 the output is the guess everywhere with radius
    min_i R(p_lower,i); a single uncertified component makes the whole output abstain. All N
    bounds hold jointly with probability at least 1 - alpha (union bound).

    Parameters
    ----------
    guess : array_like of int
        Guessed class per component.
    count : array_like of int
        Counting samples (of n) equal to the guess, per component.
    n : int
        Counting samples.
    alpha : float
        Level in (0, 1) of the joint statement.
    sigma : float, optional
        Gaussian noise level: radius sigma * Phi^-1(p) (``GaussianL2``). Not with ``radius``.
    radius : callable, optional
        ``p -> radius`` (e.g. ``LaplaceL1(scale)``); without sigma or radius the radii are NaN.

    Returns
    -------
    IndivClassResult
        All components certified, or the whole output abstains.

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. §4.

    Examples
    --------
    >>> import mtest
    >>> mtest.indiv_class([0, 1, 1], [100, 100, 98], n=100, alpha=0.001, sigma=0.25).certified
    True
    >>> mtest.indiv_class([0, 1, 1], [100, 100, 60], n=100, alpha=0.001).labels
    array([-1, -1, -1])
    """
    n = check_positive_int("n", n)
    alpha = check_alpha(alpha)
    fn = radius_function(sigma, radius)
    guess, count = check_guess_count(guess, count, n)
    if count.size == 0:
        raise ValueError("count must hold at least one component; got an empty array")
    p_lower = np.asarray(clopper_pearson(count, n, alpha / count.size, "greater").low, dtype=np.float64)
    certified = bool(np.all(p_lower > 0.5))
    labels = np.array(guess, copy=True) if certified else np.full(guess.shape, ABSTAIN, dtype=guess.dtype)
    rad = float(np.min(apply_radius(fn, p_lower))) if certified else float("nan")
    return IndivClassResult(labels=labels, certified=certified, radius=rad, p_lower=p_lower, alpha=alpha)


@dataclass(frozen=True)
class JointClassResult(ReadOnlyArrays):
    """JOINTCLASS: the guessed output vector or full abstention, with its vector-match count.

    Attributes
    ----------
    labels : ndarray of int
        The guessed output vector when certified, ``ABSTAIN`` (-1) everywhere otherwise.
    certified : bool
        Whether the vector was certified (p_lower > 1/2).
    radius : float
        R(p_lower) when certified, NaN otherwise.
    p_lower : float
        Clopper–Pearson lower bound of the probability of the whole vector.
    count : int
        Counting samples equal to the guessed vector.
    n : int
        Counting samples.
    alpha : float
        The level.
    """

    labels: np.ndarray
    certified: bool
    radius: float
    p_lower: float
    count: int
    n: int
    alpha: float

    def __repr__(self) -> str:
        return (f"JointClassResult(components={np.size(self.labels)}, shape={np.shape(self.labels)}, "
                f"alpha={self.alpha}, certified={bool(self.certified)}, radius={self.radius:.4g}, "
                f"count={self.count}, n={self.n}, p_lower={self.p_lower:.4g})")


def joint_class_from_count(guess, count: int, *, n: int, alpha: float, sigma: float | None = None,
                           radius: Callable | None = None) -> JointClassResult:
    """JOINTCLASS (paper §4) given the guessed output vector and how many of the n counting
    samples equal it exactly: CERTIFY with the whole vector as one class.

    Parameters
    ----------
    guess : array_like of int
        The guessed output vector (any shape).
    count : int
        Counting samples whose whole output equals ``guess``.
    n : int
        Counting samples.
    alpha : float
        Level in (0, 1).
    sigma : float, optional
        Gaussian noise level: radius sigma * Phi^-1(p) (``GaussianL2``). Not with ``radius``.
    radius : callable, optional
        ``p -> radius`` (e.g. ``LaplaceL1(scale)``); without sigma or radius the radii are NaN.

    Returns
    -------
    JointClassResult
        The guessed vector or full abstention.

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. §4.

    Examples
    --------
    >>> import mtest
    >>> mtest.joint_class_from_count([0, 1, 1], 95, n=100, alpha=0.001).certified
    True
    """
    n = check_positive_int("n", n)
    alpha = check_alpha(alpha)
    fn = radius_function(sigma, radius)
    guess = as_label_array("guess", guess)
    count = check_positive_int("count", count, 0)
    if count > n:
        raise ValueError(f"count must satisfy 0 <= count <= n={n}; got {count}")
    p_lower = float(clopper_pearson(count, n, alpha, "greater").low)
    certified = p_lower > 0.5
    labels = np.array(guess, copy=True) if certified else np.full(guess.shape, ABSTAIN, dtype=guess.dtype)
    rad = float(apply_radius(fn, p_lower)) if certified else float("nan")
    return JointClassResult(labels=labels, certified=certified, radius=rad, p_lower=p_lower,
                            count=count, n=n, alpha=alpha)


def joint_class(samples0, samples, *, alpha: float, sigma: float | None = None,
                radius: Callable | None = None) -> JointClassResult:
    """JOINTCLASS from sampled output vectors: ``samples0`` (n0, ...) to guess, ``samples`` (n, ...)
    to count exact matches of the guessed vector (paper §4).

    The guess is the most frequent vector among ``samples0`` (ties: the one seen first).

    Parameters
    ----------
    samples0 : array_like of int
        Output vectors of the n0 guessing samples, shape (n0, ...).
    samples : array_like of int
        Output vectors of the n counting samples, shape (n, ...).
    alpha : float
        Level in (0, 1).
    sigma : float, optional
        Gaussian noise level: radius sigma * Phi^-1(p) (``GaussianL2``). Not with ``radius``.
    radius : callable, optional
        ``p -> radius`` (e.g. ``LaplaceL1(scale)``); without sigma or radius the radii are NaN.

    Returns
    -------
    JointClassResult
        The guessed vector or full abstention.

    References
    ----------
    .. [1] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. §4.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> s0 = np.array([[0, 1], [0, 1], [1, 1]])
    >>> s = np.tile([0, 1], (50, 1))
    >>> mtest.joint_class(s0, s, alpha=0.01).labels
    array([0, 1])
    """
    samples0 = as_label_array("samples0", samples0)
    samples = as_label_array("samples", samples)
    if samples0.ndim < 2 or samples.ndim < 2 or samples0.shape[1:] != samples.shape[1:]:
        raise ValueError(f"samples0 and samples must have shapes (n0, ...) and (n, ...) with the same "
                         f"component shape; got {samples0.shape} and {samples.shape}")
    if samples0.shape[0] < 1 or samples.shape[0] < 1:
        raise ValueError(f"need at least one sample in each of samples0 and samples; got "
                         f"{samples0.shape[0]} and {samples.shape[0]}")
    flat0 = samples0.reshape(samples0.shape[0], -1)
    uniq, first, inverse, freq = np.unique(flat0, axis=0, return_index=True, return_inverse=True,
                                           return_counts=True)
    best = np.flatnonzero(freq == freq.max())
    winner = best[np.argmin(first[best])]
    guess = uniq[winner]
    count = int(np.count_nonzero(np.all(samples.reshape(samples.shape[0], -1) == guess, axis=1)))
    return joint_class_from_count(guess.reshape(samples.shape[1:]), count, n=samples.shape[0],
                                  alpha=alpha, sigma=sigma, radius=radius)
