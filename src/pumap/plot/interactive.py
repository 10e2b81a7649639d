"""One self-contained HTML page of an embedding that pans, zooms and tells what each point is.

`interactive` draws with Plotly's WebGL scatter (``scattergl``; ``pip install
"pumap[interactive]"``) and inlines plotly.js in the file, so the page opens offline and can
be mailed. Classes get one layer each with a legend entry (click it to hide the class),
numbers a colour bar; the hover text names the label, the row id and any extra columns; new
points (``new=``) are drawn as rings on top of the training map. Plotly was chosen over Bokeh
(WebGL, inline resources) by time to first paint at a million points (4x faster, though the
file is 1.7x larger): see docs/benchmarks.md ("Interactive pages").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ._colours import MAX_AUTO_CLASSES, _class_name, _integral, _is_categorical
from ._inputs import embedding_of, extra_labels_of, labels_of, new_embedding_of
from .static import default_alpha

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "pumap[interactive]"'
HTML_SUFFIXES = (".html", ".htm")
"""File names that `pumap fit/transform --plot` write as an interactive page."""
MAX_INTERACTIVE_POINTS = 2_000_000
"""Default cap on the points of one page; beyond it use `to_parquet` and a viewer (see docs)."""
UNLABELLED = "#1f77b4"
NEW_UNLABELLED = "#ff7f0e"
NEW_NAME = "new points"
PLOTLY_CONFIG = {"scrollZoom": True, "displaylogo": False}
TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
         "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
         "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")
"""matplotlib's tab20, so that the page and `pumap.plot.points` colour classes alike."""


def require_plotly() -> Any:
    """Import plotly, or raise an ImportError that names the ``interactive`` extra."""
    try:
        import plotly
    except ImportError as exc:
        raise ImportError(f"pumap.plot.interactive needs plotly: {INSTALL_HINT}") from exc
    return plotly


def default_pixel_size(n: int) -> float:
    """Marker diameter in screen pixels for `n` points: 8 for a few points, 2 from 250,000."""
    return float(np.clip(24.0 / max(n, 1) ** 0.2, 2.0, 8.0))


def interactive(
    fitted_or_embedding: Any,
    labels: Any = None,
    hover: Mapping[str, Any] | Any = None,
    new: Any = None,
    path: str | Path | None = None,
    *,
    new_labels: Any = None,
    class_names: Mapping[Any, str] | Sequence[str] | None = None,
    kind: str = "auto",
    title: str | None = None,
    point_size: float | None = None,
    width: int = 800,
    height: int = 700,
    max_points: int | None = MAX_INTERACTIVE_POINTS,
) -> Any:
    """Draw an embedding as an interactive Plotly figure and write it to one HTML file.

    Parameters
    ----------
    fitted_or_embedding : FittedUmap, ParametricUMAP or array-like, shape (n, 2)
        A fitted model (its training ``embedding`` is drawn) or the points themselves.
    labels : array-like, shape (n,), optional
        Classes (strings, booleans, integers with at most `MAX_AUTO_CLASSES` values: one colour
        and legend entry each) or numbers (a colour bar); `kind` overrides the guess.
    hover : mapping of str to array-like, or a pandas DataFrame, optional
        More columns for the hover text, one value per point of `fitted_or_embedding`.
    new : array-like, optional
        New points, drawn as rings on top: with a model, rows of its ``n_features`` features
        (embedded with ``transform``); otherwise, or when it has 2 columns and the model
        does not take 2 features, their ``(m, 2)`` embedding.
    path : str or Path, optional
        Where to write the page (``.html``); the file is replaced atomically. By default
        nothing is written.
    new_labels : array-like, shape (m,), optional
        Labels of the new points, on the same colours as `labels` (which must be given).
    class_names : mapping or sequence of str, optional
        Legend text per class, as in `pumap.plot.points`.
    kind : {"auto", "categorical", "continuous"}
        How to read `labels`.
    title : str, optional
        Title of the figure and of the page.
    point_size : float, optional
        Marker diameter in screen pixels; by default `default_pixel_size` of the point count.
    width, height : int
        Size of the plot in pixels.
    max_points : int or None
        Refuse more points than this (the page's cost grows with them: about 22 MB, and a
        minute to draw in a browser without a GPU, at a million); None for no cap.

    Returns
    -------
    plotly.graph_objects.Figure
        The figure (``fig.show()`` in a notebook). Its traces are named after the classes
        (``"points"`` for unlabelled or continuous labels), and ``"new points"`` for the rings.

    Raises
    ------
    ImportError
        If plotly is not installed.
    ValueError
        If an embedding, label or hover column has the wrong shape, an option is out of
        range, or there are more than `max_points` points.
    """
    require_plotly()
    xy = embedding_of(fitted_or_embedding, "fitted_or_embedding")
    n = xy.shape[0]
    new_xy = None if new is None else new_embedding_of(fitted_or_embedding, new)
    m = 0 if new_xy is None else new_xy.shape[0]
    lab = labels_of(labels, n, "labels", "fitted_or_embedding")
    new_lab = extra_labels_of(new_labels, new_xy, lab, "new_labels", "new", "training")
    columns = _hover_columns(hover, n)
    if kind not in ("auto", "categorical", "continuous"):
        raise ValueError(f"kind must be 'auto', 'categorical' or 'continuous', got {kind!r}")
    if point_size is not None and not (np.isfinite(point_size) and point_size > 0):
        raise ValueError(f"point_size must be a positive number, got {point_size!r}")
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, np.integer)) or value < 100:
            raise ValueError(f"{name} must be an integer of at least 100 pixels, got {value!r}")
    if max_points is not None and n + m > max_points:
        raise ValueError(
            f"{n + m:,} points are more than max_points={max_points:,}: subsample, raise "
            "max_points (docs/benchmarks.md says what a page costs), or write "
            "pumap.plot.to_parquet and open it in embedding-atlas"
        )
    size = default_pixel_size(n + m) if point_size is None else float(point_size)
    figure = _figure(title, width, height)
    _draw(figure, xy, lab, new_xy, new_lab, columns, kind, class_names, size, default_alpha(n))
    if path is not None:
        write_html(figure, path, title or "pumap embedding")
    return figure


def write_html(figure: Any, path: str | Path, title: str) -> Path:
    """Write a Plotly `figure` as one HTML file with plotly.js inlined (atomically)."""
    from ..model.formats.atomic import atomic_write

    path = Path(path)
    html = figure.to_html(include_plotlyjs=True, full_html=True, config=PLOTLY_CONFIG)
    html = html.replace("<head>", f"<head><title>{escape(title)}</title>", 1)
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    log.info("wrote interactive plot to %s", path)
    return path


def _hover_columns(hover: Any, n: int) -> dict[str, np.ndarray]:
    if hover is None:
        return {}
    if hasattr(hover, "columns") and hasattr(hover, "to_numpy"):  # a pandas DataFrame
        hover = {str(c): hover[c].to_numpy() for c in hover.columns}
    if not isinstance(hover, Mapping):
        raise ValueError(f"hover must be a mapping of column name to values or a DataFrame, "
                         f"got {type(hover).__name__}")
    columns = {}
    for name, values in hover.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"hover column names must be identifiers, got {name!r}")
        array = labels_of(values, n, f"hover[{name!r}]", "fitted_or_embedding")
        columns[name] = array if array.dtype.kind in "biuf" else array.astype(str)
    return columns


def _figure(title: str | None, width: int, height: int) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    hidden = {"visible": False, "showgrid": False, "zeroline": False}
    fig.update_layout(title=title, width=width, height=height, template="plotly_white",
                      xaxis=hidden, yaxis={**hidden, "scaleanchor": "x", "scaleratio": 1},
                      legend={"itemsizing": "constant"}, hovermode="closest", dragmode="pan",
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    return fig


def _draw(fig: Any, xy: np.ndarray, lab: np.ndarray | None, new_xy: np.ndarray | None,
          new_lab: np.ndarray | None, columns: dict[str, np.ndarray], kind: str,
          class_names: Any, size: float, alpha: float) -> None:
    """Add the point layers (one per class), the colour bar and the new points to `fig`."""
    import plotly.graph_objects as go

    n = xy.shape[0]
    both = None if lab is None else lab if new_lab is None else np.concatenate([lab, new_lab])
    # customdata is the row id alone (1-D) without hover columns, else [row, *columns] per point
    row = "%{customdata[0]}" if columns else "%{customdata}"
    extra = "".join(f"<br>{name}: %{{customdata[{i + 1}]}}" for i, name in enumerate(columns))
    marker = {"size": size, "opacity": alpha}
    new_marker: dict[str, Any] = {"color": NEW_UNLABELLED}
    new_text = None
    if both is not None and _is_categorical(both, kind, class_names):
        if both.dtype.kind == "f" and _integral(both):
            both = both.astype(np.int64)
        classes, codes = np.unique(both, return_inverse=True)
        codes = codes.reshape(-1)
        palette = np.asarray(_palette(len(classes)))
        names = np.array([_class_name(c, class_names) for c in classes], dtype=object)
        for k, name in enumerate(names):
            rows = np.flatnonzero(codes[:n] == k)
            if rows.size:
                fig.add_trace(go.Scattergl(
                    **_xy(xy, rows), customdata=_custom(rows, columns), mode="markers",
                    name=name, marker={**marker, "color": palette[k]},
                    hovertemplate=f"label: %{{fullData.name}}<br>row: {row}{extra}"
                                  "<extra></extra>"))
        if new_lab is not None:
            new_marker["color"] = palette[codes[n:]]
            new_text = names[codes[n:]]
    elif both is not None:
        if both.dtype.kind not in "biuf":
            raise ValueError(f"continuous labels must be numbers, got {both.dtype} values "
                             f"such as {both[0]!r}")
        values = both.astype(np.float64)
        finite = values[np.isfinite(values)]
        scale = {"colorscale": "Viridis", "cmin": float(finite.min()) if finite.size else 0.0,
                 "cmax": float(finite.max()) if finite.size else 1.0}
        rows = np.arange(n)
        fig.add_trace(go.Scattergl(
            **_xy(xy, rows), customdata=_custom(rows, columns), mode="markers", name="points",
            marker={**marker, **scale, "color": values[:n], "showscale": True,
                    "colorbar": {"thickness": 12}},
            hovertemplate=f"label: %{{marker.color:.4g}}<br>row: {row}{extra}"
                          "<extra></extra>", showlegend=False))
        if new_lab is not None:
            new_marker.update(scale, color=values[n:])
            new_text = values[n:]
    else:
        rows = np.arange(n)
        fig.add_trace(go.Scattergl(
            **_xy(xy, rows), customdata=_custom(rows, columns), mode="markers", name="points",
            marker={**marker, "color": UNLABELLED}, showlegend=False,
            hovertemplate=f"row: {row}{extra}<extra></extra>"))
    if new_xy is not None:
        rows = np.arange(new_xy.shape[0])
        label = "" if new_text is None else "label: %{text}<br>"
        fig.add_trace(go.Scattergl(
            **_xy(new_xy, rows), mode="markers", name=NEW_NAME, customdata=rows,
            text=None if new_text is None else [str(t) for t in new_text],
            marker={**new_marker, "size": max(3 * size, 9), "symbol": "circle-open",
                    "line": {"width": 2}},
            hovertemplate=f"{label}new point: %{{customdata}}<extra></extra>"))


def _xy(xy: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """float32 x and y of `rows` (plotly writes them as binary, 8 bytes a point)."""
    return {"x": xy[rows, 0].astype(np.float32), "y": xy[rows, 1].astype(np.float32)}


def _custom(rows: np.ndarray, columns: dict[str, np.ndarray]) -> np.ndarray:
    """The hover columns of `rows`, the row id first: int32 alone, else a 2-D array."""
    if not columns:
        return rows.astype(np.int32)
    parts = [rows, *(values[rows] for values in columns.values())]
    if all(p.dtype.kind in "biuf" for p in parts):
        return np.stack([p.astype(np.float64) for p in parts], axis=1)
    return np.stack([p.astype(object) for p in parts], axis=1)


def _palette(k: int) -> list[str]:
    """`k` class colours: matplotlib's tab10 (plotly's D3) / tab20, else samples of Turbo."""
    from plotly.colors import qualitative, sample_colorscale

    if k <= 10:
        return list(qualitative.D3[:k])
    if k <= 20:
        return list(TAB20[:k])
    return sample_colorscale("Turbo", list(np.linspace(0.0, 1.0, k)))


__all__ = ["HTML_SUFFIXES", "MAX_AUTO_CLASSES", "MAX_INTERACTIVE_POINTS", "interactive",
           "require_plotly", "write_html"]
