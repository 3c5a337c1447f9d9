"""The figure plumbing shared by the power study and the adapters.

Figures are built as ``matplotlib.figure.Figure`` objects drawn by the Agg canvas directly: no
pyplot, so making a figure never changes the caller's backend, current figure or rc state (a
notebook user's inline or widget backend stays as it was).
"""
from __future__ import annotations

from pathlib import Path


def new_figure(nrows: int = 1, ncols: int = 1, **subplots):
    """A pyplot-free ``(figure, axes)`` pair, like ``plt.subplots`` (``figsize``/``dpi`` go to the figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=subplots.pop("figsize", None), dpi=subplots.pop("dpi", None))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **subplots)


def colour(name: str, i: int):
    """The ``i``-th colour of the matplotlib colormap ``name`` (e.g. 'tab10'), without pyplot."""
    from matplotlib import colormaps

    return colormaps[name](i)


def save_figure(fig, path) -> Path:
    """Lay out and write ``fig`` to ``path`` (creating its folder); the figure is not registered anywhere."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
