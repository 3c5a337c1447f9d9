"""A module imported on first use: ``_kernels = kernels_module()`` in the modules that call the
Numba kernels, so that importing them (and running the small-input paths of ``mtest._small``,
which call no kernel) does not import numba (≈ 0.3-0.9 s here, most of a small first call).

The proxy imports the real module on the first attribute read or write, under a lock (Python
3.11's ``importlib.util.LazyLoader`` is not thread-safe on first access); writes go to the real
module, so ``monkeypatch.setattr`` through a proxy patches the module every proxy and every
``from mtest import _kernels`` sees.
"""
from __future__ import annotations

import importlib
import threading

__all__ = ["LazyModule", "kernels_module"]


class LazyModule:
    """Stands for the module ``name`` and imports it on first use."""

    __slots__ = ("_name", "_module", "_lock")

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)
        object.__setattr__(self, "_lock", threading.Lock())

    def _load(self):
        module = object.__getattribute__(self, "_module")
        if module is None:
            with object.__getattribute__(self, "_lock"):
                module = object.__getattribute__(self, "_module")
                if module is None:
                    module = importlib.import_module(object.__getattribute__(self, "_name"))
                    object.__setattr__(self, "_module", module)
        return module

    def __getattr__(self, attr):
        return getattr(self._load(), attr)

    def __setattr__(self, attr, value):
        setattr(self._load(), attr, value)

    def __delattr__(self, attr):
        delattr(self._load(), attr)

    def __repr__(self):
        return f"<lazy module {object.__getattribute__(self, '_name')!r}>"


_KERNELS = LazyModule("mtest._kernels")


def kernels_module() -> LazyModule:
    """The one proxy of ``mtest._kernels`` (imports numba when first used)."""
    return _KERNELS
