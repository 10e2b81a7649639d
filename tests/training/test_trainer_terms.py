"""`train_umap`'s extra loss terms: added to every step, their parameters trained by Adam."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pumap.graph.fuzzy import fuzzy_simplicial_set
from pumap.knn import build_knn
from pumap.training.encoder import build_encoder
from pumap.training.loss import find_ab_params
from pumap.training.trainer import LossTerm, train_umap


def _train(extra_terms: tuple[LossTerm, ...] = ()) -> tuple[nn.Module, list[float]]:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32))
    knn = build_knn(x, 10, "euclidean", "exact", seed=0, device=torch.device("cpu"))
    graph = fuzzy_simplicial_set(knn)
    encoder = build_encoder(5, (16,), 2, torch.Generator().manual_seed(0))
    a, b = find_ab_params(1.0, 0.1)
    losses = train_umap(
        encoder, x, graph, a=a, b=b, n_epochs=5, batch_size=512, negative_sample_rate=5,
        learning_rate=1e-2, generator=torch.Generator().manual_seed(0), extra_terms=extra_terms,
    )
    return encoder, losses


def test_extra_term_is_added_to_every_step_and_trains_its_parameters() -> None:
    shift = nn.Parameter(torch.zeros(2))
    calls = []

    def pull_to_shift() -> torch.Tensor:
        calls.append(1)
        return 10.0 * (shift - 3.0).pow(2).sum()

    _, plain = _train()
    _, with_term = _train((LossTerm(pull_to_shift, (shift,)),))
    assert len(calls) >= 5  # at least one step per epoch
    assert float(shift.detach().abs().min()) > 0.01  # Adam moved the term's own parameter
    assert with_term[0] > plain[0] + 1.0  # the term is part of the reported loss


def test_no_terms_changes_nothing() -> None:
    enc_a, loss_a = _train()
    enc_b, loss_b = _train(())
    assert loss_a == loss_b
    for p, q in zip(enc_a.parameters(), enc_b.parameters(), strict=True):
        assert torch.equal(p, q)
