"""UMAP's clipped forces against a float64 loop written from umap-learn's documented update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pumap.training.forces import FORCE_CLIP, edge_forces, force_objective, forces_and_loss
from pumap.training.loss import umap_loss

A, B = 1.577, 0.895


def reference_forces(y, n_edges, neg_head, neg_tail, a, b, gamma, clip):
    """One pair at a time in float64, as umap-learn's SGD epoch computes each step."""
    y = y.astype(np.float64)
    out = np.zeros_like(y)
    for i in range(n_edges):
        d = y[i] - y[n_edges + i]
        s = float(d @ d)
        coeff = -2 * a * b * s ** (b - 1) / (a * s**b + 1) if s > 0 else 0.0
        step = np.clip(coeff * d, -clip, clip)
        out[i] += step
        out[n_edges + i] -= step
    for h, t in zip(neg_head, neg_tail, strict=True):
        d = y[h] - y[t]
        s = float(d @ d)
        coeff = 2 * gamma * b / ((0.001 + s) * (a * s**b + 1)) if s > 0 else 0.0
        step = np.clip(coeff * d, -clip, clip)
        out[h] += step
        out[t] -= step
    return out


@pytest.mark.parametrize("gamma", [1.0, 0.25])
@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_forces_match_a_float64_loop(gamma: float, scale: float) -> None:
    rng = np.random.default_rng(0)
    n_edges, c = 64, 2
    y = (scale * rng.normal(size=(2 * n_edges, c))).astype(np.float32)
    y[3] = y[n_edges + 3]  # a coincident edge: no force
    neg_head = rng.integers(0, 2 * n_edges, 5 * n_edges)
    neg_tail = rng.integers(0, 2 * n_edges, 5 * n_edges)  # some pairs join a row to itself
    got = edge_forces(
        torch.from_numpy(y), n_edges, torch.from_numpy(neg_head), torch.from_numpy(neg_tail),
        A, B, gamma,
    ).numpy()
    want = reference_forces(y, n_edges, neg_head, neg_tail, A, B, gamma, FORCE_CLIP)
    # float32 evaluation of each pair's force: a few ulps of each term, times the terms
    # summed into a row (at most a few dozen), each at most FORCE_CLIP in size.
    terms = np.bincount(np.concatenate([neg_head, neg_tail, np.arange(2 * n_edges)]))
    tol = 64 * np.finfo(np.float32).eps * FORCE_CLIP * terms.max()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=tol)
    assert np.abs(got).max() > 0.1  # the comparison is not between zeros


def test_each_pair_is_clipped_per_coordinate() -> None:
    y = torch.tensor([[0.0, 0.0], [0.03, 0.0], [0.5, 0.0], [0.53, 0.0]])  # heads, then tails
    no_negative = torch.zeros(0, dtype=torch.int64)
    pulls = edge_forces(y, 2, no_negative, no_negative, A, B)
    forces = edge_forces(y, 2, torch.tensor([0]), torch.tensor([1]), A, B)
    # Unclipped, the close negative pair would push by about 27 along x; each end gets 4.
    torch.testing.assert_close(
        forces - pulls, torch.tensor([[-FORCE_CLIP, 0.0], [FORCE_CLIP, 0.0], [0, 0], [0, 0]])
    )
    assert pulls.abs().max() < FORCE_CLIP / 2  # the edges' pulls are far from the clip


def test_objective_hands_the_forces_to_backward_and_reports_the_loss() -> None:
    g = torch.Generator().manual_seed(1)
    emb = torch.randn(16, 2, generator=g, requires_grad=True)
    nh, nt = torch.randint(0, 16, (40,), generator=g), torch.randint(0, 16, (40,), generator=g)
    forces = edge_forces(emb, 8, nh, nt, A, B)
    reported = umap_loss(emb[:8], emb[8:], emb[nh], emb[nt], A, B)
    objective = force_objective(emb, forces, 8, reported)
    objective.backward()
    assert objective.item() == pytest.approx(reported.item())
    torch.testing.assert_close(emb.grad, -forces / 8)


def test_forces_point_downhill_where_no_clip_binds() -> None:
    """Away from the clip, an edge's force is minus the attraction term's gradient."""
    g = torch.Generator().manual_seed(2)
    emb = (3 * torch.randn(20, 2, generator=g, dtype=torch.float64)).requires_grad_()
    empty = torch.zeros(0, dtype=torch.int64)
    forces = edge_forces(emb, 10, empty, empty, A, B)
    assert forces.abs().max() < FORCE_CLIP
    umap_loss(emb[:10], emb[10:], emb[:0], emb[:0], A, B).mul(10).backward()
    torch.testing.assert_close(forces, -emb.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("repulsion", [1.0, 0.25])
def test_forces_and_loss_reports_the_loss_of_the_same_pairs(repulsion: float) -> None:
    """The fused loss equals `umap_loss` on the gathered ends, and the forces `edge_forces`."""
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(24, 2, generator=g, dtype=torch.float64)
    emb[5] = emb[17]  # a coincident edge: the loss stays finite, as umap_loss's does
    nh, nt = torch.randint(0, 24, (60,), generator=g), torch.randint(0, 24, (60,), generator=g)
    forces, loss = forces_and_loss(emb, 12, nh, nt, A, B, repulsion)
    want = umap_loss(emb[:12], emb[12:], emb[nh], emb[nt], A, B, repulsion_strength=repulsion)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, want, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(forces, edge_forces(emb, 12, nh, nt, A, B, repulsion),
                               rtol=0.0, atol=0.0)
