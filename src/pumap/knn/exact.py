"""Exact k nearest neighbours: blocked search on any torch device, and a differentiable one.

The exact search never holds an n x n matrix: it computes the pairwise distances of a block of
query rows against all points, keeps the k smallest per row, and moves on. The block size
follows from a memory budget.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from ..config import KNN_PRECISIONS
from ..data.preprocess import as_float32_matrix
from .base import COSINE_EPS, KnnGraph, check_metric
from .budget import (
    block_rows_for_budget,
    default_memory_budget,
    n_candidates,
    refine_rows_for_budget,
)
from .metrics import PRODUCT_METRICS, block_distances, generic_search, row_centred
from .topk import smallest_or_largest

_TERMS_CHUNK_BYTES = 4 * 2**20  # float64 scratch for the per-point terms


def pairwise_distances(x: torch.Tensor, y: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """Distances between the rows of ``x`` (m, d) and ``y`` (n, d) as an (m, n) matrix.

    Euclidean distances use one fused matrix product,
    ``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 0))``; cosine distances are ``1 - x.y / (|x| |y|)``
    (a zero vector is at distance 1 from everything); the other metrics of
    `EXACT_METRICS` as `pumap.knn.metrics.block_distances` computes them. Differentiable
    (hamming and jaccard have zero gradient).
    """
    check_metric(metric)
    if metric not in PRODUCT_METRICS:
        return block_distances(x, y, metric)
    if metric == "cosine":
        xn = x / x.norm(dim=1, keepdim=True).clamp_min(COSINE_EPS)
        yn = y / y.norm(dim=1, keepdim=True).clamp_min(COSINE_EPS)
        return (1.0 - xn @ yn.T).clamp_min(0.0)
    sq = torch.addmm((x * x).sum(dim=1, keepdim=True), x, y.T, beta=1.0, alpha=-2.0)
    sq = sq + (y * y).sum(dim=1)
    # sqrt has an infinite slope at 0: route zeros around it so their gradient is 0, not NaN.
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, 1.0).sqrt(), 0.0)


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


def exact_knn(
    data: Any,
    k: int,
    metric: str = "euclidean",
    *,
    device: str | torch.device | None = None,
    memory_budget: int | None = None,
    block_rows: int | None = None,
    precision: str = "float32",
) -> KnnGraph:
    """Exact k nearest neighbours of every row of ``data`` among the others.

    Without gradients, each block of query rows is scored against all points with one matrix
    product (``|y - m|^2 - 2 (x - m).y`` with ``m`` the mean, or the cosine similarity),
    ``k + 8`` candidates are kept per row, and their distances are recomputed directly
    (``|x - y|``, no cancellation) before the final sort by (distance, index). The working
    memory is about ``memory_budget`` whatever ``n``; only the input (never copied, unless it
    must be converted to float32 or moved to ``device``; ``precision="bfloat16"`` adds a
    half-size copy) and the ``(n, k)`` result come on top.

    Parameters
    ----------
    data : array-like or torch.Tensor, shape (n, d)
    k : int
        Neighbours per point, the point itself excluded; ``1 <= k < n``.
    metric : str
        One of `EXACT_METRICS`: ``"euclidean"``, ``"cosine"``, ``"correlation"`` (the cosine
        search of the row-centred data, a copy) and, searched block by block with distances
        computed directly, ``"manhattan"``, ``"chebyshev"``, ``"hamming"``, ``"jaccard"``
        (`pumap.knn.metrics`; ``precision`` does not apply to these four).
    device : torch device, optional
        Where to compute; the input tensor's device by default.
    memory_budget : int, optional
        Bytes of working memory for one block; the peak grows with it, not with ``n**2``.
        By default (`default_memory_budget`) 256 MiB, and on a CUDA device a quarter of its
        free memory (at least 256 MiB, at most 8 GiB): bigger blocks, fewer kernel launches.
    block_rows : int, optional
        Force the number of query rows per block.
    precision : {"float32", "tf32", "bfloat16"}
        Arithmetic of the block products that choose the candidates. ``"tf32"`` lets cuBLAS use
        TF32 inside this call (CUDA only; elsewhere it is float32); ``"bfloat16"`` multiplies
        bfloat16 copies. Either keeps ``2 k + 8`` candidates instead of ``k + 8``; the
        candidates' distances are recomputed in float32 either way, so only a neighbour missed
        at the margin can differ (``benchmarks/bench_gpu.py`` reports the index match).

    Returns
    -------
    KnnGraph
        On ``device``. Differentiable with respect to ``data`` when it requires grad.
    """
    check_metric(metric)
    if isinstance(data, torch.Tensor) and data.requires_grad:
        x = data
    else:
        x = as_float32_matrix(data, "data")
    return exact_search(
        x, k, metric, device=device, memory_budget=memory_budget, block_rows=block_rows,
        precision=precision,
    )


def exact_search(
    x: torch.Tensor,
    k: int,
    metric: str = "euclidean",
    *,
    device: str | torch.device | None = None,
    memory_budget: int | None = None,
    block_rows: int | None = None,
    precision: str = "float32",
) -> KnnGraph:
    """`exact_knn` of a matrix already checked: a finite float32 2-D tensor (or one that
    requires grad). The data is not checked again; the other arguments are."""
    check_metric(metric)
    if device is not None:
        x = x.to(device)
    n, d = x.shape
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of points ({n}), got k={k}")
    if precision not in KNN_PRECISIONS:
        raise ValueError(
            f"precision must be one of {', '.join(map(repr, KNN_PRECISIONS))}, got {precision!r}"
        )
    if memory_budget is None:
        memory_budget = default_memory_budget(x.device)
    rows = block_rows or block_rows_for_budget(n, d, k, memory_budget, precision)
    if x.requires_grad:
        return _exact_knn_autograd(x, k, metric, rows)
    if metric == "correlation":  # the cosine distance of the row-centred rows
        x, metric = row_centred(x), "cosine"
    if metric not in PRODUCT_METRICS:
        with torch.no_grad():
            return generic_search(x, k, metric, rows)
    kc = n_candidates(n, k, precision)
    refine_rows = block_rows or refine_rows_for_budget(n, d, kc, memory_budget)
    with torch.no_grad(), _tf32_products(x.device, precision == "tf32"):
        return _exact_knn_search(x, k, metric, rows, refine_rows, precision)


@contextlib.contextmanager
def _tf32_products(device: torch.device, enabled: bool) -> Iterator[None]:
    """Let cuBLAS use TF32 for float32 products inside the block, then restore the setting.

    The narrowest switch PyTorch offers: ``torch.backends.cuda.matmul.fp32_precision``, CUDA
    matrix products only, restored to the exact string read before. The alternatives are
    wider or inexact: ``torch.set_float32_matmul_precision`` also switches the CPU's oneDNN
    products, and it and the legacy ``allow_tf32`` restore "none" as "ieee" (and the latter
    raises if the user set the new API). What remains global: PyTorch has no per-call or
    per-thread TF32 switch, so while the block runs, CUDA float32 products on other threads
    of the process use TF32 too, and the legacy readers (``torch.get_float32_matmul_precision``,
    ``allow_tf32``) raise there, as PyTorch refuses to mix its two APIs.
    """
    if not enabled or device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    previous = matmul.fp32_precision
    matmul.fp32_precision = "tf32"
    try:
        yield
    finally:
        matmul.fp32_precision = previous


def _exact_knn_search(
    x: torch.Tensor, k: int, metric: str, rows: int, refine_rows: int, precision: str = "float32"
) -> KnnGraph:
    """Blocked search without autograd: score a block of rows, keep candidates, refine them.

    Never copies ``x`` in float32 (``precision="bfloat16"`` makes a bfloat16 copy): cosine
    scales the scores by the columns' inverse norms instead of normalising the data, and
    euclidean centres only the query block (see `_column_terms`).
    Every large temporary is allocated once and reused block after block: fresh allocations
    would be new pages from the OS each time (first-touch page faults can cost as much as the
    product) or would pile up in the C allocator's heap, raising the resident memory.
    """
    n, d = x.shape
    kc = n_candidates(n, k, precision)
    rows, refine_rows = min(rows, n), min(refine_rows, n)
    mean, col_term = _column_terms(x, metric)
    inv_norm = col_term if metric == "cosine" else None
    new = {"dtype": x.dtype, "device": x.device}
    score_buf = torch.empty((rows, n), **new)
    query_buf = torch.empty((rows, d), **new)
    half = None
    if precision == "bfloat16":  # products of bfloat16 copies, centred (euclidean) or not
        half = _bfloat16_copy(x, mean)
        half_query = torch.empty((rows, d), dtype=torch.bfloat16, device=x.device)
        half_prod = torch.empty((rows, n), dtype=torch.bfloat16, device=x.device)
    gather_buf = torch.empty((refine_rows * kc, d), **new)
    out_idx = torch.empty((n, k), dtype=torch.int64, device=x.device)
    out_dist = torch.empty((n, k), **new)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        own = torch.arange(stop - start, device=x.device)
        scores, query = score_buf[: stop - start], query_buf[: stop - start]
        if metric == "cosine":
            # x_i.x_j / (|x_i| |x_j|): larger is nearer; zero rows score 0 (distance 1).
            torch.mul(x[start:stop], col_term[start:stop, None], out=query)
            if half is None:
                torch.mm(query, x.T, out=scores)
            else:
                prod = half_prod[: stop - start]
                torch.mm(half_query[: stop - start].copy_(query), half.T, out=prod)
                scores.copy_(prod)
            scores.mul_(col_term)
            scores[own, own + start] = -math.inf
            largest = True
        else:
            # |x_j - m|^2 - 2 (x_i - m).x_j is the squared distance minus a per-row constant
            # (bfloat16: (x_i - m).(x_j - m), the same up to another per-row constant).
            torch.sub(x[start:stop], mean, out=query)
            if half is None:
                torch.addmm(col_term[None, :], query, x.T, alpha=-2.0, out=scores)
            else:
                prod = half_prod[: stop - start]
                torch.mm(half_query[: stop - start].copy_(query), half.T, out=prod)
                torch.add(col_term[None, :], prod, alpha=-2.0, out=scores)
            scores[own, own + start] = math.inf
            largest = False
        candidates = smallest_or_largest(scores, kc, largest=largest)
        for sub in range(start, stop, refine_rows):
            end = min(sub + refine_rows, stop)
            chosen = candidates[sub - start : end - start]
            dist, idx = _refine(x, sub, end, chosen, metric, inv_norm, gather_buf)
            out_idx[sub:end] = idx[:, :k]
            out_dist[sub:end] = dist[:, :k]
    return KnnGraph(out_idx, out_dist)


def _bfloat16_copy(x: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
    """``x - mean`` (or ``x``) in bfloat16, converted in chunks: no float32 copy of ``x``."""
    n, d = x.shape
    out = torch.empty((n, d), dtype=torch.bfloat16, device=x.device)
    step = max(1, min(n, _TERMS_CHUNK_BYTES // (4 * d)))
    for start in range(0, n, step):
        block = x[start : start + step]
        out[start : start + step] = block if mean is None else block - mean
    return out


def _column_terms(x: torch.Tensor, metric: str) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Per-point terms of the block scores, in float64 through one small scratch block.

    cosine: ``(None, 1 / |x_j|)``. euclidean: ``(m, |x_j - m|^2)`` with ``m`` the mean. Centring
    the query rows keeps the float32 product's rounding error near ``eps |x_i - m| |x_j|``
    rather than ``eps |x_i| |x_j|``: data far from the origin would otherwise pick wrong
    candidates (the exact refinement fixes distances, not a missed neighbour).
    """
    n, d = x.shape
    step = max(1, min(n, _TERMS_CHUNK_BYTES // (8 * d)))
    scratch = torch.empty((step, d), dtype=torch.float64, device=x.device)
    terms = torch.empty(n, dtype=torch.float64, device=x.device)

    def chunks():
        for start in range(0, n, step):
            stop = min(start + step, n)
            block = scratch[: stop - start]
            block.copy_(x[start:stop])
            yield start, stop, block

    if metric == "cosine":
        for start, stop, block in chunks():
            torch.linalg.vector_norm(block, dim=1, out=terms[start:stop])
        return None, (1.0 / terms.clamp_min(COSINE_EPS)).to(x.dtype)
    total = torch.zeros(d, dtype=torch.float64, device=x.device)
    for _, _, block in chunks():
        total += block.sum(dim=0)
    mean = total / n
    for start, stop, block in chunks():
        torch.sum(block.sub_(mean).square_(), dim=1, out=terms[start:stop])
    return mean.to(x.dtype), terms.to(x.dtype)


def _exact_knn_autograd(x: torch.Tensor, k: int, metric: str, rows: int) -> KnnGraph:
    """Blocked search that keeps the graph: distances through `pairwise_distances` and `TopK`."""
    n = x.shape[0]
    all_idx, all_dist = [], []
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = pairwise_distances(x[start:stop], x, metric)
        own = torch.arange(start, stop, device=x.device)
        block = block.index_put((own - start, own), torch.tensor(math.inf, device=x.device))
        values, idx = knn_topk(block, k)
        all_idx.append(idx)
        all_dist.append(values)
    return KnnGraph(torch.cat(all_idx), torch.cat(all_dist))


def _refine(
    x: torch.Tensor,
    start: int,
    stop: int,
    idx: torch.Tensor,
    metric: str,
    inv_norm: torch.Tensor | None = None,
    buffer: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recompute the distances from rows ``start:stop`` of ``x`` to their candidates ``idx``
    directly (no cancellation) and sort each row by (distance, index).

    ``buffer``, at least ``(idx.numel(), d)``, receives the gathered candidates if given.
    """
    idx, _ = idx.sort(dim=1)
    xb = x[start:stop]
    flat = idx.reshape(-1)
    if buffer is None:
        neighbours = x.index_select(0, flat)
    else:
        neighbours = torch.index_select(x, 0, flat, out=buffer[: flat.numel()])
    neighbours = neighbours.view(*idx.shape, x.shape[1])  # (rows, candidates, d)
    if inv_norm is not None:  # cosine: 1 - cos = |u - v|^2 / 2 for unit u, v; exact 0 for twins
        scale = inv_norm[start:stop, None]
        unit = neighbours.mul_(inv_norm[idx][..., None]).sub_((xb * scale)[:, None, :])
        dist = unit.square_().sum(dim=-1).mul_(0.5)
        zero = inv_norm >= 0.5 / COSINE_EPS  # zero rows: distance 1 from everything
        dist = torch.where(zero[idx] | zero[start:stop, None], 1.0, dist)
    else:
        dist = torch.linalg.vector_norm(neighbours.sub_(xb[:, None, :]), dim=-1)
    del neighbours
    dist, order = dist.sort(dim=1, stable=True)
    return dist, idx.gather(1, order)


