"""The exact search's metrics beyond euclidean and cosine, block by block.

`block_distances` gives the distances between a block of query rows and a set of points for
every name of `EXACT_METRICS`, computed directly (no cancellation) so that no candidate needs
refining: manhattan and chebyshev with `torch.cdist`, correlation as the cosine distance of
row-centred rows, hamming (the fraction of coordinates that differ, as SciPy's) by counting
in chunks (one product for 0/1 data), jaccard on the non-zero pattern (as pynndescent and
umap-learn: ``1 - |a & b| / |a | b|`` of the sets of non-zero coordinates, 0 for two zero
rows) with one product. `generic_search` is the blocked k-NN search they serve.
"""

from __future__ import annotations

import math

import torch

from .base import COSINE_EPS, KnnGraph

# Metrics the exact search computes with its own scored-and-refined products.
PRODUCT_METRICS = ("euclidean", "cosine")
_COMPARE_CHUNK = 16 * 2**20  # elements of one boolean comparison block (hamming, general data)


def row_centred(x: torch.Tensor) -> torch.Tensor:
    """Each row minus its own mean: correlation distance is the cosine distance of these."""
    return x - x.mean(dim=1, keepdim=True)


def is_binary(x: torch.Tensor) -> bool:
    """Whether every value is 0 or 1 (hamming's counts are then products)."""
    return bool(((x == 0) | (x == 1)).all())


def block_distances(
    q: torch.Tensor, x: torch.Tensor, metric: str, binary: bool | None = None
) -> torch.Tensor:
    """``(m, n)`` distances from the rows of ``q`` to those of ``x`` under ``metric``.

    ``binary`` says whether both are 0/1 data (hamming then counts with a product); it is
    checked when not given.
    """
    if metric == "euclidean":
        diff_sq = (
            (q * q).sum(dim=1, keepdim=True) + (x * x).sum(dim=1) - 2.0 * (q @ x.T)
        ).clamp_min_(0.0)
        return diff_sq.sqrt_()
    if metric in ("cosine", "correlation"):
        if metric == "correlation":
            q, x = row_centred(q), row_centred(x)
        qn = q / q.norm(dim=1, keepdim=True).clamp_min(COSINE_EPS)
        xn = x / x.norm(dim=1, keepdim=True).clamp_min(COSINE_EPS)
        dist = (1.0 - qn @ xn.T).clamp_min_(0.0)
        zero = (q.norm(dim=1) < COSINE_EPS)[:, None] | (x.norm(dim=1) < COSINE_EPS)[None, :]
        return torch.where(zero, 1.0, dist)
    if metric == "manhattan":
        return torch.cdist(q, x, p=1.0)
    if metric == "chebyshev":
        return torch.cdist(q, x, p=math.inf)
    if metric == "jaccard":
        qb, xb = (q != 0).to(q.dtype), (x != 0).to(x.dtype)
        both = qb @ xb.T
        either = qb.sum(dim=1, keepdim=True) + xb.sum(dim=1) - both
        return torch.where(either > 0, 1.0 - both / either.clamp_min(1.0), 0.0)
    if metric == "hamming":
        d = q.shape[1]
        if binary is None:
            binary = is_binary(q) and is_binary(x)
        if binary:
            differ = q.sum(dim=1, keepdim=True) + x.sum(dim=1) - 2.0 * (q @ x.T)
            return differ / d
        out = torch.empty((q.shape[0], x.shape[0]), dtype=q.dtype, device=q.device)
        step = max(1, _COMPARE_CHUNK // max(1, q.shape[0] * d))
        for start in range(0, x.shape[0], step):
            block = x[start : start + step]
            out[:, start : start + step] = (q[:, None, :] != block[None, :, :]).sum(dim=2)
        return out.div_(d)
    raise ValueError(f"block_distances: unknown metric {metric!r}")


def generic_search(x: torch.Tensor, k: int, metric: str, rows: int) -> KnnGraph:
    """Exact ``k`` nearest neighbours of each row among the others, ``rows`` queries a block.

    Each block's distances come from `block_distances` (direct, so exact up to float32
    rounding); ties are broken by index.
    """
    n = x.shape[0]
    binary = is_binary(x) if metric == "hamming" else None
    out_idx = torch.empty((n, k), dtype=torch.int64, device=x.device)
    out_dist = torch.empty((n, k), dtype=x.dtype, device=x.device)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        dist = block_distances(x[start:stop], x, metric, binary)
        own = torch.arange(stop - start, device=x.device)
        dist[own, own + start] = math.inf
        out_dist[start:stop], out_idx[start:stop] = smallest_sorted(dist, k)
    return KnnGraph(out_idx, out_dist)


def query_knn(
    queries: torch.Tensor, points: torch.Tensor, k: int, metric: str, budget: int
) -> KnnGraph:
    """Exact ``k`` nearest rows of ``points`` for each row of ``queries`` (not the same set)."""
    n = points.shape[0]
    k = min(k, n)
    binary = is_binary(points) and is_binary(queries) if metric == "hamming" else None
    rows = max(1, min(queries.shape[0], budget // (4 * (2 * n + points.shape[1]))))
    out_idx = torch.empty((queries.shape[0], k), dtype=torch.int64, device=points.device)
    out_dist = torch.empty((queries.shape[0], k), dtype=points.dtype, device=points.device)
    for start in range(0, queries.shape[0], rows):
        dist = block_distances(queries[start : start + rows], points, metric, binary)
        out_dist[start : start + rows], out_idx[start : start + rows] = smallest_sorted(dist, k)
    return KnnGraph(out_idx, out_dist)


def smallest_sorted(dist: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest entries of each row with their columns, sorted by (value, column).

    A margin of candidates is taken first so that ties at the k-th value go to the lower
    column whatever order ``topk`` returns them in.
    """
    kc = min(dist.shape[1], k + 8)
    values, idx = torch.topk(dist, kc, dim=1, largest=False, sorted=False)
    order = torch.argsort(idx, dim=1)
    values, idx = values.gather(1, order), idx.gather(1, order)
    order = torch.argsort(values, dim=1, stable=True)[:, :k]
    return values.gather(1, order), idx.gather(1, order)
