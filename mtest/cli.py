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
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    import time

    from scipy.special import ndtr

    from .fwer import reject

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
                    "PNG per figure and print the certified rates.")
    p.add_argument("--figure", default="2a", choices=["2a", "2b", "2c", "kfwer", "all"])
    p.add_argument("--reps", type=int, default=None, help="repetitions per cell (default: the paper's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="mtest-power", help="output folder (default ./mtest-power)")
    p.add_argument("--quick", action="store_true", help="a reduced grid that runs in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_power)


def _summary_table(df, spec) -> str:
    """Certified rate per method at a few grid points, as a markdown table."""
    xs = sorted(df["x"].unique())
    if spec.x == "gamma":
        wanted = [x for x in (0.0, 0.02, 0.05, 0.08, 0.1) if any(abs(x - v) < 1e-9 for v in xs)] or xs
    else:
        wanted = xs
    sub = df[df["x"].apply(lambda v: any(abs(v - w) < 1e-9 for w in wanted))]
    pivot = sub.pivot_table(index="method", columns="x", values="certified_rate", sort=False)
    head = "| method | " + " | ".join(f"{spec.x}={x:g}" for x in pivot.columns) + " |"
    rule = "|---|" + "---|" * len(pivot.columns)
    rows = [f"| {m} | " + " | ".join(f"{v:.3f}" for v in pivot.loc[m]) + " |" for m in pivot.index]
    return "\n".join([head, rule, *rows])


def _cmd_power(args) -> int:
    import time
    from pathlib import Path

    from .power import figure_spec, plot_study, run_study

    figures = ["2a", "2b", "2c", "kfwer"] if args.figure == "all" else [args.figure]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    for fig in figures:
        spec = figure_spec(fig, reps=args.reps, quick=args.quick)
        t0 = time.perf_counter()
        df = run_study(spec, seed=args.seed, progress=not args.no_progress)
        csv = out / f"fig{fig}.csv"
        df.to_csv(csv, index=False)
        png = plot_study(df, spec, out / f"fig{fig}.png")
        print(f"\n## {spec.title}  ({spec.reps} repetitions, {time.perf_counter() - t0:.1f} s)")
        print(_summary_table(df, spec))
        worst = df["wrong_rate"].max()
        print(f"certified-but-wrong rate, worst cell: {worst:.2e}; wrote {csv} and {png}")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s")
    return 0


def _add_plan(sub):
    p = sub.add_parser("plan", help="smallest n for a target certified rate (SEGCERTIFY)",
                       description="Sample-size planner: exact for Bonferroni, a guaranteed lower "
                                   "bound for Holm.")
    p.add_argument("--N", type=int, required=True, help="number of components")
    p.add_argument("--tau", type=float, required=True)
    p.add_argument("--alpha", type=float, required=True)
    p.add_argument("--p-true", type=float, required=True, help="true top-class probability")
    p.add_argument("--target", type=float, required=True, help="target expected certified rate")
    p.add_argument("--method", default="bonferroni", choices=["bonferroni", "holm"])
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


_COMMANDS = [_add_power, _add_plan, _add_demo]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtest",
        description="Multiple testing at scale and certified segmentation by randomized smoothing.")
    parser.add_argument("--version", action="version", version=f"mtest {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
