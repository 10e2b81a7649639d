"""`FittedUmap.fit_more`: train the same encoder further on new data, old points held in place.

The recipe is umap-learn's for ParametricUMAP (`pumap.training.landmarks`): the fuzzy graph of the
landmarks (old rows) and the new rows together, Adam resumed from the end of the fit, and a
penalty pulling the landmarks' embedding back to where the model put them before.

This module works on parts, not on `FittedUmap`, and imports neither `pumap.model.fitted` nor
`pumap.umap` (they import it): `FittedUmap.fit_more` hands it its encoder, standardizer,
config and kept state, and assembles the new model from the parts it returns.
"""

from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .._checks import check_learning_rate
from ..config import UmapConfig
from ..data.preprocess import (
    Standardizer,
    as_float32_matrix,
    check_enough_points,
    check_not_constant,
)
from ..device import torch_threads
from ..graph.fuzzy import FuzzyGraph, fuzzy_simplicial_set
from ..graph.neighbours import knn_stage
from ..metric_names import PRECOMPUTED
from ..model.refine import TrainingIndex
from .decoder import decoder_stage, joint_terms
from .landmarks import LandmarkPenalty, sample_rows
from .optimizer_state import AdamCarry
from .schedule import resolve_mixed_precision, resolve_schedule
from .trainer import Callback, LossTerm, TrainingDiverged, train_umap

DEFAULT_LANDMARK_WEIGHT = 1.0  # umap-learn's landmark_loss_weight default; see benchmarks.md
_BATCH = 65_536  # rows per forward pass when embedding


class Continued(NamedTuple):
    """The parts of the model `continue_training` made."""

    encoder: nn.Module
    a: float
    b: float
    losses: list[float]
    optimizer_state: dict[str, Any] | None
    embedding: np.ndarray  # of the new rows
    training_index: TrainingIndex | None  # of the landmarks and the new rows
    landmark_rows: torch.Tensor | None  # a sample of them, the next fit_more's landmarks
    graph: FuzzyGraph  # the fuzzy graph trained on (on the CPU)
    knn_info: dict[str, Any]  # how its k-NN graph was built
    decoder: nn.Module | None  # the model's decoder, trained further (a copy)


def continue_training(
    encoder: nn.Module,
    standardizer: Standardizer,
    config: UmapConfig,
    data: Any,
    *,
    device: torch.device,
    a: float,
    b: float,
    decoder: nn.Module | None = None,
    optimizer_state: dict[str, Any] | None = None,
    landmark_rows: torch.Tensor | None = None,
    no_landmarks: str = "it was loaded from a file",
    landmarks: Any = None,
    landmark_weight: float = DEFAULT_LANDMARK_WEIGHT,
    n_epochs: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    callback: Callback | None = None,
    joint_graph: bool = True,
) -> Continued:
    """What `FittedUmap.fit_more` runs (see its docstring), on the model's parts: its
    ``encoder`` (on ``device``; a copy is trained), ``standardizer``, ``config``, the ``a``,
    ``b`` of its curve, its ``decoder`` (a copy is trained further after the encoder, on the
    landmarks and the new rows), Adam's ``optimizer_state`` at the end of its fit and the
    ``landmark_rows`` it kept (None after `load`; ``no_landmarks`` then says why). Every
    option of the fit (``local_connectivity``, ``set_op_mix_ratio``,
    ``repulsion_strength``, ...) applies again. Nothing given is changed.

    ``joint_graph=False`` builds the graph of the new rows alone (the landmarks then enter
    only through the penalty): the variant measured against in docs/benchmarks.md.
    """
    cfg = config
    if cfg.metric == PRECOMPUTED:
        raise ValueError(
            "fit_more does not support models fitted with metric='precomputed': it would need "
            "the distances between the new rows and the landmarks, which it cannot compute"
        )
    x_new = _rows_of(data, "X", standardizer.n_features)
    x_old = _landmark_rows(landmark_rows, landmarks, standardizer.n_features, no_landmarks)
    _check_weight(landmark_weight)
    n_epochs = _check_optional_int(n_epochs, "n_epochs", 1)
    seed = _check_optional_int(seed, "seed", 0)
    seed = seed if seed is not None else (cfg.seed if cfg.seed is not None else 0)
    if learning_rate is None:
        learning_rate = cfg.learning_rate
    else:
        check_learning_rate(learning_rate)
    x = torch.cat([x_old, x_new]) if joint_graph else x_new
    check_enough_points(x.shape[0], cfg.n_neighbors)
    check_not_constant(x, "X")
    with torch_threads(cfg.threads):
        encoder = copy.deepcopy(encoder)
        positions = _encode(encoder, standardizer, x_old, device)  # where the landmarks stay
        knn, knn_info = knn_stage(x, cfg, seed, device)  # the rule and the scaling of a fit
        graph = fuzzy_simplicial_set(knn, cfg.local_connectivity, cfg.set_op_mix_ratio)
        graph = graph.to(device)
        inputs = standardizer(x.to(device))
        decoder = copy.deepcopy(decoder).train() if decoder is not None else None
        recon = torch.Generator(device=device).manual_seed(seed + 2)
        terms = joint_terms(cfg, encoder, decoder, inputs, recon) if decoder is not None else ()
        penalty = LandmarkPenalty(
            encoder, standardizer(x_old.to(device)), positions, landmark_weight,
            torch.Generator(device=device).manual_seed(seed + 1),
        )
        adam = AdamCarry(optimizer_state)
        steps = resolve_schedule(x.shape[0], graph.n_edges, cfg.batch_size, n_epochs, device)
        losses = train_umap(
            encoder.train(), inputs, graph, a=a, b=b,
            n_epochs=steps.n_epochs, batch_size=steps.batch_size,
            negative_sample_rate=cfg.negative_sample_rate,
            learning_rate=float(learning_rate),
            generator=torch.Generator(device=device).manual_seed(seed), callback=callback,
            verbose=cfg.verbose,
            mixed_precision=resolve_mixed_precision(
                cfg.mixed_precision, device, dense=isinstance(inputs, torch.Tensor)
            ),
            compile_step=cfg.compile, input_dropout=cfg.input_dropout,
            extra_terms=((LossTerm(penalty),) if landmark_weight > 0 else ()) + terms,
            optimizer_state=adam, repulsion_strength=cfg.repulsion_strength,
        )
        encoder.eval()
        if decoder is not None:
            decoder_stage(cfg, encoder, decoder, inputs, recon)
            decoder.eval()
        embedding = _encode(encoder, standardizer, x_new, device).cpu().numpy()
        if not np.isfinite(embedding).all():
            raise TrainingDiverged(
                "fit_more's encoder maps some rows of X to NaN or infinity; lower "
                "learning_rate or check the input's scale"
            )
        index = rows = None
        if cfg.keep_training_data:
            seen = torch.cat([x_old, x_new])
            index = TrainingIndex.build(
                seen, _encode(encoder, standardizer, seen, device).cpu(), cfg.metric,
                cfg.refine_sketch_dims, torch.Generator().manual_seed(seed),
            ).to(device)
            rows = sample_rows(seen, seed)
    return Continued(
        encoder, a, b, losses, adam.state, embedding, index, rows, graph.to("cpu"), knn_info,
        decoder,
    )


@torch.inference_mode()
def _encode(
    encoder: nn.Module, standardizer: Standardizer, x: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """``encoder(standardizer(x))`` in batches, on ``device``, without gradients."""
    parts = [
        encoder(standardizer(x[i : i + _BATCH].to(device))).float()
        for i in range(0, x.shape[0], _BATCH)
    ]
    return torch.cat(parts).clone()  # a normal tensor: positions are targets in training


def _rows_of(data: Any, name: str, n_features: int) -> torch.Tensor:
    x = as_float32_matrix(data, name)
    if x.shape[1] != n_features:
        raise ValueError(
            f"{name} has {x.shape[1]} features but this model was fitted on {n_features}"
        )
    return x.cpu()


def _landmark_rows(
    kept: torch.Tensor | None, landmarks: Any, n_features: int, why: str
) -> torch.Tensor:
    if landmarks is not None:
        return _rows_of(landmarks, "landmarks", n_features)
    if kept is None:
        raise ValueError(
            f"landmarks is None and this model keeps no sample of its training rows ({why}): "
            "pass landmarks=, some of the rows it was trained on"
        )
    return kept


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
