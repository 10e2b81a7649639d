"""One contract every k-NN method keeps, for every metric, checked against SciPy in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from pumap.datasets import make_clusters
from pumap.knn import KnnGraph, exact_knn, ivf_search, nndescent_knn

K = 10

# method -> (search, least recall against the float64 brute force, metrics it is run on)
CONTINUOUS = ["euclidean", "cosine", "manhattan", "chebyshev", "correlation"]
BINARY = ["hamming", "jaccard"]
METHODS = {
    "exact": (lambda x, metric: exact_knn(x, K, metric), 0.999, CONTINUOUS + BINARY),
    "exact-bfloat16": (
        lambda x, metric: exact_knn(x, K, metric, precision="bfloat16"), 0.99,
        ["euclidean", "cosine", "correlation"],
    ),
    "nndescent": (
        lambda x, metric: nndescent_knn(x, K, metric, seed=0), 0.9,
        ["euclidean", "cosine"],  # each metric costs a numba compilation (~30 s or more)
    ),
    # 600 points make 24 clusters of ~25: 16 probes hold most of the data, so nearly exact
    "ivf": (
        lambda x, metric: ivf_search(torch.from_numpy(x), K, metric, seed=0), 0.99,
        ["euclidean", "cosine"],
    ),
}
SCIPY_NAME = {"manhattan": "cityblock"}
CASES = [(method, metric) for method, (_, _, metrics) in METHODS.items() for metric in metrics]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    x, _ = make_clusters(600, n_features=12, n_clusters=5, seed=3)
    # 0/1 data for the set metrics: each feature above its median or not
    return {"continuous": x, "binary": (x > np.median(x, axis=0)).astype(np.float32)}


@pytest.mark.parametrize(("method", "metric"), CASES)
def test_knn_contract(data: dict[str, np.ndarray], method: str, metric: str) -> None:
    search, least_recall, _ = METHODS[method]
    x = data["binary" if metric in BINARY else "continuous"]
    graph = search(x, metric)
    n = x.shape[0]
    assert isinstance(graph, KnnGraph)
    idx, dist = graph.indices.numpy(), graph.distances.numpy()
    assert idx.shape == dist.shape == (n, K)
    assert graph.indices.dtype == torch.int64 and graph.distances.dtype == torch.float32
    assert ((idx >= 0) & (idx < n)).all()
    assert not (idx == np.arange(n)[:, None]).any(), "a point is its own neighbour"
    assert all(len(set(row)) == K for row in idx), "a neighbour listed twice"
    assert (np.diff(dist, axis=1) >= 0).all(), "distances not sorted ascending"

    x64 = x.astype(np.float64)
    exact64 = cdist(x64, x64, SCIPY_NAME.get(metric, metric))
    np.testing.assert_allclose(dist, np.take_along_axis(exact64, idx, axis=1), rtol=1e-4, atol=1e-5)

    # A found neighbour is right when no farther than the true k-th (binary data has ties).
    np.fill_diagonal(exact64, np.inf)
    kth = np.sort(exact64, axis=1)[:, K - 1 : K]
    recall = np.mean(np.take_along_axis(exact64, idx, axis=1) <= kth + 1e-6)
    assert recall >= least_recall, f"{method}/{metric}: recall {recall:.4f}"


def test_nndescent_uses_umap_learns_candidate_count(monkeypatch) -> None:
    """max_candidates=60 (umap-learn's; pynndescent's default is min(60, n_neighbors)): recall
    on Fashion-MNIST 0.988 -> 0.996 (docs/benchmarks.md)."""
    import pynndescent

    from pumap.knn.nndescent import nndescent_knn

    seen = {}
    real = pynndescent.NNDescent

    def spy(data, **kwargs):
        seen.update(kwargs)
        return real(data, **kwargs)

    monkeypatch.setattr(pynndescent, "NNDescent", spy)
    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    graph = nndescent_knn(x, 5, seed=0)
    assert seen["max_candidates"] == 60 and graph.indices.shape == (200, 5)
