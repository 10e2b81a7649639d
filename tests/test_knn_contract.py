"""One contract every k-NN method keeps, checked against a float64 brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from pumap.datasets import make_clusters
from pumap.knn import KnnGraph, exact_knn, ivf_search, nndescent_knn

K = 10

# method -> (search, least recall against the float64 brute force)
METHODS = {
    "exact": (lambda x, metric: exact_knn(x, K, metric), 0.999),
    "exact-bfloat16": (lambda x, metric: exact_knn(x, K, metric, precision="bfloat16"), 0.99),
    "nndescent": (lambda x, metric: nndescent_knn(x, K, metric, seed=0), 0.9),
    # 600 points make 24 clusters of ~25: 16 probes hold most of the data, so nearly exact
    "ivf": (lambda x, metric: ivf_search(torch.from_numpy(x), K, metric, seed=0), 0.99),
}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    x, _ = make_clusters(600, n_features=12, n_clusters=5, seed=3)
    return x


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("method", list(METHODS))
def test_knn_contract(data: np.ndarray, method: str, metric: str) -> None:
    search, least_recall = METHODS[method]
    graph = search(data, metric)
    n = data.shape[0]
    assert isinstance(graph, KnnGraph)
    idx, dist = graph.indices.numpy(), graph.distances.numpy()
    assert idx.shape == dist.shape == (n, K)
    assert graph.indices.dtype == torch.int64 and graph.distances.dtype == torch.float32
    assert ((idx >= 0) & (idx < n)).all()
    assert not (idx == np.arange(n)[:, None]).any(), "a point is its own neighbour"
    assert all(len(set(row)) == K for row in idx), "a neighbour listed twice"
    assert (np.diff(dist, axis=1) >= 0).all(), "distances not sorted ascending"

    exact64 = cdist(data.astype(np.float64), data.astype(np.float64), metric)
    np.testing.assert_allclose(dist, np.take_along_axis(exact64, idx, axis=1), rtol=1e-4, atol=1e-5)

    np.fill_diagonal(exact64, np.inf)
    truth = np.argsort(exact64, axis=1, kind="stable")[:, :K]
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(idx, truth, strict=True)])
    assert recall >= least_recall, f"{method}/{metric}: recall {recall:.4f}"
