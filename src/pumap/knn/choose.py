"""Which k-NN method a fit uses: `build_knn`'s rule (``"auto"``: exact up to a size)."""

from __future__ import annotations

import logging

import torch

from ..config import NNDESCENT_THRESHOLD
from ..metric_names import EXACT_METRICS
from .base import KnnGraph
from .exact import exact_search
from .nndescent import nndescent_search

log = logging.getLogger(__name__)


def build_knn(
    x: torch.Tensor,
    k: int,
    metric: str,
    method: str,
    *,
    seed: int | None,
    device: torch.device,
    verbose: bool = False,
    precision: str = "float32",
) -> KnnGraph:
    """Choose the k-NN method (``"auto"``: exact up to the threshold, and NN-Descent for a
    metric the exact search does not compute) and run it on ``device``.

    ``x`` is trusted: a finite float32 matrix as `Umap.fit` checked it (use `exact_knn` or
    `nndescent_knn` on anything else). ``precision`` is the exact search's (`exact_knn`);
    NN-Descent ignores it.
    """
    if method == "auto":
        small = x.shape[0] <= NNDESCENT_THRESHOLD
        method = "exact" if small and metric in EXACT_METRICS else "nndescent"
    elif method == "exact" and metric not in EXACT_METRICS:
        raise ValueError(
            f"knn_method='exact' computes the metrics {', '.join(map(repr, EXACT_METRICS))}; "
            f"metric={metric!r} needs knn_method='nndescent' (or 'auto')"
        )
    log.info("k-NN graph: %s, k=%d, metric=%s, n=%d", method, k, metric, x.shape[0])
    if method == "exact":
        return exact_search(x, k, metric, device=device, precision=precision)
    return nndescent_search(x, k, metric, seed=seed, verbose=verbose).to(device)
