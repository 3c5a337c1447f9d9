"""PyTorch adapters: sampler correctness (unbiased counts, guarantees), noise, metrics, errors, demo."""
import numpy as np
import pytest
import torch
from scipy.stats import chisquare, binom, kstest, laplace, norm
from torch import nn

import mtest
import mtest.adapters as ad
from mtest import ABSTAIN
from conftest import FULL


class Constant(nn.Module):
    """Logits that ignore the input: the argmax map is ``classes``."""

    def __init__(self, classes, num_classes=4):
        super().__init__()
        logits = torch.nn.functional.one_hot(torch.as_tensor(classes), num_classes).float()
        self.register_buffer("logits", logits.movedim(-1, 0))  # (C, H, W)

    def forward(self, x):
        return self.logits.expand(x.shape[0], *self.logits.shape).clone()


class Threshold(nn.Module):
    """Class 1 where the (noisy) pixel value is > 0, else class 0: P(class 1) = Phi(mu / sigma)."""

    def forward(self, x):
        v = x[:, 0]
        return torch.stack([-v, v], dim=1)


class Recorder(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.stack([x[:, 0], -x[:, 0]], dim=1)


def test_constant_model_is_certified_everywhere():
    classes = torch.randint(0, 4, (6, 7), generator=torch.Generator().manual_seed(0))
    sm = ad.SegmentationSmoother(Constant(classes), ad.GaussianNoise(0.5), batch_size=16, progress=False)
    run = sm.certify(torch.rand(3, 6, 7), n0=5, n=60, tau=0.75, alpha=0.01, seed=1)
    np.testing.assert_array_equal(run.labels, classes.numpy())
    assert (run.count == 60).all() and run.joint_count == 60
    assert run.radius == pytest.approx(0.5 * norm.ppf(0.75))
    assert run.cohen(0.01).labels.tolist() == classes.numpy().tolist()
    assert run.indiv_class(0.01).certified and run.joint_class(0.01).certified


def test_counts_are_binomial_goodness_of_fit():
    """400 pixels with P(class 1) = Phi(mu/sigma) = 0.7: counts must look like Bin(n, 0.7)."""
    sigma, n, p = 0.5, 40, 0.7
    x = torch.full((1, 20, 20), float(sigma * norm.ppf(p)))
    sm = ad.SegmentationSmoother(Threshold(), ad.GaussianNoise(sigma), batch_size=32, progress=False)
    c = sm.counts(x, n0=15, n=n, seed=3)
    count = c.count[c.guess == 1].numpy()
    assert count.size > 300
    edges = [0, 22, 24, 26, 28, 30, 32, n + 1]  # pooled bins with expected counts >= 5
    observed = np.histogram(count, bins=edges)[0]
    probs = np.diff(binom.cdf(np.array(edges) - 1, n, p))
    # goodness of fit at level 0.001: the sampler is unbiased
    assert chisquare(observed, probs / probs.sum() * observed.sum()).pvalue > 1e-3


@pytest.mark.slow
def test_type1_error_within_alpha_end_to_end():
    """Pixels whose true top-class probability is exactly tau are certified w.p. <= alpha (+3 SE)."""
    sigma, tau, alpha, n = 0.5, 0.75, 0.1, 60
    runs = 1200 if FULL else 400
    mu = torch.zeros(1, 4, 8)
    mu[0, :2] = sigma * norm.ppf(tau)   # 16 null pixels: P(class 1) = tau exactly
    mu[0, 2:] = sigma * norm.ppf(0.995)  # 16 clearly certifiable pixels
    null = np.zeros((4, 8), bool)
    null[:2] = True
    sm = ad.SegmentationSmoother(Threshold(), ad.GaussianNoise(sigma), batch_size=70, progress=False)
    errors, certified_alt = 0, 0
    for seed in range(runs):
        run = sm.certify(mu[0:1], n0=10, n=n, tau=tau, alpha=alpha, seed=seed)
        assert np.isin(run.labels, [0, 1, ABSTAIN]).all()
        assert ((run.labels == run.guess) | (run.labels == ABSTAIN)).all()
        errors += bool((run.labels[null] != ABSTAIN).any())
        certified_alt += (run.labels[~null] == 1).mean()
    assert errors / runs <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)
    assert certified_alt / runs > 0.5  # and it does certify the clear pixels


def test_guess_and_count_use_independent_noise():
    rec = Recorder()
    sm = ad.SegmentationSmoother(rec, ad.GaussianNoise(1.0), batch_size=4, progress=False)
    sm.counts(torch.zeros(1, 3, 3), n0=6, n=10, seed=0)
    seen = torch.cat(rec.seen)
    assert seen.shape[0] == 16
    flat = seen.reshape(16, -1)
    # all 16 noisy copies differ, and the guessing copies are not reused for counting
    assert torch.cdist(flat, flat).add(torch.eye(16) * 1e9).min() > 1e-3


def test_batch_size_does_not_change_results():
    x = torch.randn(1, 5, 6, generator=torch.Generator().manual_seed(2)) * 0.3
    results = []
    for bs in (1, 7, 16, 200):  # 7 and 16 do not divide n0 + n
        sm = ad.SegmentationSmoother(Threshold(), ad.GaussianNoise(0.4), batch_size=bs, progress=False)
        c = sm.counts(x, n0=9, n=33, seed=5)
        assert int(c.count.max()) <= 33
        results.append((c.guess.numpy(), c.count.numpy(), c.joint_count))
    for guess, count, joint in results[1:]:
        np.testing.assert_array_equal(guess, results[0][0])
        np.testing.assert_array_equal(count, results[0][1])
        assert joint == results[0][2]


def test_point_cloud_layouts_and_output_fn():
    class Cloud(nn.Module):
        def forward(self, x):  # (B, P, 3) -> {"out": (B, P, C)} with class = sign of z
            z = x[..., 2]
            return {"out": torch.stack([-z, z], dim=-1)}

    pts = torch.zeros(50, 3)
    pts[:, 2] = torch.linspace(-1, 1, 50)
    sm = ad.SegmentationSmoother(Cloud(), ad.RotationNoise(0.3, axis="z"), class_dim=-1,
                                 output_fn=lambda out: out["out"], progress=False)
    run = sm.certify(pts, n0=5, n=40, tau=0.75, alpha=0.01)
    assert run.labels.shape == (50,)
    # rotation about z never changes z: every point is certified with its sign class
    np.testing.assert_array_equal(run.labels, (pts[:, 2] > 0).long().numpy())
    assert run.radius == pytest.approx(0.3 * norm.ppf(0.75))


def test_noise_distributions():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(20000)
    lap = ad.LaplaceNoise(0.7).sample(x, gen).numpy()
    assert kstest(lap, laplace(scale=0.7).cdf).pvalue > 1e-3
    gau = ad.GaussianNoise(0.3).sample(x, gen).numpy()
    assert kstest(gau, norm(scale=0.3).cdf).pvalue > 1e-3
    pts = torch.randn(100, 3, generator=gen)
    rot = ad.RotationNoise(1.0, axis="x").sample(pts, gen)
    torch.testing.assert_close(rot.norm(dim=1), pts.norm(dim=1))
    torch.testing.assert_close(rot[:, 0], pts[:, 0])
    assert ad.LaplaceNoise(2.0).radius(0.75) == pytest.approx(mtest.LaplaceL1(2.0)(0.75))
    np.testing.assert_allclose(ad.GaussianNoise(1.0).radius(np.array([0.6, 0.9])), norm.ppf([0.6, 0.9]))


@pytest.mark.parametrize("model, x, kwargs, match", [
    (nn.Identity(), torch.zeros(3, 4, 4), dict(n0=0), r"n0 must be an integer >= 1; got 0"),
    (nn.Identity(), torch.zeros(3, 4, 4), dict(n=0), r"n must be an integer >= 1; got 0"),
    (nn.Identity(), torch.full((3, 4, 4), float("nan")), {}, "x contains NaN or inf"),
])
def test_bad_arguments(model, x, kwargs, match):
    sm = ad.SegmentationSmoother(model, ad.GaussianNoise(0.1), progress=False)
    args = dict(n0=2, n=3, tau=0.75, alpha=0.01)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sm.certify(x, **args)


class Squeeze(nn.Module):
    def forward(self, x):
        return x[0]  # drops the batch dimension


class NaNs(nn.Module):
    def forward(self, x):
        return x * float("nan")


@pytest.mark.parametrize("model, kwargs, match", [
    (Squeeze(), {}, r"the model's output must have shape \(B, \.\.\.\) with B=4"),
    (NaNs(), {}, "non-finite logits"),
    (nn.Identity(), dict(class_dim=5), r"class_dim \(5\) does not fit"),
    (nn.Identity(), dict(output_fn=lambda out: {"out": out}), "must be a tensor"),
])
def test_bad_model_outputs(model, kwargs, match):
    sm = ad.SegmentationSmoother(model, ad.GaussianNoise(0.1), batch_size=4, progress=False, **kwargs)
    with pytest.raises(ValueError, match=match):
        sm.certify(torch.zeros(3, 4, 4), n0=4, n=4, tau=0.75, alpha=0.01)


def test_constructor_errors():
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        ad.SegmentationSmoother(lambda x: x, ad.GaussianNoise(0.1))
    with pytest.raises(ValueError, match="noise must have sample"):
        ad.SegmentationSmoother(nn.Identity(), object())
    with pytest.raises(ValueError, match="sigma must be a positive number; got -1"):
        ad.GaussianNoise(-1)
    with pytest.raises(ValueError, match=r"axis \('w'\) not recognized"):
        ad.RotationNoise(0.1, axis="w")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        ad.SegmentationSmoother(nn.Identity(), ad.GaussianNoise(0.1), batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device \('cuda'\) is not available"):
            ad.SegmentationSmoother(nn.Identity(), ad.GaussianNoise(0.1), device="cuda")


def test_model_mode_restored():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Dropout(0.5))
    model.train()
    ad.SegmentationSmoother(model, ad.GaussianNoise(0.1), progress=False).certify(
        torch.zeros(3, 4, 4), n0=2, n=2, tau=0.75, alpha=0.1)
    assert model.training


# --- metrics and figures ---------------------------------------------------------------------------------

def test_metrics():
    s = ad.segmentation_metrics([[0, 1], [ABSTAIN, 2]], [[0, 1], [1, 2]], num_classes=3)
    assert s.accuracy == 0.75 and s.abstain_rate == 0.25
    np.testing.assert_allclose(s.iou, [1.0, 0.5, 1.0])
    ignored = ad.segmentation_metrics([0, 1, 1], [0, 255, 1], num_classes=2, ignore_index=255)
    assert ignored.accuracy == 1.0 and ignored.n_components == 2
    with pytest.raises(ValueError, match="same shape"):
        ad.segmentation_metrics([0], [0, 1], 2)
    with pytest.raises(ValueError, match=r"labels must be ABSTAIN or in \[0, 2\); got 5"):
        ad.segmentation_metrics([5], [0], 2)


def test_figures(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 3, (16, 16))
    labels = np.where(rng.random((16, 16)) < 0.2, ABSTAIN, target)
    png = ad.plot_segmentation(rng.random((3, 16, 16)), target, {"certified": labels}, tmp_path / "a.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    entries = [dict(sigma=0.25, tau=t, radius=0.25 * norm.ppf(t), labels=labels, target=target) for t in (0.6, 0.9)]
    curve = ad.certified_accuracy_curve(entries, 3)
    assert list(curve.tau) == [0.6, 0.9]
    assert ad.plot_certified_accuracy(curve, tmp_path / "b.png").exists()
    cloud = rng.random((40, 3))
    assert ad.plot_segmentation(cloud, target.ravel()[:40], {"x": labels.ravel()[:40]}, tmp_path / "c.png").exists()


# --- the shipped demo -------------------------------------------------------------------------------------

def test_demo_weights_load_and_are_small():
    from mtest.adapters.demo.models import HERE, WEIGHTS, load_model

    total = sum((HERE / f).stat().st_size for f, _, _ in WEIGHTS.values())
    assert total < 5 * 2**20
    for name in WEIGHTS:
        assert not load_model(name).training


@pytest.mark.parametrize("task", ["images", "pointclouds"])
def test_certify_demo_quick(task, tmp_path, capsys):
    from mtest.cli import main

    assert main(["certify-demo", "--task", task, "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| SEGCERTIFY |" in out and "samples/s" in out
    for name in (f"{task}_segmentation.png", f"{task}_certified_accuracy.png", f"{task}_table.md"):
        assert (tmp_path / name).exists()


@pytest.mark.parametrize("module", ["mtest.adapters.noise", "mtest.adapters.sampler", "mtest.adapters.metrics",
                                    "mtest.adapters.demo.data", "mtest.adapters.demo.models"])
def test_docstring_examples(module):
    """The adapters' examples run (pytest's doctest collection covers mtest/ but not adapters/)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
