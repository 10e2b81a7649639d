"""The input-space metrics pumap accepts, by name (no imports: `pumap.config` reads these).

`EXACT_METRICS` are computed by pumap's own blocked torch search (any device) and by the
refined transform; the others are passed to pynndescent's NN-Descent by name (CPU only), and
``"precomputed"`` means ``X`` is a square matrix of distances (see docs/getting-started.md).
"""

from __future__ import annotations

from typing import Any

EXACT_METRICS = (
    "euclidean", "cosine", "manhattan", "chebyshev", "correlation", "hamming", "jaccard",
)
# pynndescent's names (pynndescent.distances.named_distances, 0.5.x) beyond EXACT_METRICS;
# tests/test_metrics.py checks that pynndescent still knows every one.
NNDESCENT_METRICS = (
    "bit_hamming", "bit_jaccard", "braycurtis", "canberra", "circular_kantorovich",
    "circular_wasserstein", "dice", "direct_cosine", "dot", "haversine", "hellinger",
    "inner_product", "jensen-shannon", "jensen_shannon", "kantorovich", "kantorovich-1d",
    "kantorovich_1d", "kulsinski", "l1", "l2", "linf", "linfinity", "linfty", "mahalanobis",
    "matching", "minkowski", "rogerstanimoto", "russellrao", "seuclidean", "sinkhorn",
    "sokalmichener", "sokalsneath", "spearmanr", "sqeuclidean", "standardised_euclidean",
    "symmetric-kl", "symmetric_kl", "symmetric_kullback_liebler", "taxicab", "true_angular",
    "tsss", "wasserstein", "wasserstein-1d", "wasserstein_1d", "weighted_minkowski",
    "wminkowski", "yule",
)
PRECOMPUTED = "precomputed"
METRICS = (*EXACT_METRICS, *NNDESCENT_METRICS, PRECOMPUTED)


def check_metric_name(metric: Any, name: str = "metric") -> None:
    """Refuse anything but a name of `METRICS`, with a hint for callables.

    Raises
    ------
    ValueError
        Naming ``name`` and listing the choices.
    """
    if callable(metric):
        raise ValueError(
            f"{name} must be a metric's name, got the callable {metric!r}: pumap keeps its "
            "options as names (they are saved with the model). Compute the neighbours "
            "yourself, e.g. pynndescent.NNDescent(X, metric=your_numba_function)"
            ".neighbor_graph, and pass them as precomputed_knn=(indices, distances)"
        )
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, METRICS))}, got {metric!r} "
            f"(exact search: {', '.join(EXACT_METRICS)}; the others need NN-Descent)"
        )
