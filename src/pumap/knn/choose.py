"""Which k-NN method a fit uses: `choose_method`'s per-device rule, and `build_knn`."""

from __future__ import annotations

import logging
from typing import Any

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
from .ivf import IVF_METRICS, default_n_lists, ivf_search
from .nndescent import nndescent_search
from .recall import estimate_recall

log = logging.getLogger(__name__)

APPROXIMATE_METHODS = ("nndescent", "ivf")
# Clusters probed per cluster when `knn_method="auto"` picks IVF: Fashion-MNIST (60,000 x 784)
# gets recall 0.973 with 16 and 0.993 with 32 (its first 5,000 rows against the exact graph),
# in 10.7 and 14.8 s on the 2-core CPU against ~60 s for a fresh NN-Descent, nearly all of it
# numba's compilation (docs/benchmarks.md, "k-NN").
AUTO_IVF_N_PROBE = 32
# `knn_method="auto"`'s IVF must reach this recall, estimated on AUTO_RECALL_QUERIES rows
# searched exactly, or it probes twice the clusters once, then hands the search to NN-Descent.
# IVF's misses gather in a few rows, so the estimate is noisier than independent draws would
# make it: on Fashion-MNIST 0.9986 on 500 rows against 0.9937 on 3,000 (both above the target
# by far). A graph missing more than 2% of the true neighbours
# is not traded for time without the user asking (`knn_method="ivf"`).
AUTO_RECALL_TARGET = 0.98
AUTO_RECALL_QUERIES = 500


def choose_method(
    n: int, metric: str, method: str, device: torch.device, n_features: int | None = None
) -> str:
    """The k-NN method a fit of ``n`` points on ``device`` uses for ``method``.

    ``"auto"``: on the CPU, the exact search while its cost is at most a fresh NN-Descent's
    (`exact_is_cheaper`: for ``n_features`` dimensions; up to ``NNDESCENT_THRESHOLD`` points
    when the width is not given), then IVF for euclidean and cosine while its cost is too
    (`ivf_is_cheaper`), and NN-Descent (pynndescent, CPU) above; on CUDA and MPS,
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
    if exact_is_cheaper(n, n_features):
        return "exact"
    return "ivf" if metric in IVF_METRICS and ivf_is_cheaper(n, n_features) else "nndescent"


def exact_is_cheaper(n: int, n_features: int) -> bool:
    """Whether the CPU's exact search of ``n`` dense points is expected to beat a fresh
    NN-Descent: ``n**2 (n_features + EXACT_SELECT_WIDTH) <= EXACT_COST_LIMIT``."""
    return n * n * (n_features + EXACT_SELECT_WIDTH) <= EXACT_COST_LIMIT


def ivf_is_cheaper(n: int, n_features: int, n_probe: int = AUTO_IVF_N_PROBE) -> bool:
    """Whether the CPU's IVF search probing ``n_probe`` clusters is expected to beat a fresh
    NN-Descent: each point is compared with the ``n_probe`` clusters' share of the points, so
    ``n * min(n, n_probe * n / n_lists) * (n_features + EXACT_SELECT_WIDTH)``, the exact
    search's cost model, is at most ``EXACT_COST_LIMIT`` (about 190,000 points at d = 784,
    640,000 at d = 64)."""
    compared = min(n, n_probe * n / default_n_lists(n))
    return n * compared * (n_features + EXACT_SELECT_WIDTH) <= EXACT_COST_LIMIT


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
    chosen = choose_method(x.shape[0], metric, method, device, x.shape[1])
    log.info("k-NN graph: %s, k=%d, metric=%s, n=%d", chosen, k, metric, x.shape[0])
    if chosen == "ivf" and method == "auto":
        return guarded_ivf_search(x, k, metric, seed=seed, device=device, verbose=verbose)[0]
    method = chosen
    if method == "exact":
        return exact_search(x, k, metric, device=device, precision=precision)
    if method == "ivf":
        return ivf_search(x, k, metric, seed=seed, device=device)
    return nndescent_search(x, k, metric, seed=seed, verbose=verbose).to(device)


def guarded_ivf_search(
    x: torch.Tensor,
    k: int,
    metric: str,
    *,
    seed: int | None,
    device: torch.device,
    verbose: bool = False,
) -> tuple[KnnGraph, dict[str, Any]]:
    """IVF as ``knn_method="auto"`` runs it: `AUTO_IVF_N_PROBE` probes, then twice as many if
    the recall estimated on `AUTO_RECALL_QUERIES` rows is below `AUTO_RECALL_TARGET`, then
    NN-Descent if it still is (on the CPU, twice the probes only while `ivf_is_cheaper`). Of
    NN-Descent's graph and the best IVF one, the one with the higher estimate is returned:
    on data with no neighbourhood structure NN-Descent does worse (isotropic Gaussian noise,
    100,000 x 64: IVF 0.61 with 64 probes, NN-Descent 0.56). On a GPU the best IVF graph is
    kept with a warning instead: NN-Descent runs on the CPU, and at the sizes where a GPU picks
    IVF it costs minutes (10^7 x 64 clusters on an H200: IVF 0.77 and 0.89 in 50 s, then
    NN-Descent on the host's 16 cores past the benchmark's five minutes).

    Returns
    -------
    graph : KnnGraph
        On ``device``.
    record : dict
        ``method`` (``"ivf"`` or ``"nndescent"``), ``recall`` (the graph's estimate),
        ``recall_queries``, ``ivf_tries``: ``[n_probe, recall]`` of each IVF search, and
        ``nndescent_recall`` when NN-Descent ran and its graph was not kept.
    """
    n, d = x.shape
    queries = min(AUTO_RECALL_QUERIES, n)
    estimate_seed = 0 if seed is None else seed

    def recall_of(graph: KnnGraph) -> float:
        return round(estimate_recall(x, graph, metric, n_queries=queries, seed=estimate_seed), 4)

    tries: list[list[float]] = []
    best: tuple[KnnGraph | None, float] = (None, -1.0)
    n_probe = AUTO_IVF_N_PROBE
    for attempt in range(2):
        if attempt and device.type == "cpu" and not ivf_is_cheaper(n, d, n_probe):
            break
        graph = ivf_search(x, k, metric, seed=seed, device=device, n_probe=n_probe)
        recall = recall_of(graph)
        tries.append([n_probe, recall])
        log.info("IVF with %d probes: estimated recall %.4f", n_probe, recall)
        if recall >= AUTO_RECALL_TARGET:
            return graph, _guard_record("ivf", recall, queries, tries)
        n_probe *= 2
        if recall > best[1]:
            best = (graph, recall)
    if device.type != "cpu":
        log.warning(
            "IVF's estimated recall %.4f stayed below %.2f; on %s its best graph is kept (pass "
            "knn_method='nndescent' for a CPU search)", best[1], AUTO_RECALL_TARGET, device.type
        )
        return best[0], _guard_record("ivf", best[1], queries, tries)
    log.info("IVF's recall stayed below %.2f: NN-Descent searches instead", AUTO_RECALL_TARGET)
    graph = nndescent_search(x, k, metric, seed=seed, verbose=verbose).to(device)
    recall = recall_of(graph)
    if best[0] is None or recall >= best[1]:
        return graph, _guard_record("nndescent", recall, queries, tries)
    # data with no neighbourhood structure (isotropic noise) defeats NN-Descent too: keep the
    # better graph
    log.info("NN-Descent's estimated recall %.4f is below IVF's: IVF's graph is kept", recall)
    return best[0], _guard_record("ivf", best[1], queries, tries, nndescent_recall=recall)


def _guard_record(
    method: str, recall: float, queries: int, tries: list[list[float]], **extra: float
) -> dict[str, Any]:
    return {"method": method, "recall": recall, "recall_queries": queries, "ivf_tries": tries,
            **extra}
