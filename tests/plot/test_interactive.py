"""pumap.plot.interactive: the Plotly figure's layers, legend, hover text, new points, the file.

What the page looks like in a browser is checked in test_browser.py; here, the figure's
models and the HTML file (self-contained, written atomically).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pumap import Umap
from pumap.plot import interactive

pytest.importorskip("plotly")


@pytest.fixture(scope="module")
def fitted_and_data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(loc=8 * k, size=(40, 5)) for k in range(3)]).astype(np.float32)
    fitted = Umap(n_neighbors=5, n_epochs=1, seed=0, verbose=False).fit(x)
    return fitted, x, np.repeat(np.arange(3), 40)


def _trace(fig, name):
    (found,) = [t for t in fig.data if t.name == name]
    return found


def _points_of(trace) -> np.ndarray:
    return np.stack([np.asarray(trace.x), np.asarray(trace.y)], axis=1)


def _legend(fig) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False]


def test_one_layer_per_class_with_its_points_rows_and_legend(fitted_and_data) -> None:
    fitted, _, labels = fitted_and_data
    fig = interactive(fitted, labels, class_names=["zero", "one", "two"])
    assert _legend(fig) == ["zero", "one", "two"]
    for k, name in enumerate(["zero", "one", "two"]):
        layer = _trace(fig, name)
        assert layer.type == "scattergl"
        rows = np.asarray(layer.customdata)
        np.testing.assert_array_equal(rows, np.flatnonzero(labels == k))
        np.testing.assert_allclose(_points_of(layer), fitted.embedding[rows], rtol=1e-6)
        assert layer.hovertemplate == "label: %{fullData.name}<br>row: %{customdata}<extra></extra>"
    assert len({_trace(fig, n).marker.color for n in ("zero", "one", "two")}) == 3
    assert fig.layout.dragmode == "pan" and fig.layout.yaxis.scaleanchor == "x"


def test_new_rows_are_transformed_and_drawn_as_rings_on_top(fitted_and_data) -> None:
    fitted, x, labels = fitted_and_data
    fig = interactive(fitted, labels, new=x[:7] + 0.5, new_labels=labels[:7])
    ring = fig.data[-1]
    assert ring.name == "new points" and _legend(fig)[-1] == "new points"
    np.testing.assert_allclose(_points_of(ring), fitted.transform(x[:7] + 0.5), rtol=1e-6)
    assert ring.marker.symbol == "circle-open" and ring.marker.line.width >= 2
    assert list(ring.text) == [str(v) for v in labels[:7]]
    colour = {k: _trace(fig, str(k)).marker.color for k in range(3)}
    assert list(ring.marker.color) == [colour[v] for v in labels[:7]]
    assert ring.hovertemplate.startswith("label: %{text}")


def test_new_embedding_is_drawn_as_given() -> None:
    xy = np.random.default_rng(1).normal(size=(30, 2))
    fig = interactive(xy, new=xy[:3] * 2)
    np.testing.assert_allclose(_points_of(fig.data[-1]), xy[:3] * 2, rtol=1e-6)


def test_continuous_labels_get_a_colour_bar_and_hover_columns() -> None:
    rng = np.random.default_rng(2)
    xy, value = rng.normal(size=(200, 2)), rng.random(200)
    fig = interactive(xy, value, hover={"word": np.array(["a", "b"])[np.arange(200) % 2],
                                        "score": np.arange(200.0)})
    (layer,) = fig.data
    assert layer.marker.showscale and _legend(fig) == []
    np.testing.assert_allclose(layer.marker.color, value)
    custom = np.asarray(layer.customdata)
    assert custom[:3].tolist() == [[0, "a", 0.0], [1, "b", 1.0], [2, "a", 2.0]]
    assert layer.hovertemplate == ("label: %{marker.color:.4g}<br>row: %{customdata[0]}"
                                   "<br>word: %{customdata[1]}<br>score: %{customdata[2]}"
                                   "<extra></extra>")


def test_page_is_self_contained_and_replaces_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "map.html"
    path.write_text("old")
    xy = np.random.default_rng(3).normal(size=(50, 2))
    assert interactive(xy, np.arange(50) % 2, path=path, title="my map") is not None
    html = path.read_text()
    assert "<title>my map</title>" in html
    assert '"scrollZoom": true' in html  # the wheel zooms; dragging pans (layout.dragmode)
    assert "plotly.js" in html and len(html) > 1_000_000  # plotly.js is inlined
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", html)  # nothing to fetch
    assert list(tmp_path.iterdir()) == [path]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    import plotly.graph_objects as go

    path = tmp_path / "map.html"
    path.write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(go.Figure, "to_html", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        interactive(np.zeros((3, 2)), path=path)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": np.zeros(4)}, r"labels must be 1-D with one entry per point .* \(5\)"),
        ({"hover": {"a": np.zeros(4)}}, r"hover\['a'\] must be 1-D with one entry per point"),
        ({"hover": {"not ok": np.zeros(5)}}, r"hover column names must be identifiers"),
        ({"hover": [1, 2]}, r"hover must be a mapping"),
        ({"new_labels": np.zeros(2)}, r"new_labels were given without new"),
        ({"new": np.zeros((2, 3))}, r"new must be a 2-D embedding of shape \(n, 2\)"),
        ({"kind": "sorted"}, r"kind must be"),
        ({"point_size": 0}, r"point_size must be a positive number"),
        ({"width": 10}, r"width must be an integer of at least 100"),
        ({"max_points": 4}, r"5 points are more than max_points=4"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        interactive(np.random.default_rng(0).normal(size=(5, 2)), **kwargs)


def test_new_rows_must_match_the_model(fitted_and_data) -> None:
    fitted, _, _ = fitted_and_data
    with pytest.raises(ValueError, match=r"new must have the model's 5 features"):
        interactive(fitted, new=np.zeros((3, 4)))


def test_missing_plotly_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(ImportError, match=r'pip install "pumap\[interactive\]"'):
        interactive(np.zeros((3, 2)), path=tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()
