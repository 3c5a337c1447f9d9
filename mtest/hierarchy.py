"""Hierarchical certification: fall back to a coarser class instead of abstaining.

AdaptiveCertify (Anani et al., ICML 2024) certifies a fluctuating component at a coarser node of
a class hierarchy (car -> vehicle -> dynamic obstacle) and scores the answer by its certified
information gain (CIG). This module gives

* ``Hierarchy`` — a tree over the model's classes (leaves = class indices), with the
  Cityscapes-19 tree (``CITYSCAPES_HIERARCHY``) and one for the shipped demo image model
  (``DEMO_IMAGE_HIERARCHY``);
* ``hierarchical_segcertify`` — per component, the finest node on the chain from its guessed
  leaf up to the root whose probability is certified above tau. ``levels='nested'`` tests every
  node of the chain and pays nothing extra for it (the nulls are nested; proof in
  docs/theory.md); ``levels='n0'`` picks one node per component from the n0 guessing samples and
  tests only that (AdaptiveCertify's scheme, with Holm instead of Bonferroni);
* ``certified_information_gain`` — CIG and class-averaged cCIG as AdaptiveCertify defines them.

References
----------
1. Anani, Lorenz, Schiele, Fritz. Adaptive hierarchical certification for segmentation using
   randomized smoothing. ICML 2024.
2. Fischer, Baader, Vechev. Scalable certified segmentation via randomized smoothing. ICML 2021.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._validation import ReadOnlyArrays, freeze

from . import _repr
from .binomial import pvalue_table as _binom_table
from .certify import ABSTAIN, apply_radius, radius_function
from .radius_map import familywise_method, nested_step_down
from .multitest import check_k_within
from .registry import Guarantee
from ._validation import as_int_array, check_alpha, check_choice, check_probability

__all__ = ["Hierarchy", "HierarchyCertifyResult", "CIGResult", "hierarchical_segcertify",
           "certified_information_gain", "CITYSCAPES_HIERARCHY", "DEMO_IMAGE_HIERARCHY"]


@dataclass(frozen=True)
class Hierarchy(ReadOnlyArrays):
    """A class tree: nodes ``0 .. n_leaves - 1`` are the model's classes, the rest are groups.

    Build it with ``from_groups``. ``parent[v]`` is the parent node of v (-1 for the root).

    Parameters
    ----------
    names : tuple of str
        Node names: the ``n_leaves`` classes first, then the groups.
    parent : tuple of int
        Parent node of each node (-1 for the root).
    n_leaves : int
        The model's class count.

    Attributes
    ----------
    names, parent, n_leaves
        As given.

    Examples
    --------
    >>> from mtest import Hierarchy
    >>> h = Hierarchy.from_groups(["car", "bus", "road"], {"vehicle": ["car", "bus"],
    ...                                                    "all": ["vehicle", "road"]})
    >>> h.names[h.chain(0)[1]], h.leaf_count(h.names.index("vehicle"))
    ('vehicle', 2)
    """

    names: tuple
    parent: tuple
    n_leaves: int

    @classmethod
    def from_groups(cls, leaves, groups: dict) -> "Hierarchy":
        """``leaves``: class names in the model's class order; ``groups``: node name -> its
        children (leaf or group names). Exactly one node must be left without a parent (the root).
        """
        leaves = tuple(leaves)
        if len(leaves) == 0 or len(set(leaves)) != len(leaves):
            raise ValueError(f"leaves must be distinct names, at least one; got {leaves!r}")
        names = leaves + tuple(g for g in groups if g not in leaves)
        if len(names) != len(leaves) + len(groups):
            raise ValueError(f"group names must differ from leaf names; got {sorted(set(groups) & set(leaves))!r}")
        index = {name: i for i, name in enumerate(names)}
        parent = [-1] * len(names)
        for group, children in groups.items():
            if len(children) == 0:
                raise ValueError(f"group {group!r} has no children")
            for child in children:
                if child not in index:
                    raise ValueError(f"group {group!r} lists {child!r}, which is neither a leaf nor a group")
                if parent[index[child]] != -1:
                    raise ValueError(f"{child!r} has two parents ({names[parent[index[child]]]!r} and {group!r})")
                parent[index[child]] = index[group]
        roots = [names[i] for i, p in enumerate(parent) if p == -1]
        if len(roots) != 1:
            raise ValueError(f"the hierarchy must have exactly one root; nodes without a parent: {roots!r}")
        h = cls(names=names, parent=tuple(parent), n_leaves=len(leaves))
        for leaf in range(h.n_leaves):
            h.chain(leaf)  # raises on cycles
        return h

    @property
    def root(self) -> int:
        return self.parent.index(-1)

    def chain(self, leaf: int) -> list:
        """Nodes from ``leaf`` up to the root, both included."""
        out, node = [leaf], leaf
        while self.parent[node] != -1:
            node = self.parent[node]
            if node in out or len(out) > len(self.names):
                raise ValueError(f"the hierarchy has a cycle through {self.names[node]!r}")
            out.append(node)
        return out

    @property
    def membership(self) -> np.ndarray:
        """(n_nodes, n_leaves) bool: ``membership[v, c]`` iff leaf c lies under node v."""
        m = np.zeros((len(self.names), self.n_leaves), dtype=bool)
        for leaf in range(self.n_leaves):
            m[self.chain(leaf), leaf] = True
        return freeze(m)  # read-only, as every array a public class exposes

    def leaf_count(self, node: int) -> int:
        """|leaves(node)| (1 for a leaf)."""
        return int(self.membership[node].sum())

    def chain_table(self) -> np.ndarray:
        """(n_leaves, L) node at chain position l of each leaf, root excluded; short chains repeat
        their last node (the same hypothesis again, which changes nothing)."""
        chains = [self.chain(leaf)[:-1] or [leaf] for leaf in range(self.n_leaves)]
        depth = max(len(c) for c in chains)
        return np.array([c + [c[-1]] * (depth - len(c)) for c in chains], dtype=np.intp)


CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                      "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
                      "bus", "train", "motorcycle", "bicycle")

#: Cityscapes' 19 training classes -> groups -> static / dynamic / flat -> everything. The groups
#: follow AdaptiveCertify's Cityscapes tree, except that road joins sidewalk and terrain under
#: "flat" (AdaptiveCertify hangs road from the root directly).
CITYSCAPES_HIERARCHY = Hierarchy.from_groups(CITYSCAPES_CLASSES, {
    "construction and vegetation": ["building", "wall", "fence", "pole", "vegetation", "sky"],
    "traffic signs": ["traffic light", "traffic sign"],
    "human": ["person", "rider"],
    "vehicle": ["car", "truck", "bus", "train", "motorcycle", "bicycle"],
    "static obstacle": ["construction and vegetation", "traffic signs"],
    "dynamic obstacle": ["human", "vehicle"],
    "flat": ["road", "sidewalk", "terrain"],
    "everything": ["static obstacle", "dynamic obstacle", "flat"],
})

#: the shipped demo image model's classes (background, disk, square, triangle, ring): round shapes,
#: polygons, any shape, everything
DEMO_IMAGE_HIERARCHY = Hierarchy.from_groups(("background", "disk", "square", "triangle", "ring"), {
    "round": ["disk", "ring"],
    "polygon": ["square", "triangle"],
    "shape": ["round", "polygon"],
    "everything": ["background", "shape"],
})


@dataclass(frozen=True, repr=False)
class HierarchyCertifyResult(ReadOnlyArrays):
    """Outcome of ``hierarchical_segcertify``.

    Attributes
    ----------
    node : ndarray of int
        Certified node per component (a leaf = the class itself), ``mtest.ABSTAIN`` elsewhere.
    level : ndarray of int
        Position of that node on the chain from the guessed leaf (0 = the leaf; -1 = abstain).
    guess : ndarray of int
        The guessed leaf (argmax of the n0 counts).
    radius : float
        R(tau): every certified node is robust within it.
    guarantee : Guarantee
        With probability >= 1 - alpha every certified node v has P(f(x + eps) in leaves(v)) > tau.
    tau, alpha, n : float, float, int
        Threshold, level and counting samples of the run.
    method : str
        The procedure's canonical name.
    levels : str
        ``'nested'`` or ``'n0'``: how the nodes of each chain were chosen and tested.
    hierarchy : Hierarchy
        The class tree.
    """

    node: np.ndarray
    level: np.ndarray
    guess: np.ndarray
    radius: float
    tau: float
    alpha: float
    n: int
    method: str
    levels: str
    hierarchy: Hierarchy
    guarantee: Guarantee

    @property
    def n_certified(self) -> int:
        return int(np.count_nonzero(self.node != ABSTAIN))

    @property
    def abstain_rate(self) -> float:
        return 1.0 - self.n_certified / self.node.size

    def __repr__(self):
        per_level = np.bincount(self.level[self.level >= 0].reshape(-1)) if self.n_certified else []
        return (f"HierarchyCertifyResult(levels={self.levels!r}, method={self.method!r}, n={self.n}, "
                f"tau={self.tau}, alpha={self.alpha}, components={self.node.size}, "
                f"n_certified={self.n_certified}, per_level={list(map(int, per_level))}, "
                f"guarantee='{self.guarantee}')")


def _iv_counts(counts0, counts, hierarchy):
    if not isinstance(hierarchy, Hierarchy):
        raise ValueError(f"hierarchy must be a mtest.Hierarchy; got {type(hierarchy).__name__}")
    counts0 = as_int_array("counts0", counts0)
    counts = as_int_array("counts", counts)
    if counts0.shape != counts.shape or counts.ndim < 1 or counts.size == 0:
        raise ValueError(f"counts0 and counts must have the same non-empty shape (..., C); got {counts0.shape} "
                         f"and {counts.shape}")
    if counts.shape[-1] != hierarchy.n_leaves:
        raise ValueError(f"counts have {counts.shape[-1]} classes but the hierarchy has {hierarchy.n_leaves} leaves")
    if min(counts0.min(), counts.min()) < 0:
        raise ValueError("counts0 and counts must be non-negative")
    totals = counts.sum(axis=-1)
    n = int(totals.reshape(-1)[0])
    if n < 1 or not np.all(totals == n):
        raise ValueError(f"counts must sum to the same n >= 1 for every component; got totals from "
                         f"{totals.min()} to {totals.max()}")
    return counts0.reshape(-1, hierarchy.n_leaves), counts.reshape(-1, hierarchy.n_leaves), n, counts.shape[:-1]


def hierarchical_segcertify(counts0, counts, hierarchy: Hierarchy, *, tau: float, alpha: float,
                            method: str = "holm", k: int = 1, levels: str = "nested",
                            select: float | None = None, sigma: float | None = None,
                            radius: Callable | None = None) -> HierarchyCertifyResult:
    """SEGCERTIFY with fallback to coarser classes of a hierarchy (AdaptiveCertify-style).

    The guess of component i is the leaf with the most n0 guessing samples; its chain
    v_0 = leaf, v_1, ... runs up to (not including) the root. For node v the null is
    H(i, v): P(f_i(x + eps) in leaves(v)) <= tau, tested with P(Bin(n, tau) >= count_i(v)), where
    count_i(v) sums the n counting samples' counts over the leaves of v.

    * ``levels='nested'``: test the whole chain. The nulls are nested (a finer node's probability
      is smaller), so a step-down over components — the multiplier is the number of components
      not yet certified at their leaf — certifies each at its finest rejected node with FWER
      <= alpha over all nodes at once (docs/theory.md).
    * ``levels='n0'``: AdaptiveCertify's scheme — pick one node per component from the n0 samples
      (the finest chain node holding at least a fraction ``select`` of them; default tau) and run
      the FWER procedure on those N tests.

    Parameters
    ----------
    counts0, counts : array_like of int, shape (..., C)
        Per-class counts of the n0 guessing and the n counting samples (C = hierarchy leaves).
    hierarchy : Hierarchy
    tau, alpha, method, k, sigma, radius
        As in ``mtest.segcertify``; only FWER/k-FWER procedures valid under arbitrary
        dependence ('holm', 'bonferroni').
    levels : {'nested', 'n0'}
    select : float, optional
        ``levels='n0'`` only: the n0 fraction a node needs to be chosen (default tau).

    Returns
    -------
    HierarchyCertifyResult
        The certified node per component, its level on the chain, the radius and the guarantee.

    References
    ----------
    .. [1] Anani, A., Lorenz, T., Schiele, B. and Fritz, M. (2024). Adaptive hierarchical
           certification for segmentation using randomized smoothing. ICML.
    .. [2] Fischer, M., Baader, M. and Vechev, M. (2021). Scalable certified segmentation via
           randomized smoothing. ICML. Algorithm 2.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> h = mtest.DEMO_IMAGE_HIERARCHY          # background, disk, square, triangle, ring
    >>> counts0 = np.array([[0, 6, 0, 0, 4], [10, 0, 0, 0, 0], [0, 3, 3, 2, 2]])
    >>> counts = np.array([[0, 55, 0, 0, 45], [100, 0, 0, 0, 0], [0, 30, 30, 20, 20]])
    >>> res = mtest.hierarchical_segcertify(counts0, counts, h, tau=0.75, alpha=0.01)
    >>> [h.names[v] if v >= 0 else "abstain" for v in res.node]
    ['round', 'background', 'shape']
    >>> res.level
    array([1, 0, 2])
    """
    tau = check_probability("tau", tau, low=0.5, high=1.0, high_open=True)
    alpha = check_alpha(alpha)
    name, g = familywise_method(method, k, alpha)
    levels = check_choice("levels", levels, ("nested", "n0"))
    if select is not None:
        if levels != "n0":
            raise ValueError("select applies only to levels='n0'")
        select = check_probability("select", select, low=0.0, high=1.0, low_open=True)
    fn = radius_function(sigma, radius)
    c0, c, n, shape = _iv_counts(counts0, counts, hierarchy)
    check_k_within(k, c0.shape[0], " (components)")
    member = hierarchy.membership.astype(np.int64)
    chains = hierarchy.chain_table()                       # (C, L)
    guess = c0.argmax(axis=1)
    chain = chains[guess]                                  # (N, L) nodes from the leaf upwards
    node_counts = c @ member.T                             # (N, n_nodes)
    chain_counts = np.take_along_axis(node_counts, chain, axis=1)
    table = _binom_table(n, tau, "greater")
    if levels == "nested":
        pv = table[chain_counts[:, ::-1]]                  # coarsest first: p-values grow along axis 1
        top = nested_step_down(np.maximum.accumulate(pv, axis=1), alpha, name, k)
        L = chain.shape[1]
        level = np.where(top >= 0, L - 1 - top, -1)
    else:
        n0 = int(c0.sum(axis=1).max())
        frac = np.take_along_axis(c0 @ member.T, chain, axis=1) / max(n0, 1)
        chosen = np.argmax(frac >= (tau if select is None else select), axis=1)
        chosen = np.where((frac >= (tau if select is None else select)).any(axis=1), chosen, chain.shape[1] - 1)
        pv = table[np.take_along_axis(chain_counts, chosen[:, None], axis=1)]
        rej = nested_step_down(pv, alpha, name, k) >= 0
        level = np.where(rej, chosen, -1)
    node = np.where(level >= 0, np.take_along_axis(chain, np.maximum(level, 0)[:, None], axis=1)[:, 0], ABSTAIN)
    return HierarchyCertifyResult(
        node=node.reshape(shape), level=level.reshape(shape), guess=guess.reshape(shape),
        radius=float(apply_radius(fn, tau)), tau=tau, alpha=alpha, n=n, method=name, levels=levels,
        hierarchy=hierarchy, guarantee=g)


@dataclass(frozen=True)
class CIGResult(ReadOnlyArrays):
    """Certified information gain: ``cig`` (pixel average), ``ccig`` (class average over the
    classes present), ``per_class`` (NaN for absent classes), ``certified_rate`` (certified and
    correct, over non-ignored components) and ``abstain_rate``.

    Attributes
    ----------
    cig : float
        Certified information gain (pixel average).
    ccig : float
        Class-average CIG over the classes present.
    per_class : ndarray of float
        The ratio per true class (NaN for absent classes).
    certified_rate : float
        Certified and correct, over non-ignored components.
    abstain_rate : float
        Abstained, over non-ignored components.
    """

    cig: float
    ccig: float
    per_class: np.ndarray
    certified_rate: float
    abstain_rate: float

    def __repr__(self) -> str:
        return (f"CIGResult(cig={self.cig:.4g}, ccig={self.ccig:.4g}, classes={np.size(self.per_class)}, "
                f"certified_rate={self.certified_rate:.4f}, abstain_rate={self.abstain_rate:.4f})")


def certified_information_gain(node, target, hierarchy: Hierarchy, *, ignore_index: int | None = None) -> CIGResult:
    """CIG and cCIG of certified nodes against ground-truth leaves (Anani et al., ICML 2024).

    A component certified at node v whose true leaf lies under v scores
    log|Y_leaf| - log|leaves(v)| (log|Y_leaf| for a correct leaf); abstentions and wrong nodes
    score 0. CIG = total / (#non-ignored components * log|Y_leaf|); cCIG averages the same ratio
    computed per true class over the classes present. With a flat hierarchy CIG is the certified
    accuracy.

    Parameters
    ----------
    node : array_like of int
        Certified node per component (``ABSTAIN`` where abstained), e.g.
        ``hierarchical_segcertify(...).node``.
    target : array_like of int
        True leaf class per component, the same shape.
    hierarchy : Hierarchy
        The class tree.
    ignore_index : int, optional
        Target value of components that are not scored.

    Returns
    -------
    CIGResult
        CIG, cCIG, the per-class ratios and the certified and abstain rates.

    References
    ----------
    .. [1] Anani, A., Lorenz, T., Schiele, B. and Fritz, M. (2024). Adaptive hierarchical
           certification for segmentation using randomized smoothing. ICML.

    Examples
    --------
    >>> import numpy as np, mtest
    >>> h = mtest.DEMO_IMAGE_HIERARCHY
    >>> node = np.array([1, h.names.index("round"), -1, 2])
    >>> r = mtest.certified_information_gain(node, np.array([1, 4, 4, 0]), h)
    >>> round(r.cig, 4), round(r.ccig, 4)
    (0.3923, 0.4282)
    """
    if not isinstance(hierarchy, Hierarchy):
        raise ValueError(f"hierarchy must be a mtest.Hierarchy; got {type(hierarchy).__name__}")
    node = as_int_array("node", node)
    target = as_int_array("target", target)
    if node.shape != target.shape:
        raise ValueError(f"node and target must have the same shape; got {node.shape} and {target.shape}")
    node, target = node.reshape(-1), target.reshape(-1)
    keep = np.ones(target.size, dtype=bool) if ignore_index is None else target != ignore_index
    C = hierarchy.n_leaves
    if keep.any() and (target[keep].min() < 0 or target[keep].max() >= C):
        raise ValueError(f"target must hold leaf classes in [0, {C}) (or ignore_index); got "
                         f"{target[keep].min()}..{target[keep].max()}")
    if node.size and (node.min() < ABSTAIN or node.max() >= len(hierarchy.names)):
        raise ValueError(f"node must hold node indices in [0, {len(hierarchy.names)}) or ABSTAIN (-1)")
    if C < 2:
        raise ValueError("CIG needs a hierarchy with at least two leaves")
    member = hierarchy.membership
    sizes = member.sum(axis=1)
    certified = node != ABSTAIN
    safe_node = np.where(certified, node, 0)
    safe_target = np.where(keep, target, 0)
    correct = certified & keep & member[safe_node, safe_target]
    log_c = np.log(C)
    score = np.where(correct, log_c - np.log(sizes[safe_node]), 0.0)
    total = int(keep.sum())
    if total == 0:
        raise ValueError("every component is ignored; nothing to score")
    cig = float(score[keep].sum() / (total * log_c))
    per_class = np.full(C, np.nan)
    for cls in np.unique(target[keep]):
        here = keep & (target == cls)
        per_class[cls] = score[here].sum() / (here.sum() * log_c)
    return CIGResult(cig=cig, ccig=float(np.nanmean(per_class)), per_class=per_class,
                     certified_rate=float(correct.sum() / total),
                     abstain_rate=float((~certified & keep).sum() / total))
