"""Fuzzy simplicial set against a scalar float64 reference and against umap-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pumap.graph.fuzzy import (
    fuzzy_simplicial_set,
    fuzzy_union,
    membership_strengths,
    nearest_nonzero_distance,
    smooth_knn_dist,
)
from pumap.knn import KnnGraph, exact_knn


def reference_sigma_rho(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row at a time, plain Python: the bisection as the UMAP paper describes it."""
    n, k = dist.shape
    target = math.log2(k + 1)
    sigma, rho = np.zeros(n), np.zeros(n)
    mean_all = dist.sum() / (n * (k + 1))
    for i in range(n):
        nonzero = dist[i][dist[i] > 0]
        rho[i] = nonzero[0] if nonzero.size else 0.0
        lo, hi, mid = 0.0, math.inf, 1.0
        for _ in range(64):
            psum = sum(math.exp(-(d - rho[i]) / mid) if d - rho[i] > 0 else 1.0 for d in dist[i])
            if abs(psum - target) < 1e-5:
                break
            if psum > target:
                hi = mid
                mid = (lo + hi) / 2
            else:
                lo = mid
                mid = mid * 2 if hi == math.inf else (lo + hi) / 2
        floor = 1e-3 * (dist[i].sum() / (k + 1) if rho[i] > 0 else mean_all)
        sigma[i] = max(mid, floor)
    return sigma, rho


def reference_graph(indices: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Dense symmetric fuzzy union a + b - ab."""
    n, _ = dist.shape
    sigma, rho = reference_sigma_rho(dist)
    p = np.zeros((n, n))
    for i in range(n):
        for j, d in zip(indices[i], dist[i], strict=False):
            p[i, j] = 1.0 if d - rho[i] <= 0 else math.exp(-(d - rho[i]) / sigma[i])
    return p + p.T - p * p.T


@pytest.fixture
def knn(rng: np.random.Generator) -> KnnGraph:
    x = rng.normal(size=(120, 5)).astype(np.float32)
    x[7] = x[3]  # a duplicate: a zero distance, so rho skips to the next neighbour
    return exact_knn(x, 8)


def test_sigma_rho_match_scalar_reference(knn: KnnGraph) -> None:
    sigma, rho = smooth_knn_dist(knn.distances)
    ref_sigma, ref_rho = reference_sigma_rho(knn.distances.double().numpy())
    np.testing.assert_allclose(rho.numpy(), ref_rho, rtol=1e-12)
    np.testing.assert_allclose(sigma.numpy(), ref_sigma, rtol=1e-10)


def test_memberships_sum_to_log2_k_plus_one_before_the_union(knn: KnnGraph) -> None:
    sigma, rho = smooth_knn_dist(knn.distances)
    w = membership_strengths(knn.distances, sigma, rho)
    np.testing.assert_allclose(w.sum(dim=1).numpy(), math.log2(knn.k + 1), atol=1e-4)
    assert torch.all(w.max(dim=1).values == 1.0)  # the nearest non-zero neighbour has weight 1


def test_graph_matches_dense_reference(knn: KnnGraph) -> None:
    graph = fuzzy_simplicial_set(knn)
    ref = reference_graph(knn.indices.numpy(), knn.distances.double().numpy())
    got = graph.to_scipy().toarray()
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert torch.all(graph.head < graph.tail)
    assert torch.all((graph.weight > 0) & (graph.weight <= 1))


def test_fuzzy_union_of_both_directions() -> None:
    indices = torch.tensor([[1], [0], [0]])
    weights = torch.tensor([[0.5], [0.4], [0.2]], dtype=torch.float64)
    graph = fuzzy_union(indices, weights)
    edges = {
        (int(h), int(t)): float(w)
        for h, t, w in zip(graph.head, graph.tail, graph.weight, strict=False)
    }
    assert edges == pytest.approx({(0, 1): 0.5 + 0.4 - 0.2, (0, 2): 0.2})


def test_nearest_nonzero_distance_rows_of_zeros_and_interpolation() -> None:
    dist = torch.tensor([[0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    assert nearest_nonzero_distance(dist).tolist() == [1.0, 0.0]
    assert nearest_nonzero_distance(dist, 1.5).tolist() == [2.0, 0.0]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_graph_matches_umap_learn_on_the_same_knn(rng: np.random.Generator, metric: str) -> None:
    umap_ = pytest.importorskip("umap.umap_")
    x = rng.normal(size=(200, 6)).astype(np.float32)
    knn = exact_knn(x, 10, metric)
    # umap-learn counts each point as its own first neighbour.
    idx = np.hstack([np.arange(200)[:, None], knn.indices.numpy()])
    dist = np.hstack([np.zeros((200, 1), np.float32), knn.distances.numpy()])
    theirs, _, _ = umap_.fuzzy_simplicial_set(
        x, 11, np.random.RandomState(0), metric, knn_indices=idx, knn_dists=dist
    )
    ours = fuzzy_simplicial_set(knn).to_scipy()
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), atol=1e-4)
