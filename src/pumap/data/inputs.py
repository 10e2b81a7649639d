"""What a fit does differently for sparse input, precomputed neighbours and distances.

`Umap.fit` calls these at its stages: `validate_input` (dense, scipy.sparse, or a square
distance matrix for ``metric="precomputed"``), `fit_knn` (the neighbours: given, read off
the distance matrix, searched in the sparse matrix, or the dense search), and
`sparse_start` (the scale-only standardisation, sparse rows and the implicitly centred PCA
target for the warm start).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch import nn

from ..config import NNDESCENT_THRESHOLD, UmapConfig
from ..graph.neighbours import knn_k
from ..knn import KnnGraph
from ..knn.nndescent import nndescent_search
from ..knn.precomputed import distance_matrix_knn, precomputed_knn_graph
from ..knn.sparse import SPARSE_METRICS, sparse_knn
from ..metric_names import EXACT_METRICS, PRECOMPUTED
from ..training.encoder import MLP
from ..training.warmstart import PCA_INIT_MAX_COORD
from .preprocess import Standardizer, as_float32_matrix, check_enough_points, check_not_constant
from .sparse import (
    SparseRows,
    as_csr_float32,
    check_sparse_not_constant,
    is_sparse,
    scale_only_standardizer,
    sparse_pca_scores,
)

Input = Any  # a float32 torch.Tensor, or a float32 scipy CSR matrix


def validate_input(data: Any, cfg: UmapConfig) -> Input:
    """The one check of a fit's input: a finite float32 matrix (a tensor, or CSR for
    scipy.sparse input), enough rows, not all alike (dense); square for precomputed."""
    if is_sparse(data):
        # a stored 0 of a precomputed distance matrix is a distance (duplicate points)
        x: Input = as_csr_float32(data, "X", keep_zeros=cfg.metric == PRECOMPUTED)
        if cfg.mixed_precision or cfg.compile or cfg.input_dropout > 0 or cfg.decoder:
            raise ValueError(
                "sparse X does not go with mixed_precision, compile, input_dropout or decoder; "
                "turn them off (or pass X.toarray())"
            )
    else:
        x = as_float32_matrix(data, "X")
    check_enough_points(x.shape[0], cfg.n_neighbors)  # it counts the point itself
    if cfg.metric == PRECOMPUTED:
        if x.shape[0] != x.shape[1]:
            raise ValueError(
                "metric='precomputed' needs X to be the (n, n) matrix of distances between the "
                f"points, got shape {tuple(x.shape)}"
            )
        values = x.data if is_sparse(x) else x
        if (values < 0).any():
            raise ValueError("metric='precomputed': X holds negative distances")
    if is_sparse(x):
        if cfg.metric != PRECOMPUTED:  # its stored zeros are not in canonical form
            check_sparse_not_constant(x, "X")
    else:
        check_not_constant(x, "X")
    return x


def fit_knn(
    x: Input, cfg: UmapConfig, seed: int, device: torch.device, precomputed: Any,
    dense_knn: Any,
) -> tuple[KnnGraph, dict[str, Any]]:
    """The fit's k-NN graph on ``device`` and its record (`FittedUmap.knn_info`):
    ``precomputed`` (umap-learn's layout, checked), from the distance matrix, from the
    sparse matrix, or else ``dense_knn(x, cfg, seed, device)`` (`pumap.graph.neighbours`)."""
    k = knn_k(cfg)

    def record(method: str) -> dict[str, Any]:
        return {"method": method, "requested": cfg.knn_method, "recall": None}

    if precomputed is not None:
        return precomputed_knn_graph(precomputed, x.shape[0], k).to(device), record("given")
    if cfg.metric == PRECOMPUTED:
        return distance_matrix_knn(x, k).to(device), record("distance matrix")
    if not is_sparse(x):
        return dense_knn(x, cfg, seed, device)
    return _sparse_knn(x, k, cfg, seed, device), record(_sparse_method(x, cfg))


def _sparse_method(x: scipy.sparse.csr_matrix, cfg: UmapConfig) -> str:
    """``knn_method`` on sparse data: exact (euclidean, cosine) up to the dense threshold
    under ``"auto"``, else NN-Descent."""
    if cfg.knn_method == "nndescent" or cfg.metric not in SPARSE_METRICS:
        return "nndescent"
    if cfg.knn_method == "auto" and x.shape[0] > NNDESCENT_THRESHOLD:
        return "nndescent"
    return "exact"


def _sparse_knn(
    x: scipy.sparse.csr_matrix, k: int, cfg: UmapConfig, seed: int, device: torch.device
) -> KnnGraph:
    if cfg.knn_method == "ivf":
        raise ValueError("knn_method='ivf' takes dense X; use 'auto', 'exact' or 'nndescent'")
    if cfg.knn_method == "exact" and cfg.metric not in SPARSE_METRICS:
        raise ValueError(
            f"the exact search of sparse X computes {', '.join(SPARSE_METRICS)}; for "
            f"metric={cfg.metric!r} use knn_method='nndescent' or 'auto' (or pass X.toarray())"
        )
    if _sparse_method(x, cfg) == "nndescent":
        return nndescent_search(x, k, cfg.metric, seed=seed, verbose=cfg.verbose).to(device)
    return sparse_knn(x, k, cfg.metric).to(device)


def sparse_start(
    x: scipy.sparse.csr_matrix, cfg: UmapConfig, encoder: nn.Module | None, seed: int,
    device: torch.device,
) -> tuple[Standardizer, SparseRows, torch.Tensor | None]:
    """Scale-only standardizer, the scaled rows on ``device`` and the warm start's target
    (None without ``pca_init``) for sparse ``x``."""
    if encoder is not None and not isinstance(encoder, MLP):
        raise ValueError(
            "sparse X needs pumap's own encoder (encoder=None), whose first layer multiplies "
            "sparse batches; pass X.toarray() to use your own module"
        )
    standardizer = (
        scale_only_standardizer(x) if cfg.standardize else Standardizer.identity(x.shape[1])
    )
    rows = SparseRows.from_scipy(x, standardizer, device)
    target = None
    if cfg.pca_init:
        scores = sparse_pca_scores(x, standardizer.std.numpy(), cfg.n_components, seed)
        largest = scores.gather(0, scores.abs().argmax(dim=0, keepdim=True))[0]
        scores = scores * torch.where(largest < 0, -1.0, 1.0)
        target = (scores * (PCA_INIT_MAX_COORD / scores.abs().max().clamp_min(1e-12))).to(device)
    return standardizer, rows, target


def keeps_index(x: Input, cfg: UmapConfig) -> bool:
    """Whether the fit can keep a training index for ``transform(refine=True)``: for sparse
    ``x`` only a sketch (euclidean, cosine; ``refine_sketch_dims`` below ``n_features``)."""
    if not cfg.keep_training_data or cfg.metric not in EXACT_METRICS:
        return False
    if is_sparse(x):
        dims = cfg.refine_sketch_dims
        return cfg.metric in SPARSE_METRICS and dims is not None and dims < x.shape[1]
    return True


def sparse_batches(
    csr: scipy.sparse.csr_matrix, standardizer: Standardizer, batch_size: int
) -> Any:
    """Rows of ``csr`` for `FittedUmap`'s forward passes: scaled `SparseRows` when the
    model's standardizer only scales, else dense float32 batches of ``batch_size`` rows."""
    if not bool(standardizer.mean.any()):
        yield 0, SparseRows.from_scipy(csr, standardizer, torch.device("cpu"))
        return
    for start in range(0, csr.shape[0], batch_size):
        block = np.asarray(csr[start : start + batch_size].todense(), dtype=np.float32)
        yield start, torch.from_numpy(block)
