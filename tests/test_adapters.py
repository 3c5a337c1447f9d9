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
def test_certify_demo_quick(task, tmp_path, capsys, monkeypatch):
    import mtest.adapters.demo.run as demo
    from mtest.cli import main

    titles = []
    plot = demo.plot_certified_accuracy
    monkeypatch.setattr(demo, "plot_certified_accuracy", lambda df, path, title: titles.append(title) or plot(
        df, path, title))
    rng_state = torch.get_rng_state()
    assert main(["certify-demo", "--task", task, "--quick", "--out", str(tmp_path)]) == 0
    assert torch.equal(torch.get_rng_state(), rng_state)  # the demo leaves the global RNG alone
    captured = capsys.readouterr()
    out = captured.out
    assert "samples/s" in out and "one confusion matrix" in out
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| SEGCERTIFY |")]
    assert len(rows) == (1 if task == "images" else 2)
    for row in rows:  # every quick setting certifies most components (n = 50 certified none)
        assert float(row[5]) > 0.5 and float(row[7]) < 50
    # one bar over the runs whose label says which input and which setting; no anonymous "sampling" bars
    assert "sampling" not in captured.err
    count = 2 if task == "images" else 3
    assert f"{task} {count}/{count}, " in captured.err and "n0=10, n=100" in captured.err
    assert titles and all("--quick" in t for t in titles)
    for name in (f"{task}_segmentation.png", f"{task}_certified_accuracy.png", f"{task}_table.md"):
        assert (tmp_path / name).exists()


def test_certify_demo_refuses_settings_that_cannot_certify(tmp_path):
    from mtest.adapters.demo.run import run_demo

    with pytest.raises(ValueError, match=r"no component can be certified with n=100, tau=0.75, alpha=1e-14 over "
                                         r"N=4096 components"):
        run_demo("images", quick=True, alpha=1e-14, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="count must be an integer >= 1; got 0"):
        run_demo("images", quick=True, count=0, out=tmp_path, progress=False)


DOCTESTED = ["mtest.adapters.noise", "mtest.adapters.sampler", "mtest.adapters.metrics",
             "mtest.adapters.demo.data", "mtest.adapters.demo.models"]


def run_doctests(module_name):
    """Run a module's examples; a module that yields no example is an error, not a pass."""
    import doctest
    import importlib

    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    if result.attempted == 0:
        raise AssertionError(f"{module_name} has no docstring examples to run")
    return result


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples(module):
    """The adapters' examples run (pytest's doctest collection covers mtest/ but not adapters/)."""
    result = run_doctests(module)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module}"


def test_doctest_runner_refuses_a_module_without_examples():
    with pytest.raises(AssertionError, match="has no docstring examples"):
        run_doctests("mtest.adapters.demo.train")


# --- noise: the certificate covers the threat model it names ------------------------------------------

def _cloud_with_normals(points=200, seed=0):
    """xyz, unit normals, one scalar feature (intensity); includes the point (1, 0, 0) with normal (1, 0, 0)."""
    gen = torch.Generator().manual_seed(seed)
    xyz = torch.randn(points, 3, generator=gen)
    normals = torch.nn.functional.normalize(torch.randn(points, 3, generator=gen), dim=1)
    xyz[0], normals[0] = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 0.0])
    intensity = torch.rand(points, 1, generator=gen)
    return torch.cat([xyz, normals, intensity], dim=1)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_rotation_turns_normals_with_points(axis):
    cloud = _cloud_with_normals()
    noise = ad.RotationNoise(0.8, axis=axis, vector_groups=[(0, 3), (3, 6)])
    for seed in range(5):
        out = noise.sample(cloud, torch.Generator().manual_seed(seed))
        # one rotation matrix maps every point and every normal: fit it on the points, check the normals
        rot = torch.linalg.lstsq(cloud[:, :3].double(), out[:, :3].double()).solution.T
        torch.testing.assert_close(rot @ rot.T, torch.eye(3, dtype=torch.float64), atol=1e-5, rtol=0)
        assert abs(float(torch.linalg.det(rot)) - 1) < 1e-5
        torch.testing.assert_close(out[:, 3:6].double(), cloud[:, 3:6].double() @ rot.T, atol=1e-5, rtol=0)
        torch.testing.assert_close(out[:, 3:6].norm(dim=1), torch.ones(len(cloud)))  # normals stay unit
        # angles between a point and its normal are kept; scalar features do not move
        torch.testing.assert_close((out[:, :3] * out[:, 3:6]).sum(1), (cloud[:, :3] * cloud[:, 3:6]).sum(1),
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(out[:, 6], cloud[:, 6])
        # and it is the documented matrix for the drawn angle
        i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
        e = torch.zeros(3)
        e[i] = 1.0
        moved = e @ rot.float().T
        angle = torch.atan2(moved[j], moved[i])
        torch.testing.assert_close(rot.float(), noise.matrix(angle), atol=1e-5, rtol=0)
    if axis == "z":  # the example: (1, 0, 0) with normal (1, 0, 0) turns as one
        torch.testing.assert_close(out[0, :3], out[0, 3:6])


def test_rotation_refuses_ambiguous_feature_counts():
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"x has 6 features per point, so say which are 3-D vectors"):
        ad.RotationNoise(0.3).sample(torch.zeros(10, 6), gen)
    assert ad.RotationNoise(0.3).sample(torch.ones(10, 3), gen).shape == (10, 3)
    xyz_only = ad.RotationNoise(0.3, vector_groups=[(0, 3)]).sample(_cloud_with_normals(), gen)
    torch.testing.assert_close(xyz_only[:, 3:], _cloud_with_normals()[:, 3:])  # the user said: invariant
    for groups, match in [([(0, 2)], r"\(start, start \+ 3\) pairs"), ([(0, 3), (2, 5)], "must not overlap"),
                          ([], "at least one group"), (3, "sequence of \\(start, stop\\) pairs")]:
        with pytest.raises(ValueError, match=match):
            ad.RotationNoise(0.3, vector_groups=groups)
    with pytest.raises(ValueError, match=r"vector_groups \(\(0, 3\), \(3, 6\)\) do not fit a cloud with 4"):
        ad.RotationNoise(0.3, vector_groups=[(0, 3), (3, 6)]).sample(torch.zeros(5, 4), gen)


@pytest.mark.parametrize("noise_cls, scale", [(ad.GaussianNoise, 0.3), (ad.LaplaceNoise, 0.3)])
def test_additive_noise_perturbs_only_the_chosen_features(noise_cls, scale):
    cloud = _cloud_with_normals()
    out = noise_cls(scale, features=range(3)).sample(cloud, torch.Generator().manual_seed(0))
    assert (out[:, :3] != cloud[:, :3]).all()
    torch.testing.assert_close(out[:, 3:], cloud[:, 3:])
    assert out.shape == cloud.shape and cloud[0, 0] == 1.0  # the input is not mutated
    every = noise_cls(scale).sample(cloud, torch.Generator().manual_seed(0))
    assert (every != cloud).all()  # the default perturbs every entry
    odd = noise_cls(scale, features=[6, 0]).sample(cloud, torch.Generator().manual_seed(0))
    assert (odd[:, [0, 6]] != cloud[:, [0, 6]]).all() and (odd[:, 1:6] == cloud[:, 1:6]).all()
    for features in ([], [0, 0], [-1], [1.5], slice(0, 3)):
        with pytest.raises(ValueError, match="features must be"):
            noise_cls(scale, features=features)
    with pytest.raises(ValueError, match=r"features \(0, 7\) do not fit x of shape \(200, 7\)"):
        noise_cls(scale, features=[0, 7]).sample(cloud, torch.Generator())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_noise_in_half_precision(dtype):
    gen = torch.Generator().manual_seed(0)
    image = torch.zeros(3, 64, 64, dtype=dtype)
    for noise, dist in [(ad.LaplaceNoise(0.25), laplace(scale=0.25)), (ad.GaussianNoise(0.25), norm(scale=0.25))]:
        draws = torch.stack([noise.sample(image, gen) for _ in range(20)])
        assert draws.dtype == dtype
        assert torch.isfinite(draws).all()  # float16 Laplace used to put ±inf into ~99 % of images
        assert kstest(draws.float().flatten()[:20000].numpy(), dist.cdf).pvalue > 1e-3
    cloud = _cloud_with_normals().to(dtype)
    out = ad.RotationNoise(0.5, vector_groups=[(0, 3), (3, 6)]).sample(cloud, gen)
    assert out.dtype == dtype
    torch.testing.assert_close(out[:, 3:6].float().norm(dim=1), torch.ones(len(cloud)), atol=1e-2, rtol=0)
    # end to end: a half-precision model under Laplace noise certifies instead of "non-finite logits"
    sm = ad.SegmentationSmoother(Threshold(), ad.LaplaceNoise(0.25), batch_size=16, progress=False)
    run = sm.certify(torch.full((1, 16, 16), 2.0, dtype=dtype), n0=5, n=100, tau=0.75, alpha=0.01)
    assert (run.labels == 1).all()


def test_noise_refuses_integer_inputs():
    for noise in (ad.GaussianNoise(1.0), ad.LaplaceNoise(1.0), ad.RotationNoise(1.0)):
        with pytest.raises(ValueError, match=r"x must be a floating-point tensor; got dtype torch.uint8"):
            noise.sample(torch.zeros(5, 3, dtype=torch.uint8), torch.Generator())


# --- certify: bad input is refused before sampling, naming the argument -------------------------------------

@pytest.mark.parametrize("x, kwargs, match", [
    (torch.zeros(3, 4, 4, dtype=torch.uint8), {}, r"x must be a real floating-point tensor; got dtype torch.uint8 "
                                                  r"\(convert images with x.float\(\) / 255\)"),
    (torch.zeros(3, 4, 4, dtype=torch.int64), {}, "x must be a real floating-point tensor; got dtype torch.int64"),
    (torch.zeros(3, 4, 4, dtype=torch.bool), {}, "x must be a real floating-point tensor; got dtype torch.bool"),
    (torch.zeros(3, 4, 4, dtype=torch.complex64), {}, "x must be a real floating-point tensor; got dtype"),
    (np.zeros((3, 4, 4), np.float32), {}, "x must be a torch.Tensor"),
    (torch.zeros(()), {}, r"x must be one non-empty input .* got shape \(\)"),
    (torch.zeros(3, 0, 4), {}, r"x must be one non-empty input .* got shape \(3, 0, 4\)"),
    (torch.full((3, 4, 4), float("inf")), {}, "x contains NaN or inf"),
    (torch.zeros(3, 4, 4), dict(seed=-1), "seed must be an integer >= 0; got -1"),
    (torch.zeros(3, 4, 4), dict(seed=1.5), "seed must be an integer >= 0; got 1.5"),
    (torch.zeros(3, 4, 4), dict(seed=True), "seed must be an integer >= 0; got True"),
    (torch.zeros(3, 4, 4), dict(n0=-3), "n0 must be an integer >= 1; got -3"),
    (torch.zeros(3, 4, 4), dict(n=2.0), r"n must be an integer >= 1; got 2.0"),
    (torch.zeros(3, 4, 4), dict(k=0), "k must be an integer >= 1; got 0"),
    (torch.zeros(3, 4, 4), dict(tau=0.3), r"tau must lie in \[0.5, 1.0\); got 0.3"),
    (torch.zeros(3, 4, 4), dict(alpha=1.0), "alpha must lie strictly between 0 and 1; got 1.0"),
])
def test_certify_input_errors(x, kwargs, match):
    rec = Recorder()
    sm = ad.SegmentationSmoother(rec, ad.GaussianNoise(0.1), progress=False)
    args = dict(n0=2, n=3, tau=0.75, alpha=0.01)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sm.certify(x, **args)
    assert rec.seen == []  # refused before any sampling


def test_constructor_refuses_non_integer_class_dim():
    for class_dim in (1.5, True, "1"):
        with pytest.raises(ValueError, match="class_dim must be an integer"):
            ad.SegmentationSmoother(nn.Identity(), ad.GaussianNoise(0.1), class_dim=class_dim)


# --- each call is self-contained ----------------------------------------------------------------------------

class WidthClasses(nn.Module):
    """Logits with as many classes as the input is wide; slow, so that concurrent calls interleave."""

    def __init__(self, delay=0.0):
        super().__init__()
        self.delay = delay
        self.modes = []

    def forward(self, x):
        import time

        self.modes.append(self.training)
        time.sleep(self.delay)
        classes = x.shape[-1]
        return x[:, 0, :, :].unsqueeze(1).expand(-1, classes, -1, -1) * torch.arange(1, classes + 1).view(1, -1, 1, 1)


def _certify(smoother, x, seed):
    run = smoother.certify(x, n0=4, n=30, tau=0.6, alpha=0.1, seed=seed)
    return run.labels, run.count, run.guess


def test_interleaved_calls_equal_fresh_smoothers():
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(1, 5, 3, generator=gen), torch.randn(1, 2, 7, generator=gen),
              torch.randn(1, 5, 3, generator=gen), torch.randn(1, 4, 2, generator=gen)]
    shared = ad.SegmentationSmoother(WidthClasses(), ad.GaussianNoise(0.5), batch_size=8, progress=False)
    for seed, x in enumerate(inputs):
        fresh = ad.SegmentationSmoother(WidthClasses(), ad.GaussianNoise(0.5), batch_size=8, progress=False)
        for a, b in zip(_certify(shared, x, seed), _certify(fresh, x, seed)):
            np.testing.assert_array_equal(a, b)
        c = shared.counts(x, n0=4, n=30, seed=seed)
        assert c.shape == tuple(x.shape[1:]) and c.num_classes == x.shape[-1]
        assert shared.predict(x).shape == tuple(x.shape[1:])


def test_concurrent_calls_equal_fresh_smoothers():
    from concurrent.futures import ThreadPoolExecutor

    gen = torch.Generator().manual_seed(2)
    inputs = [torch.randn(1, 3 + i, 2 + 2 * i, generator=gen) for i in range(4)]
    expected = [_certify(ad.SegmentationSmoother(WidthClasses(), ad.GaussianNoise(0.5), batch_size=4,
                                                 progress=False), x, i) for i, x in enumerate(inputs)]
    model = WidthClasses(delay=0.002)
    model.train()
    shared = ad.SegmentationSmoother(model, ad.GaussianNoise(0.5), batch_size=4, progress=False)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda args: _certify(shared, args[1], args[0]), enumerate(inputs)))
    for g, e in zip(got, expected):
        for a, b in zip(g, e):
            np.testing.assert_array_equal(a, b)
    assert not any(model.modes)  # every forward pass ran in eval mode
    assert model.training  # and the mode was restored once all calls ended


def test_output_changing_within_a_call_is_an_error():
    class Flaky(nn.Module):
        calls = 0

        def forward(self, x):
            Flaky.calls += 1
            return torch.zeros(x.shape[0], 2 if Flaky.calls == 1 else 3, 4)

    sm = ad.SegmentationSmoother(Flaky(), ad.GaussianNoise(0.1), batch_size=2, progress=False)
    with pytest.raises(ValueError, match=r"the model's output changed within one call: 2 classes over \(4,\) "
                                         r"first, then 3 classes over \(4,\)"):
        sm.counts(torch.zeros(4), n0=4, n=4)


# --- metrics over a dataset: the paper's Table 1 definitions -----------------------------------------------

def _confusion_by_hand(labels, targets, C, ignore=None):
    m = np.zeros((C, C + 1), np.int64)
    for lab, tgt in zip(labels, targets):
        for l, t in zip(np.ravel(lab), np.ravel(tgt)):
            if t != ignore:
                m[t, C if l == ABSTAIN else l] += 1
    return m


def test_dataset_metrics_use_one_confusion_matrix():
    rng = np.random.default_rng(5)
    C, ignore = 4, 255
    targets = [rng.integers(0, C, shape) for shape in [(9, 7), (3, 3), (20,), (5, 6)]]
    targets[1][0, 0] = ignore
    targets[3][:2] = ignore
    labels = [np.where(rng.random(t.shape) < 0.2, ABSTAIN, np.where(rng.random(t.shape) < 0.7, t % 255 % C,
                                                                       rng.integers(0, C, t.shape)))
              for t in targets]
    cm = ad.ConfusionMatrix(C, ignore_index=ignore)
    for lab, tgt in zip(labels, targets):
        cm.update(lab, tgt)
    m = _confusion_by_hand(labels, targets, C, ignore)
    np.testing.assert_array_equal(cm.matrix, m)
    tp = np.diag(m)
    iou = tp / (m.sum(1) + m[:, :C].sum(0) - tp)
    everything = np.concatenate([np.ravel(l) for l in labels])
    s = ad.dataset_metrics(labels, targets, C, ignore_index=ignore)
    np.testing.assert_allclose(s.iou, iou)
    assert s.miou == pytest.approx(iou.mean()) and s.average == "dataset"
    assert s.accuracy == pytest.approx(tp.sum() / m.sum())
    assert s.abstain_rate == pytest.approx(np.mean(everything == ABSTAIN))  # ignored components count too
    assert s.n_components == m.sum() and s.n_ignored == 1 + 2 * 6
    per = ad.dataset_metrics(labels, targets, C, ignore_index=ignore, average="per-input")
    singles = [ad.segmentation_metrics(l, t, C, ignore) for l, t in zip(labels, targets)]
    assert per.average == "per-input" and per.miou == pytest.approx(np.mean([x.miou for x in singles]))
    assert per.miou != pytest.approx(s.miou)  # the two definitions differ on this data


def test_abstain_rate_counts_ignored_components():
    s = ad.segmentation_metrics([ABSTAIN, ABSTAIN, 1, 0], [255, 255, 1, 0], num_classes=2, ignore_index=255)
    assert s.accuracy == 1.0 and s.abstain_rate == 0.5 and s.n_components == 2 and s.n_ignored == 2


def test_metric_errors():
    with pytest.raises(ValueError, match=r"target must be in \[0, 3\) or ignore_index=255; got 7"):
        ad.segmentation_metrics([0, 1], [0, 7], 3, ignore_index=255)
    with pytest.raises(ValueError, match=r"labels must be an integer array \(class indices\); got dtype float64"):
        ad.segmentation_metrics([0.0, 1.7], [0, 1], 3)
    with pytest.raises(ValueError, match=r"ignore_index \(0\) must lie outside the classes \[0, 3\)"):
        ad.ConfusionMatrix(3, ignore_index=0)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1; got 0"):
        ad.ConfusionMatrix(0)
    with pytest.raises(ValueError, match=r"average \('mean'\) not recognized"):
        ad.dataset_metrics([[0]], [[0]], 2, average="mean")
    with pytest.raises(ValueError, match="same length"):
        ad.dataset_metrics([[0]], [[0], [1]], 2)
    with pytest.raises(ValueError, match="no components left to score"):
        ad.segmentation_metrics([0], [255], 2, ignore_index=255)


def test_certified_accuracy_curve_pools_inputs_and_keeps_units_apart():
    big, small = np.zeros(100, int), np.ones(4, int)
    entries = [dict(sigma=0.25, tau=0.75, radius=0.17, radius_unit="ℓ2", labels=big, target=big),
               dict(sigma=0.25, tau=0.75, radius=0.17, radius_unit="ℓ2", labels=np.full(4, ABSTAIN), target=small),
               dict(sigma=0.25, tau=0.75, radius=0.17, radius_unit="rad", labels=small, target=small)]
    curve = ad.certified_accuracy_curve(entries, 2)
    assert list(curve.radius_unit) == ["ℓ2", "rad"]  # in the order first given
    assert curve.certified_accuracy.tolist() == [100 / 104, 1.0]  # pooled, not (1 + 0) / 2
    assert ad.certified_accuracy_curve(entries[:2], 2, average="per-input").certified_accuracy.tolist() == [0.5]


def _capture_figure(monkeypatch, module):
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return path

    monkeypatch.setattr(module, "save_figure", keep)
    return figures


def test_radius_and_angle_never_share_an_axis(monkeypatch, tmp_path):
    import mtest.adapters.metrics as metrics

    figures = _capture_figure(monkeypatch, metrics)
    target = np.zeros(10, int)
    entries = [dict(sigma=s, tau=t, radius=s * norm.ppf(t), radius_unit=u, labels=target, target=target)
               for s, u in [(0.05, "ℓ2"), (0.25, "rad")] for t in (0.6, 0.9)]
    ad.plot_certified_accuracy(ad.certified_accuracy_curve(entries, 1), tmp_path / "x.png")
    axes = figures[0].axes
    assert len(axes) == 2
    labels = sorted(ax.get_xlabel() for ax in axes)
    assert labels == ["certified radius, ℓ2 norm (input units)", "certified rotation angle (radians)"]
    legends = sorted(t.get_text() for ax in axes for t in ax.get_legend().get_texts())
    assert legends == ["σ = 0.05 (ℓ2 smoothing)", "σ = 0.25 rad"]


def test_figures_leave_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("pdf")
    try:
        target = np.zeros((8, 8), int)
        ad.plot_segmentation(np.zeros((3, 8, 8)), target, {"x": target}, tmp_path / "a.png")
        entries = [dict(sigma=0.25, tau=0.75, radius=0.17, labels=target, target=target)]
        ad.plot_certified_accuracy(ad.certified_accuracy_curve(entries, 1), tmp_path / "b.png")
        assert matplotlib.get_backend() == "pdf"
        assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        matplotlib.use(before)
