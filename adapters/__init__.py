"""PyTorch adapters for mtest (imported as ``mtest.adapters``); the only code that imports torch.

Install with ``pip install -c constraints.txt -e ".[torch]"``.
"""
try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "mtest.adapters needs PyTorch; install it with "
        "`pip install -c constraints.txt -e \".[torch]\"`") from exc

__all__: list[str] = []
