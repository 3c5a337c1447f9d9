"""Regenerate tests/data/qvalue_R.json: Bioconductor qvalue's pi0 and q-values on pinned vectors.

Needs R with the qvalue package (Debian: ``apt-get install r-bioc-qvalue``); CI only reads the JSON.

    python tests/data/make_qvalue_reference.py

Vectors up to 5000 p-values are stored in full (base64 of little-endian float64). The 100000-value
vector is not stored: ``large_pvalues`` rebuilds it from its seed with operations that are exact in
IEEE arithmetic (uniform doubles, products), and the file keeps R's outputs at fixed indices plus a
SHA-256 of the vector's bytes, so a test can check it rebuilt the same vector.
"""
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
OUT = HERE / "qvalue_R.json"
SEED = 14_3
LARGE_SEED, LARGE_M, LARGE_KEPT = 1_000_003, 100_000, 400

#: name, R arguments, mtest keyword arguments
CONFIGS = [
    ("smoother", "", {}),
    ("smoother-log", "smooth.log.pi0 = TRUE", {"smooth_log_pi0": True}),
    ("bootstrap", 'pi0.method = "bootstrap"', {"pi0_method": "bootstrap"}),
    ("one-lambda", "lambda = 0.5", {"lambda_": 0.5}),
    ("lambda-fine", "lambda = seq(0.01, 0.95, 0.01)", {"lambda_": "seq(0.01, 0.95, 0.01)"}),
    ("df5", "lambda = seq(0.1, 0.9, 0.05), smooth.df = 5", {"lambda_": "seq(0.1, 0.9, 0.05)", "smooth_df": 5}),
    ("bootstrap-fine", 'lambda = seq(0, 0.9, 0.02), pi0.method = "bootstrap"',
     {"lambda_": "seq(0, 0.9, 0.02)", "pi0_method": "bootstrap"}),
    ("pfdr", "pfdr = TRUE", {"pfdr": True}),
    ("fdr-level", "fdr.level = 0.1", {"fdr_level": 0.1}),
    ("pi0-given", "pi0 = 0.7", {"pi0": 0.7}),
]


def r_seq(start, stop, by):
    """R's ``seq(start, stop, by)``, bit for bit: from + (0:n) * by, capped at stop."""
    n = int((stop - start) / by + 1e-10)
    return np.minimum(start + np.arange(n + 1) * by, stop)


def encode(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode("ascii")


def decode(s: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), dtype="<f8").astype(np.float64)


def large_pvalues():
    """The 100000-value vector: 80 % uniform nulls, 20 % signals u^8 (Beta(1/8, 1)); exact ops only."""
    u = np.random.default_rng(LARGE_SEED).random(2 * LARGE_M)
    signal = u[LARGE_M:] < 0.2
    v = u[:LARGE_M] * u[:LARGE_M]
    v = v * v
    return np.where(signal, v * v, u[:LARGE_M])


def small_vectors(rng):
    out = {}
    for m, share in ((100, 0.1), (500, 0.3), (1000, 0.0), (1000, 0.5), (5000, 0.2)):
        nulls = rng.random(m)
        signals = rng.beta(0.15, 4.0, m)
        out[f"m{m}-signal{share:g}"] = np.where(rng.random(m) < share, signals, nulls)
    p = rng.random(400)  # ties, exact 0 and 1
    p[:40] = 0.0
    p[40:80] = 1.0
    p[80:200] = np.round(p[80:200], 2)
    out["m400-ties-zeros-ones"] = rng.permutation(p)
    p = np.where(rng.random(300) < 0.3, rng.beta(0.2, 3, 300), rng.random(300))
    p[rng.random(300) < 0.15] = np.nan
    out["m300-nan"] = p
    return out


def _hex(p):
    return ",".join("NaN" if np.isnan(v) else float(v).hex() for v in p)


def _unhex(s):
    return np.array([np.nan if v == "NaN" else float.fromhex(v) for v in s.split(",") if v])


def main():
    rng = np.random.default_rng(SEED)
    vectors = small_vectors(rng)
    vectors["large"] = large_pvalues()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "v.tsv").write_text("".join(f"{k}\t{_hex(v)}\n" for k, v in vectors.items()))
        (tmp / "c.tsv").write_text("".join(f"{n}\t{r}\n" for n, r, _ in CONFIGS))
        version = subprocess.run(["Rscript", str(HERE / "make_qvalue_reference.R"), str(tmp / "v.tsv"),
                                  str(tmp / "c.tsv"), str(tmp / "o.tsv")],
                                 check=True, capture_output=True, text=True).stdout.strip()
        results = {}
        for line in (tmp / "o.tsv").read_text().splitlines():
            vid, cfg, field, values = line.split("\t")
            results.setdefault(vid, {}).setdefault(cfg, {})[field] = values
    kept = np.sort(np.random.default_rng(LARGE_SEED + 1).choice(LARGE_M, LARGE_KEPT, replace=False))
    cases = []
    for vid, p in vectors.items():
        assert np.array_equal(_unhex(results[vid][""]["input"]), p, equal_nan=True), vid
        case = {"name": vid, "m": int(p.size)}
        if vid == "large":
            case.update(seed=LARGE_SEED, sha256=hashlib.sha256(p.astype("<f8").tobytes()).hexdigest(),
                        kept=kept.tolist())
        else:
            case["p"] = encode(p)
        case["results"] = {}
        for name, _, _ in CONFIGS:
            r = results[vid][name]
            if "error" in r:
                case["results"][name] = {"error": r["error"]}
                continue
            q = _unhex(r["qvalues"])
            entry = {"pi0": _unhex(r["pi0"])[0],
                     "qvalues": encode(q[kept] if vid == "large" else q)}
            for field in ("lambda", "pi0.lambda", "pi0.smooth"):
                if r.get(field):
                    entry[field.replace(".", "_")] = _unhex(r[field]).tolist()
            if r.get("significant"):
                sig = _unhex(r["significant"]).astype(bool)  # R drops NA entries here
                entry["n_significant"] = int(sig.sum())
            case["results"][name] = entry
        cases.append(case)
    doc = {"source": f"{version}; qvalue(p, lfdr.out = FALSE, ...); made by tests/data/make_qvalue_reference.py",
           "encoding": "p and qvalues: base64 of little-endian float64 bytes; other numbers exact JSON doubles",
           "configs": [{"name": n, "r_args": r, "kwargs": k} for n, r, k in CONFIGS],
           "cases": cases}
    OUT.write_text(json.dumps(doc, indent=0) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB; {version})", file=sys.stderr)


if __name__ == "__main__":
    main()
