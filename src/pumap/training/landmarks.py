"""Landmarks: old rows held at their old place while `FittedUmap.fit_more` trains on new data.

umap-learn's recipe for ParametricUMAP (``landmark_loss_weight``): retrain the same encoder on
the new data together with a sample of the old, and add to the loss the euclidean distance
between the old sample's current embedding and its embedding before the update (its
*landmark position*), times a weight.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

LANDMARK_ROWS = 2048  # training rows a fit keeps (in memory) as fit_more's default landmarks
LANDMARK_BYTES = 64 * 2**20  # ... and at most this many bytes of them
LANDMARK_BATCH = 2048  # landmarks in each step's penalty (all of them when fewer)
_EPS = 1e-12  # keeps the distance's gradient finite at 0 (where every landmark starts)


def sample_rows(x: torch.Tensor, seed: int, n_rows: int = LANDMARK_ROWS) -> torch.Tensor:
    """Up to ``n_rows`` rows of ``x`` (fewer when they would pass `LANDMARK_BYTES`), drawn
    without replacement with ``seed`` and kept in their order, as a float32 copy on the CPU."""
    limit = max(1, min(n_rows, LANDMARK_BYTES // (4 * max(1, x.shape[1]))))
    if x.shape[0] <= limit:
        return x.detach().to("cpu", dtype=torch.float32, copy=True)
    chosen = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:limit]
    return x[chosen.sort().values.to(x.device)].detach().to("cpu", dtype=torch.float32)


class LandmarkPenalty:
    """The landmark term of a `LossTerm`: ``weight`` times the mean euclidean distance between
    the landmarks' current embedding and their positions.

    Parameters
    ----------
    encoder : torch.nn.Module
        The encoder being trained.
    inputs : torch.Tensor
        ``(m, n_features)`` standardised landmark rows, on the encoder's device.
    positions : torch.Tensor
        ``(m, n_components)`` where the landmarks must stay.
    weight : float
        Multiplies the mean distance (umap-learn's ``landmark_loss_weight``).
    generator : torch.Generator
        Draws each step's ``batch`` landmarks when there are more than that.
    batch : int
        Landmarks per step.
    """

    def __init__(
        self,
        encoder: nn.Module,
        inputs: torch.Tensor,
        positions: torch.Tensor,
        weight: float,
        generator: torch.Generator,
        batch: int = LANDMARK_BATCH,
    ) -> None:
        self.encoder = encoder
        self.inputs = inputs
        self.positions = positions
        self.weight = float(weight)
        self.generator = generator
        self.batch = batch

    def __call__(self) -> torch.Tensor:
        rows, target = self.inputs, self.positions
        if rows.shape[0] > self.batch:
            pick = torch.randint(
                rows.shape[0], (self.batch,), generator=self.generator, device=rows.device
            )
            rows, target = rows[pick], target[pick]
        squared = (self.encoder(rows).float() - target).pow(2).sum(dim=1)
        return self.weight * (squared + _EPS).sqrt().mean()


def drift(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """How far points moved between two embeddings, relative to the first one's spread.

    The spread is the root-mean-square distance of ``before``'s points to their centroid;
    returns the ``median`` and the 95th percentile (``p95``) of ``|after - before| / spread``.
    """
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"before {before.shape} and after {after.shape} differ in shape")
    spread = float(np.sqrt(((before - before.mean(axis=0)) ** 2).sum(axis=1).mean()))
    moved = np.linalg.norm(after - before, axis=1) / max(spread, 1e-12)
    return {"median": float(np.median(moved)), "p95": float(np.percentile(moved, 95))}
