"""`FittedUmap`: a trained encoder with what it needs to embed new data.

What saves, exports or continues a model takes its parts and never imports this module;
`load` and `fit_more` build the new `FittedUmap` from the parts they get back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._checks import check_positive_int
from ..config import UmapConfig
from ..data.inputs import sparse_batches
from ..data.preprocess import Standardizer, as_float32_matrix
from ..data.sparse import SparseRows, as_csr_float32, is_sparse
from ..device import resolve_device, torch_threads
from ..graph.fuzzy import FuzzyGraph
from ..metric_names import EXACT_METRICS
from ..training.continued import continue_training
from ..training.decoder import inverse_decode
from .io import read_model, save_model, save_weights
from .model_file import ModelParts
from .onnx_export import export_onnx
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
    knn_info : dict, optional
        How the fit built its k-NN graph: ``method`` (the one ``knn_method`` chose),
        ``requested`` (``knn_method`` itself) and ``recall``, for an approximate method the
        share of true neighbours found on ``recall_queries`` rows searched exactly under the
        fit's metric (None for the exact search and for metrics only pynndescent
        computes). Saved in the model file; None for files written before 0.2.
    world_size : int
        Processes that trained it: above 1 for a data-parallel fit (`pumap.training.distributed`).

    decoder : torch.nn.Module, optional
        Maps ``(n, n_components)`` embeddings to standardised ``(n, n_features)`` input, for
        `inverse_transform` (trained when the fit's ``decoder`` option is on).
    Attributes
    ----------
    graph : scipy.sparse.csr_matrix or None
        The fuzzy graph of the fit, ``(n, n)`` symmetric memberships with both directions
        stored (umap-learn's ``graph_``). Kept in memory after `Umap.fit`; model files do
        not hold it, so it is ``None`` after `load`.
    no_landmarks : str
        Why `fit_more` has no default landmarks when ``landmark_rows`` is None.
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
        knn_info: dict[str, Any] | None = None,
        world_size: int = 1,
        decoder: nn.Module | None = None,
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
        self.knn_info = knn_info
        self.world_size = int(world_size)
        self.decoder = decoder.eval() if decoder is not None else None
        # Kept in memory only (not in model files) for `fit_more`: Adam's final state and a
        # sample of the training rows, the default landmarks (and why there are none).
        self.optimizer_state: dict[str, Any] | None = None
        self.landmark_rows: torch.Tensor | None = None
        self.no_landmarks = "it was loaded from a file"
        # The fit's fuzzy graph, in memory only: not saved, None after `load`. Kept as the
        # edge list on the host and made scipy CSR on first use of `graph` (at 1e7 points the
        # conversion costs tens of seconds and gigabytes: a fit does not pay it unasked).
        self._graph_edges: FuzzyGraph | None = None
        self._graph_csr: Any = None

    @property
    def graph(self) -> Any:
        """The fit's fuzzy graph as a scipy CSR matrix (both directions stored, umap-learn's
        ``graph_``), built on first access; None after `load` (model files do not hold it)."""
        if self._graph_csr is None and self._graph_edges is not None:
            self._graph_csr = self._graph_edges.to_scipy()
            self._graph_edges = None
        return self._graph_csr

    @graph.setter
    def graph(self, value: Any) -> None:
        if isinstance(value, FuzzyGraph):
            self._graph_edges, self._graph_csr = value.to("cpu"), None
        else:
            self._graph_edges, self._graph_csr = None, value

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
        if self.decoder is not None:
            self.decoder.to(target)
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
            umap-learn's ``transform`` does (`pumap.model.refine`). Better placement, slower, and
            needs the training index kept by ``keep_training_data=True``.
        refine_epochs : int, optional
            Epochs of the refinement; by default umap-learn's choice: 100 for up to 10,000
            rows in the call, 30 for more (`pumap.model.refine.default_refine_epochs`).
        seed : int, optional
            Seed of the refinement's negative samples; by default ``config.transform_seed``,
            else the fit's seed, so that the same call gives the same result.

        Raises
        ------
        ValueError
            If ``data`` does not have the model's number of features, ``batch_size`` is not a
            positive integer, or ``refine=True`` is asked of a model without a training index.
        """
        check_positive_int("batch_size", batch_size)
        if is_sparse(data):
            return self._transform_sparse(data, batch_size, refine, refine_epochs, seed)
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

    def _transform_sparse(
        self, data: Any, batch_size: int, refine: Any, refine_epochs: int | None, seed: int | None
    ) -> np.ndarray:
        """`transform` of scipy.sparse rows: scaled sparse rows through the first layer
        (or dense batches when the model centres its input), then `_refine` if asked."""
        if not isinstance(refine, bool):
            raise ValueError(f"refine must be True or False, got {refine!r}")
        csr = as_csr_float32(data, "X")
        if csr.shape[1] != self.n_features:
            raise ValueError(
                f"X has {csr.shape[1]} features but this model was fitted on {self.n_features}"
            )
        out = np.empty((csr.shape[0], self.n_components), dtype=np.float32)
        with torch_threads(self.config.threads):
            for start, rows in sparse_batches(csr, self.standardizer, batch_size):
                out[start : start + rows.shape[0]] = self._embed(rows, batch_size).cpu().numpy()
            if refine:
                init = torch.from_numpy(out).to(self.device)
                out = self._refine(csr, init, refine_epochs, seed).cpu().numpy()
        return out

    def inverse_transform(self, embedding: Any, batch_size: int = TRANSFORM_BATCH) -> Any:
        """Map embedded points back to the input space with the decoder, in original units.

        NumPy (or lists) in gives NumPy out, a tensor gives a tensor (on its device); rows
        are decoded in batches of ``batch_size`` and the standardisation is undone.

        Parameters
        ----------
        embedding : array-like or torch.Tensor, shape (m, n_components)
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        numpy.ndarray or torch.Tensor, shape (m, n_features), float32

        Raises
        ------
        ValueError
            If the model has no decoder (fit with ``decoder=True``), or ``embedding`` does not
            have ``n_components`` columns.
        """
        if self.decoder is None:
            raise ValueError(
                "inverse_transform needs a decoder, and this model has none: fit with "
                "Umap(decoder=True) (or a decoder module; ParametricUMAP(decoder=True), "
                "pumap fit --decoder)"
            )
        y = as_float32_matrix(embedding, "embedding")
        if y.shape[1] != self.n_components:
            raise ValueError(
                f"embedding has {y.shape[1]} columns but this model embeds in "
                f"n_components={self.n_components}"
            )
        check_positive_int("batch_size", batch_size)
        with torch_threads(self.config.threads):
            out = inverse_decode(self.decoder, self.standardizer, y, batch_size, self.n_features)
        if isinstance(embedding, torch.Tensor):
            return out.to(embedding.device)
        return out.cpu().numpy()

    def export_onnx(self, path: str | Path, *, part: str = "encoder") -> Path:
        """Write the encoder (or ``part="decoder"``) as an ONNX file, atomically.

        The encoder's file takes raw float32 features (the standardisation is folded in) and
        returns the embedding; the decoder's takes embeddings and returns features in the
        original units. The batch axis is dynamic. Needs ``pip install "pumap[onnx]"``
        (`pumap.model.onnx_export`).
        """
        return export_onnx(self._parts(), path, part=part)

    @torch.inference_mode()
    def _refine(
        self, x: torch.Tensor, init: torch.Tensor, epochs: int | None, seed: int | None
    ) -> torch.Tensor:
        if self.training_index is None and self.config.metric not in EXACT_METRICS:
            raise ValueError(
                f"refine=True searches the training data exactly, under the metrics "
                f"{', '.join(EXACT_METRICS)}; this model's metric {self.config.metric!r} is not "
                "one of them"
            )
        if self.training_index is None:
            raise ValueError(
                "refine=True needs the training index, and this model has none: fit with "
                "keep_training_data=True (the default; for sparse X also refine_sketch_dims "
                "below n_features) and save the model after such a fit"
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
        cfg = self.config
        return refine(
            index, x, init, n_neighbors=cfg.n_neighbors, a=self.a, b=self.b, n_epochs=epochs,
            negative_sample_rate=cfg.negative_sample_rate,
            generator=torch.Generator(device=device).manual_seed(seed),
            repulsion_strength=cfg.repulsion_strength, local_connectivity=cfg.local_connectivity,
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
            scaled = chunk if isinstance(chunk, SparseRows) else self.standardizer(chunk)
            out[start : start + chunk.shape[0]] = self.encoder(scaled)
        return out

    def fit_more(self, data: Any, **options: Any) -> FittedUmap:
        """Train a copy of the encoder further on ``data``, holding old points in place.

        umap-learn's landmark recipe (`pumap.training.continued.continue_training`): the fuzzy graph
        of the landmarks (old rows) and ``data`` together, Adam resumed from the end of this
        fit, and ``landmark_weight`` times the landmarks' mean distance to where this model
        embeds them added to the loss. This model is not changed.

        Parameters
        ----------
        data : array-like or torch.Tensor, shape (m, n_features)
            The new rows.
        landmarks : array-like, optional
            Old rows to hold in place; by default the sample of up to 2,048 training rows
            that `Umap.fit` keeps in memory with ``keep_training_data=True`` (not saved in
            model files: a loaded model needs ``landmarks``).
        landmark_weight : float
            Weight of the landmark term, ``>= 0`` (1.0, as umap-learn; 0 turns it off).
        n_epochs : int, optional
            By default about 300 optimiser steps, as ``n_epochs=None`` in a fit.
        learning_rate, seed : optional
            By default the fit's.
        callback : callable, optional
            As in `Umap.fit`.
        joint_graph : bool
            True (umap-learn's recipe): the graph of the landmarks and ``data`` together;
            False: of ``data`` alone, the landmarks held by the penalty only (measured in
            docs/benchmarks.md).

        Returns
        -------
        FittedUmap
            A new model with this one's options, ``a``, ``b`` and decoder (trained further):
            ``embedding`` is that of ``data``; ``graph``, ``knn_info``, ``training_index``
            and the kept landmark sample cover the landmarks and ``data``;
            ``optimizer_state`` is Adam's (fresh when this model has none, as after `load`).

        Raises
        ------
        ValueError
            If ``data`` or ``landmarks`` do not have the model's features, an option is out
            of range (named in the message), or the model's metric is ``"precomputed"``.
        """
        run = continue_training(
            self.encoder, self.standardizer, self.config, data, device=self.device, a=self.a,
            b=self.b, decoder=self.decoder, optimizer_state=self.optimizer_state,
            landmark_rows=self.landmark_rows, no_landmarks=self.no_landmarks, **options,
        )
        more = FittedUmap(
            run.encoder, self.standardizer, self.config, run.a, run.b, run.embedding,
            run.losses, run.training_index, run.knn_info, decoder=run.decoder,
        )
        more.optimizer_state, more.landmark_rows = run.optimizer_state, run.landmark_rows
        more.graph, more.no_landmarks = run.graph, "it was fitted with keep_training_data=False"
        return more

    def save(self, path: str | Path, *, include_embedding: bool = False) -> None:
        """Write the model to ``path``; ``.gguf`` gives GGUF, anything else safetensors."""
        save_model(self._parts(), path, include_embedding=include_embedding)

    def save_weights(self, path: str | Path) -> None:
        """Write the encoder's tensors alone to a safetensors file."""
        save_weights(self.encoder, path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        device: str = "cpu",
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
    ) -> FittedUmap:
        """Read a model saved by `save`; ``encoder`` (``decoder``) is required for a custom
        module."""
        return cls(*read_model(path, device=device, encoder=encoder, decoder=decoder))

    def _parts(self) -> ModelParts:
        """This model's constructor arguments: what a model file holds."""
        return ModelParts(*(getattr(self, name) for name in ModelParts._fields))

    def __repr__(self) -> str:
        return (
            f"FittedUmap(n_features={self.n_features}, n_components={self.n_components}, "
            f"metric={self.config.metric!r}, device={str(self.device)!r})"
        )
