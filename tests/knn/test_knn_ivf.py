"""IVF search (`pumap.knn.ivf`), the per-device choice of method, and the recorded decision."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from pumap import FittedUmap, Umap
from pumap.cli import main as cli_main
from pumap.config import GPU_EXACT_THRESHOLD, NNDESCENT_THRESHOLD
from pumap.datasets import make_clusters
from pumap.knn import KnnGraph, choose_method, estimate_recall, exact_knn, ivf_search


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth, strict=True)]))


@pytest.fixture(scope="module")
def blobs() -> torch.Tensor:
    x, _ = make_clusters(4000, n_features=16, n_clusters=40, seed=1, cluster_std=2.0)
    return torch.from_numpy(x)


def test_ivf_finds_most_neighbours_and_measures_it(blobs: torch.Tensor) -> None:
    graph = ivf_search(blobs, 15, "euclidean", seed=0)
    truth = exact_knn(blobs, 15).indices.numpy()
    recall = _recall(graph.indices.numpy(), truth)
    # 63 clusters of ~63 points, 16 probed: measured 0.99+; a broken probe list or a wrong
    # self-mask drops it far below.
    assert recall >= 0.95
    assert abs(estimate_recall(blobs, graph, "euclidean", n_queries=4000) - recall) < 1e-9
    sampled = estimate_recall(blobs, graph, "euclidean", n_queries=300)
    assert sampled == pytest.approx(recall, abs=0.03)


def test_ivf_distances_are_exact_for_the_neighbours_found(blobs: torch.Tensor) -> None:
    for metric in ("euclidean", "cosine"):
        graph = ivf_search(blobs, 10, metric, seed=0)
        x64 = blobs.double().numpy()
        idx = graph.indices.numpy()
        want = np.take_along_axis(cdist(x64, x64, metric), idx, axis=1)
        np.testing.assert_allclose(graph.distances.numpy(), want, rtol=1e-4, atol=1e-5)


def test_one_list_or_all_probes_is_the_exact_search(blobs: torch.Tensor) -> None:
    truth = exact_knn(blobs, 10).indices
    assert torch.equal(ivf_search(blobs, 10, n_lists=1).indices, truth)
    assert torch.equal(ivf_search(blobs, 10, n_lists=8, n_probe=8).indices, truth)


def test_tiny_clusters_get_more_probes() -> None:
    # 300 lists for 400 points: single probes would hold fewer than k + 9 points
    x = torch.from_numpy(make_clusters(400, n_features=4, n_clusters=3, seed=0)[0])
    graph = ivf_search(x, 20, n_lists=300, n_probe=1, seed=0)
    assert _recall(graph.indices.numpy(), exact_knn(x, 20).indices.numpy()) > 0.8
    assert not (graph.indices == torch.arange(400)[:, None]).any()


def test_ivf_is_deterministic_with_a_seed(blobs: torch.Tensor) -> None:
    a = ivf_search(blobs, 10, seed=3)
    b = ivf_search(blobs, 10, seed=3)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.distances, b.distances)


def test_ivf_refuses_bad_arguments(blobs: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="knn_method='ivf' supports metric"):
        ivf_search(blobs, 10, "manhattan")
    with pytest.raises(ValueError, match="n_probe must be a positive integer"):
        ivf_search(blobs, 10, n_probe=0)
    with pytest.raises(ValueError, match="n_lists must be an integer in"):
        ivf_search(blobs, 10, n_lists=0)
    with pytest.raises(ValueError, match="k must be an integer in"):
        ivf_search(blobs, 4000)


def test_estimate_recall_counts_missing_neighbours(blobs: torch.Tensor) -> None:
    exact = exact_knn(blobs, 10)
    assert estimate_recall(blobs, exact, "euclidean") == 1.0
    broken = exact.indices.clone()
    broken[:, 5:] = exact.indices[:, 5:].roll(1, dims=0)  # half of each row wrong
    recall = estimate_recall(blobs, KnnGraph(broken, exact.distances), "euclidean")
    assert 0.45 <= recall <= 0.55


@pytest.mark.parametrize(
    ("n", "device", "metric", "want"),
    [
        (NNDESCENT_THRESHOLD, "cpu", "euclidean", "exact"),
        (NNDESCENT_THRESHOLD + 1, "cpu", "euclidean", "nndescent"),
        (NNDESCENT_THRESHOLD + 1, "cuda", "euclidean", "exact"),
        (GPU_EXACT_THRESHOLD, "cuda", "cosine", "exact"),
        (GPU_EXACT_THRESHOLD + 1, "cuda", "cosine", "ivf"),
        (GPU_EXACT_THRESHOLD + 1, "mps", "euclidean", "ivf"),
    ],
)
def test_auto_decides_per_device(n: int, device: str, metric: str, want: str) -> None:
    assert choose_method(n, metric, "auto", torch.device(device)) == want
    assert choose_method(n, metric, "nndescent", torch.device(device)) == "nndescent"


def test_the_decision_is_recorded_saved_and_shown(tmp_path, capsys) -> None:
    x, _ = make_clusters(600, n_features=8, n_clusters=4, seed=0)
    exact = Umap(n_epochs=2, seed=0, verbose=False).fit(x)
    assert exact.knn_info == {"method": "exact", "requested": "auto", "recall": None}
    fitted = Umap(n_epochs=2, seed=0, verbose=False, knn_method="ivf").fit(x)
    info = fitted.knn_info
    assert info["method"] == "ivf" and info["requested"] == "ivf"
    assert 0.95 <= info["recall"] <= 1.0 and info["recall_queries"] == 500
    for name in ("model.safetensors", "model.gguf"):
        fitted.save(tmp_path / name)
        assert FittedUmap.load(tmp_path / name).knn_info == info
    assert cli_main(["info", str(tmp_path / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["knn"] == info
