"""Wrappers that turn segmentation models into what ``SegmentationSmoother`` expects, and the
paper's inference protocol (multi-scale + flip, certification at full resolution).

A wrapper maps a batch of (noisy) inputs ``(B, 3, H, W)`` in the scale the noise is added in
(e.g. pixels in [0, 1]) to per-pixel logits ``(B, C, H, W)`` at the input's resolution:

* ``PlainModel`` — a module that returns a logits tensor;
* ``DictOutput`` — torchvision-style models that return ``{"out": logits, ...}``;
* ``HFSegmentation`` — Hugging Face ``*ForSemanticSegmentation`` models (``pixel_values=``
  in, ``.logits`` out at ¼ resolution for SegFormer).

All three share ``SegmentationModel``: optional per-channel normalization *inside* the
model (so noise is added on the pixel scale and the certified radius is in pixel units), and
bilinear resizing (``align_corners=False``, as transformers' ``post_process_semantic_segmentation``
does) of logits that come out smaller than the input, before any argmax.

``MultiScale`` runs a wrapped model on rescaled (and flipped) copies of **one** noisy input
and averages the probabilities at full resolution; ``Denoised`` puts a denoiser in front of
a model (denoised smoothing, Salman et al. 2020). Both are ordinary modules, so the smoother adds
the noise once, to the full-resolution input, before any of them runs.
"""
from __future__ import annotations

import json
import numbers
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from mtest._validation import check_choice

__all__ = ["SegmentationModel", "PlainModel", "DictOutput", "HFSegmentation", "MultiScale", "Denoised",
           "PAPER_SCALES", "segformer_config", "random_segformer"]

#: the paper's multi-scale setting for Cityscapes (Table 1: "0.5, 0.75, 1.0, 1.25, 1.5, 1.75 as
#: well as their flipped variants"; Pascal Context adds 2.0)
PAPER_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)

#: ImageNet statistics, the normalization of most pretrained segmentation models (SegFormer, HRNet)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _channel_stats(name, value):
    if value is None:
        return None
    try:
        stats = torch.as_tensor([float(v) for v in value], dtype=torch.float32)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None or a sequence of per-channel numbers; got {value!r}") from None
    if stats.numel() == 0 or not torch.isfinite(stats).all():
        raise ValueError(f"{name} must hold finite per-channel numbers; got {value!r}")
    return stats


class SegmentationModel(nn.Module):
    """Base wrapper: normalize, call the model, take its logits, resize them to the input.

    Subclasses override ``call`` (how the model is invoked) and ``logits`` (where the
    logits are in its output); everything else is shared.

    Parameters
    ----------
    model : torch.nn.Module
        The segmentation network.
    mean, std : sequence of float, optional
        Per-channel normalization ``(x - mean) / std`` applied inside the wrapper, so that noise
        is added before it, on the scale of ``x`` (the paper's code adds noise to the image, then
        normalizes). Give both or neither.
    resize : bool
        Resize logits whose spatial size differs from the input's to the input's size (bilinear,
        ``align_corners=False``). When False such an output is refused.

    Returns
    -------
    torch.Tensor
        Calling the wrapper on ``(B, C_in, H, W)`` returns logits ``(B, C, H, W)``.
    """

    def __init__(self, model: nn.Module, *, mean=None, std=None, resize: bool = True):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        mean, std = _channel_stats("mean", mean), _channel_stats("std", std)
        if (mean is None) != (std is None):
            raise ValueError(f"give both mean and std or neither; got mean={mean!r}, std={std!r}")
        if std is not None and (std.numel() != mean.numel() or (std <= 0).any()):
            raise ValueError(f"std must be positive and as long as mean; got mean={mean.tolist()}, "
                             f"std={std.tolist()}")
        self.model = model
        self.resize = bool(resize)
        if mean is not None:
            self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)
        else:
            self.mean = self.std = None

    def extra_repr(self) -> str:
        norm = "" if self.mean is None else f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}, "
        return f"{norm}resize={self.resize}"

    def call(self, x: torch.Tensor):
        """Invoke the wrapped model on a normalized batch (override for other signatures)."""
        return self.model(x)

    def logits(self, output) -> torch.Tensor:
        """The logits tensor in the model's output (override for dicts and output objects)."""
        return output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            if x.ndim != 4 or x.shape[1] != self.mean.shape[1]:
                raise ValueError(f"mean/std have {self.mean.shape[1]} channels but the input has shape "
                                 f"{tuple(x.shape)}")
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = self.logits(self.call(x))
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"{type(self).__name__}: the logits must be a tensor; got {type(out).__name__}")
        if x.ndim == 4 and out.ndim == 4 and out.shape[-2:] != x.shape[-2:]:
            if not self.resize:
                raise ValueError(f"the model's logits are {tuple(out.shape[-2:])} for an input of "
                                 f"{tuple(x.shape[-2:])}; pass resize=True to upsample them")
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out


class PlainModel(SegmentationModel):
    """A module that returns a logits tensor (see ``SegmentationModel`` for the parameters).

    Parameters
    ----------
    model : torch.nn.Module
        Returns a logits tensor (B, C, h, w).
    mean, std : sequence of float, optional
        Per-channel normalization inside the wrapper (after the noise); both or neither.
    resize : bool
        Resize logits to the input's spatial size (bilinear); False refuses a size mismatch.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import PlainModel
    >>> down = torch.nn.Conv2d(3, 4, 2, stride=2)            # logits at half resolution
    >>> PlainModel(down)(torch.zeros(1, 3, 8, 8)).shape      # resized to the input
    torch.Size([1, 4, 8, 8])
    """


class DictOutput(SegmentationModel):
    """torchvision-style models that return a dict of tensors, e.g. ``{"out": ..., "aux": ...}``.

    Parameters
    ----------
    model : torch.nn.Module
    key : str
        The entry that holds the logits (torchvision: ``"out"``).
    **kwargs
        ``mean``, ``std``, ``resize`` as for ``SegmentationModel``.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import DictOutput
    >>> class Net(torch.nn.Module):
    ...     def forward(self, x):
    ...         return {"out": x[:, :2], "aux": x}
    >>> DictOutput(Net())(torch.zeros(1, 3, 4, 4)).shape
    torch.Size([1, 2, 4, 4])
    """

    def __init__(self, model: nn.Module, key: str = "out", **kwargs):
        super().__init__(model, **kwargs)
        if not isinstance(key, str):
            raise ValueError(f"key must be a string; got {key!r}")
        self.key = key

    def extra_repr(self) -> str:
        return f"key={self.key!r}, " + super().extra_repr()

    def logits(self, output) -> torch.Tensor:
        if not hasattr(output, "keys") or self.key not in output:
            keys = list(output.keys()) if hasattr(output, "keys") else type(output).__name__
            raise ValueError(f"the model's output has no entry {self.key!r}; it has {keys}")
        return output[self.key]


class HFSegmentation(SegmentationModel):
    """Hugging Face ``*ForSemanticSegmentation`` models (SegFormer, BEiT, DPT, UperNet, ...).

    The model is called with ``pixel_values=``; its ``.logits`` (SegFormer: at ¼ of the input
    size) are upsampled bilinearly (``align_corners=False``) to the input size before the argmax,
    exactly as transformers' ``post_process_semantic_segmentation`` does with ``target_sizes``.
    Pretrained SegFormers expect ImageNet-normalized pixels: pass ``mean=IMAGENET_MEAN,
    std=IMAGENET_STD`` and feed images in [0, 1], so that σ is in [0, 1] pixel units.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A ``*ForSemanticSegmentation`` model (its output has ``.logits``).
    mean, std : sequence of float, optional
        Per-channel normalization inside the wrapper (after the noise), e.g. ``IMAGENET_MEAN``
        and ``IMAGENET_STD``; both or neither.
    resize : bool
        Upsample the logits to the input's size (bilinear, ``align_corners=False``).

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import HFSegmentation, random_segformer
    >>> model = HFSegmentation(random_segformer("tiny", num_labels=3))
    >>> model(torch.zeros(1, 3, 32, 48)).shape
    torch.Size([1, 3, 32, 48])
    """

    def call(self, x: torch.Tensor):
        return self.model(pixel_values=x)

    def logits(self, output) -> torch.Tensor:
        logits = getattr(output, "logits", None)
        if logits is None:
            raise ValueError(f"the model's output {type(output).__name__} has no .logits; is it a "
                             f"*ForSemanticSegmentation model?")
        return logits


def _check_scales(scales):
    try:
        items = tuple(scales)
    except TypeError:
        raise ValueError(f"scales must be a sequence of positive numbers; got {scales!r}") from None
    if not items or any(isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0 < s < float("inf")
                        for s in items):
        raise ValueError(f"scales must be a non-empty sequence of positive numbers; got {scales!r}")
    return tuple(float(s) for s in items)


class MultiScale(nn.Module):
    """The paper's multi-scale + flip inference on one full-resolution (noisy) input.

    For every scale s the input ``(B, 3, H, W)`` is resized to ``(round(s H), round(s W))``
    (bilinear, ``align_corners=False``), the model's output is resized back to ``(H, W)``, turned
    into probabilities (softmax over classes) and averaged over scales and, with ``flip``, over
    the horizontally flipped copies (whose outputs are flipped back). Certification then happens
    on the full-resolution average (paper §6.2: "we always perform certification on the
    1024 × 2048-scale result").

    Used as the smoother's model, the noise is drawn **once** per sample at full resolution and
    every scale sees a resized copy of that same noisy input: the smoothed classifier is
    ``f(x + ε)`` with ``f`` the whole multi-scale pipeline, so the certificate is the usual one in
    full-resolution pixel space. (Adding noise after rescaling would smooth a different function
    with noise of the wrong size.) ``scales=(0.25,)`` gives the paper's single-scale rows
    (infer at ¼ size, upsample, certify at full resolution).

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(B, C, h, w)`` for an input ``(B, 3, h, w)`` (e.g. a
        ``SegmentationModel``); any output size is resized to ``(H, W)``.
    scales : sequence of float
        Default ``PAPER_SCALES`` (0.5 … 1.75, the paper's Cityscapes setting).
    flip : bool
        Also run the horizontally flipped copy of every scale (default True, as the paper).
    combine : {'softmax', 'logits'}
        Average probabilities (default; the paper's text) or raw logits.

    Returns
    -------
    torch.Tensor
        ``(B, C, H, W)`` averaged probabilities (or logits); their argmax is the prediction.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import MultiScale, PlainModel
    >>> ms = MultiScale(PlainModel(torch.nn.Conv2d(3, 4, 1)), scales=(0.5, 1.0), flip=True)
    >>> ms(torch.rand(2, 3, 16, 24)).shape
    torch.Size([2, 4, 16, 24])
    """

    def __init__(self, model: nn.Module, scales=PAPER_SCALES, flip: bool = True, combine: str = "softmax"):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        self.model = model
        self.scales = _check_scales(scales)
        self.flip = bool(flip)
        self.combine = check_choice("combine", combine, ("softmax", "logits"))

    def extra_repr(self) -> str:
        return f"scales={self.scales}, flip={self.flip}, combine={self.combine!r}"

    def _one(self, x: torch.Tensor, size) -> torch.Tensor:
        out = self.model(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != x.shape[0]:
            raise ValueError(f"MultiScale needs a model that returns logits (B, C, h, w); got "
                             f"{getattr(out, 'shape', type(out).__name__)}")
        if out.shape[-2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        out = out.float()
        return out.softmax(dim=1) if self.combine == "softmax" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"MultiScale expects images (B, C, H, W); got {tuple(x.shape)}")
        size = tuple(x.shape[-2:])
        total, terms = None, 0
        for s in self.scales:
            scaled_size = (max(1, round(s * size[0])), max(1, round(s * size[1])))
            xs = x if scaled_size == size else F.interpolate(x, size=scaled_size, mode="bilinear",
                                                              align_corners=False)
            views = [(xs, False), (xs.flip(-1), True)] if self.flip else [(xs, False)]
            for view, flipped in views:
                out = self._one(view, size)
                out = out.flip(-1) if flipped else out
                total = out if total is None else total + out
                terms += 1
        return total / terms


class Denoised(nn.Module):
    """Denoised smoothing: noisy input → ``denoiser`` → ``model`` (Salman et al. 2020).

    The smoothed classifier is ``model(denoiser(x + ε))``: the pair is one base classifier, so
    the certificate is unchanged; a good denoiser (a trained DnCNN, or a diffusion model as in
    Carlini et al. 2023) lets an off-the-shelf model, never trained on noise, be certified.

    Parameters
    ----------
    denoiser : torch.nn.Module or callable
        Maps a noisy batch to a batch of the same shape.
    model : torch.nn.Module
        The segmentation model that sees the denoised batch.

    Returns
    -------
    torch.Tensor
        Calling it returns ``model(denoiser(x))``.

    Examples
    --------
    >>> import torch
    >>> from mtest.adapters import Denoised
    >>> model = torch.nn.Conv2d(3, 2, 1)
    >>> blur = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    >>> Denoised(blur, model)(torch.rand(1, 3, 8, 8)).shape
    torch.Size([1, 2, 8, 8])
    """

    def __init__(self, denoiser, model: nn.Module):
        super().__init__()
        if not callable(denoiser):
            raise ValueError(f"denoiser must be callable (a module or a function); got {type(denoiser).__name__}")
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        self.denoiser = denoiser  # a Module is registered as a submodule (eval mode, device moves)
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clean = self.denoiser(x)
        if not isinstance(clean, torch.Tensor) or clean.shape != x.shape:
            raise ValueError(f"the denoiser must return a tensor shaped like its input {tuple(x.shape)}; got "
                             f"{getattr(clean, 'shape', type(clean).__name__)}")
        return self.model(clean)


#: SegFormer sizes (Xie et al. 2021, Table 6): encoder widths, depths, heads and decoder width;
#: "tiny" is for tests (one block per stage, a few channels)
_SEGFORMER = {
    "tiny": dict(hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 1, 1],
                 decoder_hidden_size=16),
    "b0": dict(hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2], num_attention_heads=[1, 2, 5, 8],
               decoder_hidden_size=256),
    "b1": dict(hidden_sizes=[64, 128, 320, 512], depths=[2, 2, 2, 2], num_attention_heads=[1, 2, 5, 8],
               decoder_hidden_size=256),
}


def segformer_config(config="tiny", num_labels: int = 19):
    """A ``transformers.SegformerConfig`` by name (``'tiny'``, ``'b0'``, ``'b1'``), from a dict, or
    from a JSON file (a saved ``config.json``).

    Parameters
    ----------
    config : str, dict or path
        A size name, keyword arguments of ``SegformerConfig``, or a JSON file of them.
    num_labels : int
        Classes (used unless the config sets ``num_labels``).

    Returns
    -------
    transformers.SegformerConfig

    Examples
    --------
    >>> from mtest.adapters import segformer_config
    >>> segformer_config("b0", num_labels=19).hidden_sizes
    [32, 64, 160, 256]
    """
    from transformers import SegformerConfig

    if isinstance(config, str) and config.lower() in _SEGFORMER:
        kwargs = dict(_SEGFORMER[config.lower()])
    elif isinstance(config, dict):
        kwargs = dict(config)
    elif isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise ValueError(f"config ({str(config)!r}) is neither a size ({', '.join(_SEGFORMER)}) nor a JSON file")
        kwargs = json.loads(path.read_text())
        if not isinstance(kwargs, dict):
            raise ValueError(f"config file {str(path)!r} must hold a JSON object")
    else:
        raise ValueError(f"config must be a size name ({', '.join(_SEGFORMER)}), a dict or a JSON file; got {config!r}")
    kwargs.setdefault("num_labels", num_labels)
    kwargs.pop("architectures", None)
    return SegformerConfig(**kwargs)


def random_segformer(config="tiny", num_labels: int = 19, seed: int = 0):
    """A ``SegformerForSemanticSegmentation`` with random weights (nothing is downloaded), in eval mode.

    The weights depend on ``seed`` only; the caller's global RNG is left as it was.

    Parameters
    ----------
    config : str, dict or path
        As for ``segformer_config``.
    num_labels : int
    seed : int

    Returns
    -------
    transformers.SegformerForSemanticSegmentation

    Examples
    --------
    >>> from mtest.adapters import random_segformer
    >>> random_segformer("tiny", num_labels=4).config.num_labels
    4
    """
    from transformers import SegformerForSemanticSegmentation

    cfg = segformer_config(config, num_labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = SegformerForSemanticSegmentation(cfg)
    return model.eval()
