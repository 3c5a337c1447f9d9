"""Regenerate tests/data/p_adjust_R_more.json: R's p.adjust on many family sizes, bit for bit.

Needs R (Debian: ``apt-get install r-base-core``); CI does not, it only reads the JSON.

    python tests/data/make_r_reference.py

The p-vectors are made here from a fixed seed (a mix of uniform values, many tiny values, exact
ties, exact 0 and 1, and values within a few ulps of 0, 1 and common thresholds), sent to
make_r_reference.R as C99 hex doubles, and R's outputs come back the same way, so nothing is
rounded on the way. Arrays are stored as base64 of little-endian float64 bytes (``decode``).
"""
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
OUT = HERE / "p_adjust_R_more.json"
SEED = 20240612
METHODS = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "none")
SIZES = tuple(range(1, 201)) + (256, 333, 500, 1000, 1024, 2000, 5000)


def encode(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def decode(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<f8").astype(np.float64)


def _component(rng, kind, size, pool):
    if kind == "uniform":
        return rng.random(size)
    if kind == "signal":  # small p-values of a typical study
        return rng.beta(0.1, 1.0, size)
    if kind == "tiny":  # 1e-3 .. 1e-300, plus a few subnormals
        v = 10.0 ** -rng.uniform(3, 300, size)
        sub = rng.random(size) < 0.1
        v[sub] = rng.integers(1, 2**20, int(sub.sum())) * 5e-324
        return v
    if kind == "ties":  # exact ties within the vector
        return rng.choice(pool, size)
    if kind == "zero":
        return np.zeros(size)
    if kind == "one":
        return np.ones(size)
    if kind == "near":  # a few ulps from 0, 1, and the usual thresholds
        centres = np.array([0.0, 1.0, 0.05, 0.01, 0.001, 0.5, 0.1, 1.0 / 3.0])
        c = rng.choice(centres, size)
        steps = rng.integers(-4, 5, size)
        v = c.copy()
        for i in range(size):
            for _ in range(abs(int(steps[i]))):
                v[i] = np.nextafter(v[i], np.inf if steps[i] > 0 else -np.inf)
        return np.clip(v, 0.0, 1.0)
    if kind == "decimals":  # rounded values: more ties, of the kind papers print
        return np.round(rng.random(size), int(rng.integers(1, 4)))
    raise AssertionError(kind)


KINDS = ("uniform", "signal", "tiny", "ties", "zero", "one", "near", "decimals")


def mixed_vector(rng, m):
    weights = rng.dirichlet(np.full(len(KINDS), 0.6))
    n_uniform = max(1, m // 4)  # every vector has some ordinary values, so no method is all 0/1
    counts = rng.multinomial(m - n_uniform, weights)
    counts[0] += n_uniform
    pool = np.concatenate([rng.random(max(1, m // 6)), [0.05, 0.0, 1.0]])
    p = np.concatenate([_component(rng, k, c, pool) for k, c in zip(KINDS, counts)])
    return rng.permutation(p)


def make_cases(rng):
    cases = []
    for m in SIZES:
        cases.append({"name": f"mix-{m}", "p": mixed_vector(rng, m)})
    for m in (10, 100, 1000):  # the plain cases too
        cases.append({"name": f"uniform-{m}", "p": rng.random(m)})
        cases.append({"name": f"signal-{m}", "p": np.where(rng.random(m) < 0.2, rng.beta(0.05, 1, m), rng.random(m))})
    nan_cases = []
    for m in (1, 2, 3, 7, 20, 100, 333):  # NaN: R drops them and adjusts the rest (n = non-missing)
        p = mixed_vector(rng, m)
        p[rng.random(m) < 0.25] = np.nan
        nan_cases.append({"name": f"nan-{m}", "p": p})
    nan_cases.append({"name": "nan-all-but-one", "p": np.array([np.nan, 0.02, np.nan])})
    partial = []  # p.adjust(p, method, n = N): the smallest len(p) of N p-values
    for lp, n in ((1, 1), (1, 5), (2, 3), (3, 3), (5, 10), (10, 20), (10, 1000), (50, 200), (100, 2000)):
        full = mixed_vector(rng, max(lp, min(n, 400)))
        partial.append({"name": f"partial-{lp}-of-{n}", "n": n, "p": np.sort(full)[:lp]})
    return cases, nan_cases, partial


def to_hex(p):
    return ",".join("NaN" if np.isnan(v) else float(v).hex() for v in p)


def from_hex(s):
    return np.array([np.nan if v == "NaN" else float.fromhex(v) for v in s.split(",")])


def run_r(all_cases):
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.tsv", Path(tmp) / "out.tsv"
        src.write_text("".join(f"{i}\t{c.get('n', '')}\t{to_hex(c['p'])}\n" for i, c in enumerate(all_cases)))
        version = subprocess.run(["Rscript", str(HERE / "make_r_reference.R"), str(src), str(dst)],
                                 check=True, capture_output=True, text=True).stdout.strip()
        results = {}
        for line in dst.read_text().splitlines():
            i, method, values = line.split("\t")
            results.setdefault(int(i), {})[method] = from_hex(values)
    for i, c in enumerate(all_cases):
        echoed = results[i].pop("input")  # R read exactly the doubles that were sent
        assert np.array_equal(echoed, c["p"], equal_nan=True), c["name"]
        assert set(results[i]) == set(METHODS), results[i].keys()
        c["adjusted"] = results[i]
    return version


def main():
    rng = np.random.default_rng(SEED)
    cases, nan_cases, partial = make_cases(rng)
    version = run_r(cases + nan_cases + partial)

    def pack(c):
        out = {"name": c["name"], "p": encode(c["p"])}
        if "n" in c:
            out["n"] = c["n"]
        out["adjusted"] = {k: encode(c["adjusted"][k]) for k in METHODS}
        return out

    doc = {
        "source": f"{version}, stats::p.adjust; made by tests/data/make_r_reference.py (seed {SEED})",
        "encoding": "every array is base64 of little-endian IEEE-754 float64 bytes (exact)",
        "methods": list(METHODS),
        "cases": [pack(c) for c in cases],
        "nan_cases": [pack(c) for c in nan_cases],
        "partial_n": [pack(c) for c in partial],
    }
    OUT.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {version})", file=sys.stderr)


if __name__ == "__main__":
    main()
