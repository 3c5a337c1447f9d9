"""Anytime-valid sequential SEGCERTIFY: sample in rounds, stop when every component is decided.

SEGCERTIFY (Fischer et al., ICML 2021, Alg. 2) fixes the number of counting samples n in advance,
so every input pays for its slowest component. ``SequentialCertifier`` instead takes the
counts in rounds and may be stopped at *any* time, by any rule that looks at the data, with the
same guarantee: with probability at least 1 - alpha no certified component has p_A,i <= tau.

Per component it keeps an e-process for H0,i: p_A,i <= tau, the mixture likelihood ratio

    E_i(t) = integral over q in (tau, 1] of  prod_s q^X_s (1 - q)^(1 - X_s) / (tau^X_s (1 - tau)^(1 - X_s))
             d Uniform(tau, 1](q),

a nonnegative supermartingale under every p <= tau (each factor has conditional mean
1 + (p - tau)(q - tau)/(tau (1 - tau)) <= 1), in closed form through the regularised incomplete
beta function. Across components it combines them with the closure of the e-value mean test
(e-Holm, Vovk & Wang 2021) or with e-Bonferroni (E_i >= N / (k alpha)); by Ville's inequality both
control the FWER (k-FWER) under arbitrary dependence between components and under optional
stopping. The proof is in docs/theory.md ("Beyond the paper").

References
----------
1. Fischer, Baader, Vechev. Scalable certified segmentation via randomized smoothing. ICML 2021.
2. Vovk, Wang. E-values: calibration, combination and applications. Ann. Statist. 49(3), 2021.
3. Ville. Étude critique de la notion de collectif. 1939 (Ville's inequality).
4. Howard, Ramdas, McAuliffe, Sekhon. Time-uniform, nonparametric, nonasymptotic confidence
   sequences. Ann. Statist. 49(2), 2021.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validation import ReadOnlyArrays
from scipy.special import betaincc, betaincinv, betaln

from .certify import ABSTAIN, apply_radius, radius_function
from .multitest import check_k_within
from .registry import Guarantee, get_procedure
from ._validation import as_int_array, check_alpha, check_positive_int, check_probability

__all__ = ["SequentialCertifier", "SequentialResult", "log_evalue", "e_holm_reject",
           "sequential_procedure"]

#: status codes of ``SequentialResult.status``
UNDECIDED, CERTIFIED, FUTILE = 0, 1, 2

# decisions compare e-values with l / alpha; this relative margin keeps rounding on the safe side
_MARGIN = 1e-12


def sequential_procedure(method, k: int, alpha: float) -> tuple[str, Guarantee]:
    """Resolve ``method`` to the e-value combination that replaces it, with its guarantee.

    Only procedures whose guarantee is FWER or k-FWER under arbitrary dependence are accepted
    (the components of one input share their noisy samples); of those, 'holm' (k = 1) becomes
    e-Holm and 'bonferroni' becomes e-Bonferroni (any k).
    """
    from .certify import holm_or_bonferroni

    return holm_or_bonferroni(method, k, alpha, "anytime-valid e-value",
                              "'holm' (e-Holm) or 'bonferroni' (e-Bonferroni, any k)")


def log_evalue(successes, failures, tau: float) -> np.ndarray:
    """log E of the uniform-mixture e-process for H0: p <= tau after ``successes`` matches and
    ``failures`` mismatches (float counts allowed, for projections).

    log E = ln B(s + 1, f + 1) + ln P(Beta(s + 1, f + 1) > tau) - ln(1 - tau) - s ln tau - f ln(1 - tau).
    Returns -inf where the tail underflows (E below about 1e-300: no evidence at all).

    Examples
    --------
    >>> from mtest.sequential import log_evalue
    >>> round(float(log_evalue(0, 0, 0.75)), 12)     # no data: E = 1
    0.0
    >>> round(float(log_evalue(63, 0, 0.75)), 3)     # 63 matches in a row
    15.351
    """
    s = np.asarray(successes, dtype=np.float64)
    f = np.asarray(failures, dtype=np.float64)
    with np.errstate(divide="ignore"):
        tail = np.log(betaincc(s + 1.0, f + 1.0, tau))
    return betaln(s + 1.0, f + 1.0) + tail - np.log1p(-tau) - s * np.log(tau) - f * np.log1p(-tau)


def e_holm_reject(evalues, alpha: float) -> np.ndarray:
    """The closed e-Holm procedure (Vovk & Wang 2021): reject H_i iff the mean e-value of every
    set S containing i is at least 1/alpha. O(m log m) through the sorted values.

    With e(1) <= ... <= e(m) and T_l = e(1) + ... + e(l), the hypothesis of rank r is rejected iff
    e(r) + T_(l-1) >= l/alpha for all l <= r and T_l >= l/alpha for all l >= r; the rejected set is
    the top of the order (proof in docs/theory.md).

    Examples
    --------
    >>> import numpy as np
    >>> from mtest.sequential import e_holm_reject
    >>> e_holm_reject(np.array([0.0, 35.0, 35.0]), 0.05)   # Bonferroni needs 60; e-Holm 40 / 2
    array([False, False, False])
    >>> e_holm_reject(np.array([0.0, 45.0, 45.0]), 0.05)
    array([False,  True,  True])
    """
    e = np.asarray(evalues, dtype=np.float64)
    m = e.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    # an e-value above m/alpha rejects every set containing it; capping keeps sums finite
    cap = 2.0 * m / alpha
    capped = np.minimum(e, cap)
    srt = np.sort(capped)
    lvl = np.arange(1, m + 1, dtype=np.float64) / alpha * (1.0 + _MARGIN)
    cum = np.cumsum(srt)
    prev = np.concatenate(([0.0], cum[:-1]))
    need = np.maximum.accumulate(lvl - prev)          # prefix condition, ranks l <= r
    suffix_ok = np.logical_and.accumulate((cum >= lvl)[::-1])[::-1]   # T_l >= l/alpha for l >= r
    ok = (srt >= need) & suffix_ok
    if not ok.any():
        return np.zeros(e.shape, dtype=bool)
    return capped >= srt[int(np.argmax(ok))]


@dataclass(frozen=True, repr=False)
class SequentialResult(ReadOnlyArrays):
    """Outcome of ``SequentialCertifier.result``.

    Attributes
    ----------
    labels : ndarray of int
        The guess where certified, ``mtest.ABSTAIN`` (-1) elsewhere; the guess's shape.
    reject : ndarray of bool
        Certified components (rejected H0,i: p_A,i <= tau).
    radius : float
        R(tau) of every certified component (NaN without sigma/radius).
    status : ndarray of int8
        0 undecided (abstains), 1 certified, 2 futile (abstains: it could not be certified
        within n_max).
    n_used : ndarray of int
        Samples each component had consumed when it was decided (the samples drawn so far where
        undecided).
    n_samples : int
        Counting samples drawn for the input (forward passes after the n0 guessing ones).
    log_evalues : ndarray
        Each component's log e-value when it was decided (current value where undecided).
    guarantee : Guarantee
        FWER (k-FWER) <= alpha under arbitrary dependence, valid at any stopping time.
    tau, alpha : float, float
        Threshold and level.
    method, k : str, int
        The procedure's canonical name and k of k-FWER.
    n_max : int
        The sample budget per input.
    """

    labels: np.ndarray
    reject: np.ndarray
    radius: float
    status: np.ndarray
    n_used: np.ndarray
    n_samples: int
    log_evalues: np.ndarray
    tau: float
    alpha: float
    method: str
    k: int
    n_max: int
    guarantee: Guarantee

    @property
    def n_certified(self) -> int:
        return int(np.count_nonzero(self.reject))

    @property
    def abstain_rate(self) -> float:
        return 1.0 - self.n_certified / self.labels.size

    def __repr__(self):
        return (f"SequentialResult(method={self.method!r}, tau={self.tau}, alpha={self.alpha}, "
                f"k={self.k}, components={self.labels.size}, n_certified={self.n_certified}, "
                f"abstain_rate={self.abstain_rate:.4f}, n_samples={self.n_samples}, n_max={self.n_max}, "
                f"radius={self.radius:.4g}, guarantee='{self.guarantee}')")


class SequentialCertifier:
    """Anytime-valid SEGCERTIFY: feed counts in rounds, stop whenever you like.

    Per component i, an e-process E_i for H0,i: p_A,i <= tau (uniform mixture over the
    alternatives q in (tau, 1] of likelihood ratios against tau; see ``log_evalue``); across
    components e-Holm (``method='holm'``) or e-Bonferroni (``method='bonferroni'``, with ``k`` for
    k-FWER). A component is certified once its rejection is reached and keeps its certificate;
    it is *futile* (abstains) once it can no longer be certified within ``n_max`` samples.

    **Guarantee**: with probability at least 1 - alpha, no component ever certified has
    p_A,i <= tau (k-FWER: fewer than k such components) — whatever rule decides when to stop,
    including rules that look at the counts, and under any dependence between components.
    Certified components are robust within R(tau) (paper Theorem 5.1).

    Parameters
    ----------
    guess : array_like of int
        Guessed class per component, from n0 samples drawn *before* and independently of the
        counting samples; any shape.
    tau : float
        Threshold in [0.5, 1).
    alpha : float
        Level in (0, 1).
    n_max : int
        Largest number of counting samples; the certifier is done at n_max.
    method : {'holm', 'bonferroni'} or alias
        Only procedures with FWER/k-FWER under arbitrary dependence are accepted.
    k : int
        k-FWER with 'bonferroni' (P(k or more false certificates) <= alpha); at most the number
        of components (k > N is refused).
    sigma, radius
        Radius R(tau) as in ``mtest.segcertify``.
    futility : float or None
        Power knob, never validity: a component is also declared futile when, even if its
        remaining samples matched at the rate of its one-sided Clopper–Pearson upper bound at
        level ``futility``, it could not reach its threshold by n_max. ``None`` uses only the
        budget rule (all remaining samples matching).

    References
    ----------
    .. [1] Vovk, V. and Wang, R. (2021). E-values: calibration, combination and applications.
           Annals of Statistics 49(3), 1736-1754.
    .. [2] Howard, S. R., Ramdas, A., McAuliffe, J. and Sekhon, J. (2021). Time-uniform,
           nonparametric, nonasymptotic confidence sequences. Annals of Statistics 49(2), 1055-1080.
    .. [3] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Algorithm 2.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> rng = np.random.default_rng(0)
    >>> p = np.array([0.999, 0.999, 0.6, 0.99])         # true match probabilities (unknown)
    >>> seq = mtest.SequentialCertifier([1, 2, 0, 1], tau=0.75, alpha=0.001, n_max=1000, sigma=0.25)
    >>> while not seq.done:
    ...     _ = seq.update(rng.binomial(20, p), 20)      # 20 new samples per round
    >>> res = seq.result()
    >>> res.labels
    array([ 1,  2, -1,  1])
    >>> int(res.n_samples) < 1000, round(res.radius, 4)
    (True, 0.1686)
    """

    def __init__(self, guess, *, tau: float, alpha: float, n_max: int, method: str = "holm", k: int = 1,
                 sigma: float | None = None, radius: Callable | None = None, futility: float | None = 0.01):
        guess = as_int_array("guess", guess)
        if guess.size == 0:
            raise ValueError("guess must hold at least one component; got an empty array")
        self.tau = check_probability("tau", tau, low=0.5, high=1.0, high_open=True)
        self.alpha = check_alpha(alpha)
        self.n_max = check_positive_int("n_max", n_max)
        self.k = check_positive_int("k", k)
        self.method, self.guarantee = sequential_procedure(method, self.k, self.alpha)
        check_k_within(self.k, guess.size, " (components)")
        self._radius = float(apply_radius(radius_function(sigma, radius), self.tau))
        if futility is not None:
            futility = check_probability("futility", futility, low=0.0, high=1.0, low_open=True, high_open=True)
        self.futility = futility
        self._guess = guess.copy()
        size = guess.size
        self._succ = np.zeros(size, dtype=np.int64)
        self._log_e = np.zeros(size, dtype=np.float64)
        self._status = np.zeros(size, dtype=np.int8)
        self._n_used = np.zeros(size, dtype=np.int64)
        self._t = 0
        self._log_bonf = np.log(size / (self.k * self.alpha))

    # --- state -----------------------------------------------------------------------------------

    @property
    def n_samples(self) -> int:
        """Counting samples received so far."""
        return self._t

    @property
    def done(self) -> bool:
        """Every component certified or futile, or n_max samples received."""
        return self._t >= self.n_max or not np.any(self._status == UNDECIDED)

    @property
    def undecided(self) -> np.ndarray:
        """Boolean mask (the guess's shape) of components still being sampled."""
        return (self._status == UNDECIDED).reshape(self._guess.shape)

    # --- rounds ----------------------------------------------------------------------------------

    def update(self, matches, b: int) -> "SequentialCertifier":
        """Add a round of ``b`` counting samples; ``matches`` (the guess's shape) counts, per
        component, how many of them equal the guess. Entries of decided components are ignored.
        """
        b = check_positive_int("b", b)
        if self._t + b > self.n_max:
            raise ValueError(f"b ({b}) exceeds the samples left: n_max={self.n_max}, already {self._t}")
        matches = as_int_array("matches", matches)
        if matches.shape != self._guess.shape:
            raise ValueError(f"matches must have the guess's shape {self._guess.shape}; got {matches.shape}")
        flat = matches.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() > b):
            bad = flat[(flat < 0) | (flat > b)][0]
            i = int(np.flatnonzero(flat == bad)[0])
            raise ValueError(f"matches must satisfy 0 <= matches <= b={b}; got {bad} at flat index {i}")
        self._t += b
        live = np.flatnonzero(self._status == UNDECIDED)
        self._succ[live] += flat[live]
        # every component has seen the same t samples, so the per-component quantities depend on
        # its match count alone: evaluate them once per distinct count and gather (O(N + t))
        values, index = self._distinct(self._succ[live])
        self._log_e[live] = log_evalue(values, self._t - values, self.tau)[index]
        self._decide(live, values, index)
        return self

    def _distinct(self, succ: np.ndarray):
        if self._t + 1 <= 4 * succ.size:
            return np.arange(self._t + 1, dtype=np.float64), succ
        values, index = np.unique(succ, return_inverse=True)
        return values.astype(np.float64), index.reshape(-1)

    def _decide(self, live: np.ndarray, values: np.ndarray, index: np.ndarray) -> None:
        if self.method == "bonferroni":
            cert = self._log_e[live] >= self._log_bonf + _MARGIN
            self._settle(live[cert], CERTIFIED)
            log_need = self._log_bonf
        else:
            with np.errstate(over="ignore"):
                rejected = e_holm_reject(np.exp(self._log_e), self.alpha)
            cert = rejected[live]
            self._settle(live[cert], CERTIFIED)
            uncertified = int(np.count_nonzero(self._status != CERTIFIED))
            # e-Holm never needs more than (#uncertified)/alpha of an uncertified component
            log_need = np.log(max(uncertified, 1) / self.alpha)
        keep = ~cert
        live, index = live[keep], index[keep]
        if live.size == 0:
            return
        remaining = self.n_max - self._t
        s, f = values, self._t - values
        # the best case within the budget: every remaining sample matches
        futile = log_evalue(s + remaining, f, self.tau) < log_need
        if self.futility is not None and remaining > 0:
            with np.errstate(invalid="ignore"):
                upper = np.where(f > 0, betaincinv(s + 1.0, np.maximum(f, 1.0), 1.0 - self.futility), 1.0)
            upper = np.clip(np.nan_to_num(upper, nan=1.0), 0.0, 1.0)
            projected = log_evalue(s + upper * remaining, f + (1.0 - upper) * remaining, self.tau)
            futile |= projected < log_need
        self._settle(live[futile[index]], FUTILE)

    def _settle(self, idx: np.ndarray, status: int) -> None:
        self._status[idx] = status
        self._n_used[idx] = self._t

    # --- answer ----------------------------------------------------------------------------------

    def result(self) -> SequentialResult:
        """The certificates so far (valid whenever this is called): labels, radius, n_used, ..."""
        shape = self._guess.shape
        reject = (self._status == CERTIFIED).reshape(shape)
        n_used = np.where(self._status == UNDECIDED, self._t, self._n_used).reshape(shape)
        return SequentialResult(
            labels=np.where(reject, self._guess, ABSTAIN), reject=reject, radius=self._radius,
            status=self._status.reshape(shape).copy(), n_used=n_used, n_samples=self._t,
            log_evalues=self._log_e.reshape(shape).copy(), tau=self.tau, alpha=self.alpha,
            method=self.method, k=self.k, n_max=self.n_max, guarantee=self.guarantee)
