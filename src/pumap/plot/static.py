"""Scatter plots of 2-D embeddings with matplotlib (``pip install "pumap[plot]"``).

`points` draws a fitted model's embedding (or any ``(n, 2)`` array) on a matplotlib Axes and
returns it, for notebooks; `save_points` draws on a new figure and writes it to a PNG, SVG or
PDF file chosen by the file name's suffix (the command line and the examples use it).

matplotlib is imported on first use only, so ``import pumap.plot`` works without it.

Rasterising (`RASTERIZE_ABOVE`): in an SVG or PDF every point is a vector path by default, so
files grow with ``n`` and viewers slow down; above the threshold the point clouds are drawn as
one embedded image (at the figure's ``dpi``) while axes, text and legend stay vector. Measured
with `save_points` (7×6 in, dpi 150, ten classes; matplotlib 3.11, one core of a shared
2-core machine, so the seconds are rough)::

    n          SVG vector       SVG rasterised   PDF vector       PDF rasterised   PNG
    1,000      0.17 MB          0.13 MB          0.03 MB          0.06 MB          0.13 MB 0.1 s
    10,000     1.6 MB, 0.9 s    0.31 MB, 0.4 s   0.19 MB, 1.4 s   0.16 MB, 0.3 s   0.32 MB 0.3 s
    100,000    16 MB, 6.0 s     0.46 MB, 0.8 s   1.9 MB, 10.4 s   0.25 MB, 1.5 s   0.48 MB 0.8 s
    1,000,000  -                -                -                -                0.44 MB 6.9 s

(``python benchmarks/bench_plot_raster.py --n 1000 10000 100000``; PNG does not depend on the
flag.) Vector output keeps points sharp at any zoom and is small up to ten thousand points;
above that rasterising makes files 5-35× smaller and saving 4-7× faster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._colours import MAX_AUTO_CLASSES
from ._inputs import embedding_of as _embedding_of
from ._inputs import extra_labels_of
from ._inputs import labels_of as _labels

log = logging.getLogger(__name__)

RASTERIZE_ABOVE = 10_000
"""Point clouds with more points than this are rasterised in SVG/PDF output (see the table)."""
MAX_LEGEND_CLASSES = 40
"""With more classes than this, ``legend=None`` draws no legend (it would not fit)."""
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
"""File types `save_points` writes; the suffix of the path decides."""
INSTALL_HINT = 'pip install "pumap[plot]"'


def require_matplotlib() -> Any:
    """Import matplotlib, or raise an ImportError that says how to install it.

    Returns
    -------
    module
        The ``matplotlib`` module.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"pumap.plot needs matplotlib: {INSTALL_HINT}") from exc
    return matplotlib


def default_point_size(n: int) -> float:
    """Marker area in points² for a scatter of `n` points: about ``500 / sqrt(n)``.

    From 30 (a few hundred points or fewer) down to 0.5 at a million points, where the clouds
    still show their density and a figure of 1M points saves in seconds.
    """
    return float(np.clip(500.0 / np.sqrt(max(n, 1)), 0.3, 30.0))


def default_alpha(n: int) -> float:
    """Opacity of the points: 0.9 for small plots, lower for more points (0.4 at 1M)."""
    return float(np.clip(1.5 - 0.2 * np.log10(max(n, 1)), 0.4, 0.9))


def points(
    fitted_or_embedding: Any,
    labels: Any = None,
    *,
    ax: Any = None,
    held_out: Any = None,
    held_out_labels: Any = None,
    class_names: Mapping[Any, str] | Sequence[str] | None = None,
    kind: str = "auto",
    cmap: str | None = None,
    legend: bool | None = None,
    colorbar_label: str | None = None,
    held_out_name: str = "held-out",
    title: str | None = None,
    point_size: float | None = None,
    alpha: float | None = None,
    rasterized: bool | None = None,
    seed: int = 0,
) -> Any:
    """Draw a 2-D embedding as a scatter plot coloured by label; returns the matplotlib Axes.

    Parameters
    ----------
    fitted_or_embedding : FittedUmap, ParametricUMAP or array-like, shape (n, 2)
        A fitted model (its training ``embedding`` is drawn) or the points themselves (NumPy
        array, torch tensor on any device, or anything ``np.asarray`` takes).
    labels : array-like, shape (n,), optional
        Colour of each point: classes (strings, booleans, integers with at most
        `MAX_AUTO_CLASSES` values) get distinct colours and a legend; other numbers a
        continuous colour map and a colour bar. `kind` overrides the guess.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure from ``matplotlib.pyplot``.
    held_out : array-like, shape (m, 2), optional
        Embedded held-out points (e.g. ``fitted.transform(X_new)``), drawn on top as rings
        with a legend entry `held_out_name`.
    held_out_labels : array-like, shape (m,), optional
        Labels of the held-out points, coloured on the same scale as `labels` (required then).
    class_names : mapping or sequence of str, optional
        Legend text per class: a mapping from label to name, or a sequence indexed by integer
        label (like scikit-learn's ``target_names``). Implies categorical labels.
    kind : {"auto", "categorical", "continuous"}
        How to read `labels`.
    cmap : str, optional
        A matplotlib colour map name; default ``tab10``/``tab20``/``turbo`` for classes (by
        their number) and ``viridis`` for continuous labels.
    legend : bool, optional
        Draw a legend; by default when there are classes (at most `MAX_LEGEND_CLASSES`) or
        held-out points.
    colorbar_label : str, optional
        Label of the colour bar of continuous labels.
    held_out_name : str
        Legend text of the held-out points.
    title : str, optional
        Axes title.
    point_size : float, optional
        Marker area in points²; by default `default_point_size` of the number of points.
    alpha : float, optional
        Opacity in ``(0, 1]``; by default `default_alpha` of the number of points.
    rasterized : bool, optional
        Draw the point clouds as an image in vector output; by default when there are more
        than `RASTERIZE_ABOVE` points.
    seed : int
        Seed of the drawing order's shuffle (so that no class hides another).

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on: ``ax.collections[0]`` holds the points, ``[1]`` the held-out ones.

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    ValueError
        If an embedding is not ``(n, 2)`` and finite, if labels do not have one entry per
        point, or an option is out of range.
    """
    require_matplotlib()
    from ._colours import Colours

    xy = _embedding_of(fitted_or_embedding, "fitted_or_embedding")
    n = xy.shape[0]
    held = None if held_out is None else _embedding_of(held_out, "held_out")
    lab = _labels(labels, n, "labels", "fitted_or_embedding")
    held_lab = extra_labels_of(held_out_labels, held, lab, "held_out_labels", "held_out", "other")
    if kind not in ("auto", "categorical", "continuous"):
        raise ValueError(f"kind must be 'auto', 'categorical' or 'continuous', got {kind!r}")
    if point_size is not None and not (np.isfinite(point_size) and point_size > 0):
        raise ValueError(f"point_size must be a positive number, got {point_size!r}")
    if alpha is not None and not (0 < alpha <= 1):
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")

    n_all = n + (0 if held is None else held.shape[0])
    size = default_point_size(n_all) if point_size is None else float(point_size)
    opacity = default_alpha(n_all) if alpha is None else float(alpha)
    raster = n_all > RASTERIZE_ABOVE if rasterized is None else bool(rasterized)
    colours = Colours.of(lab, held_lab, kind, class_names, cmap)

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 6))
    order = np.random.default_rng(seed).permutation(n)
    cloud = ax.scatter(xy[order, 0], xy[order, 1], s=size, alpha=opacity, linewidths=0,
                       rasterized=raster, label="_points", **colours.style(order, held=False))
    if held is not None:
        style = colours.style(np.arange(held.shape[0]), held=True)
        ax.scatter(held[:, 0], held[:, 1], s=max(4 * size, 12.0), facecolors="none",
                   linewidths=0.8, alpha=max(opacity, 0.7), rasterized=raster,
                   label="_held_out", **style)
    handles = colours.legend_handles()
    if held is not None:
        handles.append(_ring_handle(held_out_name, colours.held_out_edge))
    show_legend = legend if legend is not None else (
        bool(handles) and len(colours.names) <= MAX_LEGEND_CLASSES
    )
    if show_legend and handles and colours.continuous:  # the colour bar is on the right
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01),
                  frameon=False, ncol=len(handles), handletextpad=0.2)
    elif show_legend and handles:
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5),
                  frameon=False, ncol=1 + (len(handles) - 1) // 20, handletextpad=0.2,
                  borderaxespad=0.0)
    if colours.continuous:
        bar = ax.figure.colorbar(cloud, ax=ax, shrink=0.8, pad=0.02)
        bar.solids.set_alpha(1.0)
        if colorbar_label:
            bar.set_label(colorbar_label)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def save_points(
    path: str | Path,
    fitted_or_embedding: Any,
    labels: Any = None,
    *,
    figsize: tuple[float, float] = (7.0, 6.0),
    dpi: float = 150,
    **options: Any,
) -> Path:
    """Draw `points` on a new figure and write it to a PNG, SVG or PDF file.

    The figure is made without ``matplotlib.pyplot`` (no window, no global figure list), so
    this works on machines without a display.

    Parameters
    ----------
    path : str or Path
        The file to write; its suffix (``.png``, ``.svg`` or ``.pdf``) picks the format.
    fitted_or_embedding, labels
        As in `points`.
    figsize : tuple of float
        Figure width and height in inches (the legend or colour bar sits to the right).
    dpi : float
        Pixels per inch of a PNG, and of the rasterised points of an SVG/PDF.
    **options
        Any other keyword argument of `points` (``held_out``, ``class_names``, ``title``, ...).

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ValueError
        If the suffix is not one of `PLOT_SUFFIXES`, or as `points` does.
    ImportError
        If matplotlib is not installed.
    """
    path = Path(path)
    check_plot_path(path, "path")
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot()
    points(fitted_or_embedding, labels, ax=ax, **options)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    log.info("wrote plot to %s", path)
    return path


def check_plot_path(path: str | Path, argument: str) -> Path:
    """Raise a ValueError naming `argument` unless `path` ends in one of `PLOT_SUFFIXES`."""
    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise ValueError(
            f"{argument} {str(path)!r}: a plot file name must end in {', '.join(PLOT_SUFFIXES)}"
        )
    return path


def _ring_handle(name: str, colour: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="", marker="o", markersize=7, markerfacecolor="none",
                  markeredgecolor=colour, markeredgewidth=1.0, label=name)


__all__ = [
    "MAX_AUTO_CLASSES",
    "MAX_LEGEND_CLASSES",
    "PLOT_SUFFIXES",
    "RASTERIZE_ABOVE",
    "check_plot_path",
    "default_alpha",
    "default_point_size",
    "points",
    "require_matplotlib",
    "save_points",
]
