"""k-nearest-neighbour graphs: exact blocked search on any torch device, or NN-Descent.

The exact search never holds an n x n matrix: it computes the pairwise distances of a block of
query rows against all points, keeps the k smallest per row, and moves on. The block size
follows from a memory budget.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import METRICS, NNDESCENT_THRESHOLD

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of working memory for one block of the exact search
_COSINE_EPS = 1e-12


@dataclass(frozen=True)
class KnnGraph:
    """The k nearest neighbours of every point, the point itself excluded.

    Attributes
    ----------
    indices : torch.Tensor
        ``(n, k)`` int64, neighbours of each row sorted by increasing distance.
    distances : torch.Tensor
        ``(n, k)`` float32 distances matching ``indices``.
    """

    indices: torch.Tensor
    distances: torch.Tensor

    @property
    def n_samples(self) -> int:
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def to(self, device: torch.device | str) -> KnnGraph:
        return KnnGraph(self.indices.to(device), self.distances.to(device))


def pairwise_distances(x: torch.Tensor, y: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """Distances between the rows of ``x`` (m, d) and ``y`` (n, d) as an (m, n) matrix.

    Euclidean distances use one fused matrix product,
    ``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0))``; cosine distances are ``1 - x.y / (|x| |y|)``
    (a zero vector is at distance 1 from everything). Differentiable.
    """
    _check_metric(metric)
    if metric == "cosine":
        xn = x / x.norm(dim=1, keepdim=True).clamp_min(_COSINE_EPS)
        yn = y / y.norm(dim=1, keepdim=True).clamp_min(_COSINE_EPS)
        return (1.0 - xn @ yn.T).clamp_min(0.0)
    sq = torch.addmm(
        (x * x).sum(dim=1, keepdim=True), x, y.T, beta=1.0, alpha=-2.0
    ) + (y * y).sum(dim=1)
    return sq.clamp_min(0.0).sqrt()


class TopK(torch.autograd.Function):
    """The ``k`` smallest entries of each row of a distance matrix, with their columns.

    The backward pass scatters the gradient of the selected distances back into a zero matrix
    shaped like the input: only the selected entries receive gradient.
    """

    @staticmethod
    def forward(ctx: Any, dist: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        values, indices = torch.topk(dist, k, dim=1, largest=False, sorted=True)
        ctx.save_for_backward(indices)
        ctx.shape = dist.shape
        ctx.mark_non_differentiable(indices)
        return values, indices

    @staticmethod
    def backward(ctx: Any, grad_values: torch.Tensor, _grad_indices: Any) -> tuple[Any, None]:
        (indices,) = ctx.saved_tensors
        grad = grad_values.new_zeros(ctx.shape)
        grad.scatter_add_(1, indices, grad_values)
        return grad, None


def knn_topk(dist: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable row-wise top-k smallest of ``dist``: ``(values, indices)``."""
    return TopK.apply(dist, k)


def block_rows_for_budget(n: int, d: int, k: int, memory_budget: int) -> int:
    """Rows per block so that one block's work (distances, top-k, refinement) fits the budget."""
    per_row = 4 * (3 * n + k * (d + 4))
    return int(max(1, min(n, memory_budget // per_row)))


def exact_knn(
    data: Any,
    k: int,
    metric: str = "euclidean",
    *,
    device: str | torch.device | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    block_rows: int | None = None,
) -> KnnGraph:
    """Exact k nearest neighbours of every row of ``data`` among the others.

    Parameters
    ----------
    data : array-like or torch.Tensor, shape (n, d)
    k : int
        Neighbours per point, the point itself excluded; ``1 <= k < n``.
    metric : {"euclidean", "cosine"}
    device : torch device, optional
        Where to compute; the input tensor's device by default.
    memory_budget : int
        Bytes of working memory for one block; the peak grows with it, not with ``n**2``.
    block_rows : int, optional
        Force the number of query rows per block.

    Returns
    -------
    KnnGraph
        On ``device``. Differentiable with respect to ``data`` when it requires grad.
    """
    from .preprocess import as_float32_matrix

    _check_metric(metric)
    if isinstance(data, torch.Tensor) and data.requires_grad:
        x = data
    else:
        x = as_float32_matrix(data, "data")
    if device is not None:
        x = x.to(device)
    n, d = x.shape
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of points ({n}), got k={k}")
    rows = block_rows or block_rows_for_budget(n, d, k, memory_budget)
    grad = x.requires_grad
    if metric == "cosine":
        # Normalise once, not per block; distances are then 1 - dot products.
        x = x / x.norm(dim=1, keepdim=True).clamp_min(_COSINE_EPS)
    all_idx, all_dist = [], []
    with torch.set_grad_enabled(grad):
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            block = _block_distances(x[start:stop], x, metric)
            own = torch.arange(start, stop, device=x.device)
            block = block.index_put((own - start, own), torch.tensor(math.inf, device=x.device))
            values, idx = knn_topk(block, k)
            if not grad:
                values, idx = _refine(x[start:stop], x, idx, metric)
            all_idx.append(idx)
            all_dist.append(values)
    return KnnGraph(torch.cat(all_idx), torch.cat(all_dist))


def _block_distances(xb: torch.Tensor, x: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "cosine":  # rows are already unit vectors
        return (1.0 - xb @ x.T).clamp_min(0.0)
    return pairwise_distances(xb, x, "euclidean")


def _refine(
    xb: torch.Tensor, x: torch.Tensor, idx: torch.Tensor, metric: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recompute the chosen distances directly (no cancellation) and re-sort each row."""
    neighbours = x[idx]  # (b, k, d)
    if metric == "cosine":
        dist = (1.0 - (neighbours * xb[:, None, :]).sum(-1)).clamp_min(0.0)
    else:
        dist = (neighbours - xb[:, None, :]).norm(dim=-1)
    dist, order = dist.sort(dim=1, stable=True)
    return dist, idx.gather(1, order)


def nndescent_knn(
    data: Any, k: int, metric: str = "euclidean", *, seed: int | None = None, verbose: bool = False
) -> KnnGraph:
    """Approximate k nearest neighbours with NN-Descent (pynndescent), self excluded, on CPU."""
    from .preprocess import as_float32_matrix

    _check_metric(metric)
    x = as_float32_matrix(data, "data").cpu().numpy()
    n = x.shape[0]
    if k >= n:
        raise ValueError(f"k must be smaller than the number of points ({n}), got k={k}")
    try:
        from pynndescent import NNDescent
    except ImportError as err:  # pragma: no cover - pynndescent is a dependency
        raise ImportError("knn_method='nndescent' needs pynndescent: pip install pynndescent") from err
    index = NNDescent(
        x,
        metric=metric,
        n_neighbors=min(k + 1, n),
        random_state=seed,
        low_memory=True,
        verbose=verbose,
        compressed=True,
    )
    indices, distances = index.neighbor_graph
    return _drop_self(np.asarray(indices), np.asarray(distances), k)


def _drop_self(indices: np.ndarray, distances: np.ndarray, k: int) -> KnnGraph:
    """Remove each row's own index (or its last column when absent) and keep k columns."""
    n = indices.shape[0]
    is_self = indices == np.arange(n)[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    keep = ~is_self & (indices >= 0)  # NN-Descent marks missing neighbours with -1
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    idx = np.take_along_axis(indices, order, axis=1)
    dist = np.take_along_axis(distances, order, axis=1)
    if (idx < 0).any():
        raise RuntimeError("NN-Descent returned fewer neighbours than asked; use knn_method='exact'")
    return KnnGraph(torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(dist.astype(np.float32)))


def build_knn(
    x: torch.Tensor,
    k: int,
    metric: str,
    method: str,
    *,
    seed: int | None,
    device: torch.device,
    verbose: bool = False,
) -> KnnGraph:
    """Choose the k-NN method (``"auto"``: exact up to the threshold) and run it on ``device``."""
    if method == "auto":
        method = "exact" if x.shape[0] <= NNDESCENT_THRESHOLD else "nndescent"
    log.info("k-NN graph: %s, k=%d, metric=%s, n=%d", method, k, metric, x.shape[0])
    if method == "exact":
        return exact_knn(x, k, metric, device=device)
    return nndescent_knn(x, k, metric, seed=seed, verbose=verbose).to(device)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}")
