"""`FittedUmap.fit_more`: train the same encoder further on new data, old points held in place.

The recipe is umap-learn's for ParametricUMAP (`pumap.landmarks`): the fuzzy graph of the
landmarks (old rows) and the new rows together, Adam resumed from the end of the fit, and a
penalty pulling the landmarks' embedding back to where the model put them before.
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import torch

from .device import torch_threads
from .landmarks import LandmarkPenalty, sample_rows
from .optimizer_state import AdamCarry
from .preprocess import as_float32_matrix, check_enough_points, check_not_constant
from .trainer import Callback, LossTerm, auto_n_epochs, train_umap
from .umap import _embed, _graph, _index, _knn

if TYPE_CHECKING:
    from .fitted import FittedUmap

DEFAULT_LANDMARK_WEIGHT = 1.0  # umap-learn's landmark_loss_weight default; see benchmarks.md


def fit_more(
    fitted: FittedUmap,
    data: Any,
    *,
    landmarks: Any = None,
    landmark_weight: float = DEFAULT_LANDMARK_WEIGHT,
    n_epochs: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    callback: Callback | None = None,
) -> FittedUmap:
    """What `FittedUmap.fit_more` does (see its docstring); ``fitted`` is not changed."""
    return _fit_more(
        fitted, data, landmarks, landmark_weight, n_epochs, learning_rate, seed, callback
    )


def _fit_more(
    fitted: FittedUmap,
    data: Any,
    landmarks: Any,
    landmark_weight: float,
    n_epochs: int | None,
    learning_rate: float | None,
    seed: int | None,
    callback: Callback | None,
    joint_graph: bool = True,
) -> FittedUmap:
    """``joint_graph=False`` builds the graph of the new rows alone (the landmarks then only
    enter through the penalty): the variant measured against in docs/benchmarks.md."""
    from .fitted import FittedUmap  # fitted imports this module lazily, in fit_more

    cfg = fitted.config
    x_new = _rows_of(data, "X", fitted.n_features)
    x_old = _landmark_rows(fitted, landmarks)
    _check_weight(landmark_weight)
    n_epochs = _check_optional_int(n_epochs, "n_epochs", 1)
    seed = _check_optional_int(seed, "seed", 0)
    seed = seed if seed is not None else (cfg.seed if cfg.seed is not None else 0)
    if learning_rate is None:
        learning_rate = cfg.learning_rate
    elif isinstance(learning_rate, bool) or not (
        isinstance(learning_rate, (int, float)) and math.isfinite(learning_rate)
        and learning_rate > 0
    ):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    x = torch.cat([x_old, x_new]) if joint_graph else x_new
    check_enough_points(x.shape[0], cfg.n_neighbors)
    check_not_constant(x, "X")
    device = fitted.device
    with torch_threads(cfg.threads):
        positions = fitted._embed(x_old, 65_536).clone()  # where the landmarks stay
        graph, a, b = _graph(_knn(x, cfg, seed, device), cfg)
        encoder = copy.deepcopy(fitted.encoder).train()
        standardizer = fitted.standardizer
        generator = torch.Generator(device=device).manual_seed(seed)
        penalty = LandmarkPenalty(
            encoder, standardizer(x_old.to(device)), positions, landmark_weight,
            torch.Generator(device=device).manual_seed(seed + 1),
        )
        adam = AdamCarry(fitted.optimizer_state)
        epochs = n_epochs or auto_n_epochs(graph.n_edges, cfg.batch_size)
        losses = train_umap(
            encoder, standardizer(x.to(device)), graph.to(device), a=a, b=b, n_epochs=epochs,
            batch_size=cfg.batch_size, negative_sample_rate=cfg.negative_sample_rate,
            learning_rate=float(learning_rate), generator=generator, callback=callback,
            verbose=cfg.verbose, mixed_precision=cfg.mixed_precision,
            compile_step=cfg.compile, input_dropout=cfg.input_dropout,
            extra_terms=(LossTerm(penalty),) if landmark_weight > 0 else (),
            optimizer_state=adam,
        )
        more = FittedUmap(encoder, standardizer, cfg, a, b, losses=losses)
        more.optimizer_state = adam.state
        more.embedding = _embed(more, x_new)
        if cfg.keep_training_data:
            seen = torch.cat([x_old, x_new])
            seen_embedding = more._embed(seen, 65_536).cpu().numpy()
            more.training_index = _index(seen, seen_embedding, cfg, seed, device)
            more.landmark_rows = sample_rows(seen, seed)
    return more


def _rows_of(data: Any, name: str, n_features: int) -> torch.Tensor:
    x = as_float32_matrix(data, name)
    if x.shape[1] != n_features:
        raise ValueError(
            f"{name} has {x.shape[1]} features but this model was fitted on {n_features}"
        )
    return x.cpu()


def _landmark_rows(fitted: FittedUmap, landmarks: Any) -> torch.Tensor:
    if landmarks is not None:
        return _rows_of(landmarks, "landmarks", fitted.n_features)
    if fitted.landmark_rows is None:
        raise ValueError(
            "landmarks is None and this model keeps no sample of its training rows (it was "
            "loaded from a file, or fitted with keep_training_data=False): pass landmarks=, "
            "some of the rows it was trained on"
        )
    return fitted.landmark_rows


def _check_weight(weight: Any) -> None:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise ValueError(f"landmark_weight must be a number >= 0, got {weight!r}")
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"landmark_weight must be a finite number >= 0, got {weight!r}")


def _check_optional_int(value: Any, name: str, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low} or None, got {value!r}")
    return value
