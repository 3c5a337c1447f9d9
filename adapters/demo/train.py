"""Train the demo models on generated data (CPU, about a minute each) and save the shipped weights.

    python -m mtest.adapters.demo.train --task images        # images_clean.pt, images_sigma025.pt
    python -m mtest.adapters.demo.train --task pointclouds   # pointclouds.pt

The image base model is trained with Gaussian noise augmentation sigma = 0.25, like the paper's base
models (Cohen et al. 2019); the clean one without noise is the "non-robust model" of the tables.
The point-cloud model sees random rotations about z and Gaussian jitter.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import IMAGE_CLASSES, POINT_CLASSES, make_images, make_point_clouds
from .models import HERE, WEIGHTS, ImageFCN, PointNetSeg

TRAIN_SEED, TEST_SEED = 1234, 999  # the demo evaluates on TEST_SEED scenes, never seen in training


def _fit(make_model, x, y, *, epochs, batch, lr, augment, seed, log):
    """Build the model (its random init seeded by ``seed``) and train it; the caller's global RNG
    state is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _fit_seeded(make_model(), x, y, epochs=epochs, batch=batch, lr=lr, augment=augment, seed=seed, log=log)


def _fit_seeded(model, x, y, *, epochs, batch, lr, augment, seed, log):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        total = 0.0
        for start in range(0, x.shape[0], batch):
            idx = perm[start:start + batch]
            xb = augment(x[idx], gen)
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        sched.step()
        log(f"epoch {epoch + 1}/{epochs}: loss {total / x.shape[0]:.4f}")
    return model.eval()


def _accuracy(model, x, y):
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def train_images(out: Path, epochs: int = 12, count: int = 1200, log=print):
    x, y = (torch.from_numpy(a) for a in make_images(count, seed=TRAIN_SEED))
    xt, yt = (torch.from_numpy(a) for a in make_images(64, seed=TEST_SEED))
    for name, sigma in (("images-clean", 0.0), ("images-sigma0.25", 0.25)):
        t0 = time.perf_counter()

        def augment(xb, gen, sigma=sigma):
            return xb + sigma * torch.randn(xb.shape, generator=gen) if sigma else xb

        model = _fit(lambda: ImageFCN(classes=len(IMAGE_CLASSES)), x, y, epochs=epochs, batch=32, lr=3e-3,
                     augment=augment, seed=0, log=log)
        torch.save(model.state_dict(), out / WEIGHTS[name][0])
        noisy = xt + 0.25 * torch.randn(xt.shape, generator=torch.Generator().manual_seed(1))
        log(f"{name}: clean test accuracy {_accuracy(model, xt, yt):.3f}, under sigma=0.25 noise "
            f"{_accuracy(model, noisy, yt):.3f} ({time.perf_counter() - t0:.0f} s)")


def train_pointclouds(out: Path, epochs: int = 30, count: int = 1500, sigma: float = 0.05, log=print):
    x, y = (torch.from_numpy(a) for a in make_point_clouds(count, seed=TRAIN_SEED))
    xt, yt = (torch.from_numpy(a) for a in make_point_clouds(60, seed=TEST_SEED))
    t0 = time.perf_counter()

    def augment(xb, gen):
        angle = torch.rand(xb.shape[0], generator=gen) * 2 * np.pi
        c, s = torch.cos(angle), torch.sin(angle)
        rot = torch.zeros(xb.shape[0], 3, 3)
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, -s, s, c, 1
        return xb @ rot.transpose(1, 2) + sigma * torch.randn(xb.shape, generator=gen)

    model = _fit(lambda: PointNetSeg(classes=len(POINT_CLASSES)), x, y, epochs=epochs, batch=32, lr=2e-3,
                 augment=augment, seed=0, log=log)
    torch.save(model.state_dict(), out / WEIGHTS["pointclouds"][0])
    log(f"pointclouds: test accuracy {_accuracy(model, xt, yt):.3f} ({time.perf_counter() - t0:.0f} s)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["images", "pointclouds", "all"], default="all")
    ap.add_argument("--out", default=str(HERE), help="folder for the weights (default: the package)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.task in ("images", "all"):
        train_images(out)
    if args.task in ("pointclouds", "all"):
        train_pointclouds(out)


if __name__ == "__main__":
    main()
