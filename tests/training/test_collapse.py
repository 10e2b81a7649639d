"""A learning rate meant for umap-learn's SGD is refused; a collapsed or ruined embedding after
training raises `TrainingDiverged` instead of coming back as a result (issue #22, item 13)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from pumap import TrainingDiverged, Umap, UmapConfig
from pumap.training.collapse import (
    MIN_SPREAD_RATIO,
    check_not_collapsed,
    collapsed_loss,
    curve_scale,
)
from pumap.training.loss import umap_loss

A, B = 1.577, 0.895  # min_dist=0.1's curve
CONFIG = UmapConfig()


@pytest.mark.parametrize("rate", [1.0, 0.5, 1e20])
def test_a_umap_learn_learning_rate_is_refused_saying_what_pumaps_is(rate) -> None:
    with pytest.raises(ValueError, match=r"learning_rate must be at most 0\.25.*Adam's rate.*"
                       r"not umap-learn's SGD step size"):
        Umap(learning_rate=rate)


def test_fit_more_refuses_it_too(blobs) -> None:
    fitted = Umap(n_epochs=1, hidden_layers=(8,), seed=0, verbose=False).fit(blobs[0])
    with pytest.raises(ValueError, match="not umap-learn's SGD step size"):
        fitted.fit_more(blobs[0][:50], learning_rate=1.0)


def test_curve_scale_is_where_membership_is_one_half() -> None:
    d = curve_scale(A, B)
    assert 1.0 / (1.0 + A * d ** (2 * B)) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize(("rate", "repulsion"), [(5, 1.0), (3, 2.0)])
def test_collapsed_loss_is_the_loss_of_every_point_at_one_place(rate, repulsion) -> None:
    same = torch.zeros(4, 2, dtype=torch.float64)
    negatives = torch.zeros(4 * rate, 2, dtype=torch.float64)
    loss = umap_loss(same, same, negatives, negatives, A, B, repulsion_strength=repulsion)
    # torch's softplus is linear above 20, leaving out log1p(exp(-20)) ~ 2e-9 per negative pair
    assert collapsed_loss(A, B, rate, repulsion) == pytest.approx(
        float(loss), abs=rate * repulsion * 2.1e-9
    )


def test_a_collapsed_embedding_raises_and_a_spread_one_does_not(rng) -> None:
    scale = curve_scale(A, B)
    good = rng.normal(size=(300, 2)) * scale * 5
    # A short fit's loss can be high (a third of the collapsed loss after 2 epochs of 10
    # points): not a collapse while the points are spread.
    check_not_collapsed(good, [90.0, 0.4 * collapsed_loss(A, B, 5, 1.0)], A, B, CONFIG)
    point = good * (MIN_SPREAD_RATIO / 10)
    with pytest.raises(TrainingDiverged, match=r"lower learning_rate") as info:
        check_not_collapsed(point, [2.0, 90.0], A, B, CONFIG)
    assert "the last epoch's loss is 90" in str(info.value)
    check_not_collapsed(good * MIN_SPREAD_RATIO / 4, [2.0], A, B, CONFIG)  # ~1.8x the bound
    # Without repulsion nothing keeps the points apart: a collapse is what was asked.
    check_not_collapsed(point, [0.0], A, B, CONFIG.replace(repulsion_strength=0.0))
    check_not_collapsed(point, [0.0], A, B, CONFIG.replace(negative_sample_rate=0))


class Squashed(nn.Module):
    """An encoder whose outputs are 1e-9 of a linear map's: Adam at 3e-3 cannot spread them in a
    few epochs, as a fit collapsed by too large a rate ends."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * 1e-9


def test_a_fit_that_ends_collapsed_raises(blobs) -> None:
    x = blobs[0]
    with pytest.raises(TrainingDiverged, match="training collapsed the embedding") as info:
        Umap(n_epochs=2, pca_init=False, seed=0, verbose=False,
             encoder=Squashed(x.shape[1])).fit(x)
    assert math.isfinite(float(str(info.value).split("loss is ")[1].split(" ")[0]))
    assert np.isfinite(x).all()
