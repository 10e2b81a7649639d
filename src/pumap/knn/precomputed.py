"""Neighbours given by the user: ``precomputed_knn=(indices, distances)`` and
``metric="precomputed"`` (a square distance matrix, dense or sparse)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch

from .base import KnnGraph
from .metrics import smallest_sorted

_BLOCK_BYTES = 64 * 2**20


def given_knn(knn: Any) -> Any:
    """``precomputed_knn`` as given, or None for umap-learn's default ``(None, None, None)``."""
    if isinstance(knn, (tuple, list)) and all(part is None for part in knn):
        return None
    return knn


def precomputed_knn_graph(knn: Any, n: int, k: int) -> KnnGraph:
    """`KnnGraph` of ``k`` neighbours from umap-learn's ``precomputed_knn`` layout.

    ``knn`` is ``(indices, distances)`` (a third item, umap-learn's search index, is ignored):
    ``(n, w)`` arrays, each row sorted by distance or not (they are sorted here). When any
    row lists the point itself (umap-learn's ``nearest_neighbors`` and scikit-learn's
    ``kneighbors(X)`` do, usually first, after another row at distance 0 when rows are
    duplicated), each row is taken as the point and ``w - 1`` neighbours: the point itself
    is dropped, and a row that does not list it (its duplicates filled the row) keeps its
    ``w - 1`` nearest. Otherwise every row holds ``w`` neighbours. The ``k`` nearest are
    kept; fewer than ``k`` is an error.

    Raises
    ------
    ValueError
        Naming ``precomputed_knn`` and what is wrong.
    """
    name = "precomputed_knn"
    if not isinstance(knn, (tuple, list)) or len(knn) not in (2, 3):
        raise ValueError(f"{name} must be a tuple (indices, distances), got {type(knn).__name__}")
    indices, distances = np.asarray(knn[0]), np.asarray(knn[1])
    if indices.ndim != 2 or indices.shape != distances.shape or indices.shape[0] != n:
        raise ValueError(
            f"{name}: indices and distances must both have shape (n_samples={n}, width), got "
            f"{indices.shape} and {distances.shape}"
        )
    if indices.dtype.kind not in "iu":
        raise ValueError(f"{name}: indices must be integers, got dtype {indices.dtype}")
    if distances.dtype.kind not in "fiu":
        raise ValueError(f"{name}: distances must be real numbers, got dtype {distances.dtype}")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(
            f"{name}: indices must lie in [0, {n - 1}], got values from {indices.min()} to "
            f"{indices.max()} (missing neighbours, -1, are not accepted)"
        )
    if not np.isfinite(distances).all() or (distances < 0).any():
        raise ValueError(f"{name}: distances must be finite and non-negative")
    indices, distances = _without_self(indices, distances, name)
    if indices.shape[1] < k:
        raise ValueError(
            f"{name} holds {indices.shape[1]} neighbours per point besides the point itself "
            f"but the fit needs {k}; lower n_neighbors or pass more columns"
        )
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    idx = np.take_along_axis(indices, order, axis=1).astype(np.int64)
    dist = np.take_along_axis(distances, order, axis=1).astype(np.float32)
    if any(len(set(row)) < k for row in idx[: min(n, 1000)]):
        raise ValueError(f"{name}: a row lists the same neighbour twice")
    return KnnGraph(torch.from_numpy(idx), torch.from_numpy(dist))


def _without_self(
    indices: np.ndarray, distances: np.ndarray, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """The rows less the point itself, ``w - 1`` wide, when any row lists itself (else as
    given): the self entry sorts last and the last column goes."""
    is_self = indices == np.arange(indices.shape[0])[:, None]
    if not is_self.any():
        return indices, distances
    twice = is_self.sum(axis=1) > 1
    if twice.any():
        raise ValueError(f"{name}: row {int(np.flatnonzero(twice)[0])} lists itself twice")
    order = np.argsort(np.where(is_self, np.inf, distances), axis=1, kind="stable")[:, :-1]
    return np.take_along_axis(indices, order, 1), np.take_along_axis(distances, order, 1)


def distance_matrix_knn(d: Any, k: int) -> KnnGraph:
    """``k`` nearest neighbours from a square distance matrix (a float32 tensor, or a CSR
    matrix whose stored entries are the known distances: absent ones are not neighbours)."""
    n = d.shape[0]
    if scipy.sparse.issparse(d):
        return _sparse_rows_knn(d, k)
    rows = max(1, min(n, _BLOCK_BYTES // (4 * n)))
    out_idx = torch.empty((n, k), dtype=torch.int64)
    out_dist = torch.empty((n, k), dtype=torch.float32)
    for start in range(0, n, rows):
        block = d[start : start + rows].clone()
        own = torch.arange(block.shape[0])
        block[own, own + start] = float("inf")
        out_dist[start : start + rows], out_idx[start : start + rows] = smallest_sorted(block, k)
    return KnnGraph(out_idx, out_dist)


def _sparse_rows_knn(d: scipy.sparse.csr_matrix, k: int) -> KnnGraph:
    n = d.shape[0]
    coo = d.tocoo()
    keep = coo.row != coo.col
    rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
    counts = np.bincount(rows, minlength=n)
    if counts.min() < k:
        row = int(np.argmin(counts))
        raise ValueError(
            f"X (metric='precomputed', sparse) stores {counts.min()} distances besides the "
            f"diagonal in row {row} but the fit needs {k} neighbours per point"
        )
    order = np.lexsort((cols, vals, rows))  # by row, then distance, then column
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = (starts[:, None] + np.arange(k)[None, :]).ravel()
    return KnnGraph(
        torch.from_numpy(cols[take].reshape(n, k).astype(np.int64)),
        torch.from_numpy(vals[take].reshape(n, k).astype(np.float32)),
    )
