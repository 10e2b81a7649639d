"""`Umap.fit`: the one place that knows the order of the stages."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointPlan, plan_checkpoints
from .config import UmapConfig
from .device import resolve_device, torch_threads
from .encoder import build_encoder
from .fitted import TRANSFORM_BATCH, FittedUmap
from .graph import FuzzyGraph, fuzzy_simplicial_set
from .knn import KnnGraph, build_knn
from .loss import find_ab_params
from .preprocess import (
    Standardizer,
    as_float32_matrix,
    check_enough_points,
    check_not_constant,
)
from .refine import TrainingIndex
from .supervised import Target, check_target, supervise
from .trainer import (
    Callback,
    TrainingDiverged,
    TrainingInterrupted,
    auto_n_epochs,
    train_umap,
)
from .warmstart import fit_to_target, pca_init_target

log = logging.getLogger(__name__)

# Data whose largest magnitude is beyond 2**40 (about 1e12) or below 2**-40 is scaled by a
# power of two for the k-NN search, so that float32 squared distances neither overflow nor
# underflow (see `_knn_input`).
KNN_SAFE_EXPONENT = 40


class Umap:
    """Parametric UMAP: learn an encoder whose output preserves the data's fuzzy k-NN graph.

    Parameters
    ----------
    config : UmapConfig, optional
        All options at once; keyword options, if given too, override its fields.
    encoder : torch.nn.Module, optional
        Your own network mapping ``(batch, n_features)`` float32 to ``(batch, n_components)``;
        by default an MLP with ``config.hidden_layers``. Each `fit` trains a deep copy of it,
        so the module passed is never modified and fits do not share weights.
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

    def fit(
        self,
        data: Any,
        y: Any = None,
        *,
        callback: Callback | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        checkpoint_every: int | None = None,
        resume_from: str | os.PathLike[str] | None = None,
    ) -> FittedUmap:
        """Build the fuzzy graph of ``data`` and train the encoder on it.

        Parameters
        ----------
        data : array-like or torch.Tensor, shape (n_samples, n_features)
            Real numbers (integers and float64 are converted to float32 once), finite, at
            least ``n_neighbors`` rows and not all identical.
        y : array-like, shape (n_samples,) or (n_samples, d), optional
            Targets of a supervised fit, as in umap-learn: class labels (integers, ``-1`` for
            an unlabelled point, or strings) with ``target_metric="categorical"``, numeric
            values with another ``target_metric``; ``target_weight`` says how much they
            shape the fuzzy graph (`pumap.supervised`). Everything after ``y`` is keyword-only.
        callback : callable, optional
            Called with an `EpochProgress` after every epoch; it may raise
            `KeyboardInterrupt` to stop the fit as Ctrl-C does.
        checkpoint_path : str or os.PathLike, optional
            Write the training state to this file (atomically, replacing it each time) every
            ``checkpoint_every`` epochs and after the last one.
        checkpoint_every : int, optional
            Epochs between checkpoints; 1 when only ``checkpoint_path`` is given.
        resume_from : str or os.PathLike, optional
            A checkpoint of an interrupted fit of the same data with the same options (apart
            from ``verbose``, ``threads``, and ``device`` if it is of the same kind; with
            another ``threads`` the result is not bit for bit the same): training continues
            after its epoch and ends, on the same device, with the embedding the uninterrupted
            fit would have given, bit for bit. With ``seed=None`` the checkpoint's seed is
            used. May equal ``checkpoint_path``.

        Returns
        -------
        FittedUmap
            With ``embedding`` (NumPy float32) of ``data`` and per-stage ``timings`` (seconds).

        Raises
        ------
        ValueError
            For invalid ``data`` or arguments, naming them (see docs/reliability.md).
        CheckpointError
            If ``resume_from`` cannot be read or was written for other data or options.
        TrainingDiverged
            If the loss becomes NaN or infinite.
        TrainingInterrupted
            A `KeyboardInterrupt` (Ctrl-C) during training, after logging a warning that
            names the last finished epoch and checkpoint.
        """
        every = _check_checkpoint_args(checkpoint_path, checkpoint_every)
        progress = _Progress()
        try:
            with torch_threads(self.config.threads):
                return self._fit(data, y, callback, checkpoint_path, every, resume_from, progress)
        except TrainingInterrupted:
            raise  # training has said where it stopped
        except KeyboardInterrupt as interrupt:
            done = progress.epochs
            n_epochs = progress.n_epochs or self.config.n_epochs
            count = f"{done} of {n_epochs} epochs done" if n_epochs else "n_epochs automatic"
            if n_epochs is None:
                count += ", not chosen yet"
            where = f"pumap: fit interrupted during {progress.stage} ({count})"
            if done and checkpoint_path is not None:
                where += f"; training had finished, its last checkpoint is in {checkpoint_path}"
            stopped = TrainingInterrupted(
                where,
                done,
                n_epochs,
                str(checkpoint_path) if checkpoint_path is not None else None,
                done if done and checkpoint_path is not None else None,
            )
            log.warning("%s", stopped)
            raise stopped from interrupt

    def _fit(
        self,
        data: Any,
        y: Any,
        callback: Callback | None,
        checkpoint_path: str | os.PathLike[str] | None,
        every: int,
        resume_from: str | os.PathLike[str] | None,
        progress: _Progress,
    ) -> FittedUmap:
        """The stages of a fit, in order; each stage trusts the tensors the one before made."""
        cfg = self.config
        x = _validate(data, cfg)
        target = check_target(y, x.shape[0], cfg.target_metric) if y is not None else None
        device = resolve_device(cfg.device)
        plan = plan_checkpoints(
            cfg, x, checkpoint_path=checkpoint_path, every=every, resume_from=resume_from,
            target=target.fingerprint() if target is not None else None,
        )
        stages = _Stages(progress, device)
        with stages.run("knn", "the k-NN search"):
            knn = _knn(x, cfg, plan.seed, device)
        with stages.run("graph", "the fuzzy graph's construction"):
            graph, a, b = _graph(knn, cfg, target, device)
        del knn
        n_epochs = progress.n_epochs = cfg.n_epochs or auto_n_epochs(graph.n_edges, cfg.batch_size)
        with stages.run("init", "the encoder's initialisation"):
            start = _init(x, cfg, self.encoder, plan, device)
        with stages.run("train", "training"):
            losses = _train(start, graph.to(device), cfg, a, b, n_epochs, plan, callback)
        progress.epochs = n_epochs
        with stages.run("embed", "the final embedding"):
            # The model records what ran: the seed drawn and the epochs chosen, if left to pumap.
            ran = cfg.replace(seed=plan.seed, n_epochs=n_epochs)
            fitted = FittedUmap(start.encoder, start.standardizer, ran, a, b, losses=losses)
            fitted.embedding = _embed(fitted, x)
        if cfg.keep_training_data:
            with stages.run("index", "the training index"):
                fitted.training_index = _index(x, fitted.embedding, cfg, plan.seed, device)
        fitted.timings = stages.timings
        log.info("fit timings: %s", ", ".join(f"{k} {v:.3g} s" for k, v in stages.timings.items()))
        return fitted

    def __repr__(self) -> str:
        return f"Umap({self.config!r})"


class _Progress:
    """Which stage a fit is in, for the message of an interrupt outside training."""

    def __init__(self) -> None:
        self.stage = "the input checks"
        self.epochs = 0  # epochs finished, once training is over
        self.n_epochs: int | None = None  # the epochs to run, once chosen


class _Stages:
    """Runs the stages of a fit: names each for `_Progress` and times it (`FittedUmap.timings`)."""

    def __init__(self, progress: _Progress, device: torch.device) -> None:
        self.progress = progress
        self.device = device
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def run(self, name: str, description: str) -> Iterator[None]:
        self.progress.stage = description
        clock = time.perf_counter()
        yield
        self.timings[name] = _lap(clock, self.device)


class _Start(NamedTuple):
    """What the initialisation stage hands to training."""

    standardizer: Standardizer
    inputs: torch.Tensor  # the standardised input, on the fit's device
    encoder: nn.Module
    generator: torch.Generator


def _validate(data: Any, cfg: UmapConfig) -> torch.Tensor:
    """The one check of the input: a finite float32 matrix, enough rows, not all alike.

    Every later stage takes the tensor returned here as it is, without checking it again.
    """
    x = as_float32_matrix(data, "X")
    check_enough_points(x.shape[0], cfg.n_neighbors)  # it counts the point itself
    check_not_constant(x, "X")
    return x


def _knn(x: torch.Tensor, cfg: UmapConfig, seed: int, device: torch.device) -> KnnGraph:
    return build_knn(
        _knn_input(x),
        cfg.n_neighbors - 1,  # the other points; n_neighbors counts the point itself
        cfg.metric,
        cfg.knn_method,
        seed=seed,
        device=device,
        verbose=cfg.verbose,
        precision=cfg.knn_precision,
    )


def _graph(
    knn: KnnGraph, cfg: UmapConfig, target: Target | None, device: torch.device
) -> tuple[FuzzyGraph, float, float]:
    """The fuzzy graph (intersected with ``y``'s, if given), and the ``a``, ``b`` of the
    embedding's membership curve."""
    a, b = (cfg.a, cfg.b) if cfg.a is not None else find_ab_params(cfg.spread, cfg.min_dist)
    graph = fuzzy_simplicial_set(knn, cfg.local_connectivity, cfg.set_op_mix_ratio)
    return (supervise(graph, target, cfg, device) if target else graph), a, b


def _init(
    x: torch.Tensor,
    cfg: UmapConfig,
    template: nn.Module | None,
    plan: CheckpointPlan,
    device: torch.device,
) -> _Start:
    """Standardise, build (or copy) the encoder and warm-start it on PCA unless resuming."""
    standardizer = Standardizer.fit(x) if cfg.standardize else Standardizer.identity(x.shape[1])
    inputs = standardizer(x.to(device))
    encoder = copy.deepcopy(template)  # never train the caller's module in place
    if encoder is None:
        init = torch.Generator().manual_seed(plan.seed)
        encoder = build_encoder(x.shape[1], cfg.hidden_layers, cfg.n_components, init)
    encoder = encoder.to(device).train()
    generator = torch.Generator(device=device).manual_seed(plan.seed)
    if cfg.pca_init and plan.resumed is None:  # a checkpoint's encoder replaces the warm start
        target = pca_init_target(inputs, cfg.n_components, generator)
        fit_to_target(encoder, inputs, target, cfg.learning_rate, generator)
    plan.check_encoder(encoder, device)
    return _Start(standardizer, inputs, encoder, generator)


def _train(
    start: _Start,
    graph: FuzzyGraph,
    cfg: UmapConfig,
    a: float,
    b: float,
    n_epochs: int,
    plan: CheckpointPlan,
    callback: Callback | None,
) -> list[float]:
    return train_umap(
        start.encoder,
        start.inputs,
        graph,
        a=a,
        b=b,
        n_epochs=n_epochs,
        batch_size=cfg.batch_size,
        negative_sample_rate=cfg.negative_sample_rate,
        learning_rate=cfg.learning_rate,
        generator=start.generator,
        callback=callback,
        verbose=cfg.verbose,
        initial_state=plan.initial_state,
        checkpointer=plan.checkpointer(graph),
        mixed_precision=cfg.mixed_precision,
        compile_step=cfg.compile,
        input_dropout=cfg.input_dropout,
        repulsion_strength=cfg.repulsion_strength,
    )


def _embed(fitted: FittedUmap, x: torch.Tensor) -> np.ndarray:
    """The training data's embedding: `FittedUmap.transform` less its input check (``x`` is
    validated already), so no second check and no copy of the data."""
    embedding = fitted._embed(x, TRANSFORM_BATCH).cpu().numpy()
    bad_rows = int((~np.isfinite(embedding)).any(axis=1).sum())
    if bad_rows:
        raise TrainingDiverged(
            f"the encoder maps {bad_rows} of the {x.shape[0]} rows of X to NaN or infinity "
            f"although the loss stayed finite (last epoch's loss {fitted.losses[-1]:.4g}); "
            "lower learning_rate or check the input's scale"
        )
    return embedding


def _index(
    x: torch.Tensor, embedding: np.ndarray, cfg: UmapConfig, seed: int, device: torch.device
) -> TrainingIndex:
    return TrainingIndex.build(
        x,
        torch.from_numpy(embedding),
        cfg.metric,
        cfg.refine_sketch_dims,
        torch.Generator().manual_seed(seed),
    ).to(device)


def _check_checkpoint_args(
    checkpoint_path: str | os.PathLike[str] | None, checkpoint_every: int | None
) -> int:
    """Validate the checkpoint arguments of `Umap.fit`; return the interval in epochs."""
    if checkpoint_every is not None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
            raise ValueError(f"checkpoint_every must be an integer, got {checkpoint_every!r}")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        if checkpoint_path is None:
            raise ValueError("checkpoint_every is set but checkpoint_path is not; pass both")
    if checkpoint_path is not None:
        if not isinstance(checkpoint_path, (str, os.PathLike)):
            raise ValueError(f"checkpoint_path must be a path, got {checkpoint_path!r}")
        path = Path(checkpoint_path)
        if path.is_dir():
            raise ValueError(f"checkpoint_path {str(path)!r} is a directory; name a file in it")
        if not path.parent.is_dir():
            raise ValueError(
                f"checkpoint_path {str(path)!r}: the folder {str(path.parent)!r} does not exist"
            )
    return checkpoint_every or 1


def _knn_input(x: torch.Tensor) -> torch.Tensor:
    """``x`` scaled by a power of two (exactly) when its magnitude would break float32 distances.

    Squared distances overflow float32 above about 1e19 and underflow below about 1e-19; the
    fuzzy graph does not change when all distances are scaled alike, so data far outside
    ``[2**-KNN_SAFE_EXPONENT, 2**KNN_SAFE_EXPONENT]`` is brought to a largest magnitude in
    ``[0.5, 1)`` for the k-NN search only. Other data is returned as is (no copy).
    """
    low, high = torch.aminmax(x)
    top = max(-float(low), float(high))
    if top == 0.0 or not math.isfinite(top):
        return x
    exponent = math.frexp(top)[1]
    if abs(exponent) <= KNN_SAFE_EXPONENT:
        return x
    return torch.ldexp(x, torch.tensor(-exponent, dtype=torch.int32, device=x.device))


def _lap(start: float, device: torch.device) -> float:
    """Seconds since ``start``, read once the device's queued work is done (CUDA, MPS)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
    return time.perf_counter() - start
