"""a, b and the UMAP cross-entropy against float64 references and umap-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pumap.training.loss import find_ab_params, umap_loss


def test_ab_reproduce_the_target_curve() -> None:
    a, b = find_ab_params(1.0, 0.1)
    x = np.linspace(0.0, 3.0, 300)
    target = np.where(x < 0.1, 1.0, np.exp(-(x - 0.1)))
    fitted = 1.0 / (1.0 + a * x ** (2 * b))
    assert np.abs(fitted - target).max() < 0.05
    # Known values for the default curve (umap-learn's documentation quotes a=1.577, b=0.895).
    assert (a, b) == pytest.approx((1.577, 0.895), abs=2e-3)


@pytest.mark.parametrize(("spread", "min_dist"), [(1.0, 0.1), (1.0, 0.0), (2.0, 0.5), (1.0, 0.99)])
def test_ab_match_umap_learn(spread: float, min_dist: float) -> None:
    umap_ = pytest.importorskip("umap.umap_")
    ours = find_ab_params(spread, min_dist)
    theirs = umap_.find_ab_params(spread, min_dist)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


def reference_loss(h, t, nh, nt, a, b) -> float:
    q = lambda d2: 1.0 / (1.0 + a * d2**b)  # noqa: E731
    pos = -np.log(q(((h - t) ** 2).sum(1)))
    neg = -np.log(1.0 - q(((nh - nt) ** 2).sum(1)))
    return float((pos.sum() + neg.sum()) / h.shape[0])


def test_loss_matches_float64_reference(rng: np.random.Generator) -> None:
    h, t, nh, nt = (rng.normal(size=(40, 2)) for _ in range(4))
    a, b = 1.577, 0.895
    got = umap_loss(*(torch.from_numpy(v) for v in (h, t, nh, nt)), a, b)
    assert float(got) == pytest.approx(reference_loss(h, t, nh, nt, a, b), rel=1e-8)


def test_loss_is_finite_at_zero_and_huge_distances() -> None:
    zero = torch.zeros(3, 2, requires_grad=True)
    far = torch.full((3, 2), 1e6)
    loss = umap_loss(zero, zero, zero, zero, 1.577, 0.895) + umap_loss(
        zero, far, zero, far, 1.577, 0.895
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(zero.grad).all()


def test_loss_gradcheck(rng: np.random.Generator) -> None:
    args = tuple(torch.from_numpy(rng.normal(size=(5, 2))).requires_grad_(True) for _ in range(4))
    assert torch.autograd.gradcheck(lambda *v: umap_loss(*v, 1.577, 0.895), args)


def test_attraction_pulls_and_repulsion_pushes() -> None:
    h = torch.zeros(1, 2)
    t = torch.tensor([[1.0, 0.0]], requires_grad=True)
    umap_loss(h, t, h[:0], h[:0], 1.577, 0.895).backward()
    assert t.grad[0, 0] > 0  # descending the gradient moves the tail towards the head
    nt = torch.tensor([[1.0, 0.0]], requires_grad=True)
    umap_loss(h, h + 0.5, h, nt, 1.577, 0.895).backward()
    assert nt.grad[0, 0] < 0  # descending moves the negative away
