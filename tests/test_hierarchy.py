"""Hierarchical certification: the trees, reduction to SEGCERTIFY, a one-at-a-time reference,
validity by simulation, the n0-chosen level, CIG/cCIG, errors."""
import numpy as np
import pytest

import mtest
from mtest import ABSTAIN, CITYSCAPES_HIERARCHY, DEMO_IMAGE_HIERARCHY, Hierarchy
from conftest import FULL

REPS = 8_000 if FULL else 1_000


def test_shipped_trees():
    h = CITYSCAPES_HIERARCHY
    assert h.n_leaves == 19 and h.names[h.root] == "everything"
    assert [h.names[v] for v in h.chain(h.names.index("car"))] == ["car", "vehicle", "dynamic obstacle",
                                                                    "everything"]
    assert [h.names[v] for v in h.chain(0)] == ["road", "flat", "everything"]
    assert h.membership[:, :].sum(axis=0).min() >= 2     # every leaf lies under itself and the root
    assert h.leaf_count(h.root) == 19
    d = DEMO_IMAGE_HIERARCHY
    assert d.names[:5] == ("background", "disk", "square", "triangle", "ring") and d.n_leaves == 5
    demo = pytest.importorskip("mtest.adapters.demo")
    assert d.names[:5] == tuple(demo.IMAGE_CLASSES)     # leaf order = the model's class order


@pytest.mark.parametrize("groups, match", [
    ({"g": ["a"], "h": ["b"]}, "exactly one root"),
    ({"g": ["a", "zz"], "r": ["g", "b"]}, "neither a leaf nor a group"),
    ({"g": ["a", "b"], "r": ["g", "a"]}, "two parents"),
    ({"g": [], "r": ["a", "b"]}, "no children"),
    ({"a": ["b"]}, "differ from leaf names"),
])
def test_bad_trees(groups, match):
    with pytest.raises(ValueError, match=match):
        Hierarchy.from_groups(["a", "b"], groups)


def _flat(C):
    return Hierarchy.from_groups([f"c{i}" for i in range(C)], {"root": [f"c{i}" for i in range(C)]})


@pytest.mark.parametrize("method", ["holm", "bonferroni"])
def test_flat_hierarchy_is_segcertify(method):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([8, 1, 1, 1], size=(15, 12))
    counts0 = np.stack([rng.multinomial(10, p) for p in probs.reshape(-1, 4)]).reshape(15, 12, 4)
    counts = np.stack([rng.multinomial(100, p) for p in probs.reshape(-1, 4)]).reshape(15, 12, 4)
    res = mtest.hierarchical_segcertify(counts0, counts, _flat(4), tau=0.75, alpha=0.01, method=method)
    ref = mtest.segcertify_counts(counts0, counts, tau=0.75, alpha=0.01, method=method)
    np.testing.assert_array_equal(res.node, ref.labels)
    assert res.node.shape == (15, 12)


def _reference(counts0, counts, h, tau, alpha):
    """One hypothesis (component, node) at a time, coarse to fine, Holm over components."""
    guess = counts0.argmax(axis=1)
    chains = [h.chain(g)[:-1] for g in guess]
    n = counts.sum(axis=1)[0]
    member = h.membership
    pv = [[mtest.binom_pvalue(counts[i][member[v]].sum(), n, tau, "greater") for v in reversed(ch)]
          for i, ch in enumerate(chains)]
    done = [0] * len(pv)            # number of rejected nodes, coarsest first
    while True:
        active = sum(d < len(p) for d, p in zip(done, pv))
        for i, p in enumerate(pv):
            if done[i] < len(p) and active * p[done[i]] <= alpha:
                done[i] += 1
                break
        else:
            break
    return np.array([list(reversed(ch))[d - 1] if d else ABSTAIN for ch, d in zip(chains, done)])


def test_nested_equals_one_at_a_time_reference():
    rng = np.random.default_rng(1)
    h = DEMO_IMAGE_HIERARCHY
    for _ in range(30):
        N = int(rng.integers(1, 30))
        probs = rng.dirichlet(rng.choice([0.3, 1.0, 5.0], 5), size=N)
        counts0 = np.stack([rng.multinomial(10, p) for p in probs])
        counts = np.stack([rng.multinomial(60, p) for p in probs])
        alpha = float(rng.choice([0.01, 0.2]))
        res = mtest.hierarchical_segcertify(counts0, counts, h, tau=0.7, alpha=alpha)
        np.testing.assert_array_equal(res.node, _reference(counts0, counts, h, 0.7, alpha))


def test_n0_level_choice():
    h = DEMO_IMAGE_HIERARCHY
    counts0 = np.array([[0, 6, 0, 0, 4], [0, 8, 0, 0, 2], [0, 3, 3, 2, 2]])
    counts = np.array([[0, 55, 0, 0, 45], [0, 100, 0, 0, 0], [0, 30, 30, 20, 20]])
    res = mtest.hierarchical_segcertify(counts0, counts, h, tau=0.75, alpha=0.01, levels="n0")
    # n0 fractions: disk 0.6 -> round (1.0); disk 0.8 -> the leaf; mixed -> shape
    assert [h.names[v] for v in res.node] == ["round", "disk", "shape"]
    res2 = mtest.hierarchical_segcertify(counts0, counts, h, tau=0.75, alpha=0.01, levels="n0", select=0.5)
    assert h.names[res2.node[0]] == "disk" or res2.node[0] == ABSTAIN   # chosen leaf: 55/100 fails
    assert res2.node[0] == ABSTAIN


@pytest.mark.slow
@pytest.mark.parametrize("levels", ["nested", "n0"])
def test_certified_nodes_hold_together(levels):
    # per component, the node probabilities sit exactly at tau on some level (the worst case)
    h = DEMO_IMAGE_HIERARCHY
    tau, alpha, n = 0.6, 0.1, 400
    probs = np.array([[0, 0.6, 0, 0, 0.4], [0, 0.3, 0, 0, 0.3], [0.4, 0.15, 0.15, 0.15, 0.15],
                      [0.6, 0.1, 0.1, 0.1, 0.1], [0.1, 0.3, 0.3, 0, 0.3], [0, 0, 0.6, 0.4, 0]])
    probs = probs / probs.sum(axis=1, keepdims=True)
    member = h.membership
    rng = np.random.default_rng(3)
    bad = 0
    for _ in range(REPS):
        counts0 = np.stack([rng.multinomial(10, p) for p in probs])
        counts = np.stack([rng.multinomial(n, p) for p in probs])
        res = mtest.hierarchical_segcertify(counts0, counts, h, tau=tau, alpha=alpha, levels=levels)
        cert = res.node != ABSTAIN
        mass = np.array([probs[i][member[v]].sum() if c else 1.0 for i, (v, c) in enumerate(zip(res.node, cert))])
        bad += np.any(mass <= tau + 1e-12)
    assert bad / REPS <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / REPS)


def test_cig_flat_is_certified_accuracy_and_hand_values():
    rng = np.random.default_rng(2)
    flat = _flat(4)
    node = rng.integers(-1, 4, 200)
    target = rng.integers(0, 4, 200)
    r = mtest.certified_information_gain(node, target, flat)
    assert r.cig == pytest.approx(np.mean(node == target))
    assert r.abstain_rate == pytest.approx(np.mean(node == -1))
    h = DEMO_IMAGE_HIERARCHY
    shape, root = h.names.index("shape"), h.root
    r = mtest.certified_information_gain([shape, root, 3, -1, 2], [1, 0, 3, 0, 255], h, ignore_index=255)
    expected = (np.log(5) - np.log(4) + 0 + np.log(5) + 0) / (4 * np.log(5))
    assert r.cig == pytest.approx(expected)
    per = {1: (np.log(5) - np.log(4)) / np.log(5), 0: 0.0, 3: 1.0}
    assert r.ccig == pytest.approx(np.mean(list(per.values())))
    assert np.isnan(r.per_class[2]) and np.isnan(r.per_class[4])


@pytest.mark.parametrize("call, match", [
    (lambda h: mtest.certified_information_gain([0, 1], [0], h), "same shape"),
    (lambda h: mtest.certified_information_gain([0], [7], h), "target must hold leaf classes"),
    (lambda h: mtest.certified_information_gain([99], [0], h), "node must hold node indices"),
    (lambda h: mtest.certified_information_gain([0], [255], h, ignore_index=255), "every component is ignored"),
    (lambda h: mtest.hierarchical_segcertify([[1, 0, 0, 0, 0]], [[5, 0, 0, 0, 0]], h, tau=0.75, alpha=0.01,
                                             method="fdr_bh"), "FWER or k-FWER control under arbitrary dependence"),
    (lambda h: mtest.hierarchical_segcertify([[1, 0, 0]], [[5, 0, 0]], h, tau=0.75, alpha=0.01),
     "3 classes but the hierarchy has 5 leaves"),
    (lambda h: mtest.hierarchical_segcertify([[1, 0, 0, 0, 0]], [[5, 0, 0, 0, 0]], h, tau=0.75, alpha=0.01,
                                             levels="all"), "levels \\('all'\\) not recognized"),
    (lambda h: mtest.hierarchical_segcertify([[1, 0, 0, 0, 0]], [[5, 0, 0, 0, 0]], h, tau=0.75, alpha=0.01,
                                             select=0.5), "select applies only"),
    (lambda h: mtest.hierarchical_segcertify([[1, 0, 0, 0, 0], [1, 0, 0, 0, 0]], [[5, 0, 0, 0, 0],
                                             [4, 0, 0, 0, 0]], h, tau=0.75, alpha=0.01), "same n >= 1"),
    (lambda h: mtest.hierarchical_segcertify([[1, 0, 0, 0, 0]], [[5, 0, 0, 0, 0]], "tree", tau=0.75,
                                             alpha=0.01), "hierarchy must be a mtest.Hierarchy"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(DEMO_IMAGE_HIERARCHY)


def test_inputs_not_mutated():
    counts0 = np.array([[0, 6, 0, 0, 4]])
    counts = np.array([[0, 55, 0, 0, 45]])
    mtest.hierarchical_segcertify(counts0, counts, DEMO_IMAGE_HIERARCHY, tau=0.75, alpha=0.01)
    np.testing.assert_array_equal(counts, [[0, 55, 0, 0, 45]])
    np.testing.assert_array_equal(counts0, [[0, 6, 0, 0, 4]])
