"""hypothesis strategies for multiple-testing inputs (needs the ``hypothesis`` package).

Arrays are built by numpy from a drawn seed and a few drawn shape parameters, so that sizes up
to 10^4 stay fast; hypothesis still explores sizes, tie structure, exact 0 and 1, dtype and NaN.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

__all__ = ["pvalue_arrays", "null_configurations", "count_maps"]


@st.composite
def pvalue_arrays(draw, min_size: int = 1, max_size: int = 10_000, dtypes=(np.float64, np.float32),
                  allow_nan: bool = False):
    """1-D p-value arrays with ties, exact 0 and 1, tiny values, and optionally NaN."""
    size = draw(st.integers(min_size, max_size))
    dtype = draw(st.sampled_from(list(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # a mixture: continuous uniform, log-uniform tiny values, a small pool (ties), exact 0/1
    weights = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))) + 1e-3
    weights /= weights.sum()
    kind = rng.choice(4, size=size, p=weights)
    p = rng.random(size)
    tiny = 10.0 ** rng.uniform(-12, 0, size)
    pool = rng.random(max(1, size // 8))
    p = np.where(kind == 1, tiny, p)
    p = np.where(kind == 2, pool[rng.integers(0, pool.size, size)], p)
    p = np.where(kind == 3, rng.integers(0, 2, size).astype(float), p)
    if allow_nan and size and draw(st.booleans()):
        p[rng.random(size) < draw(st.floats(0.0, 0.5))] = np.nan
    return p.astype(dtype)


@st.composite
def null_configurations(draw, max_m: int = 200):
    """(m, is_null mask, effect): which hypotheses are true nulls and the size of the effects."""
    m = draw(st.integers(1, max_m))
    seed = draw(st.integers(0, 2**32 - 1))
    frac = draw(st.floats(0.0, 1.0))
    is_null = np.random.default_rng(seed).random(m) < frac
    effect = draw(st.floats(0.5, 6.0))
    return m, is_null, effect


@st.composite
def count_maps(draw, max_components: int = 500, max_classes: int = 5, max_n: int = 1000):
    """A SEGCERTIFY input on counts: dict(guess, count, n, tau)."""
    size = draw(st.integers(1, max_components))
    n = draw(st.integers(1, max_n))
    tau = draw(st.floats(0.5, 0.99))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p_true = rng.beta(draw(st.floats(0.5, 20.0)), draw(st.floats(0.5, 5.0)), size)
    count = rng.binomial(n, p_true)
    guess = rng.integers(0, draw(st.integers(1, max_classes)), size)
    return {"guess": guess, "count": count, "n": n, "tau": tau}
