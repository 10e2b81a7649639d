"""pumap.plot.scatter_svg: valid standalone SVG, one circle per point, legend, edge cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from pumap.plot import PALETTE, scatter_svg

NS = {"svg": "http://www.w3.org/2000/svg"}


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def _points(root: ET.Element) -> list[ET.Element]:
    group = root.find("svg:g[@id='points']", NS)
    assert group is not None
    return group.findall("svg:circle", NS)


def _legend_texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.findall("svg:g[@id='legend']//svg:text", NS)]


def _view_box(root: ET.Element) -> tuple[float, float, float, float]:
    x, y, w, h = map(float, root.attrib["viewBox"].split())
    return x, y, w, h


def _assert_inside(root: ET.Element) -> None:
    x0, y0, w, h = _view_box(root)
    for c in _points(root):
        r = float(c.attrib["r"])
        assert x0 <= float(c.attrib["cx"]) - r and float(c.attrib["cx"]) + r <= x0 + w
        assert y0 <= float(c.attrib["cy"]) - r and float(c.attrib["cy"]) + r <= y0 + h


def test_points_legend_and_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(500, 2)) * [100, 1] + [1e4, -3]
    labels = rng.integers(0, 12, size=500)
    path = tmp_path / "plot.svg"
    names = [f"n{i}" for i in range(12)]
    svg = scatter_svg(emb, labels, path, title="a < b & c", class_names=names)
    assert path.read_text(encoding="utf-8") == svg
    root = _parse(svg)
    points = _points(root)
    assert len(points) == 500
    assert _legend_texts(root) == [f"n{i}" for i in range(12)]
    assert "a < b & c" in [t.text for t in root.iter(f"{{{NS['svg']}}}text")]
    _assert_inside(root)
    # Colour classes follow the labels, drawn in a shuffled order.
    drawn = [int(c.attrib["class"][1:]) for c in points]
    assert sorted(drawn) == sorted(labels.tolist())
    assert drawn != sorted(drawn)

def test_axes_keep_orientation_and_aspect() -> None:
    emb = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]])
    points = _points(_parse(scatter_svg(emb, [0, 1, 2], seed=0)))
    by_class = {c.attrib["class"]: (float(c.attrib["cx"]), float(c.attrib["cy"])) for c in points}
    (x0, y0), (x1, y1), (x2, y2) = by_class["c0"], by_class["c1"], by_class["c2"]
    assert x1 > x0 and y1 == pytest.approx(y0)  # x grows to the right
    assert y2 < y0 and x2 == pytest.approx(x0)  # y grows upwards
    assert (y0 - y2) == pytest.approx((x1 - x0) / 2, abs=0.2)  # one scale for both axes


def test_palette_has_ten_distinct_colours_and_cycles() -> None:
    assert len(set(PALETTE)) >= 10
    svg = scatter_svg(np.arange(40.0).reshape(20, 2), np.arange(20))
    for i in range(20):
        assert f".c{i}{{fill:{PALETTE[i % len(PALETTE)]}" in svg
    assert len(_legend_texts(_parse(svg))) == 20


def test_string_labels_and_mapping_names() -> None:
    emb = np.array([[0, 0], [1, 1], [2, 0]])
    root = _parse(scatter_svg(emb, ["cat", "dog", "cat"], class_names={"cat": "Cat", "dog": "Dog"}))
    assert _legend_texts(root) == ["Cat", "Dog"]
    assert _legend_texts(_parse(scatter_svg(emb, ["b", "a", "b"]))) == ["a", "b"]


def test_hollow_points() -> None:
    emb = np.random.default_rng(1).normal(size=(30, 2))
    hollow = np.arange(30) >= 20
    root = _parse(scatter_svg(emb, np.arange(30) % 3, hollow=hollow, hollow_name="held-out"))
    assert sum(c.attrib["class"].endswith(" h") for c in _points(root)) == 10
    assert _legend_texts(root)[-1] == "held-out"


@pytest.mark.parametrize("emb", [np.array([[3.0, 4.0]]), np.full((50, 2), 7.0)])
def test_single_point_and_constant_embedding(emb: np.ndarray) -> None:
    with np.errstate(all="raise"):
        root = _parse(scatter_svg(emb, np.zeros(len(emb), dtype=int)))
    points = _points(root)
    assert len(points) == len(emb)
    _assert_inside(root)


def test_no_labels_no_legend() -> None:
    root = _parse(scatter_svg(np.random.default_rng(2).normal(size=(10, 2)), size=200))
    assert root.find("svg:g[@id='legend']", NS) is None
    assert len(_points(root)) == 10
    _assert_inside(root)


def test_many_points_stay_small() -> None:
    emb = np.random.default_rng(3).normal(size=(70_000, 2)).astype(np.float32)
    svg = scatter_svg(emb, np.arange(70_000) % 10)
    assert len(svg) < 60 * 70_000
    root = _parse(svg)
    radius = float(_points(root)[0].attrib["r"])
    assert radius <= 1.5


@pytest.mark.parametrize(
    ("emb", "kwargs", "message"),
    [
        (np.zeros((5, 3)), {}, r"shape \(n, 2\)"),
        (np.zeros(10), {}, r"shape \(n, 2\)"),
        (np.zeros((0, 2)), {}, "no points"),
        (np.array([[0, np.nan]]), {}, "NaN"),
        (np.zeros((5, 2)), {"labels": [1, 2]}, "one entry per point"),
        (np.zeros((5, 2)), {"labels": np.zeros((5, 1))}, "one entry per point"),
        (np.zeros((5, 2)), {"hollow": [True]}, "one entry per point"),
        (np.zeros((2, 2)), {"labels": [0, 5], "class_names": ["a"]}, "class_names"),
        (np.zeros((2, 2)), {"labels": [0, 1], "class_names": {0: "a"}}, "class_names"),
        (np.zeros((2, 2)), {"size": 0}, "size"),
        (np.zeros((2, 2)), {"point_size": -1}, "point_size"),
        (np.zeros((2, 2)), {"opacity": 2}, "opacity"),
    ],
)
def test_errors(emb: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scatter_svg(emb, **kwargs)
