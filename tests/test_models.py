"""Model wrappers: Hugging Face / dict / plain outputs, the paper's multi-scale protocol, denoisers."""
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import mtest.adapters as ad
from test_adapters import run_doctests

transformers = pytest.importorskip("transformers")


def _tiny(num_labels=3, seed=0):
    return ad.random_segformer("tiny", num_labels=num_labels, seed=seed)


# --- Hugging Face -----------------------------------------------------------------------------------

def test_segformer_logits_upsampled_like_its_own_post_processing():
    """Differential: the argmax of the wrapper equals transformers' post_process_semantic_segmentation."""
    from transformers import SegformerImageProcessor

    hf = _tiny(num_labels=4)
    x = torch.rand(2, 3, 36, 52, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        raw = hf(pixel_values=x)
        wrapped = ad.HFSegmentation(hf)(x)
    assert raw.logits.shape[-2:] == (9, 13)  # SegFormer predicts at 1/4 resolution
    assert wrapped.shape == (2, 4, 36, 52)
    expected = SegformerImageProcessor().post_process_semantic_segmentation(raw, target_sizes=[(36, 52)] * 2)
    assert torch.equal(wrapped.argmax(1), torch.stack(expected))
    assert torch.allclose(wrapped, F.interpolate(raw.logits, size=(36, 52), mode="bilinear", align_corners=False))


def test_normalization_happens_inside_the_model():
    hf = _tiny()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        got = ad.HFSegmentation(hf, mean=mean, std=std)(x)
        manual = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        want = ad.HFSegmentation(hf)(manual)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(x, x.clone())  # input untouched
    with pytest.raises(ValueError, match="give both mean and std"):
        ad.HFSegmentation(hf, mean=mean)
    with pytest.raises(ValueError, match="std must be positive"):
        ad.PlainModel(nn.Identity(), mean=(0.5,), std=(0.0,))
    with pytest.raises(ValueError, match="mean/std have 3 channels"):
        ad.HFSegmentation(hf, mean=mean, std=std)(torch.rand(1, 1, 8, 8))


def test_segformer_certifies_end_to_end_through_the_smoother():
    model = ad.HFSegmentation(_tiny(num_labels=3))
    smoother = ad.SegmentationSmoother(model, ad.GaussianNoise(0.1), batch_size=25, progress=False)
    run = smoother.certify(torch.rand(3, 32, 32), n0=5, n=50, tau=0.75, alpha=0.001)
    assert run.labels.shape == (32, 32)
    assert set(np.unique(run.labels)) <= {-1, 0, 1, 2}


def test_segformer_config_sources(tmp_path):
    assert ad.segformer_config("b1", num_labels=19).hidden_sizes == [64, 128, 320, 512]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_sizes": [8, 8, 8, 8], "depths": [1, 1, 1, 1],
                                "num_attention_heads": [1, 1, 1, 1], "decoder_hidden_size": 8, "num_labels": 6}))
    cfg = ad.segformer_config(str(path), num_labels=3)
    assert cfg.num_labels == 6 and cfg.hidden_sizes == [8, 8, 8, 8]  # the file's num_labels wins
    assert ad.segformer_config({"decoder_hidden_size": 12}, num_labels=2).decoder_hidden_size == 12
    with pytest.raises(ValueError, match="neither a size"):
        ad.segformer_config("b9")
    with pytest.raises(ValueError, match="must be a size name"):
        ad.segformer_config(3)


def test_random_segformer_depends_on_seed_only_and_leaves_global_rng():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = _tiny(seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)
    b = _tiny(seed=7)
    c = _tiny(seed=8)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


# --- dict and plain outputs -------------------------------------------------------------------------

class DictNet(nn.Module):
    """torchvision-style: {'out': logits at half resolution, 'aux': ...}."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 2, stride=2)

    def forward(self, x):
        out = self.conv(x)
        return {"out": out, "aux": out[:, :2]}


def test_dict_and_plain_wrappers_share_one_resizing_path():
    net = DictNet()
    x = torch.rand(2, 3, 10, 14)
    with torch.inference_mode():
        got = ad.DictOutput(net)(x)
        plain = ad.PlainModel(net.conv)(x)
    want = F.interpolate(net.conv(x), size=(10, 14), mode="bilinear", align_corners=False)
    assert torch.allclose(got, want.detach()) and torch.allclose(plain, want.detach())
    assert ad.DictOutput(net, key="aux")(x).shape == (2, 2, 10, 14)
    with pytest.raises(ValueError, match=r"no entry 'logits'; it has \['out', 'aux'\]"):
        ad.DictOutput(net, key="logits")(x)
    with pytest.raises(ValueError, match="pass resize=True"):
        ad.PlainModel(net.conv, resize=False)(x)
    with pytest.raises(ValueError, match="logits must be a tensor"):
        ad.PlainModel(net)(x)  # a dict where a tensor is expected: use DictOutput
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        ad.PlainModel(lambda v: v)
    # point clouds (B, C, P): nothing to resize
    assert ad.PlainModel(nn.Conv1d(3, 5, 1))(torch.rand(2, 3, 7)).shape == (2, 5, 7)


# --- the paper's multi-scale protocol ---------------------------------------------------------------

class SpyNoise:
    """Gaussian noise that records the shape of every input it perturbs and every sample it returns."""

    radius_unit = "ℓ2"

    def __init__(self, sigma):
        self.inner = ad.GaussianNoise(sigma)
        self.shapes, self.samples = [], []

    def sample(self, x, generator):
        out = self.inner.sample(x, generator)
        self.shapes.append(tuple(x.shape))
        self.samples.append(out.clone())
        return out

    def radius(self, p):
        return self.inner.radius(p)


class SpyModel(nn.Module):
    """A 1x1 convolution that records every batch it sees."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return self.conv(x)


def test_multiscale_noise_is_drawn_once_at_full_resolution():
    """Every noisy sample is drawn once, at full resolution; every scale and flip of one forward
    pass sees a resized copy of that same noisy batch, and certification is at full resolution."""
    scales = (0.5, 1.0, 1.5)
    spy, noise = SpyModel(), SpyNoise(0.3)
    smoother = ad.SegmentationSmoother(ad.MultiScale(spy, scales=scales, flip=True), noise, batch_size=4,
                                       progress=False)
    x = torch.rand(3, 12, 20)
    run = smoother.certify(x, n0=4, n=8, tau=0.75, alpha=0.01)
    assert run.labels.shape == (12, 20)
    assert noise.shapes == [(3, 12, 20)] * 12  # n0 + n draws, each at full resolution
    batches = [torch.stack(noise.samples[i:i + 4]) for i in range(0, 12, 4)]
    assert len(spy.seen) == 3 * len(scales) * 2  # per batch: every scale, plain and flipped
    for b, noisy in enumerate(batches):
        calls = spy.seen[b * 6:(b + 1) * 6]
        for k, s in enumerate(scales):
            size = (round(12 * s), round(20 * s))
            want = noisy if s == 1.0 else F.interpolate(noisy, size=size, mode="bilinear", align_corners=False)
            assert torch.equal(calls[2 * k], want)
            assert torch.equal(calls[2 * k + 1], want.flip(-1))


def test_multiscale_averages_probabilities_at_full_resolution():
    torch.manual_seed(0)
    model = ad.PlainModel(nn.Conv2d(3, 4, 3, padding=1, stride=2))  # half-resolution logits, resized
    ms = ad.MultiScale(model, scales=(0.5, 1.25), flip=True)
    x = torch.rand(2, 3, 16, 24)
    with torch.inference_mode():
        got = ms(x)
        terms = []
        for s in (0.5, 1.25):
            xs = F.interpolate(x, size=(round(16 * s), round(24 * s)), mode="bilinear", align_corners=False)
            for flip in (False, True):
                out = model(xs.flip(-1) if flip else xs)
                out = F.interpolate(out, size=(16, 24), mode="bilinear", align_corners=False).softmax(1)
                terms.append(out.flip(-1) if flip else out)
        want = torch.stack(terms).mean(0)
    assert got.shape == (2, 4, 16, 24)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(got.sum(1), torch.ones(2, 16, 24))
    logits = ad.MultiScale(model, scales=(1.0,), flip=False, combine="logits")(x)
    assert torch.allclose(logits, model(x))
    assert ad.PAPER_SCALES == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    assert ad.MultiScale(model).scales == ad.PAPER_SCALES and ad.MultiScale(model).flip


@pytest.mark.parametrize("kwargs, match", [
    (dict(scales=()), "non-empty sequence"),
    (dict(scales=(0.5, -1)), "positive numbers"),
    (dict(scales=0.5), "sequence of positive numbers"),
    (dict(combine="mean"), "combine"),
])
def test_multiscale_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ad.MultiScale(nn.Conv2d(3, 2, 1), **kwargs)


def test_multiscale_refuses_non_images():
    with pytest.raises(ValueError, match=r"expects images \(B, C, H, W\)"):
        ad.MultiScale(nn.Conv1d(3, 2, 1))(torch.rand(1, 3, 5))


# --- denoised smoothing -----------------------------------------------------------------------------

class Sign(nn.Module):
    """Class 1 where channel 0 exceeds 0.5: with clean pixels at 0.6, noise flips it often."""

    def forward(self, x):
        v = x[:, 0] - 0.5
        return torch.stack([-v, v], dim=1)


class Spy(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, x):
        self.seen.append(x.clone())
        return self.inner(x)


def test_identity_denoiser_changes_nothing():
    x = torch.full((3, 16, 16), 0.6)
    plain = ad.SegmentationSmoother(Sign(), ad.GaussianNoise(0.5), batch_size=16, progress=False)
    denoised = ad.SegmentationSmoother(ad.Denoised(nn.Identity(), Sign()), ad.GaussianNoise(0.5), batch_size=16,
                                       progress=False)
    a, b = plain.counts(x, 16, 64, seed=3), denoised.counts(x, 16, 64, seed=3)
    assert torch.equal(a.count, b.count) and torch.equal(a.guess, b.guess)


def test_blur_denoiser_sees_the_noisy_input_and_raises_counts():
    """A 5x5 mean filter cuts the noise's std five-fold: the smoothed model is far more stable."""
    x = torch.full((3, 16, 16), 0.6)
    blur = Spy(nn.AvgPool2d(5, stride=1, padding=2, count_include_pad=False))
    noise = ad.GaussianNoise(0.5)
    plain = ad.SegmentationSmoother(Sign(), noise, batch_size=32, progress=False).counts(x, 16, 128, seed=1)
    smoother = ad.SegmentationSmoother(ad.Denoised(blur, Sign()), noise, batch_size=32, progress=False)
    den = smoother.counts(x, 16, 128, seed=1)
    assert all(not torch.allclose(batch, x.expand_as(batch)) for batch in blur.seen)  # noise came first
    # P(Sign = 1) is Phi(0.1 / 0.5) = 0.58 per pixel without the denoiser, about Phi(0.1 / 0.1) = 0.84
    # in the interior with it (edge pixels average fewer neighbours)
    assert float(plain.count.float().mean()) / 128 < 0.65
    assert float(den.count.float().mean()) / 128 > 0.75
    with pytest.raises(ValueError, match="shaped like its input"):
        ad.Denoised(lambda v: v[:, :1], Sign())(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="denoiser must be callable"):
        ad.Denoised(3, Sign())


def test_denoiser_module_follows_eval_mode_and_device():
    den = ad.Denoised(nn.Dropout(0.5), Sign())
    assert "denoiser" in dict(den.named_children())
    smoother = ad.SegmentationSmoother(den, ad.GaussianNoise(0.1), batch_size=8, progress=False)
    den.train()
    a = smoother.counts(torch.full((3, 8, 8), 0.95), 8, 8, seed=0)  # 4.5 sigma above the threshold
    assert (a.count == 8).all()  # dropout off during sampling (eval mode reached the denoiser)
    assert den.training  # mode restored


@pytest.mark.parametrize("module", ["mtest.adapters.models", "mtest.adapters.demo.catalog"])
def test_docstring_examples(module):
    result = run_doctests(module)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module}"
