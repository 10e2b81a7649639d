"""Pictures of 2-D embeddings and hand-offs to the viewers people use.

- static: `points` draws on a matplotlib Axes, `save_points` writes PNG/SVG/PDF (extra ``plot``);
- interactive: `interactive` writes one self-contained HTML page (Plotly, WebGL; extra
  ``interactive``);
- frames: `to_frame` and `to_parquet` hand the points (label, new-point flag, nearest training
  rows) to pandas, datamapplot, embedding-atlas and the like.

Every optional library is imported on first use, so ``import pumap.plot`` needs none of them.
"""

from __future__ import annotations

from .frame import to_frame, to_parquet
from .interactive import HTML_SUFFIXES, MAX_INTERACTIVE_POINTS, interactive
from .static import (
    MAX_AUTO_CLASSES,
    MAX_LEGEND_CLASSES,
    PLOT_SUFFIXES,
    RASTERIZE_ABOVE,
    check_plot_path,
    default_alpha,
    default_point_size,
    points,
    require_matplotlib,
    save_points,
)

__all__ = [
    "HTML_SUFFIXES",
    "MAX_AUTO_CLASSES",
    "MAX_INTERACTIVE_POINTS",
    "MAX_LEGEND_CLASSES",
    "PLOT_SUFFIXES",
    "RASTERIZE_ABOVE",
    "check_plot_path",
    "default_alpha",
    "default_point_size",
    "interactive",
    "points",
    "require_matplotlib",
    "save_points",
    "to_frame",
    "to_parquet",
]
