"""`FittedUmap`: a trained encoder with what it needs to embed new data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import UmapConfig
from .device import resolve_device, torch_threads
from .io import read_model, save_model, save_weights
from .preprocess import Standardizer, as_float32_matrix
from .refine import TrainingIndex, default_refine_epochs, refine

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
    losses : list of float, optional
        Mean loss of each training epoch.
    training_index : TrainingIndex, optional
        What ``transform(X, refine=True)`` needs of the training data (kept when the fit's
        ``keep_training_data`` is on).
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
        training_index: TrainingIndex | None = None,
    ) -> None:
        self.encoder = encoder.eval()
        self.standardizer = standardizer
        self.config = config
        self.a = float(a)
        self.b = float(b)
        self.embedding = embedding
        self.losses = list(losses or [])
        self.timings: dict[str, float] = {}
        self.training_index = training_index

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
        """Move the encoder (and the training index) to ``device``, in place; return self."""
        target = resolve_device(device)
        self.encoder.to(target)
        if self.training_index is not None:
            self.training_index = self.training_index.to(target)
        return self

    def transform(
        self,
        data: Any,
        batch_size: int = TRANSFORM_BATCH,
        *,
        refine: bool = False,
        refine_epochs: int | None = None,
        seed: int | None = None,
    ) -> Any:
        """Embed new points; NumPy (or pandas, lists) in gives NumPy out, a tensor gives a tensor.

        Rows are standardised with the training statistics and embedded in batches of
        ``batch_size``, so memory stays bounded for any number of rows, with
        ``config.threads`` torch threads if set.

        Parameters
        ----------
        data : array-like or torch.Tensor, shape (m, n_features)
        batch_size : int
            Rows per forward pass.
        refine : bool
            Start from the encoder's output and optimise each new point against the fixed
            training embedding, towards its ``n_neighbors`` nearest training points, as
            umap-learn's ``transform`` does (`pumap.refine`). Better placement, slower, and
            needs the training index kept by ``keep_training_data=True``.
        refine_epochs : int, optional
            Epochs of the refinement; by default umap-learn's choice: 100 for up to 10,000
            rows in the call, 30 for more (`pumap.refine.default_refine_epochs`).
        seed : int, optional
            Seed of the refinement's negative samples; by default ``config.transform_seed``,
            else the fit's seed, so that the same call gives the same result.

        Raises
        ------
        ValueError
            If ``data`` does not have the model's number of features, or ``refine=True`` is
            asked of a model without a training index.
        """
        x = as_float32_matrix(data, "X")
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"X has {x.shape[1]} features but this model was fitted on {self.n_features}"
            )
        if not isinstance(refine, bool):
            raise ValueError(f"refine must be True or False, got {refine!r}")
        with torch_threads(self.config.threads):
            out = self._embed(x, batch_size)
            if refine:
                out = self._refine(x, out, refine_epochs, seed)
        if isinstance(data, torch.Tensor):
            return out.to(data.device)
        return out.cpu().numpy()

    @torch.inference_mode()
    def _refine(
        self, x: torch.Tensor, init: torch.Tensor, epochs: int | None, seed: int | None
    ) -> torch.Tensor:
        if self.training_index is None:
            raise ValueError(
                "refine=True needs the training index, and this model has none: fit with "
                "keep_training_data=True (the default) and save the model after such a fit"
            )
        if epochs is None:
            epochs = default_refine_epochs(x.shape[0])
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"refine_epochs must be a positive integer, got {epochs!r}")
        if seed is None:
            seed = self.config.transform_seed
        if seed is None:
            seed = self.config.seed if self.config.seed is not None else 0
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        device = self.device
        index = self.training_index
        if index.points.device != device:
            index = self.training_index = index.to(device)
        return refine(
            index,
            x,
            init,
            n_neighbors=self.config.n_neighbors,
            a=self.a,
            b=self.b,
            n_epochs=epochs,
            negative_sample_rate=self.config.negative_sample_rate,
            generator=torch.Generator(device=device).manual_seed(seed),
        )

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
        save_model(self, path, include_embedding=include_embedding)

    def save_weights(self, path: str | Path) -> None:
        """Write the encoder's tensors alone to a safetensors file."""
        save_weights(self, path)

    @classmethod
    def load(
        cls, path: str | Path, *, device: str = "cpu", encoder: nn.Module | None = None
    ) -> FittedUmap:
        """Read a model saved by `save`; ``encoder`` is required for a custom module."""
        return cls(*read_model(path, device=device, encoder=encoder))

    def __repr__(self) -> str:
        return (
            f"FittedUmap(n_features={self.n_features}, n_components={self.n_components}, "
            f"metric={self.config.metric!r}, device={str(self.device)!r})"
        )
