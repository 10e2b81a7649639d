"""Edge cases of the k-NN search: k >= n, one point, duplicates, zero vectors under cosine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pumap.knn import build_knn, exact_knn, nndescent_knn, pairwise_distances


@pytest.mark.parametrize("search", [exact_knn, nndescent_knn])
@pytest.mark.parametrize(("n", "k"), [(5, 5), (5, 9), (1, 1)])
def test_k_at_least_n_is_a_clear_value_error(search, n: int, k: int) -> None:
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    with pytest.raises(ValueError, match=rf"k must be smaller than the number of points \({n}\)"):
        search(x, k)


def test_build_knn_auto_rejects_k_at_least_n() -> None:
    with pytest.raises(ValueError, match="k must be smaller"):
        build_knn(torch.zeros(3, 2), 3, "euclidean", "auto", seed=0, device=torch.device("cpu"))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_a_single_point(metric: str) -> None:
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert pairwise_distances(x, x, metric).shape == (1, 1)
    assert float(pairwise_distances(x, x, metric)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="k must be smaller"):
        exact_knn(x, 1, metric)


def test_two_points_are_each_others_neighbour() -> None:
    graph = exact_knn(np.array([[0.0, 0.0], [3.0, 4.0]]), 1)
    assert graph.indices.tolist() == [[1], [0]]
    assert graph.distances.tolist() == [[5.0], [5.0]]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("block_rows", [None, 3])
def test_duplicate_points(rng: np.random.Generator, metric: str, block_rows) -> None:
    base = rng.normal(size=(6, 4)).astype(np.float32) + 3.0
    x = np.concatenate([base, base, base])  # every point three times: rows i, i+6, i+12
    graph = exact_knn(x, 4, metric, block_rows=block_rows)
    idx, dist = graph.indices.numpy(), graph.distances.numpy()
    n = len(x)
    assert not (idx == np.arange(n)[:, None]).any()  # self excluded even among copies
    twins = [{(i + 6) % n, (i + 12) % n} for i in range(n)]
    assert all(set(idx[i, :2]) == twins[i] for i in range(n))  # the two copies come first
    np.testing.assert_array_equal(dist[:, :2], 0.0)  # exactly 0, not rounding noise
    assert np.all(dist[:, 2:] > 0.0)
    assert np.all(np.diff(dist, axis=1) >= 0)
    assert np.all(idx[:, 0] < idx[:, 1])  # ties broken by index: deterministic


def test_all_points_identical() -> None:
    graph = exact_knn(np.ones((5, 3)), 4)
    assert graph.distances.abs().max() == 0.0
    assert graph.indices.tolist() == [[j for j in range(5) if j != i] for i in range(5)]


def test_zero_vectors_under_cosine_are_at_distance_one() -> None:
    x = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
    d = pairwise_distances(torch.from_numpy(x), torch.from_numpy(x), "cosine")
    assert torch.isfinite(d).all()
    np.testing.assert_allclose(d[0].numpy(), 1.0)  # including to the other zero vector
    graph = exact_knn(x, 2, "cosine")
    assert torch.isfinite(graph.distances).all()
    np.testing.assert_allclose(graph.distances[0].numpy(), [1.0, 1.0])
    assert graph.indices[1].tolist()[0] == 2 and graph.distances[1, 0] == 0.0  # same direction
    np.testing.assert_allclose(graph.distances[4].numpy(), [1.0, 1.0])


def test_far_from_origin_still_exact(rng: np.random.Generator) -> None:
    """A large common offset would swamp |y|^2 - 2 x.y in float32; the search must not care."""
    x = rng.normal(size=(300, 8)).astype(np.float32)
    near = exact_knn(x, 10)
    far = exact_knn(x + np.float32(1e4), 10)
    assert (near.indices == far.indices).float().mean() >= 0.99
    torch.testing.assert_close(near.distances, far.distances, atol=5e-3, rtol=1e-3)


def largest_exact_n(d: int) -> int:
    """The largest n whose cost n**2 (d + EXACT_SELECT_WIDTH) stays within the limit."""
    from pumap.config import EXACT_COST_LIMIT, EXACT_SELECT_WIDTH

    n = math.isqrt(int(EXACT_COST_LIMIT // (d + EXACT_SELECT_WIDTH)))
    while n * n * (d + EXACT_SELECT_WIDTH) > EXACT_COST_LIMIT:
        n -= 1
    return n


@pytest.mark.parametrize("d", [4, 64, 784])
@pytest.mark.parametrize(("metric", "above"), [("euclidean", "ivf"), ("manhattan", "nndescent")])
def test_auto_is_exact_while_cheaper_and_approximate_above(monkeypatch, d, metric, above) -> None:
    """Past the exact search's edge: IVF (guarded) where it computes the metric, else
    NN-Descent."""
    import pumap.knn.choose as choose_module
    from pumap.knn import KnnGraph

    chosen: list[str] = []
    empty = KnnGraph(torch.zeros(1, 1, dtype=torch.int64), torch.zeros(1, 1))
    monkeypatch.setattr(choose_module, "exact_search", lambda *a, **kw: chosen.append("exact"))
    monkeypatch.setattr(choose_module, "nndescent_search",
                        lambda *a, **kw: chosen.append("nndescent") or empty)
    monkeypatch.setattr(choose_module, "guarded_ivf_search",
                        lambda *a, **kw: chosen.append("ivf") or (empty, {}))
    edge = largest_exact_n(d)
    for n in (edge, edge + 1):
        x = torch.empty(n, 1).expand(n, d)  # only the shape is read: no n x d allocation
        build_knn(x, 15, metric, "auto", seed=0, device=torch.device("cpu"))
    assert chosen == ["exact", above]


def test_the_auto_crossover_follows_the_measured_ones() -> None:
    """docs/benchmarks.md measured the crossover at ~53k points (d=784) and ~134k (d=64)."""
    assert 45_000 <= largest_exact_n(784) <= 60_000
    assert 115_000 <= largest_exact_n(64) <= 150_000
