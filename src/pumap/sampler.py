"""Fixed-size batches of positive edges drawn in proportion to their weights, plus negatives."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .graph import FuzzyGraph


@dataclass(frozen=True)
class EdgeBatch:
    """One step's pairs, as indices into the data.

    ``points`` lists the ``2B`` points to embed: the heads of the ``B`` positive edges, then
    their tails. ``negative_head`` and ``negative_tail`` index into ``points`` (not the data),
    so negatives need no extra forward pass.
    """

    points: torch.Tensor
    negative_head: torch.Tensor
    negative_tail: torch.Tensor


class EdgeSampler:
    """Draws edges with probability proportional to their weight, reproducibly from a generator.

    Everything stays on the graph's device: sampling is an inverse-CDF lookup
    (``searchsorted`` on cumulative weights), with no host synchronisation.

    Parameters
    ----------
    graph : FuzzyGraph
        Undirected edge list; each drawn edge is oriented at random.
    batch_size : int
        Positive edges per batch.
    negative_sample_rate : int
        Negatives per positive edge: the edge's head paired with a random point of the batch.
    generator : torch.Generator
        On the graph's device.
    """

    def __init__(
        self,
        graph: FuzzyGraph,
        batch_size: int,
        negative_sample_rate: int,
        generator: torch.Generator,
    ) -> None:
        if graph.n_edges == 0:
            raise ValueError("the fuzzy graph has no edges: all points are identical or isolated")
        dtype = torch.float32 if graph.weight.device.type == "mps" else torch.float64
        cumulative = torch.cumsum(graph.weight.to(dtype), dim=0)
        self._cdf = (cumulative / cumulative[-1]).contiguous()
        self._head = graph.head
        self._tail = graph.tail
        self._n_edges = graph.n_edges
        self.batch_size = batch_size
        self.negative_sample_rate = negative_sample_rate
        self.generator = generator

    def sample(self) -> EdgeBatch:
        device = self._cdf.device
        b = self.batch_size
        u = torch.rand(b, generator=self.generator, device=device, dtype=self._cdf.dtype)
        edge = torch.searchsorted(self._cdf, u).clamp_(max=self._n_edges - 1)
        head, tail = self._head[edge], self._tail[edge]
        flip = torch.rand(b, generator=self.generator, device=device) < 0.5
        head, tail = torch.where(flip, tail, head), torch.where(flip, head, tail)
        m = b * self.negative_sample_rate
        negative_head = torch.arange(b, device=device).repeat(self.negative_sample_rate)
        negative_tail = torch.randint(0, 2 * b, (m,), generator=self.generator, device=device)
        return EdgeBatch(torch.cat([head, tail]), negative_head, negative_tail)
