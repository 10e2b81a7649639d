"""The rules a `UmapConfig`'s values follow, checked once when it is built.

Each failure is a ValueError that names the option and what it takes.
"""

from __future__ import annotations

import re
from typing import Any

from ._checks import SEED_MAX, check_learning_rate
from ._checks import check_bool as _check_bool
from ._checks import check_choice as _check_choice
from ._checks import check_float as _check_float
from ._checks import check_int as _check_int
from .metric_names import EXACT_METRICS, check_metric_name

KNN_METHODS = ("auto", "exact", "nndescent", "ivf")
KNN_PRECISIONS = ("float32", "tf32", "bfloat16")
# "categorical": class labels; the others: a distance between numeric targets ("l2" is
# umap-learn's name for "euclidean").
TARGET_METRICS = ("categorical", "euclidean", "l2", "cosine")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_config(config: Any) -> None:
    """Raise ValueError, naming the option, for the first value of ``config`` (a
    `pumap.UmapConfig`, which calls this as it is built; typed loosely, as this module comes
    before it) out of its range or inconsistent with another option."""
    _check_int("n_neighbors", config.n_neighbors, 2)
    _check_int("n_components", config.n_components, 1)
    check_metric_name(config.metric)
    if config.knn_method == "exact" and config.metric not in (*EXACT_METRICS, "precomputed"):
        raise ValueError(
            f"knn_method='exact' computes the metrics {', '.join(EXACT_METRICS)}; "
            f"metric={config.metric!r} needs knn_method='nndescent' or 'auto'"
        )
    _check_float("spread", config.spread, strictly_positive=True)
    _check_float("min_dist", config.min_dist)
    if config.min_dist > config.spread:
        raise ValueError(
            f"min_dist must be at most spread, got min_dist={config.min_dist} "
            f"> spread={config.spread}"
        )
    if config.n_epochs is not None:
        _check_int("n_epochs", config.n_epochs, 1)
    if config.batch_size is not None:
        _check_int("batch_size", config.batch_size, 1)
    _check_int("negative_sample_rate", config.negative_sample_rate, 0)
    check_learning_rate(config.learning_rate)
    for width in config.hidden_layers:
        _check_int("hidden_layers", width, 1)
    _check_float("input_dropout", config.input_dropout)
    if config.input_dropout >= 1.0:
        raise ValueError(f"input_dropout must be below 1, got {config.input_dropout}")
    _check_bool("decoder", config.decoder)
    _check_float("reconstruction_weight", config.reconstruction_weight)
    if config.reconstruction_weight > 0 and not config.decoder:
        raise ValueError(
            f"reconstruction_weight={config.reconstruction_weight} trains a decoder jointly "
            "with the encoder: set decoder=True too"
        )
    if config.decoder_epochs is not None:
        _check_int("decoder_epochs", config.decoder_epochs, 0)
    _check_bool("standardize", config.standardize)
    if config.input_pca is not None:
        _check_int("input_pca", config.input_pca, 1)
    _check_bool("pca_init", config.pca_init)
    _check_bool("keep_training_data", config.keep_training_data)
    if config.refine_sketch_dims is not None:
        _check_int("refine_sketch_dims", config.refine_sketch_dims, 1)
    _check_choice("knn_method", config.knn_method, KNN_METHODS)
    _check_choice("knn_precision", config.knn_precision, KNN_PRECISIONS)
    if config.mixed_precision is not None:
        _check_bool("mixed_precision", config.mixed_precision)
    _check_bool("compile", config.compile)
    if config.seed is not None:
        _check_int("seed", config.seed, 0, SEED_MAX)
    if not isinstance(config.device, str) or not _DEVICE_RE.match(config.device):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {config.device!r}"
        )
    _check_bool("verbose", config.verbose)
    if config.threads is not None:
        _check_int("threads", config.threads, 1)
    _check_choice("target_metric", config.target_metric, TARGET_METRICS)
    _check_float("target_weight", config.target_weight)
    if config.target_weight > 1.0:
        raise ValueError(f"target_weight must be in [0, 1], got {config.target_weight}")
    if config.target_n_neighbors != -1:
        _check_int("target_n_neighbors", config.target_n_neighbors, 2)
    _check_float("local_connectivity", config.local_connectivity)
    _check_float("set_op_mix_ratio", config.set_op_mix_ratio)
    if config.set_op_mix_ratio > 1.0:
        raise ValueError(f"set_op_mix_ratio must be in [0, 1], got {config.set_op_mix_ratio}")
    _check_float("repulsion_strength", config.repulsion_strength)
    for name in ("a", "b"):
        if getattr(config, name) is not None:
            _check_float(name, getattr(config, name), strictly_positive=True)
    if (config.a is None) != (config.b is None):
        raise ValueError(
            f"a and b set the curve together: pass both or neither, got a={config.a}, "
            f"b={config.b} (umap-learn ignores one alone)"
        )
    if config.transform_seed is not None:
        _check_int("transform_seed", config.transform_seed, 0, SEED_MAX)
