"""The fuzzy simplicial set of UMAP: smoothed k-NN distances, membership strengths, fuzzy union.

Conventions follow McInnes, Healy & Melville (2018) and umap-learn: each point's k neighbours
(itself excluded) plus the point itself make a neighbourhood of ``k + 1``, so the bandwidth
``sigma_i`` solves ``sum_j exp(-max(0, d_ij - rho_i) / sigma_i) = log2(k + 1)`` over the k
neighbours, where ``rho_i`` is the distance to the nearest neighbour at non-zero distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch

from ..knn import KnnGraph

SMOOTH_K_TOLERANCE = 1e-5
MIN_K_DIST_SCALE = 1e-3


@dataclass(frozen=True)
class FuzzyGraph:
    """The symmetric fuzzy graph as an undirected edge list (``head < tail``).

    Attributes
    ----------
    head, tail : torch.Tensor
        ``(E,)`` int64 end points of each edge, ``head < tail``.
    weight : torch.Tensor
        ``(E,)`` float32 membership strength in ``(0, 1]``.
    n_samples : int
        Number of points (vertices).
    """

    head: torch.Tensor
    tail: torch.Tensor
    weight: torch.Tensor
    n_samples: int

    @property
    def n_edges(self) -> int:
        return int(self.weight.shape[0])

    def to(self, device: torch.device | str) -> FuzzyGraph:
        return FuzzyGraph(
            self.head.to(device), self.tail.to(device), self.weight.to(device), self.n_samples
        )

    def to_scipy(self) -> scipy.sparse.csr_matrix:
        """The symmetric ``(n, n)`` sparse matrix with both directions stored, as umap-learn."""
        h = self.head.cpu().numpy()
        t = self.tail.cpu().numpy()
        w = self.weight.cpu().numpy().astype(np.float64)
        rows = np.concatenate([h, t])
        cols = np.concatenate([t, h])
        n = self.n_samples
        return scipy.sparse.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))


def _float_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def nearest_nonzero_distance(
    distances: torch.Tensor, local_connectivity: float = 1.0
) -> torch.Tensor:
    """rho: per row, the distance to the ``local_connectivity``-th neighbour at non-zero distance.

    ``distances`` is ``(n, k)`` sorted ascending. Rows with fewer non-zero distances than
    ``local_connectivity`` take their largest one; rows of zeros get 0.
    """
    _n, k = distances.shape
    n_zero = (distances <= 0).sum(dim=1)
    n_nonzero = k - n_zero
    index = int(np.floor(local_connectivity))
    interpolation = local_connectivity - index

    def nonzero_at(j: int) -> torch.Tensor:  # j-th non-zero distance (0-based), clamped to the row
        col = (n_zero + j).clamp(max=k - 1)
        return distances.gather(1, col[:, None])[:, 0]

    if index > 0:
        rho = nonzero_at(index - 1)
        if interpolation > SMOOTH_K_TOLERANCE:
            rho = rho + interpolation * (nonzero_at(index) - rho)
    else:
        rho = interpolation * nonzero_at(0)
    largest = distances[:, -1]
    rho = torch.where(n_nonzero >= local_connectivity, rho, largest)
    return torch.where(n_nonzero > 0, rho, torch.zeros_like(rho))


def smooth_knn_dist(
    distances: torch.Tensor,
    n_iter: int = 64,
    local_connectivity: float = 1.0,
    bandwidth: float = 1.0,
    rho: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-point bandwidth ``sigma`` and offset ``rho`` by vectorised bisection.

    Parameters
    ----------
    distances : torch.Tensor
        ``(n, k)`` distances to each point's k nearest neighbours (self excluded), ascending.
    rho : torch.Tensor, optional
        ``(n,)`` offsets to use instead of `nearest_nonzero_distance` of ``distances`` (the
        refined transform takes them from a wider row than the one ``sigma`` sums over).

    Returns
    -------
    sigma, rho : torch.Tensor
        ``(n,)`` each, float64 (float32 on MPS), on the input's device.
    """
    dtype = _float_dtype(distances.device)
    dist = distances.to(dtype)
    n, k = dist.shape
    target = np.log2(k + 1) * bandwidth
    if rho is None:
        rho = nearest_nonzero_distance(dist, local_connectivity)
    rho = rho.to(dtype)
    shifted = dist - rho[:, None]
    lo = torch.zeros(n, dtype=dtype, device=dist.device)
    hi = torch.full((n,), float("inf"), dtype=dtype, device=dist.device)
    mid = torch.ones(n, dtype=dtype, device=dist.device)
    active = torch.ones(n, dtype=torch.bool, device=dist.device)
    for _ in range(n_iter):
        psum = torch.where(shifted > 0, torch.exp(-shifted / mid[:, None]), 1.0).sum(dim=1)
        active = active & ((psum - target).abs() >= SMOOTH_K_TOLERANCE)
        too_big = active & (psum > target)
        too_small = active & ~too_big
        hi = torch.where(too_big, mid, hi)
        lo = torch.where(too_small, mid, lo)
        mid = torch.where(
            too_big | (too_small & torch.isfinite(hi)),
            (lo + hi) / 2,
            torch.where(too_small, mid * 2, mid),
        )
    # Floors as in umap-learn; the means count the point itself, at distance 0.
    mean_row = dist.sum(dim=1) / (k + 1)
    mean_all = dist.sum() / (n * (k + 1))
    floor = MIN_K_DIST_SCALE * torch.where(rho > 0, mean_row, mean_all)
    sigma = torch.maximum(mid, floor)
    return sigma, rho


def membership_strengths(
    distances: torch.Tensor, sigma: torch.Tensor, rho: torch.Tensor
) -> torch.Tensor:
    """``exp(-max(0, d - rho) / sigma)`` per k-NN entry, 1 where ``d <= rho`` or ``sigma == 0``."""
    dist = distances.to(sigma.dtype)
    shifted = dist - rho[:, None]
    safe_sigma = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
    w = torch.exp(-shifted / safe_sigma[:, None])
    one = (shifted <= 0) | (sigma[:, None] == 0)
    return torch.where(one, torch.ones_like(w), w)


def fuzzy_union(
    indices: torch.Tensor, weights: torch.Tensor, set_op_mix_ratio: float = 1.0
) -> FuzzyGraph:
    """Symmetrise directed memberships ``a`` (i to j) and ``b`` (j to i, 0 if not seen).

    ``set_op_mix_ratio`` mixes their fuzzy union ``a + b - a b`` (1, the default) with their
    fuzzy intersection ``a b`` (0), as umap-learn's does. The union is computed as
    ``1 - prod(1 - w)`` over the (one or two) directed entries of each pair.
    """
    n, k = indices.shape
    device = indices.device
    rows = torch.arange(n, device=device).repeat_interleave(k)
    cols = indices.reshape(-1)
    w = weights.reshape(-1)
    keep = (cols != rows) & (cols >= 0)
    rows, cols, w = rows[keep], cols[keep], w[keep]
    head = torch.minimum(rows, cols)
    tail = torch.maximum(rows, cols)
    keys, inverse = torch.unique(head * n + tail, return_inverse=True)
    complement = torch.ones(keys.shape[0], dtype=w.dtype, device=device)
    complement = complement.scatter_reduce(0, inverse, 1.0 - w, reduce="prod")
    union = 1.0 - complement
    if set_op_mix_ratio != 1.0:
        seen = torch.zeros_like(complement).scatter_add(0, inverse, torch.ones_like(w))
        product = torch.ones_like(complement).scatter_reduce(0, inverse, w, reduce="prod")
        product = torch.where(seen == 2, product, torch.zeros_like(product))
        union = set_op_mix_ratio * union + (1.0 - set_op_mix_ratio) * product
    nonzero = union > 0
    keys, union = keys[nonzero], union[nonzero]
    return FuzzyGraph(keys // n, keys % n, union.to(torch.float32), n)


def fuzzy_simplicial_set(
    knn: KnnGraph, local_connectivity: float = 1.0, set_op_mix_ratio: float = 1.0
) -> FuzzyGraph:
    """UMAP's fuzzy graph from a k-NN graph (self excluded), on the k-NN graph's device.

    ``local_connectivity`` and ``set_op_mix_ratio`` mean what they do in umap-learn.
    """
    sigma, rho = smooth_knn_dist(knn.distances, local_connectivity=local_connectivity)
    weights = membership_strengths(knn.distances, sigma, rho)
    return fuzzy_union(knn.indices, weights, set_op_mix_ratio)
