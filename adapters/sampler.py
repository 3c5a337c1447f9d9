"""Run a segmentation model under noise, count classes on the device, and certify with the core.

The sampler follows the paper's Algorithm 2 (SEGCERTIFY): n0 noisy samples guess each
component's class (per-class counts, kept on the device), n fresh noisy samples count how often
each component's output equals its guess (N integers, not N x C, so memory does not grow with n),
and ``mtest.segcertify`` turns the counts into certified labels with abstentions.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from mtest._validation import ReadOnlyArrays
import torch

import mtest
from mtest._validation import check_alpha, check_k, check_positive_int, check_probability

__all__ = ["SegmentationSmoother", "CertifyRun", "Counts", "NoisyPrediction", "GUESS_PHASE", "COUNT_PHASE",
           "PREDICT_PHASE", "phase_seeds"]

#: sampling phases: the n0 guessing samples, the n counting samples of certification, and the n
#: samples of ``SegmentationSmoother.predict_noisy``; for one seed they are independent draws
GUESS_PHASE, COUNT_PHASE, PREDICT_PHASE = 0, 1, 2


def phase_seeds(seed: int, phase: int, size: int) -> np.ndarray:
    """One generator seed per sample of a sampling phase.

    Noise depends on (seed, phase, sample index) only, never on batching, so a benchmark or
    another sampler (e.g. ``mtest.adapters.sequential``) that draws sample i of a phase sees the
    same noise as ``SegmentationSmoother`` does.

    Parameters
    ----------
    seed : int
        The caller's non-negative seed.
    phase : int
        ``GUESS_PHASE``, ``COUNT_PHASE`` or ``PREDICT_PHASE``.
    size : int
        Number of samples.

    Returns
    -------
    ndarray of int64
        ``size`` consecutive seeds for ``torch.Generator.manual_seed``.
    """
    base = int(np.random.SeedSequence([seed, phase]).generate_state(1, np.uint64)[0] >> np.uint64(2))
    return base + np.arange(size, dtype=np.int64)


@dataclass(frozen=True)
class Counts(ReadOnlyArrays):
    """Device tensors from ``SegmentationSmoother.counts``: ``guess`` (N,) = argmax of the
    per-class counts of the n0 guessing samples (ties to the lowest class), ``count`` (N,) =
    matches with the guess among the n counting samples, ``joint_count`` = counting samples whose
    whole output equals the guess. ``shape`` is the model's per-component output shape (e.g.
    (H, W) or (P,), N = its product) and ``num_classes`` its class count, both for this call.

    Attributes
    ----------
    guess : torch.Tensor
        int64 (N,): argmax of the per-class counts of the n0 guessing samples.
    count : torch.Tensor
        int64 (N,): matches with the guess among the n counting samples.
    joint_count : int
        Counting samples whose whole output equals the guess.
    shape : tuple of int
        The model's per-component output shape.
    num_classes : int
        The model's class count.
    """

    guess: torch.Tensor
    count: torch.Tensor
    joint_count: int
    shape: tuple
    num_classes: int

    def __repr__(self) -> str:
        span = f"[{int(self.count.min())}, {int(self.count.max())}]" if self.count.numel() else "[]"
        return (f"Counts(shape={tuple(self.shape)}, num_classes={self.num_classes}, "
                f"joint_count={self.joint_count}, count in {span}, device={str(self.count.device)!r})")


@dataclass(frozen=True)
class CertifyRun(ReadOnlyArrays):
    """What ``SegmentationSmoother.certify`` measured and decided.

    ``result`` is the core ``mtest.SegCertifyResult`` (labels shaped like the model's
    per-component output, e.g. (H, W) or (P,)). ``guess``/``count`` are the per-component guess
    and its count among the n counting samples, ``joint_count`` the number of counting samples
    whose whole output equals the guess (for JOINTCLASS). Times are wall-clock seconds.

    Attributes
    ----------
    result : mtest.SegCertifyResult
        The core SEGCERTIFY result.
    guess, count : ndarray of int
        Per-component guess and its count among the n counting samples.
    joint_count : int
        Counting samples whose whole output equals the guess.
    n0, n : int
        Guessing and counting samples.
    noise : object
        The noise (its ``radius`` gives R(tau)).
    seconds_sampling, seconds_certify : float
        Wall-clock seconds of sampling and of the statistics.
    """

    result: Any
    guess: np.ndarray
    count: np.ndarray
    joint_count: int
    n0: int
    n: int
    noise: Any
    seconds_sampling: float
    seconds_certify: float

    @property
    def labels(self) -> np.ndarray:
        return self.result.labels

    @property
    def radius(self) -> float:
        return self.result.radius

    @property
    def samples_per_second(self) -> float:
        return (self.n0 + self.n) / self.seconds_sampling if self.seconds_sampling > 0 else float("inf")

    def recertify(self, tau: float, alpha: float, *, method: str | None = None, k: int = 1,
                  error_rate: str = "fwer") -> "CertifyRun":
        """SEGCERTIFY again from the same counts with another tau, alpha, method or error rate
        (no sampling).

        Counts do not depend on tau or alpha, so a table over several of them needs one sampling
        pass per n (as in the paper's Tables 1-2); each answer keeps its own guarantee.
        """
        t0 = time.perf_counter()
        result = mtest.segcertify(self.guess, self.count, n=self.n, tau=tau, alpha=alpha, method=method,
                                  k=k, radius=self.noise.radius, error_rate=error_rate)
        return CertifyRun(result=result, guess=self.guess, count=self.count, joint_count=self.joint_count,
                          n0=self.n0, n=self.n, noise=self.noise, seconds_sampling=self.seconds_sampling,
                          seconds_certify=time.perf_counter() - t0)

    def cohen(self, alpha: float):
        """Cohen CERTIFY per component (no multiple-testing correction) from the same counts."""
        return mtest.cohen_certify(self.guess, self.count, n=self.n, alpha=alpha, radius=self.noise.radius)

    def indiv_class(self, alpha: float):
        """INDIVCLASS (CERTIFY at alpha/N on every component, all or nothing) from the same counts."""
        return mtest.indiv_class(self.guess, self.count, n=self.n, alpha=alpha, radius=self.noise.radius)

    def joint_class(self, alpha: float):
        """JOINTCLASS with the componentwise guess as the candidate vector.

        The exact method guesses the most frequent whole output among the n0 samples; any guess
        computed from the n0 samples alone keeps CERTIFY's guarantee, and the componentwise one
        needs no storage of n0 full outputs.
        """
        return mtest.joint_class_from_count(self.guess, self.joint_count, n=self.n, alpha=alpha,
                                            radius=self.noise.radius)

    def __repr__(self) -> str:
        return (f"CertifyRun(n0={self.n0}, n={self.n}, joint_count={self.joint_count}, "
                f"seconds_sampling={self.seconds_sampling:.3g}, seconds_certify={self.seconds_certify:.3g}, "
                f"result={self.result!r})")


@dataclass(frozen=True, repr=False)
class NoisyPrediction(ReadOnlyArrays):
    """Cohen-style noisy prediction with abstention, from ``SegmentationSmoother.predict_noisy``.

    Attributes
    ----------
    labels : ndarray of int64
        Shaped like the model's per-component output (e.g. (H, W) or (P,)): the most frequent class
        among the n noisy samples, or ``mtest.ABSTAIN`` (-1) where the test did not reject.
    pvalues : ndarray of float64
        Per component, the two-sided binomial p-value of the top count against the runner-up's
        (``mtest.cohen_predict``), before the correction across components.
    n, alpha, k : int, float, int
        Samples drawn and the level; ``k`` of the k-FWER over components.
    num_classes : int
        The model's class count.
    """

    labels: np.ndarray
    pvalues: np.ndarray
    n: int
    alpha: float
    k: int
    num_classes: int

    @property
    def guarantee(self) -> str:
        """What the labels guarantee, in words (arbitrary dependence among components)."""
        what = "some component" if self.k == 1 else f"{self.k} or more components"
        return (f"P({what} returns a class other than its smoothed class) <= {self.alpha} under "
                "arbitrary dependence among components")

    @property
    def abstain_fraction(self) -> float:
        """Share of components that abstain."""
        return float(np.mean(self.labels == mtest.ABSTAIN)) if self.labels.size else 0.0

    def __repr__(self) -> str:
        return (f"NoisyPrediction(shape={self.labels.shape}, n={self.n}, alpha={self.alpha}, k={self.k}, "
                f"abstain_fraction={self.abstain_fraction:.4g})")


class SegmentationSmoother:
    """Randomized smoothing of a segmentation model (images, point clouds, anything per-component).

    Parameters
    ----------
    model : torch.nn.Module
        Returns per-component logits with a batch dimension, e.g. (B, C, H, W) or (B, C, P) /
        (B, P, C). Put it on the device you want; it runs in eval mode (restored afterwards)
        under ``torch.inference_mode()``.
    noise : GaussianNoise, LaplaceNoise, RotationNoise or any object with ``sample`` and ``radius``
    class_dim : int
        The class dimension of the output (1 for (B, C, ...), -1 for (B, P, C)).
    output_fn : callable, optional
        Maps the model's raw output to the logits tensor (e.g. ``lambda out: out["out"]``).
    batch_size : int
        Noisy copies per forward pass; results do not depend on it (noise is seeded per sample).
    device : str or torch.device, optional
        Where sampling and counting run; default the model's device.
    autocast : bool
        Mixed precision on CUDA (``torch.autocast``); ignored on CPU.
    progress : bool
        A tqdm bar over batches.

    Examples
    --------
    >>> import torch, mtest.adapters as ad
    >>> model = torch.nn.Conv2d(3, 4, 1)
    >>> smoother = ad.SegmentationSmoother(model, ad.GaussianNoise(0.25), batch_size=16, progress=False)
    >>> run = smoother.certify(torch.zeros(3, 8, 8), n0=8, n=50, tau=0.75, alpha=0.01, seed=0)
    >>> run.labels.shape
    (8, 8)
    """

    def __init__(self, model: torch.nn.Module, noise, *, class_dim: int = 1,
                 output_fn: Callable | None = None, batch_size: int = 32, device=None,
                 autocast: bool = False, progress: bool = True):
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        for attr in ("sample", "radius"):
            if not callable(getattr(noise, attr, None)):
                raise ValueError(f"noise must have sample(x, generator) and radius(p); {noise!r} lacks {attr}")
        if isinstance(class_dim, (bool, np.bool_)) or not isinstance(class_dim, numbers.Integral):
            raise ValueError(f"class_dim must be an integer (1 for (B, C, ...), -1 for (B, ..., C)); got {class_dim!r}")
        self.model = model
        self.noise = noise
        self.class_dim = int(class_dim)
        self.output_fn = output_fn
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.device = self._resolve_device(device)
        self.autocast = bool(autocast)
        self.progress = bool(progress)
        # eval mode is entered by the first of concurrent calls and restored by the last
        self._mode_lock = threading.Lock()
        self._mode_depth = 0
        self._mode_saved = False

    def _resolve_device(self, device) -> torch.device:
        params = list(self.model.parameters()) + list(self.model.buffers())
        model_device = params[0].device if params else None
        if device is None:
            return model_device or torch.device("cpu")
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device ({str(device)!r}) is not available: torch.cuda.is_available() is False")
        if model_device is not None and model_device.type != device.type:
            raise ValueError(f"the model is on {model_device} but device={str(device)!r}; move it with "
                             f"model.to({str(device)!r})")
        return device

    # --- sampling ---------------------------------------------------------------------------------

    # --- the building blocks of every sampling path (also used by mtest.adapters.sequential and
    # the benchmarks, so they are named and documented rather than private)

    def noisy_batch(self, x: torch.Tensor, seeds: np.ndarray) -> torch.Tensor:
        """Noisy copies of ``x``, one per seed, stacked along a new batch dimension.

        Parameters
        ----------
        x : torch.Tensor
            One checked input on the device (see ``check_input``).
        seeds : ndarray of int
            One generator seed per copy (from ``phase_seeds``).

        Returns
        -------
        torch.Tensor
            Shape ``(len(seeds), *x.shape)``.
        """
        copies = []
        for s in seeds:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(s))
            copy = self.noise.sample(x, gen)
            if not isinstance(copy, torch.Tensor) or copy.shape != x.shape:
                raise ValueError(f"noise.sample must return a tensor shaped like x {tuple(x.shape)}; got "
                                 f"{getattr(copy, 'shape', type(copy).__name__)}")
            copies.append(copy)
        return torch.stack(copies)

    def predict_batch(self, batch: torch.Tensor):
        """The model's per-component classes on a batch of noisy copies.

        Parameters
        ----------
        batch : torch.Tensor
            Inputs with a batch dimension (from ``noisy_batch``); call inside
            ``evaluation``.

        Returns
        -------
        pred : torch.Tensor
            int64 (B, N) per-component argmax of the logits, on the device.
        shape : tuple of int
            The per-component output shape (N is its product).
        num_classes : int
            The class count of this output.
        """
        ctx = (torch.autocast(device_type="cuda", dtype=torch.float16)
               if self.autocast and self.device.type == "cuda" else contextlib.nullcontext())
        with ctx:
            out = self.model(batch)
        if self.output_fn is not None:
            out = self.output_fn(out)
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"the model's output must be a tensor (use output_fn for dicts); got "
                             f"{type(out).__name__}")
        if out.ndim < 2 or out.shape[0] != batch.shape[0]:
            raise ValueError(f"the model's output must have shape (B, ...) with B={batch.shape[0]} and a "
                             f"class dimension; got {tuple(out.shape)}")
        dim = self.class_dim if self.class_dim >= 0 else out.ndim + self.class_dim
        if dim == 0 or not 0 < dim < out.ndim:
            raise ValueError(f"class_dim ({self.class_dim}) does not fit the output of shape {tuple(out.shape)}")
        # one pass gives the argmax and the maxima; NaN and +inf always surface in the maxima
        top, pred = out.max(dim=dim)
        if not torch.isfinite(top).all():
            raise ValueError("the model returned non-finite logits (NaN or inf)")
        spatial = tuple(s for i, s in enumerate(out.shape) if i not in (0, dim))
        return pred.reshape(out.shape[0], -1), spatial, out.shape[dim]

    def _batches(self, x, phase: int, size: int, seed: int, bar, layout: dict):
        """Predictions of the noisy copies of one phase; ``layout`` pins the output shape and class
        count of the first batch of the call, and every later batch must match it."""
        seeds = phase_seeds(seed, phase, size)
        for start in range(0, size, self.batch_size):
            pred, spatial, classes = self.predict_batch(self.noisy_batch(x, seeds[start:start + self.batch_size]))
            if not layout:
                layout.update(shape=spatial, classes=classes)
            elif (spatial, classes) != (layout["shape"], layout["classes"]):
                raise ValueError(f"the model's output changed within one call: {layout['classes']} classes over "
                                 f"{layout['shape']} first, then {classes} classes over {spatial}")
            bar.update(1)
            yield pred

    def _class_counts(self, x, phase: int, size: int, seed: int, bar, layout: dict) -> torch.Tensor:
        """Per-class counts (C, N) of the ``size`` samples of ``phase``, on the device; fills
        ``layout`` (shared by every sampling path)."""
        counts = None
        for pred in self._batches(x, phase, size, seed, bar, layout):
            if counts is None:
                counts = torch.zeros((layout["classes"], pred.shape[1]), dtype=torch.int64, device=self.device)
            counts.scatter_add_(0, pred, torch.ones_like(pred))
        return counts

    def guess(self, x, n0: int, seed: int, bar, layout: dict) -> torch.Tensor:
        """Per-component argmax of the class counts of the n0 guessing samples (ties: lowest
        class), on the device; fills ``layout`` (shared by every sampling path, including
        ``mtest.adapters.sequential.certify_sequential``).

        Parameters
        ----------
        x : torch.Tensor
            One input, already checked and on the device.
        n0 : int
            Guessing samples.
        seed : int
            Non-negative seed (noise depends on seed, phase and sample index only).
        bar : tqdm.tqdm
            Progress bar, advanced by one per batch.
        layout : dict
            Empty on the first call of a run; pins the output shape and class count.

        Returns
        -------
        torch.Tensor
            int64 (N,) guessed class per component.
        """
        return self._class_counts(x, GUESS_PHASE, n0, seed, bar, layout).argmax(dim=0)

    @contextlib.contextmanager
    def evaluation(self):
        """Context manager: the model in eval mode under ``torch.inference_mode()``; the mode is
        restored when the last of concurrent users leaves."""
        with self._mode_lock:
            if self._mode_depth == 0:
                self._mode_saved = self.model.training
                self.model.eval()
            self._mode_depth += 1
        try:
            with torch.inference_mode():
                yield
        finally:
            with self._mode_lock:
                self._mode_depth -= 1
                if self._mode_depth == 0:
                    self.model.train(self._mode_saved)

    def check_input(self, x) -> torch.Tensor:
        """Check one input and move it to the device.

        Parameters
        ----------
        x : torch.Tensor
            One input without a batch dimension: non-empty, finite, real floating point.

        Returns
        -------
        torch.Tensor
            ``x`` on the smoother's device.
        """
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"x must be a torch.Tensor (one input, no batch dimension); got {type(x).__name__}")
        if x.dtype.is_complex or not x.dtype.is_floating_point:
            hint = " (convert images with x.float() / 255)" if x.dtype == torch.uint8 else ""
            raise ValueError(f"x must be a real floating-point tensor; got dtype {x.dtype}{hint}")
        if x.ndim == 0 or x.numel() == 0:
            raise ValueError(f"x must be one non-empty input without a batch dimension; got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf")
        return x.to(self.device)

    def counts(self, x: torch.Tensor, n0: int, n: int, *, seed: int = 0) -> Counts:
        """Guess from n0 samples and count from n independent samples (see ``Counts``).

        ``seed`` is a non-negative integer; noise depends on (seed, phase, sample index) only.
        Each call is self-contained: nothing about the input or the output is kept between calls,
        so calls with different input shapes, and concurrent calls from several threads, give the
        same counts as a fresh smoother.
        """
        n0 = check_positive_int("n0", n0)
        n = check_positive_int("n", n)
        seed = check_positive_int("seed", seed, minimum=0)
        x = self.check_input(x)
        from mtest._optional import progress as tqdm  # without tqdm: no bar, the work runs

        total = math.ceil(n0 / self.batch_size) + math.ceil(n / self.batch_size)
        layout: dict = {}
        with self.evaluation(), tqdm(total=total, desc="sampling", unit="batch", disable=not self.progress) as bar:
            guess = self.guess(x, n0, seed, bar, layout)
            count = torch.zeros_like(guess)
            joint = torch.zeros((), dtype=torch.int64, device=self.device)
            for pred in self._batches(x, COUNT_PHASE, n, seed, bar, layout):
                match = pred == guess
                count += match.sum(dim=0)
                joint += match.all(dim=1).sum()
        return Counts(guess=guess, count=count, joint_count=int(joint), shape=layout["shape"],
                      num_classes=layout["classes"])

    def certify(self, x: torch.Tensor, n0: int, n: int, tau: float, alpha: float, *, method: str | None = None,
                k: int = 1, seed: int = 0, error_rate: str = "fwer") -> CertifyRun:
        """SEGCERTIFY (paper Alg. 2) of one input ``x`` (no batch dimension).

        Returns a ``CertifyRun`` whose ``result`` is the core SEGCERTIFY result: labels shaped
        like the model's per-component output with ``mtest.ABSTAIN`` (-1) where not certified,
        and radius ``noise.radius(tau)``. ``method``, ``k`` and ``error_rate`` ('fwer' or 'fdr')
        are ``mtest.segcertify``'s, checked before any sampling.
        """
        tau = check_probability("tau", tau, low=0.5, high=1.0, high_open=True)
        alpha = check_alpha(alpha)
        mtest.certify.certifying_procedure(method, k, error_rate)  # refuse before sampling
        k = check_k(k)
        self._check_k_components(x, k)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t0 = time.perf_counter()
        counts = self.counts(x, n0, n, seed=seed)
        guess_np = counts.guess.cpu().numpy().reshape(counts.shape)
        count_np = counts.count.cpu().numpy().reshape(counts.shape)
        t1 = time.perf_counter()
        result = mtest.segcertify(guess_np, count_np, n=n, tau=tau, alpha=alpha, method=method, k=k,
                                  radius=self.noise.radius, error_rate=error_rate)
        t2 = time.perf_counter()
        return CertifyRun(result=result, guess=guess_np, count=count_np, joint_count=counts.joint_count, n0=n0, n=n,
                          noise=self.noise, seconds_sampling=t1 - t0, seconds_certify=t2 - t1)

    def predict(self, x: torch.Tensor) -> np.ndarray:
        """The base model's prediction on the clean input (no noise), shaped like the output."""
        x = self.check_input(x)
        with self.evaluation():
            pred, spatial, _ = self.predict_batch(x[None])
        return pred.cpu().numpy().reshape(spatial)

    def _check_k_components(self, x: torch.Tensor, k: int) -> None:
        """Refuse k > N components before sampling (one clean forward pass, only when k > 1)."""
        if k > 1:
            from mtest.multitest import check_k_within

            check_k_within(k, self.predict(x).size, " (components of the model's output)")

    def predict_noisy(self, x: torch.Tensor, n: int, alpha: float, *, k: int = 1, seed: int = 0) -> NoisyPrediction:
        """Cohen et al.'s noisy PREDICT with abstention for every component, corrected across components.

        Draws ``n`` noisy samples, counts the classes of each component, and runs Cohen's PREDICT
        test (``mtest.cohen_predict``: the two-sided binomial test of the top count n_A
        against the runner-up's n_B out of n_A + n_B, p = 1/2) on each component [1]_. A component
        returns its top class where Bonferroni across the N components (``mtest.bonferroni``,
        k-FWER for ``k > 1``) rejects, and ``mtest.ABSTAIN`` elsewhere.

        Guarantee: call a component's smoothed class its most probable class under the noise.
        Per component, the probability of returning a class other than the smoothed class is at
        most k*alpha/N (Hung & Fithian's rank verification [2]_; a component whose top
        probability is shared by two classes counts any returned class as an error). By the
        union bound, ``P(some component errs) <= alpha`` (``k = 1``), and by Markov's inequality
        on the expected number of errors, ``P(k or more components err) <= alpha``; both hold
        under any dependence among components, which share the noise. With one component (a
        classifier) this is locuslab's ``Smooth.predict(x, n, alpha)``.

        Holm's step-down is not offered: a rejection here can be correct (the top class is
        returned), not only false, so the true nulls of Holm's argument are not a fixed set, and
        the closed-testing argument over class-level hypotheses reduces to Bonferroni.

        Parameters
        ----------
        x : torch.Tensor
            One input without a batch dimension, real floating point, finite.
        n : int
            Noisy samples (at least 1); the counts of all classes are kept on the device.
        alpha : float
            Level in (0, 1) of the error statement over all components.
        k : int
            At least 1: bound the probability of k or more erring components; at most the number
            of components N of the model's output (k > N is refused before sampling: fewer than
            k components cannot err k times).
        seed : int
            Non-negative; noise depends on (seed, sample index) only, and these samples are
            independent of those of ``certify`` with the same seed.

        Returns
        -------
        NoisyPrediction
            Labels shaped like the model's per-component output, ``mtest.ABSTAIN`` (-1) where the
            prediction abstains, and the per-component p-values.

        References
        ----------
        .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. (2019). Certified adversarial
               robustness via randomized smoothing. ICML. Algorithm PREDICT.
        .. [2] Hung, K. and Fithian, W. (2019). Rank verification for exponential families.
               Annals of Statistics 47(2), 758-782.

        Examples
        --------
        >>> import torch, mtest.adapters as ad
        >>> smoother = ad.SegmentationSmoother(torch.nn.Identity(), ad.GaussianNoise(0.25),
        ...                                    batch_size=50, progress=False)
        >>> x = torch.zeros(3, 2, 2)
        >>> x[0, 0] = 2.0                       # class 0 wins the top row by far
        >>> pred = smoother.predict_noisy(x, n=200, alpha=0.01, seed=0)
        >>> pred.labels                         # the bottom row is a three-way tie: abstain
        array([[ 0,  0],
               [-1, -1]])
        >>> pred.guarantee
        'P(some component returns a class other than its smoothed class) <= 0.01 under arbitrary dependence among components'
        """
        n = check_positive_int("n", n)
        alpha = check_alpha(alpha)
        k = check_k(k)
        seed = check_positive_int("seed", seed, minimum=0)
        x = self.check_input(x)
        self._check_k_components(x, k)
        from tqdm.auto import tqdm

        layout: dict = {}
        with self.evaluation(), tqdm(total=math.ceil(n / self.batch_size), desc="sampling", unit="batch",
                                disable=not self.progress) as bar:
            counts = self._class_counts(x, PREDICT_PHASE, n, seed, bar, layout)
        counts = counts.T.cpu().numpy()  # (N, C), as cohen_predict takes them
        pvalues = mtest.cohen_predict(counts, alpha=alpha).pvalues
        reject = mtest.bonferroni(pvalues, alpha, k=k).reject
        labels = np.where(reject, counts.argmax(axis=1), mtest.ABSTAIN)
        shape = layout["shape"]
        return NoisyPrediction(labels=labels.reshape(shape), pvalues=pvalues.reshape(shape), n=n, alpha=alpha,
                               k=k, num_classes=layout["classes"])

    def certify_sequential(self, x: torch.Tensor, *, n0: int, tau: float, alpha: float, n_max: int, **kwargs):
        """Anytime-valid SEGCERTIFY in rounds: ``mtest.adapters.sequential.certify_sequential``."""
        from .sequential import certify_sequential

        return certify_sequential(self, x, n0=n0, tau=tau, alpha=alpha, n_max=n_max, **kwargs)
