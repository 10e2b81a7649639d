"""`FittedUmap`: a trained encoder with what it needs to embed new data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import UmapConfig
from .device import resolve_device, torch_threads
from .preprocess import Standardizer, as_float32_matrix

TRANSFORM_BATCH = 65_536  # rows per forward pass: bounds transform's activation memory


class FittedUmap:
    """The result of `Umap.fit`: embeds new points with one forward pass of the encoder.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps standardised ``(n, n_features)`` float32 input to ``(n, n_components)``.
    standardizer : Standardizer
        The training data's z-score statistics (identity when ``standardize=False``).
    config : UmapConfig
        The options of the fit.
    a, b : float
        Parameters of the low-dimensional similarity curve.
    embedding : numpy.ndarray, optional
        ``(n, n_components)`` float32 embedding of the training data.
    """

    def __init__(
        self,
        encoder: nn.Module,
        standardizer: Standardizer,
        config: UmapConfig,
        a: float,
        b: float,
        embedding: np.ndarray | None = None,
        losses: list[float] | None = None,
    ) -> None:
        self.encoder = encoder.eval()
        self.standardizer = standardizer
        self.config = config
        self.a = float(a)
        self.b = float(b)
        self.embedding = embedding
        self.losses = list(losses or [])
        self.timings: dict[str, float] = {}

    @property
    def n_features(self) -> int:
        return self.standardizer.n_features

    @property
    def n_components(self) -> int:
        return self.config.n_components

    @property
    def device(self) -> torch.device:
        first = next(self.encoder.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def to(self, device: str | torch.device) -> FittedUmap:
        """Move the encoder to ``device`` (in place) and return self."""
        self.encoder.to(resolve_device(device))
        return self

    def transform(self, data: Any, batch_size: int = TRANSFORM_BATCH) -> Any:
        """Embed new points; NumPy (or pandas, lists) in gives NumPy out, a tensor gives a tensor.

        Rows are standardised with the training statistics and embedded in batches of
        ``batch_size``, so memory stays bounded for any number of rows, with
        ``config.threads`` torch threads if set.
        """
        x = as_float32_matrix(data, "X")
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"X has {x.shape[1]} features but this model was fitted on {self.n_features}"
            )
        with torch_threads(self.config.threads):
            out = self._embed(x, batch_size)
        if isinstance(data, torch.Tensor):
            return out.to(data.device)
        return out.cpu().numpy()

    @torch.inference_mode()
    def _embed(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        device = self.device
        # One preallocated output: collecting batch results in a list and concatenating them
        # fragments the allocator, and memory then grows with n instead of with the batch.
        out = torch.empty((x.shape[0], self.n_components), dtype=torch.float32, device=device)
        # Only a host-to-CUDA copy may be asynchronous: the chunk is then read on the same CUDA
        # stream, after the copy. A copy into host memory (a CUDA tensor given to a CPU model)
        # must block, or the CPU could read the chunk before it has landed.
        non_blocking = device.type == "cuda" and x.device.type == "cpu"
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start : start + batch_size].to(device, non_blocking=non_blocking)
            out[start : start + chunk.shape[0]] = self.encoder(self.standardizer(chunk))
        return out

    def save(self, path: str | Path, *, include_embedding: bool = False) -> None:
        """Write the model to ``path``; ``.gguf`` gives GGUF, anything else safetensors."""
        from .io import save_model

        save_model(self, path, include_embedding=include_embedding)

    def save_weights(self, path: str | Path) -> None:
        """Write the encoder's tensors alone to a safetensors file."""
        from .io import save_weights

        save_weights(self, path)

    @classmethod
    def load(
        cls, path: str | Path, *, device: str = "cpu", encoder: nn.Module | None = None
    ) -> FittedUmap:
        """Read a model saved by `save`; ``encoder`` is required for a custom module."""
        from .io import load_model

        return load_model(path, device=device, encoder=encoder)

    def __repr__(self) -> str:
        return (
            f"FittedUmap(n_features={self.n_features}, n_components={self.n_components}, "
            f"metric={self.config.metric!r}, device={str(self.device)!r})"
        )
