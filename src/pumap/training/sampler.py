"""Fixed-size batches of positive edges drawn in proportion to their weights, plus negatives."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..graph.fuzzy import FuzzyGraph

# Devices without float64 (MPS): there a float32 running sum of the weights would round small
# weights away (beside a total of 1e6, a float32 step is 0.06), so the table is int64 instead.
_INTEGER_TABLE_DEVICES = ("mps",)
# The integer table's total stays below 2**_INTEGER_TABLE_BITS (int64 cannot overflow).
_INTEGER_TABLE_BITS = 62


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
    (``searchsorted`` on cumulative weights), with no host synchronisation. The cumulative
    weights are float64, or on MPS (no float64) exact int64 sums of the weights scaled by one
    power of two (`_integer_cumulative_weights`).

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
        self._total: int | None = None  # the integer table's sum; None for a float64 table
        if graph.weight.device.type in _INTEGER_TABLE_DEVICES:
            self._cdf = _integer_cumulative_weights(graph.weight)
            self._total = int(self._cdf[-1])  # one host read, at construction only
        else:
            cumulative = torch.cumsum(graph.weight.to(torch.float64), dim=0)
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
        if self._total is None:
            u = torch.rand(b, generator=self.generator, device=device, dtype=self._cdf.dtype)
            edge = torch.searchsorted(self._cdf, u).clamp_(max=self._n_edges - 1)
        else:  # edge i holds the integers [cdf[i-1], cdf[i]): probability w_i / total exactly
            u = torch.randint(0, self._total, (b,), generator=self.generator, device=device)
            edge = torch.searchsorted(self._cdf, u, right=True).clamp_(max=self._n_edges - 1)
        head, tail = self._head[edge], self._tail[edge]
        flip = torch.rand(b, generator=self.generator, device=device) < 0.5
        head, tail = torch.where(flip, tail, head), torch.where(flip, head, tail)
        m = b * self.negative_sample_rate
        negative_head = torch.arange(b, device=device).repeat(self.negative_sample_rate)
        negative_tail = torch.randint(0, 2 * b, (m,), generator=self.generator, device=device)
        return EdgeBatch(torch.cat([head, tail]), negative_head, negative_tail)


def _integer_cumulative_weights(weight: torch.Tensor) -> torch.Tensor:
    """Exact int64 running sums of ``weight`` scaled by one power of two, on its device.

    The scale brings the largest weight just below ``2**(62 - bits(n_edges))``, so the total
    fits in int64. Multiplying float32 by a power of two is exact; only the fraction below 1
    is dropped, so each weight loses less than ``2**-(62 - bits(n_edges))`` of the largest
    (below 1e-12 of it up to 2**22 edges): no float64 needed, and no rounding of the sum.
    """
    top = float(weight.max())
    if not top > 0.0:
        raise ValueError(f"the fuzzy graph's weights must be positive, got a largest of {top}")
    bits = _INTEGER_TABLE_BITS - max(weight.shape[0] - 1, 1).bit_length()
    exponent = bits - math.frexp(top)[1]  # top * 2**exponent < 2**bits
    half = exponent // 2  # two float32 factors: each stays within float32's range
    scaled = weight.to(torch.float32) * 2.0**half * 2.0 ** (exponent - half)
    return torch.cumsum(scaled.to(torch.int64), dim=0).contiguous()
