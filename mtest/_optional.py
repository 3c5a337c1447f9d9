"""Optional dependencies: import one or say which extra installs it; a progress bar that is optional.

The core needs numpy, scipy, numba and matplotlib (``mtest power`` draws its figures on a fresh
install). pandas, tqdm and pyarrow are extras (pyproject.toml):

========== =========== =====================================================================
package    extra       used by
========== =========== =====================================================================
pandas     ``frames``  ``mtest.adjust_frame``, pandas Series in and out, CSV files in
                       ``mtest.adjust_files`` without pyarrow, ``StudyTable.to_pandas``
tqdm       ``progress`` progress bars; without it long work runs without a bar
pyarrow    ``parquet`` Parquet files; faster CSV parsing in ``mtest adjust`` and ``adjust_files``
========== =========== =====================================================================

``pip install "mtest[all]"`` installs the three.
"""
from __future__ import annotations

import importlib
import sys

#: top-level package -> the extra of pyproject.toml that installs it
EXTRAS = {"pandas": "frames", "tqdm": "progress", "pyarrow": "parquet", "torch": "torch",
          "dask": "dask", "transformers": "hf"}


def install_hint(package: str) -> str:
    """``pip install "mtest[extra]"`` for ``package`` (its top-level name)."""
    extra = EXTRAS.get(package.split(".")[0])
    if extra is None:
        return f"pip install {package.split('.')[0]}"
    return f'pip install "mtest[{extra}]"'


def require(module: str, purpose: str):
    """Import ``module`` (e.g. ``"pandas"`` or ``"pyarrow.parquet"``) or raise an ``ImportError``
    that names the package, what needed it and the extra that installs it.

    Examples
    --------
    >>> from mtest._optional import require
    >>> require("numpy", "this example").__name__
    'numpy'
    >>> require("no_such_package_xyz", "this example")
    Traceback (most recent call last):
    ...
    ImportError: this example needs the optional package 'no_such_package_xyz', which is not installed; install it with: pip install no_such_package_xyz
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise ImportError(f"{purpose} needs the optional package {package!r}, which is not "
                          f"installed; install it with: {install_hint(package)}") from exc


def available(package: str) -> bool:
    """Whether ``package`` can be imported (it is imported, once, if so)."""
    if sys.modules.get(package) is not None:
        return True
    try:
        importlib.import_module(package)
    except ImportError:
        return False
    return True


class _NoBar:
    """What ``progress`` returns without tqdm: the work runs, nothing is drawn."""

    def __init__(self, iterable=None):
        self._iterable = iterable
        self.n = 0

    def __iter__(self):
        return iter(self._iterable if self._iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, *args, **kwargs):
        pass

    def set_postfix_str(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass


def progress(iterable=None, **kwargs):
    """A ``tqdm.auto.tqdm`` bar when tqdm is installed and ``disable`` is not true; otherwise an
    object with the same small interface (iteration, ``update``, ``set_postfix``, ``close``, a
    context manager) that draws nothing. Progress bars are never required: without the
    ``progress`` extra, long work simply runs without one.

    Examples
    --------
    >>> from mtest._optional import progress
    >>> with progress(total=3, disable=True) as bar:
    ...     for _ in range(3):
    ...         bar.update()
    >>> sum(progress(range(4), disable=True))
    6
    """
    if kwargs.get("disable") or not available("tqdm"):
        return _NoBar(iterable)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)
