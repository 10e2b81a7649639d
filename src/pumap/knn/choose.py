"""Which k-NN method a fit uses: `build_knn`'s rule (``"auto"``: exact up to a size)."""

from __future__ import annotations

import logging

import torch

from ..config import NNDESCENT_THRESHOLD
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
    """Choose the k-NN method (``"auto"``: exact up to the threshold) and run it on ``device``.

    ``x`` is trusted: a finite float32 matrix as `Umap.fit` checked it (use `exact_knn` or
    `nndescent_knn` on anything else). ``precision`` is the exact search's (`exact_knn`);
    NN-Descent ignores it.
    """
    if method == "auto":
        method = "exact" if x.shape[0] <= NNDESCENT_THRESHOLD else "nndescent"
    log.info("k-NN graph: %s, k=%d, metric=%s, n=%d", method, k, metric, x.shape[0])
    if method == "exact":
        return exact_search(x, k, metric, device=device, precision=precision)
    return nndescent_search(x, k, metric, seed=seed, verbose=verbose).to(device)
