"""Training the encoder: an optional PCA warm start, then Adam on the UMAP loss.

The step loop stays on the device: sampling, forward, loss and update issue no host
synchronisation. The loss is read back once per epoch, for progress and for the NaN check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .graph import FuzzyGraph
from .loss import umap_loss
from .sampler import EdgeSampler

PCA_INIT_MAX_COORD = 10.0  # the warm start's target spans [-10, 10], as umap-learn's init does
PCA_INIT_EPOCHS = 4  # passes over the points to fit the encoder to the PCA target
PCA_INIT_BATCH = 512


@dataclass(frozen=True)
class EpochProgress:
    """What a fit's callback receives after each epoch.

    Attributes
    ----------
    epoch : int
        Epochs done so far (1-based).
    n_epochs : int
        Epochs in the whole fit.
    loss : float
        Mean UMAP loss per positive edge over this epoch.
    elapsed : float
        Seconds since training started.
    """

    epoch: int
    n_epochs: int
    loss: float
    elapsed: float


Callback = Callable[[EpochProgress], None]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the last good epoch."""


def pca_projection(x: torch.Tensor, n_components: int, generator: torch.Generator) -> torch.Tensor:
    """Scores of ``x`` on its top principal components (randomised range finder, seeded)."""
    xc = x - x.mean(dim=0)
    n, d = xc.shape
    c = min(n_components, n, d)
    width = min(c + 10, n, d)
    probe = torch.randn(d, width, generator=generator, device=x.device, dtype=x.dtype)
    basis = torch.linalg.qr(xc @ probe).Q
    for _ in range(4):  # power iterations sharpen the leading subspace
        basis = torch.linalg.qr(xc @ (xc.T @ basis)).Q
    small = basis.T @ xc  # (width, d)
    _, _, vh = torch.linalg.svd(small, full_matrices=False)
    scores = xc @ vh[:c].T
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
    """Regress the encoder's output onto ``target`` (mean squared error) for a few epochs."""
    optimizer = torch.optim.Adam(encoder.parameters(), lr=learning_rate)
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator, device=x.device)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = ((encoder(x[idx]) - target[idx]) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def steps_per_epoch(n_edges: int, batch_size: int) -> int:
    """Steps that sample as many positive edges as the graph has (one epoch)."""
    return max(1, math.ceil(n_edges / batch_size))


def train_umap(
    encoder: nn.Module,
    x: torch.Tensor,
    graph: FuzzyGraph,
    *,
    a: float,
    b: float,
    n_epochs: int,
    batch_size: int,
    negative_sample_rate: int,
    learning_rate: float,
    generator: torch.Generator,
    callback: Callback | None = None,
    verbose: bool = False,
) -> list[float]:
    """Train ``encoder`` on the UMAP loss over ``graph``; return the mean loss of each epoch.

    ``x`` (the encoder's input) and ``graph`` must be on the encoder's device. The learning
    rate decays linearly to zero over the fit, as UMAP's own step size does.

    Raises
    ------
    TrainingDiverged
        If an epoch's loss is not finite.
    """
    sampler = EdgeSampler(graph, batch_size, negative_sample_rate, generator)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=learning_rate)
    per_epoch = steps_per_epoch(graph.n_edges, batch_size)
    total = per_epoch * n_epochs
    embed_all = 2 * batch_size >= x.shape[0]
    bar = _progress_bar(n_epochs, verbose)
    losses: list[float] = []
    start_time = time.perf_counter()
    step = 0
    try:
        for epoch in range(1, n_epochs + 1):
            running = torch.zeros((), device=x.device)
            for _ in range(per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate * (1.0 - step / total)
                batch = sampler.sample()
                if embed_all:  # cheaper to embed every point once than 2B rows with repeats
                    emb = encoder(x)[batch.points]
                else:
                    emb = encoder(x[batch.points])
                half = batch.batch_size
                loss = umap_loss(
                    emb[:half], emb[half:], emb[batch.negative_head], emb[batch.negative_tail], a, b
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                running += loss.detach()
                step += 1
            epoch_loss = float(running) / per_epoch  # the one sync of the epoch
            if not math.isfinite(epoch_loss):
                last = f"epoch {epoch - 1}" if epoch > 1 else "no epoch"
                raise TrainingDiverged(
                    f"the UMAP loss became {epoch_loss} in epoch {epoch} ({last} finished cleanly); "
                    "lower learning_rate or check the input's scale"
                )
            losses.append(epoch_loss)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{epoch_loss:.4f}")
            if callback is not None:
                callback(EpochProgress(epoch, n_epochs, epoch_loss, time.perf_counter() - start_time))
    finally:
        if bar is not None:
            bar.close()
    return losses


def _progress_bar(total: int, verbose: bool):  # noqa: ANN202 - tqdm's type is optional
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="pumap training", unit="epoch")
