"""Which k-NN method a fit uses: `choose_method`'s per-device rule, and `build_knn`."""

from __future__ import annotations

import logging

import torch

from ..config import (
    EXACT_COST_LIMIT,
    EXACT_SELECT_WIDTH,
    GPU_EXACT_THRESHOLD,
    NNDESCENT_THRESHOLD,
)
from ..metric_names import EXACT_METRICS
from .base import KnnGraph
from .exact import exact_search
from .ivf import IVF_METRICS, ivf_search
from .nndescent import nndescent_search

log = logging.getLogger(__name__)

APPROXIMATE_METHODS = ("nndescent", "ivf")


def choose_method(
    n: int, metric: str, method: str, device: torch.device, n_features: int | None = None
) -> str:
    """The k-NN method a fit of ``n`` points on ``device`` uses for ``method``.

    ``"auto"``: on the CPU, the exact search while its cost is at most a fresh NN-Descent's
    (`exact_is_cheaper`: for ``n_features`` dimensions; up to ``NNDESCENT_THRESHOLD`` points
    when the width is not given) and NN-Descent (pynndescent, CPU) above; on CUDA and MPS,
    the exact search up to
    ``GPU_EXACT_THRESHOLD`` points and IVF on the device above (NN-Descent for a metric IVF
    does not support); NN-Descent always for a metric only pynndescent computes. Any other
    ``method`` is returned as it is, once checked against the metric.

    Raises
    ------
    ValueError
        For ``method="exact"`` with a metric the exact search does not compute.
    """
    if method == "exact" and metric not in EXACT_METRICS:
        raise ValueError(
            f"knn_method='exact' computes the metrics {', '.join(map(repr, EXACT_METRICS))}; "
            f"metric={metric!r} needs knn_method='nndescent' (or 'auto')"
        )
    if method != "auto":
        return method
    if metric not in EXACT_METRICS:
        return "nndescent"
    if device.type in ("cuda", "mps"):
        if n <= GPU_EXACT_THRESHOLD:
            return "exact"
        return "ivf" if metric in IVF_METRICS else "nndescent"
    if n_features is None:
        return "exact" if n <= NNDESCENT_THRESHOLD else "nndescent"
    return "exact" if exact_is_cheaper(n, n_features) else "nndescent"


def exact_is_cheaper(n: int, n_features: int) -> bool:
    """Whether the CPU's exact search of ``n`` dense points is expected to beat a fresh
    NN-Descent: ``n**2 (n_features + EXACT_SELECT_WIDTH) <= EXACT_COST_LIMIT``."""
    return n * n * (n_features + EXACT_SELECT_WIDTH) <= EXACT_COST_LIMIT


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
    """Run the k-NN ``method`` (``"auto"``: `choose_method`'s) on ``device``.

    ``x`` is trusted: a finite float32 matrix as `Umap.fit` checked it (use `exact_knn` or
    `nndescent_knn` on anything else). ``precision`` is the exact search's (`exact_knn`);
    the others ignore it.
    """
    method = choose_method(x.shape[0], metric, method, device, x.shape[1])
    log.info("k-NN graph: %s, k=%d, metric=%s, n=%d", method, k, metric, x.shape[0])
    if method == "exact":
        return exact_search(x, k, metric, device=device, precision=precision)
    if method == "ivf":
        return ivf_search(x, k, metric, seed=seed, device=device)
    return nndescent_search(x, k, metric, seed=seed, verbose=verbose).to(device)
