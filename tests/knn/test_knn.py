"""Exact k-NN against float64 references: pairwise, top-k, blocking, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pumap.knn import KnnGraph, TopK, exact_knn, knn_topk, pairwise_distances
from pumap.knn.nndescent import _drop_self


def reference_pairwise(x: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    if metric == "euclidean":
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return 1.0 - xn @ yn.T


def reference_knn(x: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    d = reference_pairwise(x, x, metric)
    np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_pairwise_matches_float64_reference(rng: np.random.Generator, metric: str) -> None:
    x = rng.normal(size=(50, 20)).astype(np.float32)
    y = rng.normal(size=(30, 20)).astype(np.float32)
    got = pairwise_distances(torch.from_numpy(x), torch.from_numpy(y), metric).numpy()
    np.testing.assert_allclose(got, reference_pairwise(x, y, metric), atol=2e-5)


def test_pairwise_euclidean_of_a_point_with_itself_is_zero(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.normal(size=(10, 5)).astype(np.float32) * 1000)
    assert torch.all(pairwise_distances(x, x).diagonal() < 0.5)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("block_rows", [None, 7])
def test_exact_knn_matches_brute_force(rng: np.random.Generator, metric: str, block_rows) -> None:
    x = rng.normal(size=(200, 12)).astype(np.float32)
    graph = exact_knn(x, 10, metric, block_rows=block_rows)
    ref_idx, ref_dist = reference_knn(x, 10, metric)
    assert isinstance(graph, KnnGraph)
    assert graph.indices.dtype == torch.int64 and graph.indices.shape == (200, 10)
    np.testing.assert_array_equal(graph.indices.numpy(), ref_idx)
    np.testing.assert_allclose(graph.distances.numpy(), ref_dist, atol=1e-5)


def test_exact_knn_excludes_self_and_sorts(rng: np.random.Generator) -> None:
    x = rng.normal(size=(60, 4)).astype(np.float32)
    graph = exact_knn(x, 5)
    assert not (graph.indices == torch.arange(60)[:, None]).any()
    assert torch.all(graph.distances[:, 1:] >= graph.distances[:, :-1])


def test_exact_knn_block_size_follows_the_memory_budget(rng: np.random.Generator) -> None:
    x = rng.normal(size=(300, 6)).astype(np.float32)
    small = exact_knn(x, 5, memory_budget=4 * 300 * 3 * 10)  # a few rows per block
    full = exact_knn(x, 5)
    torch.testing.assert_close(small.indices, full.indices)


def test_topk_forward_is_the_k_smallest() -> None:
    dist = torch.tensor([[3.0, 1.0, 2.0, 0.5], [0.1, 0.4, 0.3, 0.2]])
    values, idx = knn_topk(dist, 2)
    assert idx.tolist() == [[3, 1], [0, 3]]
    np.testing.assert_allclose(values.numpy(), [[0.5, 1.0], [0.1, 0.2]])


def test_topk_backward_scatters_into_the_pairwise_matrix() -> None:
    dist = torch.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    values, _ = knn_topk(dist, 2)
    (values * torch.tensor([[10.0, 100.0]])).sum().backward()
    assert dist.grad.tolist() == [[0.0, 10.0, 100.0]]


def test_topk_gradcheck(rng: np.random.Generator) -> None:
    dist = torch.from_numpy(rng.random((6, 9))).requires_grad_(True)  # float64, no ties
    assert torch.autograd.gradcheck(lambda d: TopK.apply(d, 3)[0], (dist,))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_distances_gradcheck_through_pairwise(rng: np.random.Generator, metric: str) -> None:
    x = torch.from_numpy(rng.normal(size=(8, 3))).requires_grad_(True)

    def knn_distances(data: torch.Tensor) -> torch.Tensor:
        d = pairwise_distances(data, data, metric) + torch.eye(8, dtype=data.dtype) * 1e6
        return knn_topk(d, 3)[0]

    assert torch.autograd.gradcheck(knn_distances, (x,))


def test_exact_knn_is_differentiable_when_the_input_requires_grad(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.normal(size=(20, 3)).astype(np.float32)).requires_grad_(True)
    graph = exact_knn(x, 4, block_rows=6)
    graph.distances.sum().backward()
    # d/dx_i of sum_j |x_i - x_j| over chosen pairs, summed from both ends.
    ref = torch.zeros_like(x)
    with torch.no_grad():
        for i in range(20):
            for j in graph.indices[i].tolist():
                u = (x[i] - x[j]) / (x[i] - x[j]).norm()
                ref[i] += u
                ref[j] -= u
    torch.testing.assert_close(x.grad, ref, atol=1e-4, rtol=1e-4)


def test_drop_self_removes_own_index_or_last_column() -> None:
    idx = np.array([[0, 2, 1], [2, 0, 1], [0, 1, 2]])
    dist = np.array([[0.0, 1.0, 2.0], [0.5, 0.7, 0.0], [1.0, 2.0, 3.0]], dtype=np.float32)
    graph = _drop_self(idx, dist, 2)
    assert graph.indices.tolist() == [[2, 1], [2, 0], [0, 1]]
    np.testing.assert_allclose(graph.distances.numpy(), [[1.0, 2.0], [0.5, 0.7], [1.0, 2.0]])


@pytest.mark.parametrize("bad_k", [0, -1, 5, 6])
def test_exact_knn_rejects_bad_k(rng: np.random.Generator, bad_k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        exact_knn(rng.normal(size=(5, 2)), bad_k)


def test_exact_knn_rejects_unknown_metric(rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match="metric"):
        exact_knn(rng.normal(size=(5, 2)), 2, "braycurtis")  # NN-Descent only
