"""`ParametricUMAP.save` / `load`: a round trip through pumap's own files, no pickle
(issue #22, item 15)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from pumap import FittedUmap, ParametricUMAP

FAST = {"n_epochs": 2, "hidden_layers": (16,), "n_neighbors": 6, "verbose": False}


@pytest.mark.parametrize("name", ["est.safetensors", "est.gguf"])
def test_a_saved_estimator_loads_with_its_params_embedding_and_transforms(blobs, tmp_path, name):
    x = blobs[0][:200]
    est = ParametricUMAP(**FAST, min_dist=0.3, decoder=True, transform_seed=4, random_state=3)
    est.fit(x)
    path = tmp_path / name
    est.save(path)
    loaded = ParametricUMAP.load(path)
    assert loaded.get_params() == est.get_params()
    assert loaded.config_ == est.config_ and loaded.n_features_in_ == 8
    np.testing.assert_array_equal(loaded.embedding_, est.embedding_)
    np.testing.assert_array_equal(loaded.transform(x[:20]), est.transform(x[:20]))
    np.testing.assert_array_equal(
        loaded.transform(x[:20], refine=True), est.transform(x[:20], refine=True)
    )
    emb = est.embedding_[:10]
    np.testing.assert_array_equal(loaded.inverse_transform(emb), est.inverse_transform(emb))
    assert loaded.graph_ is None  # not stored: documented
    assert [p.name for p in tmp_path.iterdir()] == [name]  # atomic: no temporary left


def test_a_file_without_embedding_loads_with_embedding_none(blobs, tmp_path):
    est = ParametricUMAP(**FAST, random_state=0).fit(blobs[0][:100])
    est.fitted_.save(tmp_path / "bare.safetensors")
    loaded = ParametricUMAP.load(tmp_path / "bare.safetensors")
    assert loaded.embedding_ is None
    np.testing.assert_array_equal(loaded.transform(blobs[0][:5]), est.transform(blobs[0][:5]))
    assert isinstance(loaded.fitted_, FittedUmap)


def test_saving_an_unfitted_estimator_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ParametricUMAP().save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()
