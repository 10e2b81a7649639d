"""One self-contained HTML page of an embedding that pans, zooms and tells what each point is.

`interactive` draws with Bokeh (``pip install "pumap[interactive]"``): WebGL output, and
Bokeh's JavaScript inlined in the file, so the page opens offline and can be mailed. Classes
get one layer each with a legend entry (click it to hide the class), numbers a colour bar; the
hover text names the label, the row id and any extra columns; new points (``new=``) are drawn
as rings on top of the training map. Bokeh was chosen over Plotly's WebGL scatter by size and
speed: see docs/benchmarks.md ("Interactive pages").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._colours import MAX_AUTO_CLASSES, _class_name, _integral, _is_categorical
from ._inputs import embedding_of, labels_of
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


def require_bokeh() -> Any:
    """Import bokeh, or raise an ImportError that names the ``interactive`` extra."""
    try:
        import bokeh
    except ImportError as exc:
        raise ImportError(f"pumap.plot.interactive needs bokeh: {INSTALL_HINT}") from exc
    return bokeh


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
    """Draw an embedding as an interactive Bokeh figure and write it to one HTML file.

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
        Refuse more points than this (the page's cost grows with them: about 27 MB and 1 GB
        of memory to build at a million); None for no cap.

    Returns
    -------
    bokeh.plotting.figure
        The figure (``bokeh.io.show(fig)`` shows it in a notebook). Its renderers are named
        after the classes, and ``"new points"`` for the rings.

    Raises
    ------
    ImportError
        If bokeh is not installed.
    ValueError
        If an embedding, label or hover column has the wrong shape, an option is out of
        range, or there are more than `max_points` points.
    """
    require_bokeh()
    xy = embedding_of(fitted_or_embedding, "fitted_or_embedding")
    n = xy.shape[0]
    new_xy = None if new is None else _new_embedding(fitted_or_embedding, new)
    m = 0 if new_xy is None else new_xy.shape[0]
    lab = labels_of(labels, n, "labels", "fitted_or_embedding")
    new_lab = None
    if new_labels is not None:
        if new_xy is None:
            raise ValueError("new_labels were given without new")
        if lab is None:
            raise ValueError("new_labels need labels for the training points too")
        new_lab = labels_of(new_labels, m, "new_labels", "new")
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
    """Write a Bokeh `figure` as one HTML file with Bokeh's JavaScript inlined (atomically)."""
    from bokeh.embed import file_html
    from bokeh.resources import INLINE

    from ..model.formats.atomic import atomic_write

    path = Path(path)
    html = file_html(figure, INLINE, title)
    atomic_write(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    log.info("wrote interactive plot to %s", path)
    return path


def _new_embedding(model: Any, new: Any) -> np.ndarray:
    """The ``(m, 2)`` embedding of `new`: transformed when it is a model's rows."""
    fitted = getattr(model, "fitted_", model)
    n_features = getattr(fitted, "n_features", None)
    if hasattr(fitted, "transform") and n_features is not None:
        shape = getattr(new, "shape", None) or np.shape(new)
        if len(shape) == 2 and (shape[1] == n_features or shape[1] != 2):
            if shape[1] != n_features:
                raise ValueError(
                    f"new must have the model's {n_features} features (or be a 2-D "
                    f"embedding), got shape {tuple(shape)}"
                )
            new = fitted.transform(new)
    return embedding_of(new, "new")


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
    from bokeh.plotting import figure

    fig = figure(title=title, width=width, height=height, output_backend="webgl",
                 match_aspect=True, tools="pan,wheel_zoom,box_zoom,reset,save",
                 active_scroll="wheel_zoom")
    fig.xaxis.visible = False
    fig.yaxis.visible = False
    fig.grid.visible = False
    return fig


def _draw(fig: Any, xy: np.ndarray, lab: np.ndarray | None, new_xy: np.ndarray | None,
          new_lab: np.ndarray | None, columns: dict[str, np.ndarray], kind: str,
          class_names: Any, size: float, alpha: float) -> None:
    """Add the layers, the legend or colour bar, and the hover tools to `fig`."""
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem

    extra = [(name, f"@{{{name}}}") for name in columns]
    n = xy.shape[0]
    both = None if lab is None else lab if new_lab is None else np.concatenate([lab, new_lab])
    layers: list[Any] = []
    items: list[Any] = []
    new_colour: Any = NEW_UNLABELLED
    if both is not None and _is_categorical(both, kind, class_names):
        if both.dtype.kind == "f" and _integral(both):
            both = both.astype(np.int64)
        classes, codes = np.unique(both, return_inverse=True)
        codes = codes.reshape(-1)
        palette = np.asarray(_palette(len(classes)))
        for k, label in enumerate(classes):
            rows = np.flatnonzero(codes[:n] == k)
            if rows.size == 0:
                continue
            name = _class_name(label, class_names)
            source = ColumnDataSource(_data(xy, rows, columns))
            layers.append(fig.scatter("x", "y", source=source, size=size, color=palette[k],
                                      alpha=alpha, name=name))
            items.append(LegendItem(label=name, renderers=[layers[-1]]))
        tooltips = [("label", "$name"), ("row", "@row"), *extra]
        if new_lab is not None:
            new_colour = palette[codes[n:]].tolist()
            new_text = np.array([_class_name(c, class_names) for c in classes])[codes[n:]]
    elif both is not None:
        if both.dtype.kind not in "biuf":
            raise ValueError(f"continuous labels must be numbers, got {both.dtype} values "
                             f"such as {both[0]!r}")
        mapper = _colour_bar(fig, both.astype(np.float64))
        data = _data(xy, np.arange(n), columns)
        data["label"] = lab.astype(np.float64)
        layers.append(fig.scatter("x", "y", source=ColumnDataSource(data), size=size,
                                  alpha=alpha, color={"field": "label", "transform": mapper},
                                  name="points"))
        tooltips = [("label", "@label"), ("row", "@row"), *extra]
        if new_lab is not None:
            new_colour = {"field": "label", "transform": mapper}
            new_text = new_lab.astype(np.float64)
    else:
        layers.append(fig.scatter("x", "y", source=ColumnDataSource(_data(xy, np.arange(n),
                                                                          columns)),
                                  size=size, color=UNLABELLED, alpha=alpha, name="points"))
        tooltips = [("row", "@row"), *extra]
    fig.add_tools(HoverTool(renderers=layers, tooltips=tooltips))
    if new_xy is not None:
        data = {"x": new_xy[:, 0], "y": new_xy[:, 1], "row": np.arange(new_xy.shape[0])}
        new_tips = [("new point", "@row")]
        if new_lab is not None:
            data["label"] = new_text
            new_tips.insert(0, ("label", "@label"))
        if isinstance(new_colour, list):
            data["colour"] = np.array(new_colour)
            new_colour = "colour"
        ring = fig.scatter("x", "y", source=ColumnDataSource(data), size=max(3 * size, 9),
                           fill_alpha=0.0, line_width=2, line_color=new_colour, name=NEW_NAME)
        fig.add_tools(HoverTool(renderers=[ring], tooltips=new_tips))
        items.append(LegendItem(label=NEW_NAME, renderers=[ring]))
    if items:
        legend = Legend(items=items, click_policy="hide", location="top_left")
        fig.add_layout(legend, "right")


def _data(xy: np.ndarray, rows: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, Any]:
    """The columns of one layer: float32 x and y, the int32 row id, the hover columns."""
    data: dict[str, Any] = {"x": xy[rows, 0].astype(np.float32),
                            "y": xy[rows, 1].astype(np.float32),
                            "row": rows.astype(np.int32)}
    for name, values in columns.items():
        data[name] = values[rows] if values.dtype.kind in "biuf" else values[rows].tolist()
    return data


def _palette(k: int) -> list[str]:
    """`k` class colours: matplotlib's tab10 / tab20 (Bokeh's Category10 / 20), else Turbo."""
    from bokeh.palettes import Category10_10, Category20_20, Turbo256

    if k <= 10:
        return list(Category10_10[:k])
    if k <= 20:
        return list(Category20_20[:k])
    return [Turbo256[int(i)] for i in np.linspace(0, 255, k)]


def _colour_bar(fig: Any, values: np.ndarray) -> Any:
    from bokeh.models import ColorBar, LinearColorMapper
    from bokeh.palettes import Viridis256

    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    mapper = LinearColorMapper(palette=Viridis256, low=lo, high=hi)
    fig.add_layout(ColorBar(color_mapper=mapper, width=12), "right")
    return mapper


__all__ = ["HTML_SUFFIXES", "MAX_AUTO_CLASSES", "MAX_INTERACTIVE_POINTS", "interactive",
           "require_bokeh", "write_html"]
