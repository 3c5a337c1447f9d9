"""SegmentationSmoother.predict_noisy: Cohen's noisy PREDICT with abstention per component, Bonferroni
across components; its error statement checked by simulation on a model whose smoothed classes are
known."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mtest  # noqa: E402
import mtest.adapters as ad  # noqa: E402
from mtest.adapters.sampler import PREDICT_PHASE, phase_seeds  # noqa: E402

from conftest import FULL  # noqa: E402

SIGMA = 1.0


def _smoother():
    # the identity model: component j's class is the argmax over channels of x[:, j] + noise, so the
    # smoothed (most probable) class is the largest channel, and equal channels are exact ties
    return ad.SegmentationSmoother(torch.nn.Identity(), ad.GaussianNoise(SIGMA), batch_size=100, progress=False)


def _input(ties: int, near: int, strong: int = 0, margin: float = 0.15) -> torch.Tensor:
    """(3, N) logits: ``ties`` components with three equal channels (no unique smoothed class: any
    returned class is an error), ``near`` with class 1 ahead by ``margin`` (1 is the smoothed class),
    ``strong`` with class 2 ahead by 5 sigma."""
    cols = ([[0.0, 0.0, 0.0]] * ties + [[0.0, margin, -0.5]] * near + [[0.0, 0.0, 5.0]] * strong)
    return torch.tensor(cols, dtype=torch.float64).T.contiguous()


def _fwer(ties, near, n, alpha, reps, k=1, strong=0):
    smoother, x = _smoother(), _input(ties, near, strong)
    truth = np.array([-2] * ties + [1] * near + [2] * strong)
    hits, per_component = 0, np.zeros(truth.size)
    for seed in range(reps):
        labels = smoother.predict_noisy(x, n, alpha, k=k, seed=seed).labels
        wrong = (labels != mtest.ABSTAIN) & (labels != truth)
        hits += int(wrong.sum() >= k)
        per_component += wrong
    return hits / reps, per_component / reps


def _bound(alpha, reps):
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)


@pytest.mark.parametrize("ties, near", [(1, 0), (0, 1)])
def test_one_component_errs_with_probability_at_most_alpha(ties, near):
    # one component is locuslab's Smooth.predict; an exact tie makes the bound nearly tight
    reps = 2000 if FULL else 300
    rate, _ = _fwer(ties, near, n=60, alpha=0.1, reps=reps)
    assert rate <= _bound(0.1, reps), rate


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2])
def test_errors_over_components_are_controlled(k):
    reps = 2000 if FULL else 250
    alpha = 0.2
    rate, per_component = _fwer(ties=6, near=6, n=60, alpha=alpha, reps=reps, k=k, strong=4)
    assert rate <= _bound(alpha, reps), (k, rate)
    if k > 1:
        return
    # the uncorrected per-component test (Cohen's PREDICT at alpha on every component) would not be
    smoother, x = _smoother(), _input(6, 6, 4)
    truth = np.array([-2] * 6 + [1] * 6 + [2] * 4)
    uncorrected = 0
    for seed in range(reps):
        counts = _counts(smoother, x, 60, seed)
        labels = mtest.cohen_predict(counts, alpha=alpha).labels
        uncorrected += int(((labels != mtest.ABSTAIN) & (labels != truth)).sum() >= k)
    assert uncorrected / reps > _bound(alpha, reps), uncorrected / reps


def _counts(smoother, x, n, seed):
    """Per-class counts (N, C) of the same noisy samples predict_noisy draws, computed here by hand."""
    preds = []
    for s in phase_seeds(seed, PREDICT_PHASE, n):
        gen = torch.Generator().manual_seed(int(s))
        preds.append(smoother.noise.sample(x, gen).argmax(dim=0).numpy())
    preds = np.stack(preds)
    return np.stack([(preds == c).sum(axis=0) for c in range(x.shape[0])], axis=1)


@pytest.mark.parametrize("k", [1, 3])
def test_equals_cohen_predict_with_bonferroni_on_the_same_counts(k):
    smoother, x = _smoother(), _input(3, 3, strong=3, margin=1.0)
    for seed in range(3):
        res = smoother.predict_noisy(x, 150, 0.05, k=k, seed=seed)
        counts = _counts(smoother, x, 150, seed)
        p = mtest.cohen_predict(counts, alpha=0.05).pvalues
        np.testing.assert_array_equal(res.pvalues, p)
        expected = np.where(mtest.bonferroni(p, 0.05, k=k).reject, counts.argmax(axis=1), mtest.ABSTAIN)
        np.testing.assert_array_equal(res.labels, expected)
        assert res.n == 150 and res.k == k and res.num_classes == 3


def test_strong_components_are_predicted_and_ties_abstain():
    x = torch.zeros(4, 5, 6)
    x[1, :2] = 3.0  # rows 0-1: class 1 by 3 sigma; rows 2-4: four-way ties
    res = _smoother().predict_noisy(x, 300, 0.01, seed=1)
    assert res.labels.shape == (5, 6)
    assert (res.labels[:2] == 1).all()
    assert (res.labels[2:] == mtest.ABSTAIN).mean() > 0.9
    assert res.abstain_fraction == pytest.approx((res.labels == mtest.ABSTAIN).mean())
    assert "<= 0.01" in res.guarantee and "(shape=(5, 6)" in repr(res)
    # a clean prediction is another thing: it never abstains
    assert (_smoother().predict(x) != mtest.ABSTAIN).all()


def test_does_not_depend_on_batch_size_and_does_not_mutate_the_input():
    x = _input(2, 2, 2, margin=1.0)
    before = x.clone()
    a = _smoother().predict_noisy(x, 70, 0.05, seed=4)
    small = ad.SegmentationSmoother(torch.nn.Identity(), ad.GaussianNoise(SIGMA), batch_size=7, progress=False)
    b = small.predict_noisy(x, 70, 0.05, seed=4)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.pvalues, b.pvalues)
    assert torch.equal(x, before)


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, r"n \(0\)|n must|n \("), ({"alpha": 1.5}, "alpha"), ({"k": 0}, "k"), ({"seed": -1}, "seed"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    args = {"n": 10, "alpha": 0.05, **kwargs}
    with pytest.raises(ValueError, match=match):
        _smoother().predict_noisy(_input(1, 1), args.pop("n"), args.pop("alpha"), **args)
