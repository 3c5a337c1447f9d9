"""The synthetic oracle of the paper's toy study (Fischer et al., ICML 2021, §6.1), no model needed.

N components, two classes, true class 1. In every sample each component is independently
correct (class 1) with probability 1 - gamma on N - k components and clamp(1 - 5 gamma, 0, 1) on
the k "bad" components (here the first k). A method guesses from n0 samples and counts from n
fresh samples.

Per-component counts are exact binomial draws. For JOINTCLASS, which needs exact matches of whole
output vectors, the n0 guessing samples are drawn as full vectors (the mode is found by brute
force), but the count of the guessed vector g among the n counting samples is drawn as
Bin(n, P(g)) with P(g) = prod_i P(component i = g_i): the samples are i.i.d., so this is exact and
costs O(N) instead of O(n N). ``tests/test_oracle.py`` checks it against full-vector simulation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_choice, check_positive_int, check_probability

__all__ = ["Oracle", "OracleCounts", "JointCounts", "DEPENDENCE"]

TRUE_CLASS = 1

#: how the components of one sample may depend on each other (see ``Oracle``)
DEPENDENCE = ("independent", "comonotone", "antithetic")


@dataclass(frozen=True)
class OracleCounts:
    """Per-component draws for ``reps`` repetitions: arrays of shape (reps, N)."""

    guess: np.ndarray  # guessed class (argmax of the n0 counts; a tie goes to class 0)
    count: np.ndarray  # occurrences of the guess among the n counting samples
    p_guess: np.ndarray  # true probability of the guessed class, shape (reps, N)
    n0: int
    n: int


@dataclass(frozen=True)
class JointCounts:
    """JOINTCLASS draws for ``reps`` repetitions."""

    guess: np.ndarray  # (reps, N) guessed output vectors
    count: np.ndarray  # (reps,) exact matches of the guess among n samples
    p_guess: np.ndarray  # (reps,) probability of the guessed vector
    n0: int
    n: int


@dataclass(frozen=True)
class Oracle:
    """The §6.1 oracle. ``N`` components, ``n_bad`` bad ones, noise level ``gamma``.

    A good component is classified correctly with probability 1 - gamma, a bad one with
    1 - 5 gamma (clamped to [0, 1]). ``seed`` of the sampling methods is anything
    ``numpy.random.default_rng`` takes.

    ``dependence`` sets how the components of one sample depend on each other (the marginals
    stay the same): ``'independent'`` (the paper's oracle); ``'comonotone'``, one uniform U per
    sample and component i correct iff U < p_i (the strongest positive dependence: a model that
    fails everywhere at once); ``'antithetic'``, as comonotone but odd-numbered components use
    1 - U (pairs as negatively dependent as their marginals allow, which breaks PRDS). Used to
    check that certification guarantees hold under dependence; JOINTCLASS draws
    (``sample_joint``) are for the independent oracle only.

    Examples
    --------
    >>> from mtest.oracle import Oracle
    >>> o = Oracle(N=4, n_bad=1, gamma=0.1)
    >>> o.p_correct
    array([0.5, 0.9, 0.9, 0.9])
    >>> draws = o.sample_counts(n0=10, n=100, reps=2, seed=0)
    >>> draws.count.shape
    (2, 4)
    """

    N: int
    n_bad: int
    gamma: float
    dependence: str = "independent"

    def __post_init__(self):
        check_positive_int("N", self.N)
        check_positive_int("n_bad", self.n_bad, 0)
        if self.n_bad > self.N:
            raise ValueError(f"n_bad must be <= N ({self.N}); got {self.n_bad}")
        check_probability("gamma", self.gamma)
        check_choice("dependence", self.dependence, DEPENDENCE)

    @property
    def p_correct(self) -> np.ndarray:
        """Probability that each component is classified correctly (bad components first)."""
        q = np.full(self.N, 1.0 - self.gamma)
        q[: self.n_bad] = min(max(1.0 - 5.0 * self.gamma, 0.0), 1.0)
        return q

    def sample_vectors(self, size: int, seed=None) -> np.ndarray:
        """``size`` full output vectors (size, N) of class labels (0 or 1), under the oracle's
        dependence."""
        rng = np.random.default_rng(seed)
        if self.dependence == "independent":
            u = rng.random((size, self.N))
        else:
            u = np.repeat(rng.random((size, 1)), self.N, axis=1)
            if self.dependence == "antithetic":
                u[:, 1::2] = 1.0 - u[:, 1::2]
        return (u < self.p_correct).astype(np.int8)

    def sample_counts(self, n0: int, n: int, reps: int, seed=None) -> OracleCounts:
        """Guess from n0 samples and count from n fresh samples, per component."""
        n0 = check_positive_int("n0", n0)
        n = check_positive_int("n", n)
        reps = check_positive_int("reps", reps)
        rng = np.random.default_rng(seed)
        q = self.p_correct
        ones0 = self._correct_counts(n0, reps, rng)
        guess = (2 * ones0 > n0).astype(np.int64)  # class 1 only with a strict majority
        ones = self._correct_counts(n, reps, rng)
        count = np.where(guess == TRUE_CLASS, ones, n - ones)
        p_guess = np.where(guess == TRUE_CLASS, q, 1.0 - q)
        return OracleCounts(guess=guess, count=count, p_guess=p_guess, n0=n0, n=n)

    def _correct_counts(self, n: int, reps: int, rng) -> np.ndarray:
        """(reps, N) numbers of correct samples among n, under the oracle's dependence."""
        q = self.p_correct
        if self.dependence == "independent":
            return rng.binomial(n, q, size=(reps, self.N))
        u = rng.random((reps, n))
        flip = np.zeros(self.N, dtype=bool)
        if self.dependence == "antithetic":
            flip[1::2] = True
        out = np.empty((reps, self.N), dtype=np.int64)
        for v in np.unique(q):  # the oracle has at most two distinct probabilities
            same = (u < v).sum(axis=1)            # correct iff U < p
            flipped = (u > 1.0 - v).sum(axis=1)   # correct iff 1 - U < p
            out[:, (q == v) & ~flip] = same[:, None]
            out[:, (q == v) & flip] = flipped[:, None]
        return out

    def sample_joint(self, n0: int, n: int, reps: int, seed=None) -> JointCounts:
        """JOINTCLASS: the most frequent of n0 sampled vectors (ties: first seen) and its number of
        exact matches among n fresh samples, drawn as Bin(n, P(guess))."""
        if self.dependence != "independent":
            raise ValueError(f"sample_joint draws independent components only; this oracle has "
                             f"dependence={self.dependence!r}")
        n0 = check_positive_int("n0", n0)
        n = check_positive_int("n", n)
        reps = check_positive_int("reps", reps)
        rng = np.random.default_rng(seed)
        q = self.p_correct
        with np.errstate(divide="ignore"):  # log 0 = -inf for deterministic components
            log_q, log_1q = np.log(q), np.log1p(-q)
        guess = np.empty((reps, self.N), dtype=np.int8)
        for r in range(reps):
            guess[r] = _mode_vector(self.sample_vectors(n0, rng))
        log_p = np.where(guess == 1, log_q, log_1q)
        p_guess = np.exp(log_p.sum(axis=1))
        count = rng.binomial(n, p_guess)
        return JointCounts(guess=guess, count=count, p_guess=p_guess, n0=n0, n=n)


def _mode_vector(vectors: np.ndarray) -> np.ndarray:
    """The most frequent row (ties: the first seen)."""
    packed = np.ascontiguousarray(np.packbits(vectors.astype(bool), axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    best = np.flatnonzero(counts == counts.max())
    return vectors[first[best].min()]
