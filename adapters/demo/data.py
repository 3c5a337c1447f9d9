"""Procedural data for the demo: no download, fully determined by a seed.

* Images: coloured shapes (disk, square, triangle, ring) on a textured background; the label of a
  pixel is the shape that covers it (0 = background). Colours overlap between classes a little, so
  the network has to use shape, not only colour.
* Point clouds: objects made of parts — a table (top + legs), a lamp (base + pole + shade) and a
  chair (seat + back + legs) — with per-point part labels, randomly sized and rotated about z.
"""
from __future__ import annotations

import numpy as np

__all__ = ["IMAGE_CLASSES", "POINT_CLASSES", "make_images", "make_point_clouds"]

IMAGE_CLASSES = ("background", "disk", "square", "triangle", "ring")
POINT_CLASSES = ("table top", "table leg", "lamp base", "lamp pole", "lamp shade",
                 "chair seat", "chair back", "chair leg")

_BASE_COLOURS = np.array([[0.85, 0.25, 0.2], [0.2, 0.45, 0.85], [0.9, 0.75, 0.2], [0.3, 0.75, 0.35]])


def _background(rng, size):
    # smooth texture: a few random low-frequency waves plus fine grain, grey-ish
    y, x = np.mgrid[0:size, 0:size] / size
    tex = np.zeros((size, size))
    for _ in range(4):
        fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * np.pi)
        tex += np.sin(2 * np.pi * (fx * x + fy * y) + ph)
    tex = 0.45 + 0.08 * tex / 4 + 0.04 * rng.standard_normal((size, size))
    tint = rng.uniform(-0.05, 0.05, 3)
    return np.clip(tex[..., None] + tint, 0, 1)


def _shape_mask(kind, rng, size):
    y, x = np.mgrid[0:size, 0:size].astype(float)
    cx, cy = rng.uniform(0.15 * size, 0.85 * size, 2)
    r = rng.uniform(0.1 * size, 0.24 * size)
    if kind == 1:  # disk
        return (x - cx) ** 2 + (y - cy) ** 2 <= r ** 2
    if kind == 2:  # square, randomly rotated
        a = rng.uniform(0, np.pi / 2)
        u = (x - cx) * np.cos(a) + (y - cy) * np.sin(a)
        v = -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
        return (np.abs(u) <= r * 0.85) & (np.abs(v) <= r * 0.85)
    if kind == 3:  # triangle (pointing up, random size)
        top = cy - r
        return (y >= top) & (y <= cy + r) & (np.abs(x - cx) <= (y - top) * 0.6)
    d2 = (x - cx) ** 2 + (y - cy) ** 2  # ring
    return (d2 <= r ** 2) & (d2 >= (0.55 * r) ** 2)


def make_images(count: int, size: int = 64, seed: int = 0):
    """``count`` scenes: images (count, 3, size, size) float32 in [0, 1], labels (count, size, size) int64.

    Examples
    --------
    >>> from mtest.adapters.demo import make_images
    >>> x, y = make_images(2, size=32, seed=1)
    >>> x.shape, y.shape, int(y.max()) <= 4
    ((2, 3, 32, 32), (2, 32, 32), True)
    """
    rng = np.random.default_rng(seed)
    images = np.empty((count, 3, size, size), np.float32)
    labels = np.zeros((count, size, size), np.int64)
    for i in range(count):
        img = _background(rng, size)
        lab = np.zeros((size, size), np.int64)
        for _ in range(rng.integers(2, 5)):
            kind = int(rng.integers(1, 5))
            mask = _shape_mask(kind, rng, size)
            colour = np.clip(_BASE_COLOURS[kind - 1] + rng.uniform(-0.12, 0.12, 3), 0, 1)
            shade = 1 + 0.06 * rng.standard_normal((size, size, 1))
            img = np.where(mask[..., None], np.clip(colour * shade, 0, 1), img)
            lab[mask] = kind
        images[i] = img.transpose(2, 0, 1)
        labels[i] = lab
    return images, labels


def _box(rng, n, lo, hi):
    return rng.uniform(lo, hi, (n, 3))


def _cylinder(rng, n, radius, z0, z1, cx=0.0, cy=0.0, hollow=False, radius_top=None):
    t = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(z0, z1, n)
    rt = radius if radius_top is None else radius_top
    rad = radius + (rt - radius) * (z - z0) / max(z1 - z0, 1e-9)
    rr = rad if hollow else rad * np.sqrt(rng.uniform(0, 1, n))
    return np.stack([cx + rr * np.cos(t), cy + rr * np.sin(t), z], axis=1)


def _split(rng, total, weights):
    w = np.asarray(weights, float)
    counts = np.floor(total * w / w.sum()).astype(int)
    counts[0] += total - counts.sum()
    return counts


def _table(rng, points):
    w, d, h, t = rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.9), rng.uniform(0.05, 0.09)
    n_top, n_legs = _split(rng, points, [0.55, 0.45])
    top = _box(rng, n_top, [-w / 2, -d / 2, h - t], [w / 2, d / 2, h])
    legs = []
    for k, (sx, sy) in enumerate([(-1, -1), (-1, 1), (1, -1), (1, 1)]):
        m = n_legs // 4 + (1 if k < n_legs % 4 else 0)
        legs.append(_cylinder(rng, m, 0.035, 0, h - t, sx * (w / 2 - 0.06), sy * (d / 2 - 0.06)))
    pts = np.vstack([top, *legs])
    lab = np.r_[np.full(n_top, 0), np.full(n_legs, 1)]
    return pts, lab


def _lamp(rng, points):
    h = rng.uniform(0.9, 1.4)
    n_base, n_pole, n_shade = _split(rng, points, [0.25, 0.25, 0.5])
    base = _cylinder(rng, n_base, rng.uniform(0.18, 0.28), 0, 0.05)
    pole = _cylinder(rng, n_pole, 0.025, 0.05, h)
    sr = rng.uniform(0.2, 0.35)
    shade = _cylinder(rng, n_shade, sr, h - 0.05, h + rng.uniform(0.2, 0.3), hollow=True, radius_top=sr * 0.55)
    return np.vstack([base, pole, shade]), np.r_[np.full(n_base, 2), np.full(n_pole, 3), np.full(n_shade, 4)]


def _chair(rng, points):
    w, h = rng.uniform(0.45, 0.6), rng.uniform(0.4, 0.5)
    back_h = rng.uniform(0.45, 0.7)
    n_seat, n_back, n_legs = _split(rng, points, [0.35, 0.35, 0.3])
    seat = _box(rng, n_seat, [-w / 2, -w / 2, h - 0.05], [w / 2, w / 2, h])
    back = _box(rng, n_back, [-w / 2, w / 2 - 0.05, h], [w / 2, w / 2, h + back_h])
    legs = []
    for k, (sx, sy) in enumerate([(-1, -1), (-1, 1), (1, -1), (1, 1)]):
        m = n_legs // 4 + (1 if k < n_legs % 4 else 0)
        legs.append(_cylinder(rng, m, 0.025, 0, h - 0.05, sx * (w / 2 - 0.04), sy * (w / 2 - 0.04)))
    return (np.vstack([seat, back, *legs]),
            np.r_[np.full(n_seat, 5), np.full(n_back, 6), np.full(n_legs, 7)])


def make_point_clouds(count: int, points: int = 512, seed: int = 0, rotate: bool = True):
    """``count`` objects: points (count, points, 3) float32 centred and scaled into the unit ball,
    part labels (count, points) int64. Objects cycle through table, lamp, chair.

    Examples
    --------
    >>> from mtest.adapters.demo import make_point_clouds
    >>> x, y = make_point_clouds(3, points=128, seed=1)
    >>> x.shape, y.shape, sorted(set(y[1].tolist()))
    ((3, 128, 3), (3, 128), [2, 3, 4])
    """
    rng = np.random.default_rng(seed)
    clouds = np.empty((count, points, 3), np.float32)
    labels = np.empty((count, points), np.int64)
    makers = (_table, _lamp, _chair)
    for i in range(count):
        pts, lab = makers[i % 3](rng, points)
        pts = pts - pts.mean(axis=0)
        pts /= np.linalg.norm(pts, axis=1).max()
        if rotate:
            a = rng.uniform(0, 2 * np.pi)
            c, s = np.cos(a), np.sin(a)
            pts = pts @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
        perm = rng.permutation(points)
        clouds[i], labels[i] = pts[perm], lab[perm]
    return clouds, labels
