"""UMAP's clipped per-pair forces, and the objective that hands them to an encoder's backward.

umap-learn does not descend the cross-entropy's own gradient: each sampled edge pulls its two
ends together and each negative pair pushes apart with the forces of McInnes et al. (2018),
every coordinate clipped to ``[-clip, clip]`` so that no pair can throw a point across the map.
A parametric fit that backpropagates the unclipped loss lets a few near-coincident negatives
dominate a batch's gradient; handing these forces to the encoder instead is what
`pumap.training.trainer` does (docs/benchmarks.md, "Where the quality went").
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .loss import MIN_SQ_DIST

FORCE_CLIP = 4.0  # umap-learn's per-coordinate clip of each pair's step
REPULSION_EPS = 1e-3  # umap-learn's guard in the repulsion's denominator


def edge_forces(
    emb: torch.Tensor,
    n_edges: int,
    negative_head: torch.Tensor,
    negative_tail: torch.Tensor,
    a: float,
    b: float,
    repulsion_strength: float = 1.0,
    clip: float = FORCE_CLIP,
) -> torch.Tensor:
    """The summed step direction of every row of a batch's embedding (minus a gradient).

    Rows ``0..n_edges-1`` of ``emb`` are the heads of the positive edges, rows
    ``n_edges..2 n_edges-1`` their tails; negative pair ``j`` joins rows ``negative_head[j]``
    and ``negative_tail[j]``. With ``d = y_i - y_j`` and ``s = |d|^2``, an edge moves its head
    by ``clip(-2 a b s^(b-1) d / (1 + a s^b))`` and its tail by the opposite; a negative pair
    moves its head by ``clip(2 gamma b d / ((0.001 + s)(1 + a s^b)))`` and its tail by the
    opposite (umap-learn moves only the head). Coincident pairs (``s = 0``) exert no force.

    Parameters
    ----------
    emb : torch.Tensor
        ``(2 n_edges, c)`` embeddings; not differentiated.
    n_edges : int
        Positive edges in the batch.
    negative_head, negative_tail : torch.Tensor
        ``(M,)`` row indices into ``emb``.
    a, b : float
        The similarity curve ``1 / (1 + a s^b)``.
    repulsion_strength : float
        ``gamma``, the weight of the negative pairs.
    clip : float
        Bound of each coordinate of each pair's force.

    Returns
    -------
    torch.Tensor
        ``(2 n_edges, c)``, the sum of the forces on each row, in ``emb``'s dtype.
    """
    return forces_and_loss(emb, n_edges, negative_head, negative_tail, a, b,
                           repulsion_strength, clip)[0]


def forces_and_loss(
    emb: torch.Tensor,
    n_edges: int,
    negative_head: torch.Tensor,
    negative_tail: torch.Tensor,
    a: float,
    b: float,
    repulsion_strength: float = 1.0,
    clip: float = FORCE_CLIP,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`edge_forces`, and the batch's UMAP loss (`pumap.training.loss.umap_loss`) from the same
    squared distances: one gather of the negative pairs instead of two (the training step's
    loss is reported, never differentiated). Both are detached from ``emb``."""
    y = emb.detach()
    head, tail = y[:n_edges], y[n_edges:]
    d = head - tail
    s = (d * d).sum(dim=1, keepdim=True)
    positive = s > 0
    safe = torch.where(positive, s, 1.0)
    pull = -2.0 * a * b * safe.pow(b - 1.0) / (1.0 + a * safe.pow(b))
    attract = (torch.where(positive, pull, 0.0) * d).clamp(-clip, clip)
    dn = y[negative_head] - y[negative_tail]
    sn = (dn * dn).sum(dim=1, keepdim=True)
    push = 2.0 * repulsion_strength * b / ((REPULSION_EPS + sn) * (1.0 + a * sn.pow(b)))
    repel = (torch.where(sn > 0, push, 0.0) * dn).clamp(-clip, clip)
    forces = torch.cat([attract, -attract])
    forces.index_add_(0, negative_head, repel)
    forces.index_add_(0, negative_tail, -repel)
    log_a = math.log(a)
    t_pos = log_a + b * torch.log(s[:, 0] + MIN_SQ_DIST)
    t_neg = log_a + b * torch.log(sn[:, 0] + MIN_SQ_DIST)
    repulsion = F.softplus(-t_neg).sum()
    if repulsion_strength != 1.0:
        repulsion = repulsion_strength * repulsion
    return forces, (F.softplus(t_pos).sum() + repulsion) / n_edges


def force_objective(
    emb: torch.Tensor, forces: torch.Tensor, n_edges: int, reported: torch.Tensor
) -> torch.Tensor:
    """A scalar whose gradient with respect to ``emb`` is ``-forces / n_edges`` and whose
    value is ``reported`` (the batch's UMAP loss, for progress and the divergence check).

    ``backward`` of it (alone or summed with other loss terms) sends the forces through the
    encoder as if they were the descent direction of a loss.
    """
    surrogate = -(emb * forces.detach()).sum() / n_edges
    return surrogate - surrogate.detach() + reported.detach()
