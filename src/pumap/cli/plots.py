"""``--plot`` of ``pumap fit`` and ``pumap transform``: the file's suffix picks the kind.

``.png``, ``.svg`` and ``.pdf`` are matplotlib pictures (`pumap.plot.save_points`, extra
``plot``); ``.html`` is the interactive page (`pumap.plot.interactive`, extra
``interactive``). The drawing library is looked for before any long work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plot import HTML_SUFFIXES, PLOT_SUFFIXES

PLOT_FILE_SUFFIXES = (*PLOT_SUFFIXES, *HTML_SUFFIXES)
"""What ``--plot`` writes: matplotlib's files and the interactive page."""


def is_html(path: Path) -> bool:
    """Whether `path` names an interactive page rather than a matplotlib file."""
    return path.suffix.lower() in HTML_SUFFIXES


def require_plot_library(path: Path) -> None:
    """Raise an ImportError naming ``--plot`` and the extra unless `path`'s library is here."""
    from ..plot import require_matplotlib
    from ..plot.interactive import require_plotly

    try:
        require_plotly() if is_html(path) else require_matplotlib()
    except ImportError as err:
        raise ImportError(f"--plot {path}: {err}") from None


def write_plot(path: Path, embedding: np.ndarray, labels: np.ndarray | None, title: str) -> None:
    """The embedding drawn to `path`: an interactive page for .html, else a matplotlib file."""
    from ..plot import interactive, save_points

    if is_html(path):
        interactive(np.asarray(embedding), labels, path=path, title=title)
    else:
        save_points(path, np.asarray(embedding), labels, title=title)


__all__ = ["PLOT_FILE_SUFFIXES", "is_html", "require_plot_library", "write_plot"]
