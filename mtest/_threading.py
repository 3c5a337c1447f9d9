"""Numba's threading layer, chosen in one place before any parallel kernel runs.

mtest's parallel kernels (``parallel=True`` in ``mtest._kernels``) run on numba's threading
layer. Numba's default picks GNU OpenMP where it is installed, which hangs a child process that
forks after the parent ran a parallel kernel (a ``multiprocessing`` fork pool), and its
``workqueue`` fallback aborts the process when two threads enter parallel kernels at once. So
mtest asks for **TBB** (fork- and thread-safe; the ``tbb`` wheel is a dependency on the platforms
that have one). Where TBB cannot be loaded, it uses ``workqueue`` (fork-safe) and serializes the
parallel kernels with one process-wide lock, re-created in a forked child. A layer chosen by the
user (``NUMBA_THREADING_LAYER``) or already started by other numba code is kept; if that layer
is not thread-safe the lock applies too. See docs/design.md ("Threads and processes").

Importing this module does not import numba; ``configure`` is called by ``mtest._kernels``
right after it imports numba, before any kernel can run.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading

__all__ = ["configure", "layer", "needs_lock", "LOCK"]

#: numba needs TBB 2021.6 or later (TBB_INTERFACE_VERSION >= 12060)
_TBB_MIN_INTERFACE = 12060
_TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}

#: serializes parallel kernels when the layer is not thread-safe (replaced in a forked child)
LOCK = threading.RLock()
_state = {"layer": None, "lock": False}


def _reset_lock_in_child() -> None:
    # a lock held by another thread at fork time would stay held forever in the child
    global LOCK
    LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)


def _tbb_candidates():
    name = _TBB_NAMES.get("linux" if sys.platform.startswith("linux") else sys.platform)
    if name is None:
        return None, []
    paths = []
    try:  # where pip put the tbb wheel's library (<prefix>/lib, not on the loader's path)
        from importlib.metadata import PackageNotFoundError, files

        try:
            paths += [f.locate() for f in files("tbb") or () if f.name == name]
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover - Python < 3.8
        pass
    for prefix in {sys.prefix, sys.base_prefix}:
        paths += [os.path.join(prefix, "lib", name), os.path.join(prefix, "Library", "bin", name)]
    return name, paths


def _load_tbb() -> bool:
    """Load a TBB that numba accepts, so that numba's tbbpool finds it; False if there is none."""
    name, paths = _tbb_candidates()
    if name is None:
        return False
    lib = None
    for path in [name] + [str(p) for p in paths]:
        try:
            lib = ctypes.CDLL(path, mode=getattr(ctypes, "RTLD_GLOBAL", 0))
            break
        except OSError:
            continue
    if lib is None:
        return False
    try:
        version = lib.TBB_runtime_interface_version
        version.restype = ctypes.c_int
        if version() < _TBB_MIN_INTERFACE:
            return False
        from numba.np.ufunc import tbbpool  # noqa: F401  (fails if numba's TBB pool cannot link)
    except (AttributeError, ImportError, OSError):
        return False
    return True


def configure() -> str:
    """Choose numba's threading layer (once) and return it: ``'tbb'``, or the fallback."""
    if _state["layer"] is not None:
        return _state["layer"]
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", False):
        chosen = parallel.threading_layer()  # started by other numba code: keep it
    elif numba.config.THREADING_LAYER not in ("default", "safe", "threadsafe", "forksafe"):
        chosen = numba.config.THREADING_LAYER  # the user's explicit choice
    elif _load_tbb():
        chosen = "tbb"
    else:
        chosen = "workqueue"
    if not getattr(parallel, "_is_initialized", False):
        numba.config.THREADING_LAYER = chosen
    _state["layer"] = chosen
    _state["lock"] = chosen != "tbb" and chosen != "omp"
    return chosen


def layer() -> str | None:
    """The threading layer mtest asked numba for (None before ``configure``)."""
    return _state["layer"]


def needs_lock() -> bool:
    """Whether parallel kernels must be serialized (the layer is not thread-safe)."""
    return _state["lock"]


def serialized(kernel):
    """``kernel`` behind the process-wide lock (for a layer that is not thread-safe)."""
    def call(*args):
        with LOCK:
            return kernel(*args)

    call.__name__ = getattr(kernel, "__name__", "kernel")
    call.__doc__ = getattr(kernel, "__doc__", None)
    call.kernel = kernel
    return call
