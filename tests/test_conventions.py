"""One n_neighbors convention, umap-learn's (the point itself counted), and old files' migration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pumap import FittedUmap, Umap, UmapConfig
from pumap.training.checkpoint import CheckpointError
from pumap.umap import _graph, _knn

TINY = {"n_epochs": 2, "hidden_layers": (16,), "seed": 0, "verbose": False}


def test_n_neighbors_gives_umap_learns_graph_for_the_same_value(rng) -> None:
    umap_ = pytest.importorskip("umap.umap_")
    from sklearn.neighbors import NearestNeighbors

    x = rng.normal(size=(300, 5)).astype(np.float32)
    config, cpu = UmapConfig(n_neighbors=15, seed=0, knn_method="exact"), torch.device("cpu")
    ours, _, _ = _graph(_knn(torch.from_numpy(x), config, 0, cpu)[0], config, None, cpu)
    dist, idx = NearestNeighbors(n_neighbors=15).fit(x).kneighbors(x)  # self first, as umap's
    theirs, _, _ = umap_.fuzzy_simplicial_set(
        x, 15, np.random.RandomState(0), "euclidean",
        knn_indices=idx, knn_dists=dist.astype(np.float32),
    )
    diff = ours.to_scipy() - theirs
    assert ours.to_scipy().nnz == theirs.nnz and abs(diff).max() < 1e-5


def test_minimum_is_two() -> None:
    assert UmapConfig(n_neighbors=2).n_neighbors == 2
    with pytest.raises(ValueError, match="n_neighbors must be >= 2"):
        UmapConfig(n_neighbors=1)


def test_n_points_suffice_for_n_neighbors_n(rng) -> None:
    x = rng.normal(size=(6, 3)).astype(np.float32)
    assert Umap(n_neighbors=6, **TINY).fit(x).embedding.shape == (6, 2)
    with pytest.raises(ValueError, match=r"n_neighbors=7 \(the point itself counted\) needs"):
        Umap(n_neighbors=7, **TINY).fit(x)


def _as_old_file(src: Path, dst: Path) -> None:
    """Rewrite a model file as pumap 0.1 wrote it: format version 1, no convention key,
    n_neighbors one less."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(src), "np") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    assert json.loads(meta.pop("pumap.n_neighbors_counts_self")) is True
    config = json.loads(meta["pumap.config"])
    config["n_neighbors"] -= 1
    meta["pumap.config"] = json.dumps(config)
    assert json.loads(meta["pumap.format_version"]) == 3
    meta["pumap.format_version"] = "1"
    save_file(tensors, str(dst), metadata=meta)


def test_old_model_files_are_converted_on_load(rng, tmp_path) -> None:
    x = rng.normal(size=(60, 4)).astype(np.float32)
    fitted = Umap(n_neighbors=8, **TINY).fit(x)
    new, old = tmp_path / "new.safetensors", tmp_path / "old.safetensors"
    fitted.save(new)
    assert FittedUmap.load(new).config.n_neighbors == 8
    _as_old_file(new, old)
    loaded = FittedUmap.load(old)  # stores 7, the old meaning of today's 8
    assert loaded.config.n_neighbors == 8
    np.testing.assert_array_equal(loaded.transform(x), fitted.transform(x))


@pytest.mark.parametrize("keep", [True, False])
def test_model_files_are_version_3_and_weights_files_version_1(rng, tmp_path, keep) -> None:
    """Version 3 marks the n_neighbors convention, so that a reader of versions 1-2 (pumap
    0.1) refuses the file instead of taking n_neighbors one too high (issue #22, item 9);
    weights files are laid out as in 0.1 and stay version 1."""
    from pumap.io import read_metadata

    x = rng.normal(size=(60, 4)).astype(np.float32)
    fitted = Umap(n_neighbors=8, keep_training_data=keep, **TINY).fit(x)
    fitted.save(tmp_path / "m.safetensors")
    fitted.save(tmp_path / "m.gguf")
    fitted.save_weights(tmp_path / "w.safetensors")
    for name in ("m.safetensors", "m.gguf"):
        assert read_metadata(tmp_path / name)["pumap.format_version"] == 3
    assert read_metadata(tmp_path / "w.safetensors")["pumap.format_version"] == 1


def test_a_version_3_file_counts_the_point_itself_without_the_key(rng, tmp_path) -> None:
    """From version 3 the version says the convention: no key needed, no conversion."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    x = rng.normal(size=(60, 4)).astype(np.float32)
    path = tmp_path / "m.safetensors"
    Umap(n_neighbors=8, **TINY).fit(x).save(path)
    with safe_open(str(path), "np") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    del meta["pumap.n_neighbors_counts_self"]
    save_file(tensors, str(path), metadata=meta)
    assert FittedUmap.load(path).config.n_neighbors == 8


def test_info_shows_the_n_neighbors_the_model_uses(rng, tmp_path, capsys) -> None:
    """pumap info of a 0.1 file showed the stored 7, not the 8 the model uses (item 12)."""
    from pumap.cli import main

    x = rng.normal(size=(60, 4)).astype(np.float32)
    new, old = tmp_path / "new.safetensors", tmp_path / "old.safetensors"
    Umap(n_neighbors=8, **TINY).fit(x).save(new)
    _as_old_file(new, old)
    capsys.readouterr()
    assert main(["info", str(old), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["n_neighbors"] == 8


def test_old_checkpoints_are_refused_with_a_reason(rng, tmp_path) -> None:
    from safetensors import safe_open
    from safetensors.numpy import save_file

    x = rng.normal(size=(60, 4)).astype(np.float32)
    path = tmp_path / "ck.safetensors"
    Umap(n_neighbors=8, **TINY).fit(x, checkpoint_path=path)
    with safe_open(str(path), "np") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["pumap.format_version"] = "1"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="n_neighbors did not count the point itself"):
        Umap(n_neighbors=8, **TINY).fit(x, resume_from=path)
