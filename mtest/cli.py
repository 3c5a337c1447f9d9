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


_COMMANDS = [_add_demo]


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
