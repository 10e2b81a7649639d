"""pumap.plot.interactive: the Bokeh figure's layers, legend, hover text, new points, the file.

What the page looks like in a browser is checked in test_browser.py; here, the figure's
models and the HTML file (self-contained, written atomically).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bokeh")
from bokeh.models import ColorBar, HoverTool, Legend

from pumap import Umap
from pumap.plot import interactive


@pytest.fixture(scope="module")
def fitted_and_data():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(loc=8 * k, size=(40, 5)) for k in range(3)]).astype(np.float32)
    fitted = Umap(n_neighbors=5, n_epochs=1, seed=0, verbose=False).fit(x)
    return fitted, x, np.repeat(np.arange(3), 40)


def _renderer(fig, name):
    (found,) = [r for r in fig.renderers if r.name == name]
    return found


def _points_of(renderer) -> np.ndarray:
    data = renderer.data_source.data
    return np.stack([np.asarray(data["x"]), np.asarray(data["y"])], axis=1)


def _tooltips(fig) -> list[list[tuple[str, str]]]:
    return [tool.tooltips for tool in fig.tools if isinstance(tool, HoverTool)]


def test_one_layer_per_class_with_its_points_rows_and_legend(fitted_and_data) -> None:
    fitted, _, labels = fitted_and_data
    fig = interactive(fitted, labels, class_names=["zero", "one", "two"])
    (legend,) = [r for r in fig.right if isinstance(r, Legend)]
    assert [item.label.value for item in legend.items] == ["zero", "one", "two"]
    for k, name in enumerate(["zero", "one", "two"]):
        layer = _renderer(fig, name)
        rows = np.asarray(layer.data_source.data["row"])
        np.testing.assert_array_equal(rows, np.flatnonzero(labels == k))
        np.testing.assert_allclose(_points_of(layer), fitted.embedding[rows], rtol=1e-6)
    colours = {_renderer(fig, n).glyph.fill_color for n in ("zero", "one", "two")}
    assert len(colours) == 3
    assert _tooltips(fig) == [[("label", "$name"), ("row", "@row")]]


def test_new_rows_are_transformed_and_drawn_as_rings_on_top(fitted_and_data) -> None:
    fitted, x, labels = fitted_and_data
    fig = interactive(fitted, labels, new=x[:7] + 0.5, new_labels=labels[:7])
    ring = fig.renderers[-1]
    assert ring.name == "new points"
    np.testing.assert_allclose(_points_of(ring), fitted.transform(x[:7] + 0.5), rtol=1e-6)
    assert ring.glyph.fill_alpha == 0 and ring.glyph.line_width >= 2
    assert list(ring.data_source.data["label"]) == [str(v) for v in labels[:7]]
    colour = dict(zip(labels, [_renderer(fig, str(k)).glyph.fill_color for k in labels],
                      strict=True))
    assert list(ring.data_source.data["colour"]) == [colour[v] for v in labels[:7]]
    assert ("label", "@label") in _tooltips(fig)[-1]
    (legend,) = [r for r in fig.right if isinstance(r, Legend)]
    assert legend.items[-1].label.value == "new points"


def test_new_embedding_is_drawn_as_given() -> None:
    xy = np.random.default_rng(1).normal(size=(30, 2))
    fig = interactive(xy, new=xy[:3] * 2)
    np.testing.assert_allclose(_points_of(fig.renderers[-1]), xy[:3] * 2, rtol=1e-6)


def test_continuous_labels_get_a_colour_bar_and_hover_columns() -> None:
    rng = np.random.default_rng(2)
    xy, value = rng.normal(size=(200, 2)), rng.random(200)
    fig = interactive(xy, value, hover={"word": np.array(["a", "b"])[np.arange(200) % 2],
                                        "score": np.arange(200.0)})
    assert any(isinstance(r, ColorBar) for r in fig.right)
    assert not any(isinstance(r, Legend) for r in fig.right)
    data = fig.renderers[0].data_source.data
    np.testing.assert_allclose(data["label"], value)
    assert list(data["word"][:3]) == ["a", "b", "a"]
    assert _tooltips(fig) == [[("label", "@label"), ("row", "@row"), ("word", "@{word}"),
                               ("score", "@{score}")]]


def test_page_is_self_contained_and_replaces_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "map.html"
    path.write_text("old")
    xy = np.random.default_rng(3).normal(size=(50, 2))
    assert interactive(xy, np.arange(50) % 2, path=path, title="my map") is not None
    html = path.read_text()
    assert "<title>my map</title>" in html
    assert "Bokeh" in html and len(html) > 500_000  # bokeh's JavaScript is inlined
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", html)  # nothing to fetch
    assert list(tmp_path.iterdir()) == [path]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    import bokeh.embed

    path = tmp_path / "map.html"
    path.write_text("old")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bokeh.embed, "file_html", broken)
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


def test_missing_bokeh_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "bokeh", None)
    with pytest.raises(ImportError, match=r'pip install "pumap\[interactive\]"'):
        interactive(np.zeros((3, 2)), path=tmp_path / "p.html")
    assert not (tmp_path / "p.html").exists()
