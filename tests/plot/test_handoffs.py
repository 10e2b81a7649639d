"""Hand-offs to the viewers people use, tested where the viewer is installed (else skipped).

datamapplot draws `to_frame`'s x/y and labels; scanpy's ``sc.pl.embedding(adata,
basis="pumap")`` draws what `pumap.anndata.fit` stored. (embedding-atlas reads `to_parquet`'s
file; its layout is checked in test_frame.py, as embedding-atlas itself is not installed here.)
"""

from __future__ import annotations

import base64
import gzip
import re

import numpy as np
import pytest

import pumap.anndata
from pumap import Umap
from pumap.datasets import make_clusters
from pumap.plot import to_frame


@pytest.fixture(scope="module")
def fitted_and_labels():
    x, y = make_clusters(300, n_features=8, n_clusters=3, seed=0)
    fitted = Umap(n_neighbors=10, n_epochs=2, seed=0, verbose=False).fit(x)
    return fitted, np.array(["a", "b", "c"])[y]


def _inline(html: str, name: str) -> bytes:
    """One of datamapplot's inlined data blocks (gzip, base64), decompressed."""
    match = re.search(rf'{name}\s*=\s*"([A-Za-z0-9+/=]+)"', html)
    assert match, name
    return gzip.decompress(base64.b64decode(match.group(1)))


def test_datamapplot_draws_the_frame(fitted_and_labels, tmp_path) -> None:
    datamapplot = pytest.importorskip("datamapplot")
    fitted, labels = fitted_and_labels
    frame = to_frame(fitted, labels)
    plot = datamapplot.create_interactive_plot(
        frame[["x", "y"]].to_numpy(), frame["label"].to_numpy(),
        hover_text=[f"row {i}" for i in frame.index], inline_data=True, offline_mode=False)
    path = tmp_path / "datamap.html"
    plot.save(str(path))
    html = path.read_text()
    hover = _inline(html, "hoverDataEncoded")
    assert b"row 0" in hover and b"row 299" in hover and b"row 300" not in hover
    assert all(name.encode() in _inline(html, "labelDataEncoded") for name in ("a", "b", "c"))


def test_scanpy_draws_the_pumap_basis(fitted_and_labels) -> None:
    sc = pytest.importorskip("scanpy")
    ad = pytest.importorskip("anndata")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    x, y = make_clusters(300, n_features=8, n_clusters=3, seed=0)
    adata = ad.AnnData(x.astype(np.float32))
    adata.obs["cluster"] = np.array(["a", "b", "c"])[y]
    adata.obs["cluster"] = adata.obs["cluster"].astype("category")
    pumap.anndata.fit(adata, use_rep="X", n_neighbors=10, n_epochs=2, seed=0, verbose=False)
    ax = sc.pl.embedding(adata, basis="pumap", color="cluster", show=False)
    drawn = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    expected = adata.obsm["X_pumap"]
    key = lambda a: np.lexsort(np.asarray(a, dtype=np.float64).T[::-1])  # noqa: E731
    np.testing.assert_allclose(drawn[key(drawn)], expected[key(expected)], rtol=1e-5)
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["a", "b", "c"]
