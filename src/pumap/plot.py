"""Standalone SVG scatter plots of 2-D embeddings, with no plotting library needed.

The SVG is written as text: one ``<circle>`` per point, coloured by class through a small
stylesheet, drawn in a shuffled order so that no class hides another, with coordinates rounded
to 0.1 px so that 70,000 points still make a file of a few megabytes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

log = logging.getLogger(__name__)

# Twelve hues that stay apart from each other; classes beyond the twelfth reuse them in order.
PALETTE = (
    "#2f6db5",  # blue
    "#f07f1a",  # orange
    "#2f9e44",  # green
    "#d6333f",  # red
    "#8a5cc2",  # violet
    "#8b5a3c",  # brown
    "#e36cb5",  # pink
    "#6f6f6f",  # grey
    "#b3b21f",  # olive
    "#1fb3c9",  # cyan
    "#1c2e78",  # navy
    "#f2c21b",  # gold
)
_MARGIN = 12.0
_TITLE_HEIGHT = 30.0
_LEGEND_ROW = 18.0
_CHAR_WIDTH = 7.5  # rough width of one 12 px sans-serif character, for the legend's width


def scatter_svg(
    embedding: Any,
    labels: Any = None,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    size: float = 800,
    point_size: float | None = None,
    class_names: Mapping[Any, str] | Sequence[str] | None = None,
    opacity: float | None = None,
    hollow: Any = None,
    hollow_name: str = "held-out",
    seed: int = 0,
) -> str:
    """Draw a 2-D embedding as a standalone SVG scatter plot, coloured by label.

    Parameters
    ----------
    embedding : array-like, shape (n, 2)
        Finite point coordinates; both axes use the same scale and the y axis points up.
    labels : array-like, shape (n,), optional
        Class of each point (integers or strings). Each class gets a colour from `PALETTE`
        (cycling beyond its twelve colours) and a legend entry; without labels all points
        share one colour and there is no legend.
    path : str or Path, optional
        Also write the SVG to this file (UTF-8).
    title : str, optional
        Text above the plot.
    size : float
        Width and height of the square plotting area in pixels; the legend is added to the right.
    point_size : float, optional
        Radius of the points in pixels; by default it shrinks with the number of points.
    class_names : mapping or sequence of str, optional
        Legend text per class: a mapping from label to name, or a sequence indexed by integer
        label (like scikit-learn's ``target_names``). By default the label itself.
    opacity : float, optional
        Fill opacity of the points in ``(0, 1]``; by default lower for more points.
    hollow : array-like of bool, shape (n,), optional
        Points drawn as rings instead of discs (e.g. held-out data), with their own legend
        entry `hollow_name`.
    hollow_name : str
        Legend text for the hollow points.
    seed : int
        Seed of the drawing order's shuffle.

    Returns
    -------
    str
        The SVG document.

    Raises
    ------
    ValueError
        If ``embedding`` is not an ``(n, 2)`` array of finite numbers with ``n >= 1``, if
        ``labels`` or ``hollow`` do not have one entry per point, or an option is out of range.
    """
    xy = np.asarray(embedding, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"embedding must have shape (n, 2), got {xy.shape}")
    n = xy.shape[0]
    if n == 0:
        raise ValueError("embedding has no points")
    if not np.isfinite(xy).all():
        raise ValueError("embedding contains NaN or infinite values")
    if not np.isfinite(size) or size < 4 * _MARGIN:
        raise ValueError(f"size must be at least {4 * _MARGIN:g} pixels, got {size!r}")
    if point_size is not None and not (np.isfinite(point_size) and point_size > 0):
        raise ValueError(f"point_size must be a positive number, got {point_size!r}")
    if opacity is not None and not (0 < opacity <= 1):
        raise ValueError(f"opacity must be in (0, 1], got {opacity!r}")

    if labels is None:
        classes: np.ndarray = np.zeros(0)
        codes = np.zeros(n, dtype=np.int64)
    else:
        label_array = np.asarray(labels)
        if label_array.ndim != 1 or label_array.shape[0] != n:
            raise ValueError(
                f"labels must be 1-D with one entry per point ({n}), got shape {label_array.shape}"
            )
        classes, codes = np.unique(label_array, return_inverse=True)
        codes = codes.reshape(-1)
    hollow_mask = None
    if hollow is not None:
        hollow_mask = np.asarray(hollow, dtype=bool)
        if hollow_mask.shape != (n,):
            raise ValueError(
                f"hollow must be 1-D with one entry per point ({n}), got shape {hollow_mask.shape}"
            )
    names = [_class_name(c, class_names) for c in classes]
    if len(classes) > len(PALETTE):
        log.info("%d classes but %d colours: colours repeat", len(classes), len(PALETTE))

    if point_size is None:
        point_size = float(np.clip(0.3 * size / np.sqrt(n), 0.8, 4.0))
    radius = point_size
    alpha = opacity if opacity is not None else float(np.clip(1.5 - 0.2 * np.log10(n), 0.4, 0.9))

    # Same scale on both axes, centred, kept a radius away from the plotting area's edges.
    top = _MARGIN + (_TITLE_HEIGHT if title else 0.0)
    inner = size - 2 * _MARGIN - 2 * radius
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float((hi - lo).max())
    scale = inner / span if span > 0 else 0.0
    centre = (lo + hi) / 2
    px = size / 2 + (xy[:, 0] - centre[0]) * scale
    py = top + size / 2 - _MARGIN - (xy[:, 1] - centre[1]) * scale

    show_legend = labels is not None or hollow_mask is not None
    legend_names = [*names, hollow_name] if hollow_mask is not None else names
    longest = max((len(s) for s in legend_names), default=0)
    legend_width = 2 * _MARGIN + 16 + _CHAR_WIDTH * longest if show_legend else 0.0
    width = size + legend_width
    height = max(top + size - _MARGIN, top + _LEGEND_ROW * (len(legend_names) + 1))

    n_colours = max(len(classes), 1)
    style = ["text{font-family:Helvetica,Arial,sans-serif;font-size:12px;fill:#222}"]
    style += [
        f".c{i}{{fill:{PALETTE[i % len(PALETTE)]};stroke:{PALETTE[i % len(PALETTE)]}}}"
        for i in range(n_colours)
    ]
    style.append(".h{fill:none;stroke-width:1px}")

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}">',
        f"<style>{''.join(style)}</style>",
        '<rect width="100%" height="100%" fill="#fff"/>',
        f'<rect x="{_MARGIN}" y="{top}" width="{size - 2 * _MARGIN:.1f}" '
        f'height="{size - 2 * _MARGIN:.1f}" fill="none" stroke="#ddd"/>',
    ]
    if title:
        out.append(
            f'<text x="{size / 2:.1f}" y="{_MARGIN + 18:.1f}" text-anchor="middle" '
            f'style="font-size:16px">{escape(title)}</text>'
        )
    out.append(f'<g id="points" fill-opacity="{alpha:.2f}" stroke-width="0">')
    order = np.random.default_rng(seed).permutation(n)
    r = f"{radius:.2f}".rstrip("0").rstrip(".")
    for i in order:
        kind = f"c{codes[i]} h" if hollow_mask is not None and hollow_mask[i] else f"c{codes[i]}"
        out.append(f'<circle class="{kind}" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{r}"/>')
    out.append("</g>")

    if show_legend:
        out.append('<g id="legend" stroke-width="0">')
        lx = size + _MARGIN
        entries = [(f"c{i}", name) for i, name in enumerate(names)]
        if hollow_mask is not None:
            entries.append(("c0 h" if not names else "h", hollow_name))
        for row, (kind, name) in enumerate(entries):
            y = top + _LEGEND_ROW * (row + 0.5)
            extra = ' stroke="#222"' if kind == "h" else ""
            out.append(
                f'<g class="entry"><circle class="{kind}" cx="{lx + 6:.1f}" cy="{y:.1f}" r="4.5"'
                f"{extra}/><text x=\"{lx + 16:.1f}\" y=\"{y + 4:.1f}\">{escape(name)}</text></g>"
            )
        out.append("</g>")
    out.append("</svg>")
    svg = "\n".join(out) + "\n"
    if path is not None:
        Path(path).write_text(svg, encoding="utf-8")
        log.info("wrote %d points to %s", n, path)
    return svg


def _class_name(label: Any, class_names: Mapping[Any, str] | Sequence[str] | None) -> str:
    """Legend text of one class."""
    if class_names is None:
        return str(label.item() if isinstance(label, np.generic) else label)
    if isinstance(class_names, Mapping):
        key = label.item() if isinstance(label, np.generic) else label
        if key not in class_names:
            raise ValueError(f"class_names has no entry for label {key!r}")
        return str(class_names[key])
    is_int = np.issubdtype(np.asarray(label).dtype, np.integer)
    if not is_int or not 0 <= int(label) < len(class_names):
        raise ValueError(
            f"a sequence of class_names needs integer labels in [0, {len(class_names)}), "
            f"got {label!r}; pass a mapping instead"
        )
    return str(class_names[int(label)])


__all__ = ["PALETTE", "scatter_svg"]
