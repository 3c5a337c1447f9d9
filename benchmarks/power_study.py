"""The paper's power studies: ``python benchmarks/power_study.py --figure all [--reps R] [--out DIR]``.

Same as ``mtest power``; the implementation lives in ``mtest.power``.
"""
import sys

from mtest.cli import main

if __name__ == "__main__":
    sys.exit(main(["power", *sys.argv[1:]]))
