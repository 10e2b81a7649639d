"""The k-NN stage of a fit: the input scaled for float32 distances, the method chosen for the
device, the search, and the record of what was done (`FittedUmap.knn_info`)."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from ..config import UmapConfig
from ..knn import APPROXIMATE_METHODS, KnnGraph, build_knn, choose_method, estimate_recall
from ..knn.choose import guarded_ivf_search
from ..metric_names import EXACT_METRICS

log = logging.getLogger(__name__)

# Data whose largest magnitude is beyond 2**40 (about 1e12) or below 2**-40 is scaled by a
# power of two for the k-NN search, so that float32 squared distances neither overflow nor
# underflow (see `knn_input`).
KNN_SAFE_EXPONENT = 40
# Rows searched exactly to estimate an approximate k-NN graph's recall (`FittedUmap.knn_info`):
# about 1% of the search's own work at n = 1e5, in blocks of at most 64 MiB of distances
# (`pumap.knn.recall`).
KNN_RECALL_QUERIES = 500


def knn_k(cfg: UmapConfig) -> int:
    """Neighbours besides the point itself that the fit's k-NN graph holds: the one place
    that turns ``n_neighbors`` (which counts the point itself, as umap-learn's) into it."""
    return cfg.n_neighbors - 1


def knn_stage(
    x: torch.Tensor, cfg: UmapConfig, seed: int, device: torch.device
) -> tuple[KnnGraph, dict[str, Any]]:
    """The k-NN graph, and what was done (`FittedUmap.knn_info`): the method, and for an
    approximate one its recall estimated on `KNN_RECALL_QUERIES` rows searched exactly under
    the fit's metric (None for a metric only pynndescent computes). ``"auto"``'s IVF checks
    its recall and may hand over to NN-Descent (`pumap.knn.choose.guarded_ivf_search`); its
    record also lists each IVF search's probes and recall (``ivf_tries``)."""
    method = choose_method(x.shape[0], cfg.metric, cfg.knn_method, device, x.shape[1])
    data = knn_input(x)
    if method != "nndescent":  # one copy on the device, for the search and the estimate
        data = data.to(device)
    if method == "ivf" and cfg.knn_method == "auto":
        knn, record = guarded_ivf_search(data, knn_k(cfg), cfg.metric, seed=seed, device=device,
                                         verbose=cfg.verbose)
        return knn, {"method": record.pop("method"), "requested": cfg.knn_method, **record}
    knn = build_knn(
        data,
        knn_k(cfg),
        cfg.metric,
        method,
        seed=seed,
        device=device,
        verbose=cfg.verbose,
        precision=cfg.knn_precision,
    )
    info: dict[str, Any] = {"method": method, "requested": cfg.knn_method, "recall": None}
    if method in APPROXIMATE_METHODS and cfg.metric in EXACT_METRICS:
        info["recall"] = round(estimate_recall(data.to(device), knn, cfg.metric,
                                               n_queries=KNN_RECALL_QUERIES, seed=seed), 4)
        info["recall_queries"] = min(KNN_RECALL_QUERIES, x.shape[0])
        log.info("k-NN graph by %s: estimated recall %.4f on %d rows searched exactly",
                 method, info["recall"], info["recall_queries"])
    return knn, info


def knn_input(x: torch.Tensor) -> torch.Tensor:
    """``x`` scaled by a power of two (exactly) when its magnitude would break float32 distances.

    Squared distances overflow float32 above about 1e19 and underflow below about 1e-19; the
    fuzzy graph does not change when all distances are scaled alike, so data far outside
    ``[2**-KNN_SAFE_EXPONENT, 2**KNN_SAFE_EXPONENT]`` is brought to a largest magnitude in
    ``[0.5, 1)`` for the k-NN search only. Other data is returned as is (no copy).
    """
    low, high = torch.aminmax(x)
    top = max(-float(low), float(high))
    if top == 0.0 or not math.isfinite(top):
        return x
    exponent = math.frexp(top)[1]
    if abs(exponent) <= KNN_SAFE_EXPONENT:
        return x
    return torch.ldexp(x, torch.tensor(-exponent, dtype=torch.int32, device=x.device))
