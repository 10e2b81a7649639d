"""The recall estimate of an approximate k-NN graph (`pumap.knn.recall`): under the graph's
own metric, in bounded blocks, against a float64 brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from pumap import UmapConfig
from pumap.datasets import make_clusters
from pumap.graph.neighbours import knn_stage
from pumap.knn import KnnGraph, estimate_recall

SCIPY_NAMES = {"euclidean": "euclidean", "cosine": "cosine", "manhattan": "cityblock",
               "chebyshev": "chebyshev", "correlation": "correlation"}


def _truth64(x: np.ndarray, metric: str, k: int) -> np.ndarray:
    d = cdist(x.astype(np.float64), x.astype(np.float64), SCIPY_NAMES[metric])
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", list(SCIPY_NAMES))
def test_recall_ranks_under_the_graphs_metric(metric: str) -> None:
    """A graph of the true neighbours under ``metric`` with the last third of each row
    replaced by far points: recall 2/3 exactly, whatever the metric (under euclidean ranking
    the true manhattan/chebyshev neighbours are not all the euclidean ones)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32) * rng.uniform(0.2, 3.0, size=6).astype(
        np.float32
    )
    k = 9
    truth = _truth64(x, metric, k)
    far = _truth64(x, metric, 300)[:, -3:]  # ranks 298-300: never among the 9 nearest
    indices = np.concatenate([truth[:, :6], far], axis=1)
    graph = KnnGraph(torch.from_numpy(indices), torch.zeros(indices.shape, dtype=torch.float32))
    xt = torch.from_numpy(x)
    assert estimate_recall(xt, graph, metric, n_queries=400) == pytest.approx(6 / 9, abs=1e-12)
    whole = KnnGraph(torch.from_numpy(truth), torch.zeros(truth.shape, dtype=torch.float32))
    assert estimate_recall(xt, whole, metric, n_queries=400) == 1.0


def test_recall_blocks_do_not_change_the_estimate() -> None:
    """Blocks of a few columns give the estimate of one whole block, bit for bit."""
    x, _ = make_clusters(1500, n_features=10, n_clusters=6, seed=3)
    xt = torch.from_numpy(x)
    truth = _truth64(x, "manhattan", 8)
    noisy = truth.copy()
    noisy[::3, 4:] = np.roll(truth[::3, 4:], 1, axis=0)
    graph = KnnGraph(torch.from_numpy(noisy), torch.zeros(noisy.shape, dtype=torch.float32))
    whole = estimate_recall(xt, graph, "manhattan", n_queries=200, seed=1)
    for block_bytes in (1, 4 * 200 * 7, 4 * 200 * 1499):  # 1 column, 7 columns, all but one
        assert estimate_recall(
            xt, graph, "manhattan", n_queries=200, seed=1, block_bytes=block_bytes
        ) == whole
    assert 0.0 < whole < 1.0


def test_ties_at_the_kth_distance_count_as_found() -> None:
    """Binary rows tie often under hamming: any neighbour at the k-th distance is a true one."""
    x = np.zeros((40, 4), dtype=np.float32)
    x[:, 0] = np.arange(40) % 2  # two groups of 20 identical rows
    same = np.array([[j for j in range(i % 2, 40, 2) if j != i][-5:] for i in range(40)])
    graph = KnnGraph(torch.from_numpy(same), torch.zeros(same.shape, dtype=torch.float32))
    assert estimate_recall(torch.from_numpy(x), graph, "hamming", n_queries=40) == 1.0


def test_recall_refuses_a_metric_it_cannot_compute() -> None:
    x = torch.rand(50, 3)
    graph = KnnGraph(torch.zeros((50, 4), dtype=torch.int64), torch.zeros(50, 4))
    with pytest.raises(ValueError, match="braycurtis"):
        estimate_recall(x, graph, "braycurtis")


def test_fit_reports_the_recall_under_its_metric() -> None:
    """knn_info's recall of an NN-Descent graph is its recall under the fit's metric (issue
    #22: 0.897 reported for a true 0.9986 under manhattan). With 500 rows every row is a
    query, so the estimate is the float64 brute force's share, up to float32 rounding."""
    metric = "manhattan"  # one metric: NN-Descent compiles for each (minutes on one core)
    x, _ = make_clusters(500, n_features=12, n_clusters=5, seed=0)
    x = x * np.linspace(0.2, 4.0, 12, dtype=np.float32)  # euclidean and metric ranks differ
    cfg = UmapConfig(metric=metric, knn_method="nndescent", verbose=False)
    knn, info = knn_stage(torch.from_numpy(x), cfg, 0, torch.device("cpu"))
    assert info["recall_queries"] == 500
    d = cdist(x.astype(np.float64), x.astype(np.float64), SCIPY_NAMES[metric])
    np.fill_diagonal(d, np.inf)
    k = knn.indices.shape[1]
    kth = np.sort(d, axis=1)[:, k - 1 : k]
    true_recall = float(np.mean(np.take_along_axis(d, knn.indices.numpy(), 1) <= kth * (1 + 1e-6)))
    assert info["recall"] == pytest.approx(true_recall, abs=1e-4)  # rounded to 4 places


def test_pynndescent_only_metric_has_no_recall() -> None:
    x = np.random.default_rng(0).uniform(0.1, 1.0, size=(300, 5)).astype(np.float32)
    cfg = UmapConfig(metric="braycurtis", verbose=False)
    _, info = knn_stage(torch.from_numpy(x), cfg, 0, torch.device("cpu"))
    assert info["method"] == "nndescent" and info["recall"] is None
