"""Certification on counts: SEGCERTIFY and the baselines of Fischer et al. (ICML 2021).

Everything here works on class counts and needs no model and no torch; the PyTorch samplers in
:mod:`mtest.adapters` produce the counts.

* :func:`segcertify` — Algorithm 2: a one-sided binomial test per component (H0: p_A <= tau),
  a registered procedure controlling the FWER or k-FWER under arbitrary dependence (checked by
  :func:`certifying_procedure`), abstain where a test is not rejected, radius R(tau) (§5).
* :func:`cohen_predict`, :func:`cohen_certify` — Algorithm 1 (Cohen et al., 2019), per component.
* :func:`indiv_class` — CERTIFY per component at alpha/N, all or nothing, radius = min (§4).
* :func:`joint_class` — CERTIFY on the whole output vector as one class (§4).

Radii: :class:`GaussianL2` (sigma * Phi^-1(p), Theorem 3.1 / Cohen et al. Thm 1),
:class:`LaplaceL1` (-lambda * ln(2(1 - p)), Teng et al. 2020 Thm 1 / Yang et al. 2020), or any
callable ``p -> radius`` for other smoothings (§5.2), e.g. rotation angles of point clouds.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import ndtri

from . import _repr
from ._stepwise import critical
from .binomial import binom_pvalue, clopper_pearson, table_and_index
from .multitest import MultipleTestResult, check_k_for
from .registry import PROCEDURES, Guarantee, Procedure, StepwiseProcedure, get_procedure
from .tables import reject_table
from ._validation import (as_int_array, as_label_array, check_alpha, check_positive, check_positive_int,
                          check_probability)

__all__ = [
    "ABSTAIN",
    "CertificationWarning",
    "certifying_procedure",
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


def certifying_procedure(method: Any, k: Any = 1) -> tuple[Procedure, int]:
    """The procedure and k that SEGCERTIFY runs with, or a ``ValueError`` saying why not.

    SEGCERTIFY tests all components of one input on the same noisy samples, so their p-values
    have unknown dependence, and its promise is about this input's certified components: with
    probability at least 1 - alpha none (k-FWER: fewer than k) of them is wrong. Only procedures
    that declare FWER or k-FWER control under arbitrary dependence give that
    (:attr:`Guarantee.certifies`); FDR procedures (BH, BY) and procedures proven only under
    independence or positive dependence (Hochberg, Hommel, Šidák) are refused. Every path to
    certification (:func:`segcertify`, the PyTorch adapters, the power study) calls this check.

    Examples
    --------
    >>> import mtest
    >>> mtest.certify.certifying_procedure("holm")[0].name
    'holm'
    >>> mtest.certify.certifying_procedure("BH")
    Traceback (most recent call last):
    ...
    ValueError: method 'fdr_bh' controls FDR under independence or positive regression dependence (PRDS); SEGCERTIFY needs FWER or k-FWER control under arbitrary dependence (all components are tested on the same noisy samples); use one of 'bonferroni', 'holm', 'lehmann-romano'
    """
    proc = get_procedure(method)
    k = check_k_for(proc, k)
    if not proc.guarantee(k).certifies:
        valid = ", ".join(repr(p.name) for p in PROCEDURES.values() if p.guarantee().certifies)
        raise ValueError(
            f"method {proc.name!r} controls {proc.controls}; SEGCERTIFY needs FWER or k-FWER "
            f"control under arbitrary dependence (all components are tested on the same noisy "
            f"samples); use one of {valid}")
    return proc, k


# --- radii ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GaussianL2:
    """l2 radius of Gaussian smoothing N(0, sigma^2 I): R(p) = sigma * Phi^-1(p).

    Paper Theorem 3.1 (Cohen et al. 2019, Thm 1) with p_B = 1 - p_A; SEGCERTIFY uses p = tau
    (Theorem 5.1). Also the certified angle, in radians, of a rotation about one fixed axis
    smoothed with N(0, sigma^2) (rotations about one axis compose additively; Fischer et al. 2020).

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


def _radius_fn(sigma, radius) -> Callable | None:
    if sigma is not None and radius is not None:
        raise ValueError(f"give sigma ({sigma!r}) or radius ({radius!r}), not both")
    if sigma is not None:
        return GaussianL2(sigma)
    if radius is not None:
        if not callable(radius):
            raise ValueError(f"radius must be a callable p -> radius (e.g. GaussianL2(0.25)); got {radius!r}")
        return radius
    return None


def _apply_radius(fn, p):
    if fn is None:
        return np.full(np.shape(p), np.nan)[()] if np.ndim(p) else float("nan")
    out = np.asarray(fn(p), dtype=np.float64)
    return out[()] if out.ndim == 0 else out


# --- inputs -----------------------------------------------------------------------------------------

def _check_guess_count(guess, count, n: int):
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
class GuessCount:
    """Per-component guessed class (argmax of the n0 guessing counts), its count among the n
    counting samples, and n."""

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
class SegCertifyResult:
    """Outcome of :func:`segcertify`.

    Attributes
    ----------
    labels : ndarray of int
        The guess where certified, :data:`ABSTAIN` (-1) elsewhere; the input's shape, in a
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
        What the certificate promises: with probability at least 1 - alpha, no certified
        component (k-FWER: fewer than k of them) has p_A <= tau, whatever the dependence between
        components, e.g. ``FWER <= 0.001 under arbitrary dependence``.
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


def segcertify(guess, count, *, n: int, tau: float, alpha: float, method: str = "holm", k: int = 1,
               sigma: float | None = None, radius: Callable | None = None) -> SegCertifyResult:
    """SEGCERTIFY on counts (paper Algorithm 2, Proposition 1).

    For each component i, test H0,i: p_A,i <= tau with the one-sided binomial p-value
    pv_i = P(Bin(n, tau) >= count_i), run the FWER procedure ``method`` at ``alpha`` over all
    components, and return the guess where H0,i is rejected and ``ABSTAIN`` elsewhere. With
    probability at least 1 - alpha, every non-abstained component has p_A,i > tau and is therefore
    robust within radius R(tau) (Theorem 5.1). With a k-FWER method, at most k - 1 components
    are wrong with probability at least 1 - alpha (§5.2). The promise holds whatever the
    dependence between components, and ``result.guarantee`` states it.

    Only procedures that control the FWER or k-FWER under arbitrary dependence are accepted
    (:func:`certifying_procedure`): with 900 components at p_A = 0.99 and 100 at p_A = tau
    (n = 100, alpha = 0.05), BH would certify a wrong component in about 98 % of runs and BY in
    about 44 %. A :class:`CertificationWarning` says when no component can be certified at all
    (the smallest possible p-value tau^n is above the procedure's first critical value).

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
    method : str
        A registered procedure that controls the FWER or k-FWER under arbitrary dependence:
        'holm' (default), 'bonferroni', 'lehmann-romano' ('lr'), or one of your own declaring
        ``error_rate`` 'fwer'/'kfwer' and ``dependence='arbitrary'``. Others raise ``ValueError``.
    k : int
        k of k-FWER methods.
    sigma : float, optional
        Gaussian noise level: radius = sigma * Phi^-1(tau).
    radius : callable, optional
        ``p -> radius`` for other smoothings (``LaplaceL1(scale)``, rotations, ...).

    Returns
    -------
    SegCertifyResult

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
    """
    n = check_positive_int("n", n)
    tau = check_probability("tau", tau, low=0.5, high=1.0, high_open=True)
    alpha = check_alpha(alpha)
    proc, k = certifying_procedure(method, k)
    fn = _radius_fn(sigma, radius)
    guess, count = _check_guess_count(guess, count, n)
    if count.size == 0:
        raise ValueError("count must hold at least one component; got an empty array")
    _warn_if_nothing_certifiable(proc, float(binom_pvalue(n, n, tau, "greater")), n, tau, alpha, k,
                                 count.size)
    # n + 1 tabulated p-values when the components are many, else those of the distinct counts
    fwer = reject_table(*table_and_index(count, n, tau, "greater"), alpha, proc, k=k)
    labels = np.where(fwer.reject, guess, ABSTAIN)
    pvalues = fwer._source[0].reshape(count.shape)
    return SegCertifyResult(
        labels=labels, radius=float(_apply_radius(fn, tau)), pvalues=pvalues, reject=fwer.reject,
        abstain_rate=1.0 - fwer.n_rejected / count.size, n_certified=fwer.n_rejected, tau=tau,
        alpha=alpha, n=n, method=fwer.method, k=fwer.k, fwer=fwer, guarantee=fwer.guarantee)


def _warn_if_nothing_certifiable(proc, smallest, n, tau, alpha, k, size) -> None:
    """CertificationWarning when even count = n (p-value tau^n) cannot be rejected."""
    if not isinstance(proc, StepwiseProcedure):
        return  # no closed-form first critical value; nothing to say cheaply
    first = critical(proc, 1, size, k, alpha)  # the smallest critical value (they grow with rank)
    if smallest <= first:
        return
    need = math.ceil(math.log(first) / math.log(tau)) if first > 0 else None
    hint = f"; n >= {need} samples would be needed" if need else ""
    warnings.warn(
        f"no component can be certified: with n={n} the smallest possible p-value tau^n = "
        f"{smallest:.3g} (tau={tau}) is above {proc.name}'s first critical value {first:.3g} "
        f"for N={size} components at alpha={alpha}{f', k={k}' if k != 1 else ''}{hint}",
        CertificationWarning, stacklevel=3)


def segcertify_counts(counts0, counts, *, tau: float, alpha: float, method: str = "holm", k: int = 1,
                      sigma: float | None = None, radius: Callable | None = None) -> SegCertifyResult:
    """SEGCERTIFY from full class counts of shape (..., C): see :func:`guess_and_count`.

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
                      sigma=sigma, radius=radius)


# --- Cohen et al.: CERTIFY and PREDICT -----------------------------------------------------------------

@dataclass(frozen=True)
class CertifyResult:
    """Cohen CERTIFY per component: ``labels`` (guess or ABSTAIN), the Clopper–Pearson lower bound
    ``p_lower`` of p_A at confidence 1 - alpha, and ``radius`` (NaN where abstained)."""

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
    fn = _radius_fn(sigma, radius)
    guess, count = _check_guess_count(guess, count, n)
    p_lower = np.asarray(clopper_pearson(count, n, alpha, "greater").low, dtype=np.float64)
    certified = p_lower > 0.5
    labels = np.where(certified, guess, ABSTAIN)
    rad = np.where(certified, _apply_radius(fn, np.where(certified, p_lower, 0.75)), np.nan)
    return CertifyResult(labels=labels, p_lower=p_lower, radius=rad, alpha=alpha)


@dataclass(frozen=True)
class PredictResult:
    """Cohen PREDICT per component: ``labels`` (top class or ABSTAIN) and the two-sided
    binomial ``pvalues`` of the top-two test."""

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
class IndivClassResult:
    """INDIVCLASS: all components certified (``certified``) or the whole output abstains."""

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
    fn = _radius_fn(sigma, radius)
    guess, count = _check_guess_count(guess, count, n)
    if count.size == 0:
        raise ValueError("count must hold at least one component; got an empty array")
    p_lower = np.asarray(clopper_pearson(count, n, alpha / count.size, "greater").low, dtype=np.float64)
    certified = bool(np.all(p_lower > 0.5))
    labels = np.array(guess, copy=True) if certified else np.full(guess.shape, ABSTAIN, dtype=guess.dtype)
    rad = float(np.min(_apply_radius(fn, p_lower))) if certified else float("nan")
    return IndivClassResult(labels=labels, certified=certified, radius=rad, p_lower=p_lower, alpha=alpha)


@dataclass(frozen=True)
class JointClassResult:
    """JOINTCLASS: the guessed output vector or full abstention, with its vector-match count."""

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

    Examples
    --------
    >>> import mtest
    >>> mtest.joint_class_from_count([0, 1, 1], 95, n=100, alpha=0.001).certified
    True
    """
    n = check_positive_int("n", n)
    alpha = check_alpha(alpha)
    fn = _radius_fn(sigma, radius)
    guess = as_label_array("guess", guess)
    count = check_positive_int("count", count, 0)
    if count > n:
        raise ValueError(f"count must satisfy 0 <= count <= n={n}; got {count}")
    p_lower = float(clopper_pearson(count, n, alpha, "greater").low)
    certified = p_lower > 0.5
    labels = np.array(guess, copy=True) if certified else np.full(guess.shape, ABSTAIN, dtype=guess.dtype)
    rad = float(_apply_radius(fn, p_lower)) if certified else float("nan")
    return JointClassResult(labels=labels, certified=certified, radius=rad, p_lower=p_lower,
                            count=count, n=n, alpha=alpha)


def joint_class(samples0, samples, *, alpha: float, sigma: float | None = None,
                radius: Callable | None = None) -> JointClassResult:
    """JOINTCLASS from sampled output vectors: ``samples0`` (n0, ...) to guess, ``samples`` (n, ...)
    to count exact matches of the guessed vector (paper §4).

    The guess is the most frequent vector among ``samples0`` (ties: the one seen first).

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
