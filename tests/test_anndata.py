"""`pumap.anndata`: fit and transform on AnnData, the model kept in ``uns`` through h5ad."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

anndata = pytest.importorskip("anndata")

import pumap.anndata as pad  # noqa: E402
from pumap.datasets import make_clusters  # noqa: E402

OPTIONS = {"seed": 0, "n_epochs": 5, "verbose": False, "hidden_layers": (32,), "pca_init": False}


def _adata(n: int = 300, seed: int = 1):
    X, y = make_clusters(n, n_features=12, n_clusters=3, seed=seed)
    adata = anndata.AnnData(X=X)
    adata.obsm["X_pca"] = X[:, :6].copy()
    adata.obs["cluster"] = y.astype(str)
    return adata


def test_fit_writes_embedding_record_and_model_that_survive_h5ad(tmp_path) -> None:
    adata = _adata()
    assert pad.fit(adata, **OPTIONS) is None
    assert adata.obsm["X_pumap"].shape == (300, 2)
    record = adata.uns["pumap"]
    assert record["params"]["use_rep"] == "X_pca"
    assert record["params"]["n_neighbors"] == 15
    assert record["model"].dtype == np.uint8
    path = tmp_path / "ref.h5ad"
    adata.write_h5ad(path)
    reloaded = anndata.read_h5ad(path)
    np.testing.assert_array_equal(reloaded.obsm["X_pumap"], adata.obsm["X_pumap"])
    model = pad.load_model(reloaded)
    np.testing.assert_array_equal(model.transform(adata.obsm["X_pca"]), adata.obsm["X_pumap"])

    query = _adata(50, seed=2)
    pad.transform(query, model_from=reloaded)
    expected = pad.load_model(adata).transform(query.obsm["X_pca"])
    np.testing.assert_array_equal(query.obsm["X_pumap"], expected)


def test_copy_and_key_added() -> None:
    adata = _adata()
    out = pad.fit(adata, key_added="X_mine", copy=True, **OPTIONS)
    assert "X_mine" not in adata.obsm and "X_mine" in out.obsm
    assert "X_mine" in out.uns and "pumap" not in out.uns
    query = pad.transform(_adata(20, seed=3), model_from=out, key="X_mine", copy=True)
    assert query.obsm["X_mine"].shape == (20, 2)


def test_missing_pca_falls_back_to_x_with_a_warning() -> None:
    adata = _adata()
    del adata.obsm["X_pca"]
    with pytest.warns(UserWarning, match="scanpy.pp.pca"):
        pad.fit(adata, **OPTIONS)
    assert adata.uns["pumap"]["params"]["use_rep"] == "X"
    with pytest.raises(ValueError, match=r"use_rep=.X_umap. is not in adata\.obsm"):
        pad.fit(adata, use_rep="X_umap", **OPTIONS)


def test_sparse_x_is_taken_as_umap_fit_takes_it() -> None:
    """Umap.fit takes scipy.sparse, so pumap.anndata does too (it said it did not)."""
    from scipy import sparse

    from pumap import Umap

    adata = _adata()
    del adata.obsm["X_pca"]
    adata.X = sparse.csr_matrix(np.where(adata.X > 0.5, adata.X, 0.0))
    pad.fit(adata, use_rep="X", **OPTIONS)
    want = Umap(**OPTIONS).fit(adata.X).embedding
    np.testing.assert_array_equal(adata.obsm["X_pumap"], want)
    new = anndata.AnnData(X=adata.X[:20])
    pad.transform(new, model_from=adata, use_rep="X")
    assert new.obsm["X_pumap"].shape == (20, 2)


def test_errors_for_no_model_and_wrong_type() -> None:
    with pytest.raises(ValueError, match="holds no pumap model"):
        pad.transform(_adata(20), model_from=_adata(20))
    with pytest.raises(TypeError, match=r"anndata\.AnnData"):
        pad.fit(np.zeros((20, 3)))


def test_missing_anndata_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "anndata", None)  # import anndata raises ImportError
    with pytest.raises(ImportError, match=r'pip install "pumap\[anndata\]"'):
        pad.fit(object())


def test_import_pumap_does_not_import_anndata() -> None:
    code = "import sys, pumap; pumap.Umap; print('anndata' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
