"""UMAP's low-dimensional similarity curve and its fuzzy cross-entropy."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MIN_SQ_DIST = 1e-10  # keeps log(d^2) finite for coincident points


def find_ab_params(spread: float = 1.0, min_dist: float = 0.1) -> tuple[float, float]:
    """Fit ``a, b`` so that ``1 / (1 + a x^(2b))`` follows UMAP's target curve.

    The target is 1 up to ``min_dist`` and ``exp(-(x - min_dist) / spread)`` beyond, sampled at
    300 points on ``[0, 3 spread]`` and fitted by least squares (as umap-learn does).
    """
    from scipy.optimize import curve_fit

    xv = np.linspace(0.0, spread * 3.0, 300)
    yv = np.where(xv < min_dist, 1.0, np.exp(-(xv - min_dist) / spread))

    def curve(x: np.ndarray, a: float, b: float) -> np.ndarray:
        return 1.0 / (1.0 + a * x ** (2 * b))

    (a, b), _ = curve_fit(curve, xv, yv)
    return float(a), float(b)


def umap_loss(
    head: torch.Tensor,
    tail: torch.Tensor,
    neg_head: torch.Tensor,
    neg_tail: torch.Tensor,
    a: float,
    b: float,
    repulsion_strength: float = 1.0,
) -> torch.Tensor:
    """Fuzzy cross-entropy of a batch of positive edges and negative pairs.

    With ``q(d) = 1 / (1 + a d^(2b))``, an edge costs ``-log q`` (attraction) and a negative
    pair ``-log(1 - q)`` (repulsion). Writing ``t = log a + b log d^2``, these are
    ``softplus(t)`` and ``softplus(-t)``: stable for every distance. The sum is divided by
    the number of positive edges. ``repulsion_strength`` weighs the negative pairs' term
    (umap-learn's ``repulsion_strength``).

    Parameters
    ----------
    head, tail : torch.Tensor
        ``(B, c)`` embeddings of the two ends of each positive edge.
    neg_head, neg_tail : torch.Tensor
        ``(M, c)`` embeddings of the two ends of each negative pair.
    """
    log_a = float(np.log(a))
    t_pos = log_a + b * torch.log(((head - tail) ** 2).sum(dim=1) + MIN_SQ_DIST)
    t_neg = log_a + b * torch.log(((neg_head - neg_tail) ** 2).sum(dim=1) + MIN_SQ_DIST)
    repulsion = F.softplus(-t_neg).sum()
    if repulsion_strength != 1.0:
        repulsion = repulsion_strength * repulsion
    return (F.softplus(t_pos).sum() + repulsion) / head.shape[0]
