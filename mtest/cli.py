"""The ``mtest`` command line: ``mtest --help`` lists the subcommands.

Each subcommand is a pair ``_add_<name>(subparsers)`` / ``_cmd_<name>(args)``; heavy imports
happen inside the command so that ``mtest --help`` stays instant.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from . import __version__

EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line on stderr, exit code 2."""


def _add_demo(sub):
    p = sub.add_parser("demo", help="adjust a generated p-value vector and print a summary",
                       description="Generate m p-values (a fraction of them from true effects), "
                                   "run Bonferroni, Holm and Lehmann-Romano, print what each rejects.")
    p.add_argument("--m", type=int, default=1_000_000, help="number of hypotheses (default 1e6)")
    p.add_argument("--signal", type=float, default=0.01, help="fraction of false nulls (default 0.01)")
    p.add_argument("--alpha", type=float, default=0.05, help="FWER level (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    import time

    from scipy.special import ndtr

    from .multitest import reject

    if args.m < 1:
        raise CLIError(f"--m must be >= 1; got {args.m}")
    if not 0 <= args.signal <= 1:
        raise CLIError(f"--signal must lie in [0, 1]; got {args.signal}")
    rng = np.random.default_rng(args.seed)
    n_false = int(round(args.signal * args.m))
    z = rng.standard_normal(args.m)
    z[:n_false] += 6.0  # effect size of the false nulls, in standard deviations
    pvalues = ndtr(-z)  # one-sided p-values
    print(f"{args.m} hypotheses, {n_false} false nulls, alpha={args.alpha}")
    print(f"{'method':<22}{'rejected':>10}{'false rej.':>12}{'threshold':>14}{'seconds':>10}")
    for method, k in (("bonferroni", 1), ("holm", 1), ("lehmann-romano", 5)):
        t0 = time.perf_counter()
        res = reject(pvalues, args.alpha, method, k=k)
        dt = time.perf_counter() - t0
        false = int(np.count_nonzero(res.reject[n_false:]))
        name = method if k == 1 else f"{method} (k={k})"
        print(f"{name:<22}{res.n_rejected:>10}{false:>12}{res.threshold:>14.3e}{dt:>10.4f}")
    return 0


def _add_power(sub):
    p = sub.add_parser(
        "power", help="reproduce the paper's synthetic-oracle power studies (Fig. 2a/2b/2c, k-FWER)",
        description="Run the §6.1 oracle study with the paper's parameters; write a tidy CSV and a "
                    "PNG per figure and print the certified rates. Beyond the paper, on toy oracles: "
                    "'sequential' (forward passes of sequential vs fixed-n SEGCERTIFY), 'radius' (radius "
                    "map vs J runs at alpha/J), 'fdr' and 'fdr-N' (FDR (BY) vs FWER certification at "
                    "Fig. 2a's and 2c's settings).")
    p.add_argument("--figure", default="2a",
                   choices=["2a", "2b", "2c", "kfwer", "sequential", "radius", "fdr", "fdr-N", "all"],
                   help="which study: 2a, 2b, 2c, kfwer, sequential, radius, fdr, fdr-N or all "
                        "(default: %(default)s)")
    p.add_argument("--reps", type=int, default=None, help="repetitions per cell (default: the paper's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--out", default="mtest-power", help="output folder (default ./mtest-power)")
    p.add_argument("--quick", action="store_true",
                   help="a reduced grid that runs in seconds (default: the paper's grid)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar on stderr when tqdm is installed)")
    p.set_defaults(func=_cmd_power)


def _summary_table(table, spec) -> str:
    """Certified rate per method at a few grid points, as a markdown table."""
    x = np.asarray(table["x"], dtype=float)
    method = np.asarray(table["method"])
    rate = np.asarray(table["certified_rate"], dtype=float)
    xs = sorted(set(x.tolist()))
    if spec.x == "gamma":
        wanted = [v for v in (0.0, 0.02, 0.05, 0.08, 0.1) if any(abs(v - w) < 1e-9 for w in xs)] or xs
    else:
        wanted = xs
    methods = list(dict.fromkeys(method.tolist()))
    head = "| method | " + " | ".join(f"{spec.x}={v:g}" for v in wanted) + " |"
    rule = "|---|" + "---|" * len(wanted)
    rows = []
    for m in methods:
        cells = []
        for v in wanted:  # the mean over the rows of (method, x), as a pivot table takes it
            hit = (method == m) & (np.abs(x - v) < 1e-9)
            cells.append(f"{rate[hit].mean():.3f}" if hit.any() else "nan")
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows])


def _cmd_power(args) -> int:
    import time
    from pathlib import Path

    from .power import figure_spec, plot_study, run_study

    figures = (["2a", "2b", "2c", "kfwer", "sequential", "radius", "fdr", "fdr-N"] if args.figure == "all"
               else [args.figure])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    for fig in figures:
        if fig in ("sequential", "radius"):
            _power_beyond(fig, args, out)
            continue
        spec = figure_spec(fig, reps=args.reps, quick=args.quick)
        t0 = time.perf_counter()
        df = run_study(spec, seed=args.seed, progress=not args.no_progress)
        csv = out / f"fig{fig}.csv"
        df.to_csv(csv)
        png = plot_study(df, spec, out / f"fig{fig}.png")
        print(f"\n## {spec.title}  ({spec.reps} repetitions, {time.perf_counter() - t0:.1f} s)")
        print(_summary_table(df, spec))
        worst = float(np.nanmax(df["wrong_rate"]))
        print(f"certified-but-wrong rate, worst cell: {worst:.2e}; wrote {csv} and {png}")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s")
    return 0


def _power_beyond(fig, args, out) -> None:
    """The toy-oracle figures of sequential certification and radius maps (CSV + PNG + a table)."""
    import time

    from . import certification_study as cs

    t0 = time.perf_counter()
    quick = "\n[--quick: smaller inputs, fewer repetitions]" if args.quick else ""
    if fig == "sequential":
        reps = args.reps if args.reps is not None else (1 if args.quick else 5)  # 0 is refused, not a default
        table, curves = cs.sequential_study(reps=reps, seed=args.seed, quick=args.quick)
        csv = out / "figsequential.csv"
        table.to_csv(csv)
        png = cs.plot_sequential(table, curves, out / "figsequential.png",
                                 title=f"sequential vs fixed-n SEGCERTIFY, τ = 0.75, α = 0.001{quick}")
        summary = cs.savings_summary(table)
        print(f"\n## sequential vs fixed-n SEGCERTIFY ({reps} repetitions, {time.perf_counter() - t0:.1f} s)"
              f"{quick.replace(chr(10), ' ')}")
        print("| input | fixed n | fixed certified | sequential: samples to match | savings | stop at | certified at stop |")
        print("|---|---|---|---|---|---|---|")
        for r in summary:
            match = "not reached" if np.isnan(r["samples_to_match"]) else f"{r['samples_to_match']:.0f}"
            saving = "-" if np.isnan(r["savings"]) else f"{r['savings']:.2f}x"
            print(f"| {r['input']} | {r['fixed_n']} | {r['fixed_certified']:.4f} | {match} | {saving} | "
                  f"{r['stop_samples']:.0f} | {r['stop_certified']:.4f} |")
    else:
        reps = args.reps if args.reps is not None else (1 if args.quick else 3)
        df = cs.radius_study(reps=reps, seed=args.seed, quick=args.quick)
        csv = out / "figradius.csv"
        df.to_csv(csv)
        J = len(df)
        png = cs.plot_radius(df, out / "figradius.png",
                             title=f"toy components, p_A ~ Beta(20, 1), n = 500, α = 0.001, {J} thresholds{quick}")
        print(f"\n## radius map vs {J} runs at α/{J} ({reps} repetitions, {time.perf_counter() - t0:.1f} s)"
              f"{quick.replace(chr(10), ' ')}")
        print(f"| τ | radius | radius map | {J} runs at α/{J} | runs at α each (not simultaneous) |")
        print("|---|---|---|---|---|")
        for r in df:
            print(f"| {r['tau']:g} | {r['radius']:.3f} | {r['radius_map']:.4f} | "
                  f"{r['separate_alpha_over_J']:.4f} | {r['separate_alpha_each']:.4f} |")
    print(f"wrote {csv} and {png}")


def _add_plan(sub):
    p = sub.add_parser("plan", help="smallest n for a target certified rate (SEGCERTIFY)",
                       description="Sample-size planner: exact for Bonferroni, a guaranteed lower "
                                   "bound for Holm.")
    p.add_argument("--N", type=int, required=True, help="number of components (required; no default)")
    p.add_argument("--tau", type=float, required=True,
                   help="the threshold τ of SEGCERTIFY (required; no default)")
    p.add_argument("--alpha", type=float, required=True, help="FWER level (required; no default)")
    p.add_argument("--p-true", type=float, required=True,
                   help="true top-class probability (required; no default)")
    p.add_argument("--target", type=float, required=True,
                   help="target expected certified rate (required; no default)")
    p.add_argument("--method", default="bonferroni", choices=["bonferroni", "holm"],
                   help="bonferroni (exact) or holm (a lower bound) (default: %(default)s)")
    p.add_argument("--n0", type=int, default=None, help="guessing samples (default: guess assumed right)")
    p.set_defaults(func=_cmd_plan)


def _cmd_plan(args) -> int:
    from .power import plan_samples

    plan = plan_samples(args.N, args.tau, args.alpha, args.p_true, args.target, method=args.method,
                        n0=args.n0)
    kind = "exact" if plan.exact else "lower bound (Holm certifies at least this much)"
    print(f"n = {plan.n}  expected certified rate = {plan.expected_rate:.4f} ({kind}); "
          f"a component is certified when its count >= {plan.critical_count}")
    return 0


_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_SEPARATORS = {"csv": ",", "tsv": "\t"}

#: k-FWER procedures whose k has no conventional default: ``--method lr`` alone is refused rather
#: than silently run as k = 1 (which is Holm); Bonferroni's usual form is k = 1
_K_OPTIONAL = frozenset({"bonferroni"})


def _file_format(path, what: str) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CLIError(f"{what} {str(path)!r}: unknown extension {path.suffix!r}; use one of "
                       f"{', '.join(sorted(_FORMATS))}")
    return fmt


def _have_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _need_pyarrow(what: str):
    if not _have_pyarrow():
        from ._optional import install_hint

        raise CLIError(f"{what} needs the optional package 'pyarrow', which is not installed; "
                       f"install it with: {install_hint('pyarrow')}")


def _rows(mask, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 1) for i in idx[:limit])
    more = f" (first {limit} of {idx.size})" if idx.size > limit else ""
    return f"{shown}{more}"


def _column_index(names, column: str, what: str, source: str) -> int:
    """Position of the one column called ``column``; refused if absent or not unique."""
    hits = [j for j, name in enumerate(names) if name == column]
    if not hits:
        raise CLIError(f"{what} {column!r} not found in {source}; the columns are {list(names)}")
    if len(hits) > 1:
        raise CLIError(f"{what} {column!r} names {len(hits)} columns of {source} (columns "
                       f"{', '.join(str(j + 1) for j in hits)}); rename them so that it is unique")
    return hits[0]


def _check_pvalue_column(p, missing, not_numeric, example, column: str, nan_policy: str, source: str,
                         log_p: str | None = None):
    """One clear error naming the column and the first offending data rows (counted from 1)."""
    if not_numeric.any():
        raise CLIError(f"column {column!r} in {source} has non-numeric values in data rows "
                       f"{_rows(not_numeric)}, e.g. {example(int(np.flatnonzero(not_numeric)[0]))!r}")
    if log_p:  # log p <= 0; -inf is p = 0
        bad = ~missing & ~(p <= 0)
        if bad.any():
            raise CLIError(f"column {column!r} in {source} must hold {log_p} p-values <= 0 "
                           f"(--log-p {log_p}); got values above 0 in data rows {_rows(bad)}, "
                           f"e.g. {float(p[bad][0])!r}")
    bad = ~missing & ~((p >= 0) & (p <= 1))
    if not log_p and bad.any():
        raise CLIError(f"column {column!r} in {source} has values outside [0, 1] in data rows "
                       f"{_rows(bad)}, e.g. {float(p[bad][0])!r}")
    if missing.any() and nan_policy == "raise":
        raise CLIError(f"column {column!r} in {source} is missing (empty, NA or NaN) in data rows "
                       f"{_rows(missing)}; pass --nan-policy omit to leave them untested")


class _Input:
    """What ``mtest adjust`` read: the p-values, the families, and how to write the output."""

    def __init__(self, fmt, n_rows, p, codes, n_groups, text=None, arrow=None, p_index=None):
        self.fmt, self.n_rows, self.p, self.codes, self.n_groups = fmt, n_rows, p, codes, n_groups
        self.text, self.arrow, self.p_index = text, arrow, p_index


_MINUS_INF = {b"-inf", b"-infinity"}


def _read_text_input(source, fmt, args, convert: bool) -> _Input:
    """Scan a CSV/TSV file once; ``convert``: every column will be needed (another format)."""
    from . import _delimited

    def needed(names):
        _refuse_output_names(names, str(source))
        return [_column_index(names, c, what, str(source))
                for c, what in [(args.column, "column")] + [(c, "--by column") for c in args.by or []]]

    def wanted(names):
        return needed(names) + (list(range(len(names))) if convert else [])

    table = _delimited.read_text(source, _SEPARATORS[fmt], wanted)
    j, *by = needed(table.names)
    data, offsets = _delimited.column_bytes(table, j, strip=True)
    p, missing, bad = _delimited.parse_pvalues(data, offsets)
    if args.log_p and bad.any():  # log p of p = 0, as Python and pyarrow write it
        rows = np.flatnonzero(bad)
        zero = np.fromiter((bytes(data[offsets[r]:offsets[r + 1]]).lower() in _MINUS_INF
                            for r in rows), dtype=bool, count=rows.size)
        p[rows[zero]] = -np.inf
        bad[rows[zero]] = False
    _check_pvalue_column(p, missing, bad, lambda r: _delimited.field_text(data, offsets, r),
                         args.column, args.nan_policy, str(source), args.log_p)
    del data, offsets
    codes, n_groups = _delimited.group_codes(table, by)
    if not convert:  # the same format is copied through: the field ranges are done with
        table.columns.clear()
    return _Input(fmt, len(table), p, codes, n_groups, text=table, p_index=j)


def _arrow_pvalues(column, name: str, source: str):
    """A Parquet p column as float64 (NaN where null) and its missing mask."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        p = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    elif pa.types.is_decimal(kind):  # float(Decimal) rounds correctly
        p = np.array([np.nan if v is None else float(v) for v in column.to_pylist()], dtype=np.float64)
    else:
        raise CLIError(f"column {name!r} in {source} has type {kind}; p-values must be numbers")
    return p, np.isnan(p)


def _read_parquet_input(source, args) -> _Input:
    _need_pyarrow("reading Parquet")
    import pyarrow.parquet as pq

    from .frames import group_codes

    table = pq.read_table(source)
    names = table.column_names
    j = _column_index(names, args.column, "column", str(source))
    by = [_column_index(names, c, "--by column", str(source)) for c in args.by or []]
    _refuse_output_names(names, str(source))
    p, missing = _arrow_pvalues(table.column(j), args.column, str(source))
    _check_pvalue_column(p, missing, np.zeros(p.size, dtype=bool), None, args.column, args.nan_policy,
                         str(source), args.log_p)
    if by:
        keys = table.select(by).to_pandas(ignore_metadata=True)
        codes, n_groups = group_codes(keys, list(keys.columns))
    else:
        codes, n_groups = np.zeros(p.size, dtype=np.int64), 1 if p.size else 0
    return _Input("parquet", table.num_rows, p, codes, n_groups, arrow=table, p_index=j)


_OUTPUT_COLUMNS = ("p_adjusted", "reject")


def _refuse_output_names(names, source: str):
    for name in _OUTPUT_COLUMNS:
        if name in names:
            raise CLIError(f"{source} already has a column {name!r}, which mtest adjust adds; "
                           "rename or drop it first")


def _arrow_output(data: _Input, adjusted, reject, keep_p_text: bool):
    """The output as an Arrow table: input columns (types and metadata kept) + the two new ones."""
    import json

    import pyarrow as pa

    from . import _delimited

    if data.arrow is not None:
        table = data.arrow
    else:
        table = _delimited.to_arrow(data.text, data.p, data.p_index, keep_p_text)
    missing = np.isnan(data.p)
    table = table.append_column(_OUTPUT_COLUMNS[0], pa.array(adjusted, mask=missing, type=pa.float64()))
    table = table.append_column(_OUTPUT_COLUMNS[1], pa.array(reject, type=pa.bool_()))
    meta = dict(table.schema.metadata or {})
    if b"pandas" in meta:  # let pandas read the new columns like the others
        pandas_meta = json.loads(meta[b"pandas"])
        for name, kind in zip(_OUTPUT_COLUMNS, ("float64", "bool")):
            pandas_meta["columns"].append({"name": name, "field_name": name, "pandas_type": kind,
                                           "numpy_type": kind, "metadata": None})
        meta[b"pandas"] = json.dumps(pandas_meta).encode()
        table = table.replace_schema_metadata(meta)
    return table


def _write_arrow_text(table, f, sep: str, source: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    table = pa.Table.from_arrays(columns, names=table.column_names)
    try:
        pacsv.write_csv(table, f, pacsv.WriteOptions(delimiter=sep, quoting_style="needed"))
    except pa.ArrowNotImplementedError as exc:
        raise CLIError(f"{source} has columns that have no CSV form ({exc}); write Parquet instead") from exc


def _writer(data: _Input, fmt_out: str, adjusted, reject, progress):
    """A function ``write(f)`` that writes the output to the binary file ``f``."""
    from . import _delimited

    if data.text is not None and fmt_out == data.fmt:
        return lambda f: _delimited.write_passthrough(f, data.text, adjusted, reject,
                                                      progress=progress.writing(data.n_rows))
    if fmt_out == "parquet":
        _need_pyarrow("writing Parquet")
        import pyarrow.parquet as pq

        return lambda f: pq.write_table(_arrow_output(data, adjusted, reject, False), f)
    _need_pyarrow(f"writing {fmt_out.upper()} from {data.fmt.upper()}")
    sep = _SEPARATORS[fmt_out]
    return lambda f: _write_arrow_text(_arrow_output(data, adjusted, reject, True), f, sep, "INPUT")


class _Terminated(BaseException):
    """SIGTERM/SIGHUP arrived: unwind (removing the temporary output), then exit 128 + signal."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise _Terminated(signum)


class _Signals:
    """Turn SIGTERM and SIGHUP into an exception while a command runs, so ``finally`` cleans up."""

    def __enter__(self):
        import signal
        import threading

        self.saved = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                self.saved[sig] = signal.signal(sig, _raise_terminated)
        return self

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        return False


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _output_path(target, source):
    """Where OUTPUT is written: a symlink is followed (its target is replaced, like ``sort -o``)."""
    import os
    import stat
    from pathlib import Path

    real = Path(os.path.realpath(target))
    if real.exists() and os.path.samefile(real, source):
        raise CLIError(f"refusing to overwrite the input {str(source)!r}; choose another -o OUTPUT")
    if real.is_dir():
        raise CLIError(f"OUTPUT {str(target)!r} is a directory; give a file name")
    if not real.parent.is_dir():
        raise CLIError(f"the folder of OUTPUT {str(target)!r} does not exist")
    if real.exists() and real.is_file():
        mode = real.stat().st_mode
        if not os.access(real, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise CLIError(f"OUTPUT {str(target)!r} is read-only; choose another -o OUTPUT or make "
                           "it writable")
    return real


def _write_table_atomic(write, real, target):
    """Run ``write(f)`` into a temporary file beside ``real``, then rename it over ``real``.

    Never a half-written output: on any error or signal the temporary file is removed. The new
    file gets the permissions of the file it replaces, or 0666 minus the umask. An existing
    ``real`` that is not a regular file (a FIFO, /dev/stdout) is written directly.
    """
    import os
    import stat
    import tempfile

    try:
        if real.exists() and not real.is_file():
            with open(real, "wb") as f:
                write(f)
            return
        mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".part", dir=real.parent)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, real)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    except OSError as exc:
        raise CLIError(f"cannot write OUTPUT {str(target)!r}: {exc.strerror or exc}") from exc


class _Progress:
    """Stage lines and a writing bar on stderr; silent with --no-progress or when not a TTY."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def stage(self, message: str):
        if self.enabled:
            print(f"mtest adjust: {message}", file=sys.stderr, flush=True)

    def writing(self, total: int):
        if self.enabled and total:
            from ._optional import progress  # no bar (the work still runs) without tqdm

            self.bar = progress(total=total, desc="writing", unit=" rows", unit_scale=True, file=sys.stderr)
            return self.bar.update
        return None

    def close(self):
        if self.bar is not None:
            self.bar.close()


#: the built-in procedures, in registry order: ``mtest adjust --help`` lists them without importing
#: the registry (which loads numba); tests/test_cli.py checks this list against ``mtest.PROCEDURES``
BUILTIN_METHODS = ("bonferroni", "holm", "lehmann-romano", "sidak", "holm-sidak", "hochberg", "hommel",
                   "fdr_bh", "fdr_by", "fdr_tsbh", "fdr_tsbky", "fdr_gbs")


def _method_help() -> str:
    names = ", ".join(BUILTIN_METHODS)
    return (f"procedure name or alias (default: %(default)s); one of {names}; "
            "aliases as in `mtest.get_procedure`")


def _add_adjust(sub):
    p = sub.add_parser(
        "adjust", help="adjust a p-value column of a CSV/TSV/Parquet file",
        description="Read INPUT, adjust the p-values of --column (within families given by --by), "
                    "and write every input column plus p_adjusted and reject to OUTPUT (format by "
                    "extension). CSV/TSV in the same format: every byte of the input is kept and "
                    "the two columns are added at the end of each line; only the p column is "
                    "parsed. Parquet: column types, the pandas index and schema metadata are kept. "
                    "The output is written atomically (a symlinked OUTPUT is written through to "
                    "its target); the input is never overwritten.")
    p.add_argument("input", help="input file (.csv, .tsv/.tab, .parquet/.pq)")
    p.add_argument("-o", "--output", required=True,
                   help="output file (.csv, .tsv/.tab, .parquet/.pq) (required; no default)")
    p.add_argument("--column", default="p", help="the p-value column (default: %(default)s)")
    p.add_argument("--method", default="holm", help=_method_help())
    p.add_argument("--alpha", type=float, default=0.05, help="level in (0, 1) (default: %(default)s)")
    p.add_argument("--k", type=int, default=None,
                   help="k of a k-FWER procedure: control P(k or more false rejections); required "
                        "with --method lehmann-romano (no default there); default 1 for bonferroni")
    p.add_argument("--by", action="append", default=None,
                   help="grouping column, repeatable: each distinct value (as text in CSV/TSV; an "
                        "empty or missing key is a value too) is its own family (default: one "
                        "family)")
    p.add_argument("--nan-policy", default="raise", choices=["raise", "omit"],
                   help="a missing p-value (empty, NA, NaN, N/A, #N/A, NULL, None, any case): "
                        "'raise' refuses the file, 'omit' leaves the row untested, not counted, "
                        "never rejected (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true",
                   help="no stage messages or bar on stderr (default: shown when stderr is a terminal)")
    p.add_argument("--log-p", default=None, choices=["ln", "log10"],
                   help="the p column holds ln p or log10 p; adjusted values come back in the "
                        "same scale (default: linear p)")
    p.add_argument("--per-file", action="store_true",
                   help="with a directory or glob input: each file is its own family "
                        "(default: all files are one family)")
    p.set_defaults(func=_cmd_adjust)


def _cmd_adjust(args) -> int:
    import time
    from pathlib import Path

    from .frames import adjust_groups
    from .multitest import check_k_for
    from .registry import get_procedure
    from ._validation import check_alpha

    source, target = Path(args.input), Path(args.output)
    proc = get_procedure(args.method)
    alpha = check_alpha(args.alpha)
    if args.k is None and proc.uses_k and proc.name not in _K_OPTIONAL:
        raise CLIError(f"--method {args.method} ({proc.name}) controls the k-FWER and needs --k "
                       "(k = 1 would be Holm's FWER); e.g. --k 5")
    k = check_k_for(proc, 1 if args.k is None else args.k)
    if source.is_dir() or any(c in args.input for c in "*?["):
        return _cmd_adjust_files(args, k)  # many files: streaming, mtest.outofcore
    if args.per_file:
        raise CLIError("--per-file needs a directory or glob INPUT (one family per file)")
    fmt_in = _file_format(source, "INPUT")
    fmt_out = _file_format(target, "OUTPUT")
    if not source.is_file():
        raise CLIError(f"INPUT {str(source)!r} does not exist")
    real = _output_path(target, source)
    progress = _Progress(not args.no_progress and sys.stderr.isatty())
    t0 = time.perf_counter()
    with _Signals():
        try:
            progress.stage(f"reading {source}")
            try:
                data = (_read_parquet_input(source, args) if fmt_in == "parquet"
                        else _read_text_input(source, fmt_in, args, convert=fmt_out != fmt_in))
            except OSError as exc:
                raise CLIError(f"cannot read INPUT {str(source)!r}: {exc.strerror or exc}") from exc
            progress.stage(f"adjusting {data.n_rows} p-values in {data.n_groups} families "
                           f"({time.perf_counter() - t0:.1f} s)")
            names = _family_namer(data, args.by)
            if args.log_p:
                adjusted, reject = _adjust_groups_log(data, proc, alpha, k, args.log_p, names)
            else:
                adjusted, reject = adjust_groups(data.p, data.codes, data.n_groups, proc, alpha, k,
                                                 names=names)
            progress.stage(f"writing {target} ({time.perf_counter() - t0:.1f} s)")
            write = _writer(data, fmt_out, adjusted, reject, progress)
            _write_table_atomic(write, real, target)
        finally:
            progress.close()
    n_rej = int(np.count_nonzero(reject))
    groups = f" in {data.n_groups} groups" if args.by else ""
    name = f"{proc.name} (k={k})" if proc.uses_k and (k > 1 or proc.name not in _K_OPTIONAL) else proc.name
    print(f"{data.n_rows} rows{groups}: {n_rej} rejected by {name} at alpha={alpha}; wrote {target} "
          f"({time.perf_counter() - t0:.2f} s)")
    return 0


def _family_namer(data: _Input, by):
    """``names(g)`` for errors about family g: the --by columns and its first data row (1-based,
    as the other messages count rows)."""
    if not by:
        return None
    return lambda g: f"--by {', '.join(by)} of data row {int(np.flatnonzero(data.codes == g)[0]) + 1}"


def _adjust_groups_log(data: _Input, proc, alpha: float, k: int, log_p: str, names=None):
    """(adjusted values in the log scale, rejections) per family, by ``mtest.reject(log_p=...)``;
    k larger than a family's size is refused first, naming the family by ``names(g)``."""
    from . import _kernels, _small
    from .frames import check_k_per_family
    from .multitest import reject

    check_k_per_family(data.p, data.codes, data.n_groups, k, names)
    adjusted = np.full(data.p.size, np.nan)
    rejected = np.zeros(data.p.size, dtype=bool)
    kernels = _small if _small.is_small(data.p.size) else _kernels  # small: no kernel
    rows, starts = kernels.bucket_order(np.arange(data.p.size, dtype=np.int64), data.codes,
                                        data.n_groups)
    for g in range(data.n_groups):
        family = rows[starts[g]:starts[g + 1]]
        res = reject(data.p[family], alpha, proc.name, k=k, nan_policy="omit", log_p=log_p)
        adjusted[family] = res.pvalues_adjusted
        rejected[family] = res.reject
    return adjusted, rejected


def _add_bench(sub):
    p = sub.add_parser("bench", help="speed comparisons against statsmodels/scipy/numpy (ratios)",
                       description="Time mtest against references measured in the same run.")
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat (default: full sizes)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats, best kept (default: %(default)s)")
    p.add_argument("--out", default=None,
                   help="folder for speed.csv and speed.md (default: print only, write nothing)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar on stderr when tqdm is installed)")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    from .bench import main as bench_main

    argv = ["--repeats", str(args.repeats)] + (["--quick"] if args.quick else [])
    argv += (["--out", args.out] if args.out else []) + (["--no-progress"] if args.no_progress else [])
    return bench_main(argv)


def _add_certify_demo(sub):
    p = sub.add_parser(
        "certify-demo", help="certify the shipped demo segmentation models (needs torch)",
        description="Run SEGCERTIFY with the PyTorch adapters on generated test scenes (images) or "
                    "objects (point clouds) and the shipped demo models; print a table like the "
                    "paper's Tables 1/2 and write figures.")
    p.add_argument("--task", choices=["images", "pointclouds"], default="images",
                   help="images or pointclouds (default: %(default)s)")
    p.add_argument("--out", default="mtest-demo",
                   help="folder for figures and the table (default: %(default)s)")
    p.add_argument("--n0", type=int, default=10, help="guessing samples (default: %(default)s)")
    p.add_argument("--alpha", type=float, default=0.001, help="FWER level (default: %(default)s)")
    p.add_argument("--count", type=int, default=None, help="test inputs (default 4 images / 6 objects)")
    p.add_argument("--batch-size", type=int, default=64,
                   help="noisy samples per forward pass (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="one setting (n = 100, τ = 0.75, Holm) on fewer inputs; figures say --quick in "
                        "their title (default: the full grid)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar on stderr when tqdm is installed)")
    p.set_defaults(func=_cmd_certify_demo)


def _cmd_certify_demo(args) -> int:
    try:
        from .adapters.demo.run import run_demo
    except ImportError as exc:
        raise CLIError(f"{exc}") from exc
    rows, table, files = run_demo(args.task, quick=args.quick, out=args.out, n0=args.n0, alpha=args.alpha,
                                  batch_size=args.batch_size, device=args.device, progress=not args.no_progress,
                                  count=args.count)
    print(table)
    print("acc, mIoU and % abstain over all inputs: one confusion matrix, mIoU averaged over classes, "
          "abstentions over all components (the paper's Table 1)")
    sps = [r["samples_per_second"] for r in rows if "samples_per_second" in r]
    if sps:
        print(f"sampler throughput: {min(sps):.0f} to {max(sps):.0f} noisy samples/s on {args.device}")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _add_certify(sub):
    p = sub.add_parser(
        "certify", help="certify a segmentation model over a dataset: resumable Parquet results, torchrun shards",
        description="SEGCERTIFY over every input of a dataset, one sampling pass per n, every τ and FWER "
                    "method certified from the same counts. Per-input rows go to OUT/parts as each input "
                    "finishes (a rerun skips finished inputs); OUT/results.parquet and OUT/summary.md (the "
                    "paper's Table 1 columns) are written at the end. Launch with torchrun to shard the "
                    "inputs over processes and GPUs.")
    p.add_argument("--model", default="demo-images",
                   choices=["demo-images", "demo-images-clean", "demo-pointclouds", "segformer-random"],
                   help="what to certify (default demo-images); segformer-random builds a SegFormer from --config")
    p.add_argument("--config", default="tiny", help="SegFormer size (tiny, b0, b1) or a config JSON file "
                                                     "(default: %(default)s)")
    p.add_argument("--count", type=int, default=None, help="generated test inputs (default 8 images / 6 objects)")
    p.add_argument("--size", type=int, default=64, help="image side of the generated scenes (default 64)")
    p.add_argument("--points", type=int, default=512, help="points per generated object (default 512)")
    p.add_argument("--limit", type=int, default=None, help="certify only the first LIMIT inputs (default: all)")
    p.add_argument("--n0", type=int, default=10, help="guessing samples (default 10)")
    p.add_argument("--n", type=int, nargs="+", default=[100], help="counting samples, one pass each (default 100)")
    p.add_argument("--tau", type=float, nargs="+", default=[0.75], help="thresholds τ (default 0.75)")
    p.add_argument("--alpha", type=float, default=0.001,
                   help="level: FWER, or FDR with --error-rate fdr (default: %(default)s)")
    p.add_argument("--method", nargs="+", default=None,
                   help="procedures (default: holm; with --error-rate fdr: fdr_by)")
    p.add_argument("--error-rate", choices=["fwer", "fdr"], default="fwer",
                   help="what alpha bounds per input: FWER or FDR, the expected fraction of "
                        "certified components that are wrong (Benjamini-Yekutieli) (default: %(default)s)")
    p.add_argument("--noise", choices=["gaussian", "laplace", "rotation"], default="gaussian",
                   help="gaussian, laplace or rotation (default: %(default)s)")
    p.add_argument("--sigma", type=float, default=0.25,
                   help="σ of the noise (Laplace: its scale; rotation: radians) (default: %(default)s)")
    p.add_argument("--perturb", default=None,
                   help="features (last dimension) the noise perturbs, e.g. 0,1,2 for xyz of a cloud with normals "
                        "(default: every feature)")
    p.add_argument("--vector-groups", default=None,
                   help="rotation: 3-D vector features that turn with the points, e.g. 0:3,3:6 (xyz + normals) "
                        "(default: none)")
    p.add_argument("--axis", choices=["x", "y", "z"], default="z", help="rotation axis (default z)")
    p.add_argument("--scales", default=None,
                   help="multi-scale inference on the noisy full-resolution input, e.g. 0.5,0.75,1,1.25,1.5,1.75 "
                        "(default: one scale, 1)")
    p.add_argument("--no-flip", action="store_true", help="with --scales: no flipped copies (default: flipped copies too)")
    p.add_argument("--out", default="mtest-certify", help="output folder (default ./mtest-certify)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="noisy samples per forward pass (default: %(default)s)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:K (default: cuda if available)")
    p.add_argument("--autocast", action="store_true", help="float16 autocast on CUDA (default: off, float32)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the clean-prediction rows (default: include them)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (default: a bar on stderr when tqdm is installed)")
    p.set_defaults(func=_cmd_certify)


def _int_list(text, flag):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CLIError(f"{flag} must be comma-separated integers; got {text!r}") from None


def _cmd_certify(args) -> int:
    try:
        import mtest.adapters as ad
        from .adapters.demo.catalog import build
    except ImportError as exc:
        raise CLIError(f"{exc}") from exc

    features = _int_list(args.perturb, "--perturb") if args.perturb else None
    if args.noise == "rotation":
        if features is not None:
            raise CLIError("--perturb applies to gaussian and laplace noise; rotation turns --vector-groups")
        groups = None
        if args.vector_groups:
            try:
                groups = [tuple(int(v) for v in g.split(":")) for g in args.vector_groups.split(",")]
            except ValueError:
                raise CLIError(f"--vector-groups must look like 0:3,3:6; got {args.vector_groups!r}") from None
        noise = ad.RotationNoise(args.sigma, axis=args.axis, vector_groups=groups)
    else:
        if args.vector_groups:
            raise CLIError("--vector-groups applies to --noise rotation")
        noise = (ad.GaussianNoise if args.noise == "gaussian" else ad.LaplaceNoise)(args.sigma, features=features)
    built = build(args.model, count=args.count, size=args.size, points=args.points, config=args.config,
                  seed=args.seed)
    model = built.model
    if args.scales:
        if built.kind != "images":
            raise CLIError("--scales applies to image models")
        try:
            scales = [float(v) for v in args.scales.split(",") if v.strip()]
        except ValueError:
            raise CLIError(f"--scales must be comma-separated numbers; got {args.scales!r}") from None
        model = ad.MultiScale(model, scales=scales, flip=not args.no_flip)
    run = ad.certify_dataset(model, noise, built.dataset, num_classes=built.num_classes, out=args.out, n0=args.n0,
                             n=args.n, tau=args.tau, alpha=args.alpha, method=args.method,
                             error_rate=args.error_rate,
                             batch_size=args.batch_size, device=args.device, autocast=args.autocast,
                             seed=args.seed, limit=args.limit, baseline=not args.no_baseline,
                             progress=not args.no_progress)
    if run.rank != 0:
        return 0
    scales = f", scales {args.scales}{'' if args.no_flip else ' + flips'}" if args.scales else ""
    print(f"{built.description}; noise {noise!r}{scales}; n0={args.n0}, alpha={args.alpha:g}")
    print(run.table)
    print("acc, mIoU and % abstain over all inputs: one confusion matrix, mIoU averaged over classes, "
          "abstentions over all components (the paper's Table 1)")
    print(f"{run.computed} inputs certified now, {run.skipped} found finished in {run.out}"
          + (f"; {run.world_size} processes" if run.world_size > 1 else ""))
    print(f"wrote {run.out / 'results.parquet'}, {run.out / 'summary.md'}, {run.out / 'summary.csv'}")
    return 0


_COMMANDS = [_add_power, _add_plan, _add_adjust, _add_bench, _add_certify_demo, _add_certify, _add_demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtest",
        description="Multiple testing at scale and certified segmentation by randomized smoothing.")
    parser.add_argument("--version", action="version", version=f"mtest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def _cmd_adjust_files(args, k: int) -> int:
    """``mtest adjust DIR_OR_GLOB -o OUTDIR``: one family over many files, streaming."""
    import time

    from .outofcore import adjust_files

    t0 = time.perf_counter()
    try:
        res = adjust_files(args.input, args.output, column=args.column, method=args.method,
                           alpha=args.alpha, k=k, by=args.by, per_file=args.per_file,
                           log_p=args.log_p, nan_policy=args.nan_policy, progress=True)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    groups = f" in {len(res.families)} families" if len(res.families) > 1 else ""
    print(f"{res.n_tests} tests{groups} over {len(res.outputs)} files: {res.n_rejected} rejected by "
          f"{res.method} at alpha={res.alpha}; wrote {args.output} "
          f"({time.perf_counter() - t0:.2f} s)")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError) as exc:
        print(f"mtest {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mtest {args.command}: interrupted; no output written", file=sys.stderr)
        return 128 + 2
    except _Terminated as exc:
        print(f"mtest {args.command}: terminated by signal {exc.signum}; no output written",
              file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

