"""The PCA warm start: regress the encoder onto the data's scaled PCA projection.

Run before training (``pca_init=True``) so that the UMAP optimisation starts from a layout
that already has the data's global shape, as umap-learn's spectral or PCA init does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..data.pca import principal_axes
from .trainer import TrainingDiverged

PCA_INIT_MAX_COORD = 10.0  # the warm start's target spans [-10, 10], as umap-learn's init does
PCA_INIT_EPOCHS = 4  # passes over the points to fit the encoder to the PCA target
PCA_INIT_BATCH = 512
# The warm start fits the encoder to the PCA target of at most this many rows, drawn at
# random: enough for the global shape it gives, and its cost stops growing with n (at 1e6
# rows a regression over every row cost 15 s on an H200, about 40% of the fit).
WARM_START_ROWS = 65_536


def warm_start(
    encoder: nn.Module,
    x: torch.Tensor,
    n_components: int,
    learning_rate: float,
    generator: torch.Generator,
    max_rows: int = WARM_START_ROWS,
) -> None:
    """Regress ``encoder`` onto the scaled PCA projection of ``x`` (`pca_init_target`), using
    at most ``max_rows`` rows drawn with ``generator`` (all rows, and no draw, up to it)."""
    if x.shape[0] > max_rows:
        pick = torch.randperm(x.shape[0], generator=generator, device=x.device)[:max_rows]
        x = x.index_select(0, pick)
    target = pca_init_target(x, n_components, generator)
    fit_to_target(encoder, x, target, learning_rate, generator)


def pca_projection(x: torch.Tensor, n_components: int, generator: torch.Generator) -> torch.Tensor:
    """Scores of ``x`` on its top principal components (randomised range finder, seeded)."""
    mean, axes = principal_axes(x, n_components, generator)
    scores = (x - mean) @ axes.T
    n, c = scores.shape
    # Fix the sign of each component so that the result does not depend on the solver.
    largest = scores.gather(0, scores.abs().argmax(dim=0, keepdim=True))[0]
    scores = scores * torch.where(largest < 0, -1.0, 1.0)
    if c < n_components:
        scores = torch.cat([scores, scores.new_zeros(n, n_components - c)], dim=1)
    return scores


def pca_init_target(x: torch.Tensor, n_components: int, generator: torch.Generator) -> torch.Tensor:
    """The warm start's target: PCA scores scaled so the largest coordinate is 10."""
    scores = pca_projection(x, n_components, generator)
    top = scores.abs().max().clamp_min(1e-12)
    return scores * (PCA_INIT_MAX_COORD / top)


def fit_to_target(
    encoder: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    learning_rate: float,
    generator: torch.Generator,
    epochs: int = PCA_INIT_EPOCHS,
    batch_size: int = PCA_INIT_BATCH,
) -> None:
    """Regress the encoder's output onto ``target`` (mean squared error) for a few epochs.

    Raises
    ------
    TrainingDiverged
        If the regression's loss is not finite at the end of an epoch.
    """
    optimizer = torch.optim.Adam(encoder.parameters(), lr=learning_rate)
    n = x.shape[0]
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator, device=x.device)
        running = torch.zeros((), device=x.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            # index_select, not x[idx]: its backward adds repeated rows in index order
            loss = ((encoder(x.index_select(0, idx)) - target.index_select(0, idx)) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.detach()
        if not math.isfinite(float(running)):  # one sync per epoch
            raise TrainingDiverged(
                f"the PCA warm start's loss became {float(running)} in its epoch {epoch}; "
                "lower learning_rate, check the input's scale, or pass pca_init=False"
            )
