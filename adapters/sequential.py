"""Sequential SEGCERTIFY with a model: guess from n0 samples, then sample in rounds until every
component is certified or futile (``mtest.SequentialCertifier``, anytime-valid).

The counting noise is seeded exactly as in ``SegmentationSmoother.counts`` (per sample, from
(seed, phase, index)), so the first n counting samples of a sequential run are the n samples of a
fixed-n run with the same seed — the two can be compared on the same noise.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtest._validation import ReadOnlyArrays
import torch
from mtest._optional import progress as tqdm  # without tqdm: no bar, the work runs

import mtest
from mtest._validation import check_positive_int

from .sampler import COUNT_PHASE, phase_seeds

__all__ = ["SequentialRun", "certify_sequential"]


@dataclass(frozen=True)
class SequentialRun(ReadOnlyArrays):
    """What ``certify_sequential`` measured and decided.

    ``result`` is the core ``mtest.SequentialResult`` (labels shaped like the model's
    per-component output). ``n_samples`` counting samples were drawn after the ``n0`` guessing
    ones (forward passes: ``n0 + n_samples``). ``history`` lists ``(samples so far, certified so
    far, undecided so far)`` after every round.

    Attributes
    ----------
    result : mtest.SequentialResult
        The core result.
    guess : ndarray of int
        The per-component guess.
    n0 : int
        Guessing samples.
    n_samples : int
        Counting samples drawn.
    history : tuple of tuple
        ``(samples so far, certified so far, undecided so far)`` after every round.
    noise : object
        The noise.
    seconds : float
        Wall-clock seconds.
    """

    result: Any
    guess: np.ndarray
    n0: int
    n_samples: int
    history: tuple
    noise: Any
    seconds: float

    @property
    def labels(self) -> np.ndarray:
        return self.result.labels

    @property
    def radius(self) -> float:
        return self.result.radius

    def __repr__(self) -> str:
        return (f"SequentialRun(n0={self.n0}, n_samples={self.n_samples}, rounds={len(self.history)}, "
                f"seconds={self.seconds:.3g}, result={self.result!r})")


def certify_sequential(smoother, x: torch.Tensor, *, n0: int, tau: float, alpha: float, n_max: int,
                       method: str = "holm", k: int = 1, round_size: int | None = None,
                       futility: float | None = 0.01, seed: int = 0) -> SequentialRun:
    """Anytime-valid SEGCERTIFY of one input ``x`` with ``smoother`` (a SegmentationSmoother).

    n0 noisy samples guess each component's class; then rounds of ``round_size`` samples
    (default: the smoother's batch size) update a ``mtest.SequentialCertifier`` until it is
    done (every component certified or futile, or n_max samples). The guarantee is the
    certifier's: FWER (k-FWER) <= alpha over the certified components, whatever the stopping.

    Parameters
    ----------
    smoother : SegmentationSmoother
        The model under noise.
    x : torch.Tensor
        One input without a batch dimension.
    n0 : int
        Guessing samples.
    tau : float
        Threshold in [1/2, 1).
    alpha : float
        Level in (0, 1).
    n_max : int
        Budget of counting samples.
    method : {'holm', 'bonferroni'}
        FWER procedure (k-FWER with ``'bonferroni'`` and ``k > 1``).
    k : int
        k of k-FWER; at most the number of components (k > N is refused).
    round_size : int, optional
        Samples per round (default: the smoother's batch size).
    futility : float or None
        As in ``mtest.SequentialCertifier`` (a power knob, never validity).
    seed : int
        Non-negative; noise depends on (seed, phase, sample index) only.

    Returns
    -------
    SequentialRun
        The core result, the guess, the samples drawn and the history of rounds.

    Examples
    --------
    >>> import torch, mtest.adapters as ad
    >>> smoother = ad.SegmentationSmoother(torch.nn.Conv2d(3, 4, 1), ad.GaussianNoise(0.25),
    ...                                    batch_size=16, progress=False)
    >>> run = smoother.certify_sequential(torch.zeros(3, 8, 8), n0=8, tau=0.75, alpha=0.01,
    ...                                   n_max=400, seed=0)
    >>> run.labels.shape, run.n_samples <= 400
    ((8, 8), True)
    """
    n0 = check_positive_int("n0", n0)
    n_max = check_positive_int("n_max", n_max)
    round_size = smoother.batch_size if round_size is None else check_positive_int("round_size", round_size)
    seed = check_positive_int("seed", seed, minimum=0)
    x = smoother.check_input(x)
    mtest.SequentialCertifier([0], tau=tau, alpha=alpha, n_max=n_max, method=method, k=k, futility=futility)
    t0 = time.perf_counter()
    layout: dict = {}
    with smoother.evaluation(), tqdm(total=None, desc="sequential sampling", unit="batch",
                                disable=not smoother.progress) as bar:
        guess = smoother.guess(x, n0, seed, bar, layout)
        spatial = layout["shape"]
        guess_np = guess.cpu().numpy().reshape(spatial)
        seq = mtest.SequentialCertifier(guess_np, tau=tau, alpha=alpha, n_max=n_max, method=method, k=k,
                                        radius=smoother.noise.radius, futility=futility)
        # the counting phase's noise is indexed by the sample number, so rounds see exactly the
        # samples a fixed-n run of the same seed sees
        seeds = phase_seeds(seed, COUNT_PHASE, n_max)
        history = []
        while not seq.done:
            b = min(round_size, n_max - seq.n_samples)
            matches = torch.zeros_like(guess)
            for start in range(seq.n_samples, seq.n_samples + b, smoother.batch_size):
                stop = min(start + smoother.batch_size, seq.n_samples + b)
                pred, shape, classes = smoother.predict_batch(smoother.noisy_batch(x, seeds[start:stop]))
                if (shape, classes) != (layout["shape"], layout["classes"]):
                    raise ValueError(f"the model's output changed within one call: {layout['classes']} classes "
                                     f"over {layout['shape']} first, then {classes} classes over {shape}")
                matches += (pred == guess).sum(dim=0)
                bar.update(1)
            seq.update(matches.cpu().numpy().reshape(spatial), b)
            res = seq.result()
            history.append((seq.n_samples, res.n_certified, int(seq.undecided.sum())))
    return SequentialRun(result=seq.result(), guess=guess_np, n0=n0, n_samples=seq.n_samples,
                         history=tuple(history), noise=smoother.noise, seconds=time.perf_counter() - t0)
