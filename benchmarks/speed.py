"""Speed comparisons against statsmodels, scipy, numpy: ``python benchmarks/speed.py [--quick] [--out DIR]``.

The implementation lives in ``mtest.bench`` so that the installed ``mtest bench`` runs it too.
"""
import sys

from mtest.bench import main

if __name__ == "__main__":
    sys.exit(main())
