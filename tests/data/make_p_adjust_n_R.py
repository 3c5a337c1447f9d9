"""Make tests/data/p_adjust_n_R.json: R's p.adjust with n >= length(p), NA, ties, 0 and 1.

Run from the repository root with R on the PATH (not needed in CI):
    python tests/data/make_p_adjust_n_R.py
Doubles cross to R and back as C99 hex strings (sprintf("%a") / float.hex), so nothing is rounded.
"""
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

METHODS = ["holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "fdr", "none"]
OUT = Path(__file__).with_name("p_adjust_n_R.json")

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
lines <- readLines(args[1])
out <- file(args[2], open = "w")
for (line in lines) {
  f <- strsplit(line, "\t", fixed = TRUE)[[1]]
  p <- as.numeric(strsplit(f[2], ",", fixed = TRUE)[[1]])
  n <- as.integer(f[1])
  for (method in strsplit(f[3], ",", fixed = TRUE)[[1]]) {
    adj <- p.adjust(p, method, n = n)
    writeLines(paste(method, paste(ifelse(is.na(adj), "NaN", sprintf("%a", adj)), collapse = ","),
                     sep = "\t"), out)
  }
}
close(out)
cat(R.version.string, "\n")
"""


def cases(rng):
    for lp in (1, 2, 3, 4, 5, 8, 13, 30, 77):
        for extra in (0, 1, 2, lp, 10 * lp + 3, 1000):
            p = rng.random(lp) * 10.0 ** rng.uniform(-6, 0)
            if lp > 3:
                p[rng.integers(0, lp, 2)] = p[0]          # ties
                p[rng.integers(0, lp)] = 0.0
                p[rng.integers(0, lp)] = 1.0
            yield p, lp + extra
    for lp in (3, 6, 20):  # NA: n counts only the non-missing values by default
        p = rng.random(lp) * 0.05
        p[rng.integers(0, lp, 2)] = np.nan
        k = int(np.count_nonzero(~np.isnan(p)))
        for n in (k, k + 1, 5 * k):
            yield p, n


def main():
    rng = np.random.default_rng(20240701)
    items = list(cases(rng))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, script = (Path(tmp) / name for name in ("in.tsv", "out.tsv", "run.R"))
        script.write_text(R_SCRIPT)
        src.write_text("".join(
            f"{n}\t{','.join('NaN' if np.isnan(x) else float(x).hex() for x in p)}\t"
            f"{','.join(METHODS)}\n" for p, n in items))
        version = subprocess.run(["Rscript", str(script), str(src), str(dst)], check=True,
                                 capture_output=True, text=True).stdout.strip()
        rows = dst.read_text().splitlines()
    out = []
    for i, (p, n) in enumerate(items):
        adjusted = {}
        for row in rows[i * len(METHODS):(i + 1) * len(METHODS)]:
            method, values = row.split("\t")
            adjusted[method] = values.split(",")
        out.append({"pvalues": ["NaN" if np.isnan(x) else float(x).hex() for x in p], "n": n,
                    "adjusted": adjusted})
    OUT.write_text(json.dumps({"source": f"{version}, stats::p.adjust(p, method, n); made by "
                               "tests/data/make_p_adjust_n_R.py (seed 20240701)",
                               "encoding": "doubles as C99 hex strings (float.fromhex), 'NaN' for NA",
                               "cases": out}, separators=(",", ":")))


if __name__ == "__main__":
    main()
