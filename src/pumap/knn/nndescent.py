"""Approximate k nearest neighbours with NN-Descent (pynndescent), on the CPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.preprocess import as_float32_matrix
from ..metric_names import EXACT_METRICS, NNDESCENT_METRICS
from .base import KnnGraph, check_metric

NNDESCENT_ALL = (*EXACT_METRICS, *NNDESCENT_METRICS)


def nndescent_knn(
    data: Any, k: int, metric: str = "euclidean", *, seed: int | None = None, verbose: bool = False
) -> KnnGraph:
    """Approximate k nearest neighbours with NN-Descent (pynndescent), self excluded, on CPU.

    Parameters
    ----------
    data : array-like or torch.Tensor, shape (n, d)
    k : int
        Neighbours per point, the point itself excluded; ``k < n``.
    metric : str
        Any name pynndescent knows (`EXACT_METRICS` and `NNDESCENT_METRICS`), passed to it.
    seed : int, optional
        pynndescent's ``random_state`` (taken modulo 2**32, the range it accepts).
    verbose : bool
        pynndescent's progress output.

    Returns
    -------
    KnnGraph
        On the CPU.
    """
    check_metric(metric, NNDESCENT_ALL)
    return nndescent_search(as_float32_matrix(data, "data"), k, metric, seed=seed, verbose=verbose)


def nndescent_search(
    x: Any, k: int, metric: str = "euclidean", *, seed: int | None = None,
    verbose: bool = False,
) -> KnnGraph:
    """`nndescent_knn` of a matrix already checked (a finite float32 2-D tensor, or a
    scipy CSR matrix, which pynndescent searches as it is)."""
    check_metric(metric, NNDESCENT_ALL)
    n = x.shape[0]
    if k >= n:
        raise ValueError(f"k must be smaller than the number of points ({n}), got k={k}")
    try:
        from pynndescent import NNDescent
    except ImportError as err:  # pragma: no cover - pynndescent is a dependency
        raise ImportError(
            "knn_method='nndescent' needs pynndescent: pip install pynndescent"
        ) from err
    data = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
    index = NNDescent(
        data,
        metric=metric,
        n_neighbors=min(k + 1, n),
        # pynndescent seeds numpy's RandomState, which takes 32 bits; pumap's seeds are wider.
        random_state=None if seed is None else seed % 2**32,
        low_memory=True,
        # umap-learn's choice (pynndescent's default is min(60, n_neighbors)): on
        # Fashion-MNIST recall 0.9875 -> 0.9971 for 4.7 -> 5.4 s of search (docs/benchmarks.md)
        max_candidates=60,
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
        raise RuntimeError(
            "NN-Descent returned fewer neighbours than asked; use knn_method='exact'"
        )
    return KnnGraph(
        torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(dist.astype(np.float32))
    )
