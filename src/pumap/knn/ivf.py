"""Approximate k nearest neighbours by clustering (IVF), in torch on any device.

The points are split into ``n_lists`` clusters by k-means on a sample. All points of one
cluster are searched together, as one dense block, against the points of the ``n_probe``
clusters whose centroids are nearest to their cluster's centroid (itself included): a matrix
product and a top-k per block, the operations a GPU does at its full rate. Candidates are
then refined exactly, as in the exact search. The cost is about ``n * n_probe * n / n_lists``
distance evaluations instead of ``n**2``; a point whose true neighbours lie in a cluster that
is not among its cluster's probes loses them, which the recall (`pumap.knn.recall`) measures.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from .base import KnnGraph
from .budget import default_memory_budget, n_candidates
from .recall import estimate_recall  # noqa: F401  (its import path before pumap.knn.recall)

log = logging.getLogger(__name__)

DEFAULT_N_PROBE = 16  # clusters searched per cluster, its own included
KMEANS_ITERATIONS = 10
KMEANS_SAMPLE_PER_LIST = 64  # k-means trains on this many sampled points per cluster
IVF_METRICS = ("euclidean", "cosine")


def default_n_lists(n: int) -> int:
    """Clusters for ``n`` points: about ``sqrt(n)``, so clusters hold about ``sqrt(n)`` points."""
    return max(1, round(math.sqrt(n)))


def ivf_search(
    x: torch.Tensor,
    k: int,
    metric: str = "euclidean",
    *,
    seed: int | None = None,
    device: str | torch.device | None = None,
    n_lists: int | None = None,
    n_probe: int = DEFAULT_N_PROBE,
    memory_budget: int | None = None,
) -> KnnGraph:
    """Approximate k nearest neighbours of every row of ``x`` (self excluded) by cluster blocks.

    ``x`` is trusted: a finite float32 matrix (as `Umap.fit` checked it).

    Parameters
    ----------
    x : torch.Tensor, shape (n, d)
    k : int
        Neighbours per point, ``1 <= k < n``.
    metric : {"euclidean", "cosine"}
        Cosine searches the rows scaled to unit length (a copy of ``x``).
    seed : int, optional
        Seeds the k-means sample and starting centroids.
    device : torch device, optional
        Where to compute; ``x``'s device by default.
    n_lists : int, optional
        Clusters; `default_n_lists` (about ``sqrt(n)``) by default.
    n_probe : int
        Clusters searched for the points of each cluster, its own included; more is slower
        and finds more true neighbours. A cluster whose probes hold fewer than ``k + 9``
        points gets more probes.
    memory_budget : int, optional
        Bytes for one block of scores (`default_memory_budget` by default): a large cluster is
        searched in row chunks that fit it.

    Returns
    -------
    KnnGraph
        On ``device``; distances exact for the neighbours found, sorted ascending.
    """
    if metric not in IVF_METRICS:
        raise ValueError(
            f"knn_method='ivf' supports metric 'euclidean' or 'cosine', got {metric!r}; "
            "use knn_method='exact' or 'nndescent'"
        )
    if device is not None:
        x = x.to(device)
    n, _ = x.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k must be an integer in [1, {n - 1}], got {k!r}")
    if isinstance(n_probe, bool) or not isinstance(n_probe, int) or n_probe < 1:
        raise ValueError(f"n_probe must be a positive integer, got {n_probe!r}")
    lists = default_n_lists(n) if n_lists is None else n_lists
    if isinstance(lists, bool) or not isinstance(lists, int) or not 1 <= lists <= n:
        raise ValueError(f"n_lists must be an integer in [1, {n}], got {n_lists!r}")
    budget = memory_budget or default_memory_budget(x.device)
    generator = torch.Generator(device=x.device).manual_seed(0 if seed is None else seed)
    with torch.no_grad():
        unit = _unit_rows(x) if metric == "cosine" else None
        points = x if unit is None else unit
        centroids = kmeans(points, lists, generator)
        assign = nearest_centroid(points, centroids, budget)
        return _search_blocks(x, unit, k, metric, centroids, assign, n_probe, budget)


def kmeans(
    x: torch.Tensor, n_clusters: int, generator: torch.Generator,
    iterations: int = KMEANS_ITERATIONS,
) -> torch.Tensor:
    """Lloyd's k-means on a sample of ``x`` (`KMEANS_SAMPLE_PER_LIST` points per cluster);
    an emptied cluster restarts at a random sampled point. Returns ``(n_clusters, d)``."""
    n = x.shape[0]
    m = min(n, n_clusters * KMEANS_SAMPLE_PER_LIST)
    sample = x[torch.randperm(n, generator=generator, device=x.device)[:m]]
    centroids = sample[:n_clusters].clone()
    budget = default_memory_budget(x.device)
    for _ in range(iterations):
        assign = nearest_centroid(sample, centroids, budget)
        sums = torch.zeros_like(centroids).index_add_(0, assign, sample)
        counts = torch.bincount(assign, minlength=n_clusters).to(x.dtype)
        restart = sample[torch.randint(0, m, (n_clusters,), generator=generator, device=x.device)]
        centroids = torch.where(
            counts[:, None] > 0, sums / counts.clamp_min(1.0)[:, None], restart
        )
    return centroids


def nearest_centroid(x: torch.Tensor, centroids: torch.Tensor, memory_budget: int) -> torch.Tensor:
    """Index of the nearest centroid of every row of ``x``, in blocks of rows within budget."""
    c_norm = (centroids * centroids).sum(dim=1)
    rows = max(1, min(x.shape[0], memory_budget // (4 * max(1, centroids.shape[0]) + 64)))
    out = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], rows):
        block = x[start : start + rows]
        scores = torch.addmm(c_norm[None, :], block, centroids.T, alpha=-2.0)
        out[start : start + rows] = scores.argmin(dim=1)
    return out


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return x / norm.clamp_min(1e-12)


def _probe_lists(
    centroids: torch.Tensor, sizes: np.ndarray, n_probe: int, least: int
) -> list[np.ndarray]:
    """For each cluster, the clusters to search (its own first, then by centroid distance),
    extended past ``n_probe`` until they hold at least ``least`` points."""
    n_lists = centroids.shape[0]
    width = min(n_lists, max(4 * n_probe, n_probe + 8))
    c_norm = (centroids * centroids).sum(dim=1)
    near = torch.addmm(c_norm[None, :], centroids, centroids.T, alpha=-2.0)
    near.fill_diagonal_(-math.inf)  # its own cluster first
    order = near.topk(width, dim=1, largest=False).indices.cpu().numpy()  # one host read
    probes = []
    for c in range(n_lists):
        row = order[c]
        held = np.cumsum(sizes[row])
        count = max(n_probe, int(np.searchsorted(held, least)) + 1)
        if count > width:  # tiny clusters around: search everything, its own first
            row = np.concatenate([[c], np.delete(np.arange(n_lists), c)])
            count = n_lists
        probes.append(row[: min(count, len(row))])
    return probes


def _search_blocks(
    x: torch.Tensor,
    unit: torch.Tensor | None,
    k: int,
    metric: str,
    centroids: torch.Tensor,
    assign: torch.Tensor,
    n_probe: int,
    budget: int,
) -> KnnGraph:
    n = x.shape[0]
    kc = n_candidates(n, k)
    points = x if unit is None else unit
    order = torch.argsort(assign, stable=True)  # the points cluster by cluster
    sizes = torch.bincount(assign, minlength=centroids.shape[0]).cpu().numpy()  # host read
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    probes = _probe_lists(centroids, sizes, n_probe, kc + 1)
    sq_norm = (points * points).sum(dim=1)
    zero = None if unit is None else torch.linalg.vector_norm(x, dim=1) < 1e-12
    out_idx = torch.empty((n, k), dtype=torch.int64, device=x.device)
    out_dist = torch.empty((n, k), dtype=x.dtype, device=x.device)
    for c, probe in enumerate(probes):
        if sizes[c] == 0:
            continue
        cand = torch.cat([order[offsets[j] : offsets[j + 1]] for j in probe])  # own first
        cand_points = points.index_select(0, cand)
        cand_norm = sq_norm.index_select(0, cand)
        m = cand.shape[0]
        take = min(kc, m - 1)
        # a chunk's scores (m each) and gathered candidates (kc * d each) fit the budget
        rows = max(1, min(int(sizes[c]), budget // (4 * (m + take * x.shape[1]) + 64)))
        for lo in range(0, int(sizes[c]), rows):
            hi = min(lo + rows, int(sizes[c]))
            query = order[offsets[c] + lo : offsets[c] + hi]
            scores = torch.addmm(cand_norm[None, :], points[query], cand_points.T, alpha=-2.0)
            own = torch.arange(hi - lo, device=x.device)
            scores[own, own + lo] = math.inf  # the query itself: its own cluster comes first
            chosen = cand[scores.topk(take, dim=1, largest=False, sorted=False).indices]
            dist, idx = _refine_rows(points, query, chosen, metric, zero)
            out_idx[query] = idx[:, :k]
            out_dist[query] = dist[:, :k]
    return KnnGraph(out_idx, out_dist)


def _refine_rows(
    points: torch.Tensor,
    query: torch.Tensor,
    chosen: torch.Tensor,
    metric: str,
    zero: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact distances from the rows ``query`` of ``points`` to their candidates ``chosen``,
    each row sorted by (distance, index). ``points`` are the unit rows for cosine, whose
    distance is ``|u - v|^2 / 2``, and 1 from or to a zero row (``zero`` marks them)."""
    chosen, _ = chosen.sort(dim=1)
    diff = points[chosen] - points.index_select(0, query)[:, None, :]
    if metric == "cosine":
        dist = diff.square_().sum(dim=-1).mul_(0.5)
        if zero is not None:
            dist = torch.where(zero[chosen] | zero[query, None], 1.0, dist)
    else:
        dist = torch.linalg.vector_norm(diff, dim=-1)
    dist, order = dist.sort(dim=1, stable=True)
    return dist, chosen.gather(1, order)

