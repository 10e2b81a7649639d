"""The check after training that the embedding has not collapsed to a point.

Too large a learning rate (umap-learn's SGD step of 1.0 if it were taken, say) can drive the
encoder to map every row to nearly the same place: the loss stays finite, so the NaN check of
`pumap.training.trainer` never fires, yet the embedding is useless. `check_not_collapsed`
compares the embedding's spread with the scale of the membership curve and raises
`TrainingDiverged` when it is far below it.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import UmapConfig
from .loss import MIN_SQ_DIST
from .trainer import TrainingDiverged

# A collapsed embedding's spread (RMS distance of the points to their centroid) is below this
# fraction of `curve_scale`. Measured (benchmarks/bench_learning_rate.py, docs/benchmarks.md
# "Learning rate and collapse", digits and 5 clusters, 2 seeds each, rates 3e-3 to 1.0): good
# fits (rates up to 0.1) have spreads of 7.5 to 21; at rate 1.0 a fit collapsed to 6.7e-5.
# 1e-2 leaves a factor of 750 below the good spreads. The loss is not a criterion: a short fit
# (2 epochs of 10 points in scikit-learn's checks) ends at a third of the collapsed loss while
# its embedding is sound; it is reported in the message only.
MIN_SPREAD_RATIO = 1e-2


def curve_scale(a: float, b: float) -> float:
    """The distance at which the membership ``1 / (1 + a d^(2b))`` is 1/2: ``a^(-1/(2b))``."""
    return float(a ** (-0.5 / b))


def collapsed_loss(a: float, b: float, negative_sample_rate: int, repulsion_strength: float
                   ) -> float:
    """The loss per positive edge when every point sits at one place (the floor of
    `pumap.training.loss.umap_loss` on squared distances makes it finite)."""
    t = math.log(a) + b * math.log(MIN_SQ_DIST)
    softplus = math.log1p(math.exp(-abs(t))) + max(t, 0.0)  # log(1 + e^t), stable
    softplus_neg = softplus - t  # log(1 + e^-t)
    return softplus + repulsion_strength * negative_sample_rate * softplus_neg


def check_not_collapsed(
    embedding: np.ndarray, losses: list[float], a: float, b: float, config: UmapConfig
) -> None:
    """Raise `TrainingDiverged` if the training embedding of a fit with ``config`` (and
    the curve ``a``, ``b``) has collapsed to a point.

    Collapsed: the points' RMS distance to their centroid is below `MIN_SPREAD_RATIO` times
    `curve_scale`. Without repulsion (``negative_sample_rate`` or ``repulsion_strength``
    zero) nothing keeps points apart, so a collapse is what was asked and is not checked.
    """
    rate, repulsion = config.negative_sample_rate, config.repulsion_strength
    if rate == 0 or repulsion == 0 or len(embedding) < 2:
        return
    centred = embedding.astype(np.float64) - embedding.mean(axis=0, dtype=np.float64)
    spread = float(np.sqrt((centred**2).sum(axis=1).mean()))
    scale = curve_scale(a, b)
    collapsed = collapsed_loss(a, b, rate, repulsion)
    last = losses[-1] if losses else 0.0
    if spread >= MIN_SPREAD_RATIO * scale:
        return
    raise TrainingDiverged(
        f"training collapsed the embedding: its points lie within {spread:.3g} of their centroid "
        f"(RMS), {spread / scale:.2g} times the distance at which two points' membership is 1/2 "
        f"({scale:.3g}; a good fit is several times it), and the last epoch's loss is {last:.4g} "
        f"(every point at one place would give {collapsed:.4g}; a good fit about 1/100 of "
        f"that). learning_rate={config.learning_rate:g} is too large for this data: it is "
        "Adam's rate on the encoder's weights (default 1e-2), not umap-learn's SGD step size; "
        "lower learning_rate or leave it at the default"
    )
