"""Unseeded fits on every k-NN path, and seeds handed to other libraries (pynndescent).

Before 0.2.0, ``seed=None`` drew a 63-bit seed and pynndescent (numpy's RandomState, 32 bits)
refused it: every unseeded NN-Descent fit failed. Each path below ran only with a seed before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from pumap import FittedUmap, Umap
from pumap._checks import SEED_MAX
from pumap.cli import main
from pumap.datasets import make_clusters
from pumap.knn import nndescent_knn

FAST = {"n_epochs": 1, "hidden_layers": (8,), "pca_init": False, "verbose": False}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    x, _ = make_clusters(150, n_features=6, n_clusters=3, seed=2)
    return x


@pytest.mark.parametrize(
    ("knn_method", "metric"),
    [
        ("exact", "euclidean"),
        ("nndescent", "euclidean"),
        ("ivf", "euclidean"),
        ("auto", "braycurtis"),  # only pynndescent computes it: the rule picks NN-Descent
    ],
)
def test_unseeded_fit_runs_on_every_knn_path(data, knn_method, metric) -> None:
    fitted = Umap(knn_method=knn_method, metric=metric, n_neighbors=8, **FAST).fit(data)
    seed = fitted.config.seed
    assert isinstance(seed, int) and 0 <= seed < 2**32  # drawn, recorded, and 32-bit
    assert np.isfinite(fitted.embedding).all()


def test_unseeded_sparse_nndescent_fit(data) -> None:
    fitted = Umap(knn_method="nndescent", n_neighbors=8, **FAST).fit(sp.csr_matrix(data))
    assert 0 <= fitted.config.seed < 2**32


def test_unseeded_fits_draw_different_seeds(data) -> None:
    seeds = {Umap(knn_method="nndescent", n_neighbors=8, **FAST).fit(data).config.seed
             for _ in range(3)}
    assert len(seeds) > 1


def test_seeds_above_32_bits_reach_pynndescent_folded(data) -> None:
    """A seed numpy's RandomState would refuse is folded, deterministically."""
    big = 2**40 + 7
    a = nndescent_knn(data, 5, seed=big)
    b = nndescent_knn(data, 5, seed=7)  # 2**40 + 7 ≡ 7 (mod 2**32)
    assert np.array_equal(a.indices.numpy(), b.indices.numpy())
    fitted = Umap(knn_method="nndescent", n_neighbors=8, seed=SEED_MAX, **FAST).fit(data)
    assert fitted.config.seed == SEED_MAX


def test_seed_out_of_range_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="seed must be <="):
        Umap(seed=SEED_MAX + 1)
    with pytest.raises(ValueError, match="transform_seed must be <="):
        Umap(transform_seed=2**64)


def test_cli_nndescent_fit_without_seed(tmp_path: Path, data, capsys) -> None:
    csv = tmp_path / "x.csv"
    np.savetxt(csv, data, delimiter=",")
    model = tmp_path / "m.safetensors"
    argv = ["fit", str(csv), "--knn-method", "nndescent", "--n-neighbors", "8", "--epochs", "1",
            "--hidden-layers", "8", "--no-pca-init", "--save", str(model), "-q"]
    assert main(argv) == 0, capsys.readouterr().err
    assert 0 <= FittedUmap.load(model).config.seed < 2**32
