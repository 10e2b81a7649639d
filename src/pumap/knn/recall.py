"""How good an approximate k-NN graph is: its recall on rows searched exactly.

`estimate_recall` draws query rows, finds their true ``k``-th neighbour distance under the
graph's own metric (`pumap.knn.metrics.block_distances`) by a search over blocks of columns,
so that its memory stays bounded whatever the number of points, and counts the graph's
neighbours that are no farther than that.
"""

from __future__ import annotations

import math

import torch

from ..metric_names import EXACT_METRICS
from .base import KnnGraph
from .metrics import block_distances, is_binary

# Bytes of one (queries x columns) block of distances: the estimate's working memory.
RECALL_BLOCK_BYTES = 64 * 2**20
# Relative slack when comparing a found neighbour's distance with the k-th true one: the two
# numbers come from different column blocks, whose float32 products may round differently.
_TIE_SLACK = 1e-5


def estimate_recall(
    x: torch.Tensor,
    graph: KnnGraph,
    metric: str,
    n_queries: int = 1000,
    seed: int = 0,
    block_bytes: int = RECALL_BLOCK_BYTES,
) -> float:
    """Share of the true ``k`` nearest neighbours that ``graph`` holds, on ``n_queries`` rows
    drawn at random and searched exactly under ``metric``.

    A neighbour counts as found when its distance is at most the row's true ``k``-th
    distance, so that ties at the ``k``-th distance (common under hamming and jaccard) count
    either way. The true distances are computed ``block_bytes`` at a time (columns of
    ``x``), never as one ``n_queries x n`` matrix.

    Raises
    ------
    ValueError
        If ``metric`` is not one pumap computes itself (`EXACT_METRICS`).
    """
    if metric not in EXACT_METRICS:
        raise ValueError(
            f"estimate_recall computes the metrics {', '.join(EXACT_METRICS)}, got {metric!r}"
        )
    n, k = graph.indices.shape
    generator = torch.Generator(device=x.device).manual_seed(seed)
    rows = torch.randperm(n, generator=generator, device=x.device)[: min(n_queries, n)]
    m = rows.shape[0]
    q = x.index_select(0, rows)
    found = graph.indices.index_select(0, rows.to(graph.indices.device)).to(x.device)
    found_dist = torch.full((m, k), math.inf, dtype=torch.float32, device=x.device)
    best = torch.full((m, k), math.inf, dtype=torch.float32, device=x.device)
    binary = is_binary(x) if metric == "hamming" else None
    step = max(1, block_bytes // (4 * max(1, m)))
    for start in range(0, n, step):
        stop = min(n, start + step)
        dist = block_distances(q, x[start:stop], metric, binary).float()
        mine = (rows >= start) & (rows < stop)
        dist[mine.nonzero()[:, 0], rows[mine] - start] = math.inf  # a point is not its own
        inside = (found >= start) & (found < stop)
        where = inside.nonzero(as_tuple=True)
        found_dist[where] = dist[where[0], found[where] - start]
        best = torch.cat([best, dist], dim=1).topk(k, dim=1, largest=False).values
    kth = best[:, -1:]
    hits = (found_dist <= kth + _TIE_SLACK * kth.abs()).sum()
    return float(hits) / float(m * k)
