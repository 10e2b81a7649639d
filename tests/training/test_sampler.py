"""Edge sampling: frequencies follow the weights, negatives stay in the batch, seeds repeat."""

from __future__ import annotations

import torch

from pumap.graph.fuzzy import FuzzyGraph
from pumap.training.sampler import EdgeSampler


def small_graph() -> FuzzyGraph:
    head = torch.tensor([0, 0, 1, 2])
    tail = torch.tensor([1, 2, 3, 3])
    weight = torch.tensor([1.0, 0.5, 0.25, 0.25])
    return FuzzyGraph(head, tail, weight, 4)


def test_edges_are_drawn_in_proportion_to_weight() -> None:
    sampler = EdgeSampler(small_graph(), 20000, 0, torch.Generator().manual_seed(0))
    batch = sampler.sample()
    h, t = batch.points[:20000], batch.points[20000:]
    key = torch.minimum(h, t) * 4 + torch.maximum(h, t)
    counts = torch.stack([(key == k).sum() for k in (1, 2, 7, 11)]).double() / 20000
    torch.testing.assert_close(
        counts, torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64), atol=0.015, rtol=0
    )
    assert 0.45 < float((h < t).double().mean()) < 0.55  # orientation is random


def test_negatives_index_the_batch() -> None:
    sampler = EdgeSampler(small_graph(), 64, 5, torch.Generator().manual_seed(0))
    batch = sampler.sample()
    assert batch.negative_head.shape == batch.negative_tail.shape == (320,)
    assert int(batch.negative_head.max()) < 64
    assert int(batch.negative_tail.max()) < 128 and int(batch.negative_tail.min()) >= 0


def test_same_seed_same_batches() -> None:
    draws = []
    for _ in range(2):
        sampler = EdgeSampler(small_graph(), 32, 2, torch.Generator().manual_seed(3))
        draws.append([sampler.sample().points for _ in range(3)])
    for a, b in zip(*draws, strict=False):
        assert torch.equal(a, b)


def _force_integer_table(monkeypatch) -> None:
    """Build the sampler's table as on MPS (no float64 there), on the CPU."""
    import pumap.training.sampler

    monkeypatch.setattr(pumap.training.sampler, "_INTEGER_TABLE_DEVICES", ("cpu",))


def test_mps_table_keeps_small_weights_exact(monkeypatch) -> None:
    """Beside a million heavy edges, weights of 1e-2 to 1e-6 keep their share: the table's
    implied probabilities match float64 arithmetic to float32's precision (the scaled weights
    are truncated to integers below 2**-42 of the largest). A float32 running sum, MPS's table
    before, lost them: a float32 step is 0.06 beside a total of 1e6."""
    _force_integer_table(monkeypatch)
    n_heavy = 1_000_000
    small = torch.tensor([1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    weight = torch.cat([torch.ones(n_heavy), small, torch.ones(3)])
    ends = torch.arange(weight.shape[0] + 1)
    graph = FuzzyGraph(ends[:-1], ends[1:], weight, weight.shape[0] + 1)
    sampler = EdgeSampler(graph, 8, 0, torch.Generator().manual_seed(0))
    table = sampler._cdf
    assert table.dtype == torch.int64
    share = torch.diff(table, prepend=table.new_zeros(1)).double() / float(table[-1])
    want = weight.double() / weight.double().sum()
    torch.testing.assert_close(share, want, rtol=3e-7, atol=0)


def test_mps_table_draws_in_proportion_to_weight(monkeypatch) -> None:
    _force_integer_table(monkeypatch)
    test_edges_are_drawn_in_proportion_to_weight()
    sampler = EdgeSampler(small_graph(), 64, 2, torch.Generator().manual_seed(3))
    again = EdgeSampler(small_graph(), 64, 2, torch.Generator().manual_seed(3))
    assert torch.equal(sampler.sample().points, again.sample().points)
