"""What every k-NN method returns (`KnnGraph`) and the metric check they share."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..metric_names import EXACT_METRICS

COSINE_EPS = 1e-12  # norms below this count as zero: a zero vector is at distance 1


@dataclass(frozen=True)
class KnnGraph:
    """The k nearest neighbours of every point, the point itself excluded.

    Attributes
    ----------
    indices : torch.Tensor
        ``(n, k)`` int64, neighbours of each row sorted by increasing distance.
    distances : torch.Tensor
        ``(n, k)`` float32 distances matching ``indices``.
    """

    indices: torch.Tensor
    distances: torch.Tensor

    @property
    def n_samples(self) -> int:
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def to(self, device: torch.device | str) -> KnnGraph:
        return KnnGraph(self.indices.to(device), self.distances.to(device))


def check_metric(metric: str, allowed: tuple[str, ...] = EXACT_METRICS, how: str = "") -> None:
    """Refuse a metric outside ``allowed`` (the exact search's by default), listing them."""
    if metric not in allowed:
        raise ValueError(
            f"metric must be one of {', '.join(map(repr, allowed))}{how}, got {metric!r}"
        )
