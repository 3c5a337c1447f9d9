"""Start-up cost: import, first call (cold and warm numba cache), the CLI, and statsmodels.

``python benchmarks/startup.py [--repeats 5] [--m 1000000] [--out results/startup.csv]
[--src LABEL=PATH ...]``

Every measurement runs in a fresh interpreter (``subprocess``), ``--repeats`` times; the table shows
the median (and the minimum) in seconds. ``--src before=/tmp/old`` adds a column for another source
tree of mtest (put first on ``PYTHONPATH``; e.g. ``git archive <commit> mtest | tar -x -C /tmp/old``),
measured interleaved with the installed one so that both see the same machine load. Rows:

* ``python -c pass``: the interpreter alone (wall time of the process), the floor under every CLI row.
* ``import numpy``: the floor under every in-process row.
* ``import mtest``: the time of the ``import`` statement, inside the process.
* ``import mtest + holm (cold cache)``: ``import mtest`` and the first ``mtest.holm`` call on ``--m``
  p-values, with ``NUMBA_CACHE_DIR`` pointing at a fresh empty folder every repeat (numba compiles).
* ``import mtest + holm (warm cache)``: the same, with a cache folder filled by an earlier run (numba
  loads the compiled kernels).
* ``first holm call (cold / warm)``: the call alone, from the same runs.
* ``mtest --help``: wall time of the ``mtest`` console script.
* ``mtest adjust (cold / warm)``: wall time of ``mtest adjust`` on a 1000-row CSV.
* ``statsmodels import + multipletests``: ``from statsmodels.stats.multitest import multipletests``
  and its first ``method='holm'`` call on the same p-values, and both parts alone.

The p-values are written once to a ``.npy`` file that every run loads (loading is not timed).
Timings depend on the machine and its load; compare rows from one run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_MTEST_RUN = """
import time, json
import numpy as np
p = np.load({path!r})
t0 = time.perf_counter()
import mtest
t1 = time.perf_counter()
res = mtest.holm(p, 0.05)
t2 = time.perf_counter()
assert res.n_rejected >= 0
print(json.dumps({{"import": t1 - t0, "call": t2 - t1, "total": t2 - t0}}))
"""

_STATSMODELS_RUN = """
import time, json
import numpy as np
p = np.load({path!r})
t0 = time.perf_counter()
from statsmodels.stats.multitest import multipletests
t1 = time.perf_counter()
rej = multipletests(p, 0.05, method="holm")[0]
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "call": t2 - t1, "total": t2 - t0}}))
"""

_IMPORT = """
import time, json
t0 = time.perf_counter()
import {module}
print(json.dumps({{"import": time.perf_counter() - t0}}))
"""


_SRC: str | None = None  # the source tree put first on PYTHONPATH (None: the installed mtest)


def _env(cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    if _SRC is not None:
        env["PYTHONPATH"] = os.pathsep.join([_SRC, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _json_run(code: str, cache_dir: str | None) -> dict:
    # cwd: a folder without an mtest/ in it (``-c`` puts the working directory first on sys.path)
    out = subprocess.run([sys.executable, "-c", code], env=_env(cache_dir), capture_output=True,
                         text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, code, out.stdout, out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wall(cmd: list[str], cache_dir: str | None) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=_env(cache_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - t0


def _mtest_script() -> list[str]:
    script = Path(sys.executable).with_name("mtest")
    if script.exists():
        return [str(script)]
    found = shutil.which("mtest")
    if found is None:
        raise SystemExit("the mtest console script is not installed (pip install -e .)")
    return [found]


def _data(m: int, tmp: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=m)
    p[: m // 100] *= 1e-8  # a few real effects
    path = tmp / "p.npy"
    np.save(path, p)
    small = tmp / "small.csv"
    with open(small, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "p"])
        for i, v in enumerate(p[:1000]):
            w.writerow([i, repr(float(v))])
    return path, small


def _one_repeat(r: int, m: int, tmp: Path, path: Path, small: Path, warm: str, add) -> None:
    mtest = _mtest_script()
    add("python -c pass (wall)", _wall([sys.executable, "-c", "pass"], warm))
    add("import numpy", _json_run(_IMPORT.format(module="numpy"), warm)["import"])
    add("import mtest", _json_run(_IMPORT.format(module="mtest"), warm)["import"])
    cold = tmp / f"cold-{r}"
    res = _json_run(_MTEST_RUN.format(path=str(path)), str(cold))
    add(f"import mtest + holm, m={m:g} (cold cache)", res["total"])
    add("  first holm call alone (cold cache)", res["call"])
    shutil.rmtree(cold, ignore_errors=True)
    res = _json_run(_MTEST_RUN.format(path=str(path)), warm)
    add(f"import mtest + holm, m={m:g} (warm cache)", res["total"])
    add("  first holm call alone (warm cache)", res["call"])
    add("mtest --help (wall)", _wall([*mtest, "--help"], warm))
    add("mtest adjust --help (wall)", _wall([*mtest, "adjust", "--help"], warm))
    args = ["adjust", str(small), "-o", str(tmp / "out.csv"), "--no-progress"]
    cold = tmp / f"cold-cli-{r}"
    add("mtest adjust, 1000-row CSV (wall, cold cache)", _wall([*mtest, *args], str(cold)))
    shutil.rmtree(cold, ignore_errors=True)
    add("mtest adjust, 1000-row CSV (wall, warm cache)", _wall([*mtest, *args], warm))


def _statsmodels_repeat(m: int, path: Path, add) -> None:
    try:
        res = _json_run(_STATSMODELS_RUN.format(path=str(path)), None)
    except subprocess.CalledProcessError:
        return  # statsmodels not installed
    add(f"statsmodels import + multipletests holm, m={m:g}", res["total"])
    add("  statsmodels import alone", res["import"])
    add("  first multipletests call alone", res["call"])


def measure(repeats: int, m: int, tmp: Path, sources: dict) -> dict:
    """{label: {row: [seconds per repeat]}}; the sources are interleaved within every repeat."""
    global _SRC
    path, small = _data(m, tmp)
    results: dict = {label: {} for label in sources}
    results["statsmodels"] = {}
    for label, src in sources.items():  # fill each source's warm cache
        _SRC = src
        where = _json_run("import json, mtest; print(json.dumps({'import': mtest.__file__}))", None)
        print(f"{label}: {where['import']}", file=sys.stderr)
        warm = str(tmp / f"warm-{label}")
        _json_run(_MTEST_RUN.format(path=str(path)), warm)
        _wall([*_mtest_script(), "adjust", str(small), "-o", str(tmp / "out.csv"), "--no-progress"], warm)
    for r in range(repeats):
        for label, src in sources.items():
            _SRC = src
            rows = results[label]
            _one_repeat(r, m, tmp, path, small, str(tmp / f"warm-{label}"),
                        lambda name, v, rows=rows: rows.setdefault(name, []).append(v))
        _SRC = None
        rows = results["statsmodels"]
        _statsmodels_repeat(m, path, lambda name, v, rows=rows: rows.setdefault(name, []).append(v))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per row (default 5)")
    ap.add_argument("--m", type=int, default=1_000_000, help="p-values for the first call (default 1e6)")
    ap.add_argument("--out", default="results/startup.csv", help="CSV to write (default results/startup.csv)")
    ap.add_argument("--src", action="append", default=[],
                    help="LABEL=PATH: also measure the mtest source tree at PATH (default: none)")
    ap.add_argument("--label", default="installed", help="label of the installed mtest (default installed)")
    args = ap.parse_args(argv)
    sources = {args.label: None}
    for item in args.src:
        label, _, path = item.partition("=")
        sources[label] = str(Path(path).resolve())
    with tempfile.TemporaryDirectory(prefix="mtest-startup-") as tmp:
        results = measure(args.repeats, args.m, Path(tmp), sources)
    labels = list(sources)
    names = list(dict.fromkeys(n for label in labels for n in results[label]))
    print(f"{'median of ' + str(args.repeats) + ' fresh processes, seconds':<52}"
          + "".join(f"{label:>14}" for label in labels))
    for name in names:
        print(f"{name:<52}" + "".join(
            f"{statistics.median(results[label][name]):>14.3f}" if name in results[label] else f"{'':>14}"
            for label in labels))
    for name, values in results["statsmodels"].items():
        print(f"{name:<52}{statistics.median(values):>14.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "measurement", "median_s", "min_s", "repeats"])
        for label, rows in results.items():
            for name, values in rows.items():
                w.writerow([label, name.strip(), f"{statistics.median(values):.4f}", f"{min(values):.4f}",
                            len(values)])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
