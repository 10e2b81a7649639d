"""The k-NN searches: a checked float32 matrix in, a `KnnGraph` (each row's k nearest
neighbours, self excluded: indices and distances) out; exact blocked search on any torch
device, NN-Descent, or IVF.

`exact_knn` and `nndescent_knn` check their input and search; `build_knn` picks the method
for a fit (on input `Umap.fit` has checked). The modules: `base` (`KnnGraph`), `exact` (the
blocked search, `pairwise_distances` and the differentiable top-k), `budget` (block sizes
from a memory budget), `nndescent`, `ivf` (clustered search on any torch device), `recall`
(an approximate graph's recall, in blocks) and `choose` (the per-device rule).
"""

from .base import COSINE_EPS, KnnGraph
from .budget import (
    DEFAULT_MEMORY_BUDGET,
    GPU_BUDGET_MAX,
    GPU_BUDGET_SHARE,
    block_rows_for_budget,
    default_memory_budget,
    gpu_memory_budget,
)
from .choose import APPROXIMATE_METHODS, build_knn, choose_method, exact_is_cheaper
from .exact import TopK, exact_knn, exact_search, knn_topk, pairwise_distances
from .ivf import ivf_search
from .nndescent import nndescent_knn, nndescent_search
from .recall import estimate_recall

__all__ = [
    "APPROXIMATE_METHODS",
    "COSINE_EPS",
    "DEFAULT_MEMORY_BUDGET",
    "GPU_BUDGET_MAX",
    "GPU_BUDGET_SHARE",
    "KnnGraph",
    "TopK",
    "block_rows_for_budget",
    "build_knn",
    "choose_method",
    "default_memory_budget",
    "estimate_recall",
    "exact_is_cheaper",
    "exact_knn",
    "exact_search",
    "gpu_memory_budget",
    "ivf_search",
    "knn_topk",
    "nndescent_knn",
    "nndescent_search",
    "pairwise_distances",
]
