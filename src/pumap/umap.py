"""`Umap.fit`: the one place that knows the order of the stages."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import UmapConfig
from .device import resolve_device
from .encoder import build_encoder
from .fitted import FittedUmap
from .graph import fuzzy_simplicial_set
from .knn import build_knn
from .loss import find_ab_params
from .preprocess import Standardizer, as_float32_matrix, check_enough_points
from .trainer import Callback, fit_to_target, pca_init_target, train_umap

log = logging.getLogger(__name__)


class Umap:
    """Parametric UMAP: learn an encoder whose output preserves the data's fuzzy k-NN graph.

    Parameters
    ----------
    config : UmapConfig, optional
        All options at once; keyword options, if given too, override its fields.
    encoder : torch.nn.Module, optional
        Your own network mapping ``(batch, n_features)`` float32 to ``(batch, n_components)``;
        by default an MLP with ``config.hidden_layers``. It is trained in place.
    **options
        Any `UmapConfig` field, e.g. ``Umap(n_neighbors=30, seed=0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from pumap import Umap
    >>> X = np.random.default_rng(0).normal(size=(300, 8)).astype("float32")
    >>> fitted = Umap(n_epochs=2, seed=0, verbose=False).fit(X)
    >>> fitted.embedding.shape, fitted.transform(X[:5]).shape
    ((300, 2), (5, 2))
    """

    def __init__(
        self, config: UmapConfig | None = None, *, encoder: nn.Module | None = None, **options: Any
    ) -> None:
        if config is not None and not isinstance(config, UmapConfig):
            raise TypeError(f"config must be a UmapConfig, got {type(config).__name__}")
        base = config if config is not None else UmapConfig()
        self.config = base.replace(**options) if options else base
        if encoder is not None and not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        self.encoder = encoder

    def fit(self, data: Any, callback: Callback | None = None) -> FittedUmap:
        """Build the fuzzy graph of ``data`` and train the encoder on it.

        Parameters
        ----------
        data : array-like or torch.Tensor, shape (n_samples, n_features)
        callback : callable, optional
            Called with an `EpochProgress` after every epoch.

        Returns
        -------
        FittedUmap
            With ``embedding`` (NumPy float32) of ``data`` and per-stage ``timings`` (seconds).
        """
        cfg = self.config
        x = as_float32_matrix(data, "X")
        check_enough_points(x.shape[0], cfg.n_neighbors)
        device = resolve_device(cfg.device)
        seed = cfg.seed if cfg.seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        timings: dict[str, float] = {}

        clock = time.perf_counter()
        knn = build_knn(
            x, cfg.n_neighbors, cfg.metric, cfg.knn_method, seed=seed, device=device, verbose=cfg.verbose
        )
        timings["knn"] = _lap(clock, device)

        clock = time.perf_counter()
        graph = fuzzy_simplicial_set(knn)
        a, b = find_ab_params(cfg.spread, cfg.min_dist)
        timings["graph"] = _lap(clock, device)
        del knn

        clock = time.perf_counter()
        standardizer = Standardizer.fit(x) if cfg.standardize else Standardizer.identity(x.shape[1])
        inputs = standardizer(x.to(device))
        encoder = self.encoder
        if encoder is None:
            init = torch.Generator().manual_seed(seed)
            encoder = build_encoder(x.shape[1], cfg.hidden_layers, cfg.n_components, init)
        encoder = encoder.to(device).train()
        generator = torch.Generator(device=device).manual_seed(seed)
        if cfg.pca_init:
            target = pca_init_target(inputs, cfg.n_components, generator)
            fit_to_target(encoder, inputs, target, cfg.learning_rate, generator)
        timings["init"] = _lap(clock, device)

        clock = time.perf_counter()
        losses = train_umap(
            encoder,
            inputs,
            graph.to(device),
            a=a,
            b=b,
            n_epochs=cfg.n_epochs,
            batch_size=cfg.batch_size,
            negative_sample_rate=cfg.negative_sample_rate,
            learning_rate=cfg.learning_rate,
            generator=generator,
            callback=callback,
            verbose=cfg.verbose,
        )
        timings["train"] = _lap(clock, device)

        clock = time.perf_counter()
        fitted = FittedUmap(encoder, standardizer, cfg, a, b, losses=losses)
        fitted.embedding = fitted.transform(x.numpy())
        timings["embed"] = _lap(clock, device)
        fitted.timings = timings
        log.info("fit timings (s): %s", timings)
        return fitted

    def __repr__(self) -> str:
        return f"Umap({self.config!r})"


def _lap(start: float, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start
