"""`Umap.fit`: the one place that knows the order of the stages."""

from __future__ import annotations

import copy
import logging
import os
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .config import UmapConfig
from .data.inputs import fit_knn, keeps_index, sparse_start, validate_input
from .data.preprocess import Standardizer
from .data.sparse import is_sparse
from .device import torch_threads
from .graph.fuzzy import FuzzyGraph, fuzzy_simplicial_set
from .graph.neighbours import knn_stage as _knn
from .graph.supervised import Target, check_target, supervise
from .knn import KnnGraph
from .knn.precomputed import given_knn
from .model.fitted import TRANSFORM_BATCH, FittedUmap
from .model.refine import TrainingIndex
from .training.checkpoint import CheckpointPlan, plan_checkpoints
from .training.collapse import check_not_collapsed
from .training.decoder import decoder_argument, decoder_stage, joint_terms, make_decoder
from .training.distributed import Replica, join_fit, launched
from .training.encoder import build_encoder
from .training.fit_stages import _check_checkpoint_args, _lap, _Progress, _Stages  # noqa: F401
from .training.landmarks import sample_rows
from .training.loss import find_ab_params
from .training.optimizer_state import AdamCarry
from .training.projection import (
    InputProjection,
    fit_projection,
    fold_projection,
    projection_components,
)
from .training.schedule import Schedule, resolve_mixed_precision, resolve_schedule
from .training.trainer import (
    Callback,
    TrainingDiverged,
    TrainingInterrupted,
    train_umap,
)
from .training.warmstart import fit_to_target, warm_start

log = logging.getLogger(__name__)

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
    precomputed_knn : tuple of arrays, optional
        ``(indices, distances)`` in umap-learn's layout, used instead of a k-NN search
        (`pumap.knn.precomputed.precomputed_knn_graph`); ``X`` stays the encoder's input.
    decoder : bool or torch.nn.Module, optional
        Sets the ``decoder`` option: ``True`` trains the encoder's MLP mirrored for
        `FittedUmap.inverse_transform`, a module ``(batch, n_components) -> (batch,
        n_features)`` is trained instead (a deep copy, as for ``encoder``;
        `pumap.training.decoder`).
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
        self,
        config: UmapConfig | None = None,
        *,
        encoder: nn.Module | None = None,
        precomputed_knn: Any = None,
        decoder: bool | nn.Module | None = None,
        **options: Any,
    ) -> None:
        if config is not None and not isinstance(config, UmapConfig):
            raise TypeError(f"config must be a UmapConfig, got {type(config).__name__}")
        base = config if config is not None else UmapConfig()
        self.decoder = decoder_argument(decoder, options)  # sets options["decoder"] if given
        self.config = base.replace(**options) if options else base
        if encoder is not None and not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        self.encoder = encoder
        self.precomputed_knn = given_knn(precomputed_knn)

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
        data : array-like, torch.Tensor or scipy.sparse matrix, shape (n_samples, n_features)
            Real numbers (integers and float64 are converted to float32 once), finite, at
            least ``n_neighbors`` rows and not all identical. Sparse input is never
            densified whole (see docs/getting-started.md). With ``metric="precomputed"``,
            the ``(n, n)`` distances between the points (dense or sparse).
        y : array-like, shape (n_samples,) or (n_samples, d), optional
            Targets of a supervised fit, as in umap-learn: class labels (integers, ``-1`` for
            an unlabelled point, or strings) with ``target_metric="categorical"``, numeric
            values with another ``target_metric``; ``target_weight`` says how much they
            shape the fuzzy graph (`pumap.graph.supervised`). Everything after ``y`` is
            keyword-only.
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
        if is_sparse(x) and (checkpoint_path is not None or resume_from is not None):
            raise ValueError("checkpoint_path and resume_from do not take sparse X yet")
        if is_sparse(x) and launched():
            raise ValueError("a data-parallel fit (torchrun) takes dense X; pass X.toarray()")
        # replica: None unless data-parallel (pumap.training.distributed); then cfg has rank
        # 0's seed
        replica, device, cfg = join_fit(cfg, x, resume_from)
        plan = plan_checkpoints(
            cfg, x, checkpoint_path=checkpoint_path, every=every, resume_from=resume_from,
            target=target.fingerprint() if target is not None else None,
        )
        if replica is not None:  # each rank resumes its own generator
            plan.resumed = replica.local_checkpoint(plan.resumed, plan.resume_from)
        stages = _Stages(progress, device)
        with stages.run("knn", "the k-NN search"):  # rank 0 alone builds the graph
            main = replica is None or replica.is_main
            knn, knn_info = (
                fit_knn(x, cfg, plan.seed, device, self.precomputed_knn, dense_knn=_knn)
                if main
                else (None, None)
            )
        with stages.run("graph", "the fuzzy graph's construction"):
            graph, a, b = _graph(knn, cfg, target, device, replica)
        del knn
        plan_steps = resolve_schedule(
            x.shape[0], graph.n_edges, cfg.batch_size, cfg.n_epochs, device
        )
        n_epochs = progress.n_epochs = plan_steps.n_epochs
        with stages.run("init", "the encoder's initialisation"):
            start = _init(x, cfg, self.encoder, plan, device)
            if replica is not None:  # each rank draws its own batches
                start = start._replace(generator=replica.generator(plan.seed))
            decoder = make_decoder(cfg, self.decoder, x.shape[1], plan.seed, device)
        adam = AdamCarry()  # Adam's final state, kept for fit_more
        with stages.run("train", "training"):
            losses = _train(
                start, graph.to(device), cfg, a, b, plan_steps, plan, callback, replica, adam,
                decoder,
            )
        progress.epochs = n_epochs
        if start.projection is not None:  # the model reads X: the projection joins layer one
            start = start._replace(encoder=fold_projection(start.encoder, start.projection))
            adam.state = None  # Adam's moments belong to the narrow layer; fit_more starts fresh
        if decoder is not None:
            with stages.run("decoder", "the decoder's training"):
                decoder_stage(cfg, start.encoder, decoder, start.inputs, start.generator)
        with stages.run("embed", "the final embedding"):
            # The model records what ran: the seed drawn and the epochs chosen, if left to pumap.
            ran = cfg.replace(seed=plan.seed, n_epochs=n_epochs)
            fitted = FittedUmap(
                start.encoder, start.standardizer, ran, a, b, losses=losses, decoder=decoder
            )
            fitted.world_size = 1 if replica is None else replica.world_size
            fitted.embedding = _embed(fitted, start.inputs if is_sparse(x) else x)
            check_not_collapsed(fitted.embedding, losses, a, b, cfg)
            fitted.knn_info = knn_info
            fitted.optimizer_state = adam.state
        fitted.graph = graph  # scipy CSR on first use of fitted.graph
        if cfg.keep_training_data and not is_sparse(x):
            fitted.landmark_rows = sample_rows(x, plan.seed)  # fit_more's default landmarks
        fitted.no_landmarks = (  # why fit_more needs landmarks= (if it does)
            "it was fitted on sparse X, of which it keeps no rows" if is_sparse(x)
            else "it was fitted with keep_training_data=False"
        )
        if keeps_index(x, cfg):
            with stages.run("index", "the training index"):
                fitted.training_index = _index(x, fitted.embedding, cfg, plan.seed, device)
        fitted.timings = stages.timings
        log.info("fit timings: %s", ", ".join(f"{k} {v:.3g} s" for k, v in stages.timings.items()))
        return fitted

    def __repr__(self) -> str:
        return f"Umap({self.config!r})"


class _Start(NamedTuple):
    """What the initialisation stage hands to training."""

    standardizer: Standardizer
    inputs: torch.Tensor  # the standardised input, on the fit's device
    encoder: nn.Module
    generator: torch.Generator
    projection: InputProjection | None = None  # input PCA (cfg.input_pca), when it applies
    train_inputs: torch.Tensor | None = None  # what training reads: projected inputs, if so


def _validate(data: Any, cfg: UmapConfig) -> Any:
    """The one check of the input (`pumap.data.inputs.validate_input`); never repeated later."""
    return validate_input(data, cfg)


def _graph(
    knn: KnnGraph | None,
    cfg: UmapConfig,
    target: Target | None,
    device: torch.device,
    replica: Replica | None = None,
) -> tuple[FuzzyGraph, float, float]:
    """The fuzzy graph (intersected with ``y``'s, if given), and the ``a``, ``b`` of the
    embedding's membership curve (in a data-parallel fit, rank 0's, which alone has
    ``knn``)."""
    a, b = (cfg.a, cfg.b) if cfg.a is not None else find_ab_params(cfg.spread, cfg.min_dist)
    graph = None
    if knn is not None:
        graph = fuzzy_simplicial_set(knn, cfg.local_connectivity, cfg.set_op_mix_ratio)
        graph = supervise(graph, target, cfg, device) if target else graph
    return replica.broadcast_graph(graph, a, b) if replica is not None else (graph, a, b)


def _init(
    x: torch.Tensor,
    cfg: UmapConfig,
    template: nn.Module | None,
    plan: CheckpointPlan,
    device: torch.device,
) -> _Start:
    """Standardise, build (or copy) the encoder and warm-start it on PCA unless resuming."""
    if is_sparse(x):
        standardizer, inputs, target = sparse_start(x, cfg, template, plan.seed, device)
    else:
        standardizer = Standardizer.fit(x) if cfg.standardize else Standardizer.identity(x.shape[1])
        inputs = standardizer(x.to(device))
    encoder = copy.deepcopy(template)  # never train the caller's module in place
    generator = torch.Generator(device=device).manual_seed(plan.seed)
    joint = cfg.decoder and cfg.reconstruction_weight > 0
    components = projection_components(
        cfg.input_pca, inputs, template, joint_decoder=joint, input_dropout=cfg.input_dropout
    )
    projection, train_inputs = (
        fit_projection(inputs, components, generator) if components else (None, inputs)
    )
    if encoder is None:
        init = torch.Generator().manual_seed(plan.seed)
        width = train_inputs.shape[1]
        encoder = build_encoder(width, cfg.hidden_layers, cfg.n_components, init)
    encoder = encoder.to(device).train()
    if cfg.pca_init and plan.resumed is None:  # a checkpoint's encoder replaces the warm start
        if is_sparse(x):
            fit_to_target(encoder, inputs, target, cfg.learning_rate, generator)
        else:
            warm_start(encoder, train_inputs, cfg.n_components, cfg.learning_rate, generator)
    plan.check_encoder(encoder, device)
    return _Start(standardizer, inputs, encoder, generator, projection, train_inputs)


def _train(
    start: _Start,
    graph: FuzzyGraph,
    cfg: UmapConfig,
    a: float,
    b: float,
    schedule: Schedule,
    plan: CheckpointPlan,
    callback: Callback | None,
    replica: Replica | None = None,
    adam: AdamCarry | None = None,
    decoder: nn.Module | None = None,
) -> list[float]:
    checkpointer = plan.checkpointer(graph)
    if replica is not None:  # every rank's generator in it, written by rank 0
        checkpointer = replica.checkpointer(checkpointer)
    return train_umap(
        start.encoder,
        start.inputs if start.train_inputs is None else start.train_inputs,
        graph,
        a=a,
        b=b,
        n_epochs=schedule.n_epochs,
        batch_size=schedule.batch_size,
        negative_sample_rate=cfg.negative_sample_rate,
        learning_rate=cfg.learning_rate,
        generator=start.generator,
        callback=callback,
        verbose=cfg.verbose,
        initial_state=plan.initial_state,
        checkpointer=checkpointer,
        mixed_precision=resolve_mixed_precision(
            cfg.mixed_precision, graph.weight.device, dense=isinstance(start.inputs, torch.Tensor)
        ),
        compile_step=cfg.compile,
        input_dropout=cfg.input_dropout,
        replica=replica,
        optimizer_state=adam,
        extra_terms=joint_terms(cfg, start.encoder, decoder, start.inputs, start.generator),
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
