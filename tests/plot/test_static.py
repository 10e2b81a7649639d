"""pumap.plot: points drawn where they are, legends, colour bars, held-out rings, files."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure

from pumap import Umap
from pumap.plot import MAX_LEGEND_CLASSES, RASTERIZE_ABOVE, points, save_points


def _ax():
    return Figure().add_subplot()


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[np.lexsort(a.T[::-1])]


def _legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


@pytest.fixture(scope="module")
def fitted(request):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(loc=8 * k, size=(40, 5)) for k in range(3)]).astype(np.float32)
    return Umap(n_neighbors=5, n_epochs=1, seed=0, verbose=False).fit(x)


def test_fitted_model_points_legend_and_class_names(fitted) -> None:
    labels = np.repeat([0, 1, 2], 40)
    ax = points(fitted, labels, ax=_ax(), class_names=["zero", "one", "two"])
    cloud = ax.collections[0]
    np.testing.assert_array_equal(_sorted_rows(cloud.get_offsets()),
                                  _sorted_rows(fitted.embedding))
    assert _legend_texts(ax) == ["zero", "one", "two"]
    # each point's colour is its class's legend colour
    handles = ax.get_legend().legend_handles
    by_class = {i: np.asarray(h.get_markerfacecolor()) for i, h in enumerate(handles)}
    faces = cloud.get_facecolors()
    order = np.lexsort(np.asarray(fitted.embedding, np.float64).T[::-1])
    drawn = np.lexsort(np.asarray(cloud.get_offsets(), np.float64).T[::-1])
    for row_emb, row_drawn in zip(order, drawn, strict=True):
        np.testing.assert_allclose(faces[row_drawn, :3], by_class[labels[row_emb]][:3])
    assert not ax.collections[0].get_rasterized()


def test_fitted_sklearn_estimator() -> None:
    pytest.importorskip("sklearn")
    from pumap.sklearn import ParametricUMAP

    x = np.random.default_rng(10).normal(size=(60, 4)).astype(np.float32)
    est = ParametricUMAP(n_neighbors=5, n_epochs=1, random_state=0, verbose=False).fit(x)
    ax = points(est, ax=_ax())
    np.testing.assert_array_equal(_sorted_rows(ax.collections[0].get_offsets()),
                                  _sorted_rows(est.embedding_))


def test_string_labels_and_mapping_names() -> None:
    emb = np.arange(12.0).reshape(6, 2)
    ax = points(emb, ["b", "a", "b", "c", "a", "a"], ax=_ax())
    assert _legend_texts(ax) == ["a", "b", "c"]
    ax = points(emb, ["cat", "dog"] * 3, ax=_ax(), class_names={"cat": "Cat", "dog": "Dog"})
    assert _legend_texts(ax) == ["Cat", "Dog"]
    with pytest.raises(ValueError, match="no entry for label 'dog'"):
        points(emb, ["cat", "dog"] * 3, ax=_ax(), class_names={"cat": "Cat"})


def test_continuous_labels_get_a_colorbar_and_no_legend() -> None:
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(200, 2))
    values = rng.uniform(-3.0, 5.0, size=200)
    fig = Figure()
    ax = points(emb, values, ax=fig.add_subplot(), colorbar_label="depth")
    cloud = ax.collections[0]
    assert cloud.colorbar is not None and cloud.colorbar.ax in fig.axes
    assert cloud.colorbar.ax.get_ylabel() == "depth"
    assert sorted(cloud.get_array()) == pytest.approx(sorted(values))
    assert cloud.norm.vmin == pytest.approx(values.min())
    assert cloud.norm.vmax == pytest.approx(values.max())
    assert ax.get_legend() is None
    # integer labels with many values are a quantity too; with few, classes
    assert points(emb, np.arange(200), ax=_ax()).collections[0].colorbar is not None
    ax = points(emb, np.arange(200) % 4, ax=_ax())
    assert ax.collections[0].colorbar is None and _legend_texts(ax) == ["0", "1", "2", "3"]
    ax = points(emb, (np.arange(200) % 3).astype(float), ax=_ax())  # 0.0, 1.0, 2.0: classes
    assert _legend_texts(ax) == ["0", "1", "2"]


def test_kind_overrides_the_guess() -> None:
    emb = np.random.default_rng(2).normal(size=(50, 2))
    ax = points(emb, np.arange(50) % 3, ax=_ax(), kind="continuous")
    assert ax.collections[0].colorbar is not None
    ax = points(emb, np.arange(50), ax=_ax(), kind="categorical")
    assert ax.collections[0].colorbar is None
    assert len({tuple(c) for c in ax.collections[0].get_facecolors()}) == 50  # 50 colours
    assert MAX_LEGEND_CLASSES < 50 and ax.get_legend() is None  # would not fit
    ax = points(emb, np.arange(50), ax=_ax(), kind="categorical", legend=True)
    assert _legend_texts(ax) == [str(i) for i in range(50)]
    with pytest.raises(ValueError, match="continuous labels must be numbers"):
        points(emb, ["a"] * 50, ax=_ax(), kind="continuous")
    with pytest.raises(ValueError, match="kind must be"):
        points(emb, ax=_ax(), kind="classes")


def test_held_out_points_are_rings_with_a_legend_entry() -> None:
    rng = np.random.default_rng(3)
    emb, held = rng.normal(size=(90, 2)), rng.normal(size=(15, 2)) + 5
    ax = points(emb, np.arange(90) % 3, ax=_ax(), held_out=held,
                held_out_labels=np.arange(15) % 3)
    assert len(ax.collections) == 2
    rings = ax.collections[1]
    np.testing.assert_array_equal(np.asarray(rings.get_offsets()), held)
    assert len(rings.get_facecolors()) == 0  # hollow
    assert len(rings.get_edgecolors()) == 15
    assert len(ax.collections[0].get_facecolors()) == 90  # filled
    assert _legend_texts(ax) == ["0", "1", "2", "held-out"]
    ring_handle = ax.get_legend().legend_handles[-1]
    assert ring_handle.get_markerfacecolor() == "none"
    # a held-out point has its class's colour on the edge
    np.testing.assert_allclose(rings.get_edgecolors()[1, :3],
                               ax.get_legend().legend_handles[1].get_markerfacecolor()[:3])
    # held-out points without labels beside labelled ones: one neutral edge colour
    ax = points(emb, np.arange(90) % 3, ax=_ax(), held_out=held)
    assert len({tuple(c) for c in ax.collections[1].get_edgecolors()}) == 1
    assert _legend_texts(ax) == ["0", "1", "2", "held-out"]
    # without labels: one colour for each set, legend entry for the held-out ones only
    ax = points(emb, ax=_ax(), held_out=held, held_out_name="new cells")
    assert _legend_texts(ax) == ["new cells"]


def test_no_labels_no_legend() -> None:
    ax = points(np.random.default_rng(4).normal(size=(10, 2)), ax=_ax(), title="t")
    assert ax.get_legend() is None and ax.get_title() == "t"
    assert len(ax.collections) == 1


def test_point_size_and_rasterising_follow_n() -> None:
    rng = np.random.default_rng(5)
    small = points(rng.normal(size=(100, 2)), ax=_ax()).collections[0]
    large = points(rng.normal(size=(RASTERIZE_ABOVE + 1, 2)), ax=_ax()).collections[0]
    assert not small.get_rasterized() and large.get_rasterized()
    assert large.get_sizes()[0] < small.get_sizes()[0]
    forced = points(rng.normal(size=(100, 2)), ax=_ax(), rasterized=True, point_size=7.0)
    assert forced.collections[0].get_rasterized()
    assert forced.collections[0].get_sizes()[0] == 7.0


def test_held_out_counts_towards_rasterising() -> None:
    rng = np.random.default_rng(6)
    n = RASTERIZE_ABOVE // 2 + 1
    ax = points(rng.normal(size=(n, 2)), ax=_ax(), held_out=rng.normal(size=(n, 2)))
    assert all(c.get_rasterized() for c in ax.collections)


def test_torch_embedding() -> None:
    torch = pytest.importorskip("torch")
    emb = torch.arange(8.0).reshape(4, 2)
    ax = points(emb, torch.tensor([0, 1, 0, 1]), ax=_ax())
    np.testing.assert_array_equal(_sorted_rows(ax.collections[0].get_offsets()), emb.numpy())


def test_new_figure_without_ax() -> None:
    import matplotlib.pyplot as plt

    ax = points(np.random.default_rng(7).normal(size=(20, 2)))
    try:
        assert ax.figure is not None and len(ax.collections) == 1
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((5, 3)),), {}, r"fitted_or_embedding must be a 2-D embedding of shape \(n, 2\)"),
        ((np.zeros(10),), {}, r"fitted_or_embedding must be .*got \(10,\)"),
        ((np.zeros((0, 2)),), {}, "fitted_or_embedding has no points"),
        ((np.array([[0.0, np.nan]]),), {}, "NaN or infinite"),
        ((np.zeros((5, 2)), [0, 1]), {}, r"labels must be 1-D with one entry per point .*\(5\)"),
        ((np.zeros((5, 2)),), {"held_out": np.zeros((2, 3))}, "held_out must be a 2-D"),
        ((np.zeros((5, 2)), [0] * 5), {"held_out": np.zeros((2, 2)), "held_out_labels": [0]},
         r"held_out_labels must be 1-D with one entry per point of held_out \(2\)"),
        ((np.zeros((5, 2)),), {"held_out_labels": [0]}, "without held_out"),
        ((np.zeros((5, 2)),), {"held_out": np.zeros((2, 2)), "held_out_labels": [0, 1]},
         "need labels"),
        ((np.zeros((5, 2)),), {"point_size": 0}, "point_size must be"),
        ((np.zeros((5, 2)),), {"alpha": 1.5}, "alpha must be"),
        ((np.zeros((2, 2)), [0, 5]), {"class_names": ["a", "b"]}, r"integer labels in \[0, 2\)"),
    ],
)
def test_bad_input_names_the_argument(args, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        points(*args, ax=_ax(), **kwargs)


def test_fitted_without_embedding_is_refused(fitted, tmp_path: Path) -> None:
    from pumap import FittedUmap

    fitted.save(tmp_path / "m.safetensors")
    loaded = FittedUmap.load(tmp_path / "m.safetensors")
    assert loaded.embedding is None
    with pytest.raises(ValueError, match=r"no embedding .*fitted.transform\(X\)"):
        points(loaded, ax=_ax())


def test_save_png_svg_pdf(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    emb, labels = rng.normal(size=(300, 2)), np.arange(300) % 4
    png = save_points(tmp_path / "p.png", emb, labels, title="a < b & c",
                      class_names=["w", "x", "y", "z"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = save_points(tmp_path / "p.SVG", emb, labels, held_out=emb[:5] + 1)
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = svg.read_text(encoding="utf-8")
    assert "held-out" in text and "<image" not in text  # vector points at 300
    pdf = save_points(tmp_path / "p.pdf", emb, labels)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_save_rasterised_svg_embeds_an_image(tmp_path: Path) -> None:
    emb = np.random.default_rng(9).normal(size=(RASTERIZE_ABOVE + 1, 2))
    svg = save_points(tmp_path / "big.svg", emb, np.arange(len(emb)) % 10)
    root = ET.parse(svg).getroot()
    assert root.findall(".//{http://www.w3.org/2000/svg}image")
    assert svg.stat().st_size < 2_000_000  # vector would be about 4 MB


def test_save_refuses_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"path .*p\.jpg.*\.png, \.svg, \.pdf"):
        save_points(tmp_path / "p.jpg", np.zeros((3, 2)))
    assert not (tmp_path / "p.jpg").exists()


def test_missing_matplotlib_says_how_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r'pip install "pumap\[plot\]"'):
        points(np.zeros((3, 2)))
    with pytest.raises(ImportError, match=r'pip install "pumap\[plot\]"'):
        save_points(tmp_path / "p.png", np.zeros((3, 2)))
    assert not (tmp_path / "p.png").exists()
