"""Exact k-NN of a scipy.sparse CSR matrix (euclidean, cosine), never densified whole.

Each block of query rows is densified (``rows x d``) and multiplied by the sparse matrix,
in float64: squared euclidean distances ``|x|^2 + |y|^2 - 2 x.y`` then lose nothing that
matters at float32 output, and cosine distances are ``1 - x.y`` of unit rows. Working
memory is about ``memory_budget`` on top of an O(nnz) float64 copy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import torch

from .base import COSINE_EPS, KnnGraph
from .budget import DEFAULT_MEMORY_BUDGET
from .metrics import smallest_sorted

SPARSE_METRICS = ("euclidean", "cosine")


def sparse_knn(
    csr: scipy.sparse.csr_matrix, k: int, metric: str = "euclidean",
    memory_budget: int | None = None,
) -> KnnGraph:
    """Exact ``k`` nearest neighbours (self excluded) of every row of a CSR matrix, on CPU.

    Parameters
    ----------
    csr : scipy.sparse.csr_matrix, shape (n, d)
        Checked input (`pumap.data.sparse.as_csr_float32`).
    k : int
        Neighbours per point; ``1 <= k < n``.
    metric : {"euclidean", "cosine"}
    memory_budget : int, optional
        Bytes of one block's dense rows and distances; `DEFAULT_MEMORY_BUDGET` by default.
    """
    if metric not in SPARSE_METRICS:
        raise ValueError(
            f"the exact search of sparse X computes {', '.join(SPARSE_METRICS)}; for "
            f"metric={metric!r} use knn_method='nndescent' (or 'auto')"
        )
    n, d = csr.shape
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for {n} points, got {k}")
    x = csr.astype(np.float64)
    sq = np.asarray(x.multiply(x).sum(axis=1)).ravel()
    zero = None
    if metric == "cosine":
        norms = np.sqrt(sq)
        zero = norms < COSINE_EPS
        x = scipy.sparse.diags(1.0 / np.maximum(norms, COSINE_EPS)) @ x
    if memory_budget is None:
        memory_budget = DEFAULT_MEMORY_BUDGET
    rows = int(max(1, min(n, memory_budget // (8 * (3 * n + d)))))
    out_idx = torch.empty((n, k), dtype=torch.int64)
    out_dist = torch.empty((n, k), dtype=torch.float32)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = x[start:stop].toarray()  # one block of rows, never the whole matrix
        prod = np.asarray(x @ block.T).T  # (rows, n)
        if zero is None:
            dist = np.sqrt(np.maximum(sq[start:stop, None] + sq[None, :] - 2.0 * prod, 0.0))
        else:
            dist = np.maximum(1.0 - prod, 0.0)
            dist[zero[start:stop, None] | zero[None, :]] = 1.0
        own = np.arange(stop - start)
        dist[own, own + start] = np.inf
        values, idx = smallest_sorted(torch.from_numpy(dist), k)
        out_idx[start:stop], out_dist[start:stop] = idx, values.float()
    return KnnGraph(out_idx, out_dist)
