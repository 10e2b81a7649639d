"""Training the encoder: Adam on UMAP's clipped forces (`pumap.training.forces`), with the
PCA warm start before it (`pumap.training.warmstart`).

The step loop stays on the device: sampling, forward, loss and update issue no host
synchronisation. The loss is read back once per epoch, for progress and for the NaN check.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..graph.fuzzy import FuzzyGraph
from .checkpoint import Checkpointer, TrainingState, capture_state, restore_state
from .distributed import Replica
from .forces import force_objective, forces_and_loss
from .optimizer_state import AdamCarry
from .progress import progress_bar
from .sampler import EdgeSampler
from .schedule import steps_per_epoch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpochProgress:
    """What a fit's callback receives after each epoch.

    Attributes
    ----------
    epoch : int
        Epochs done so far (1-based).
    n_epochs : int
        Epochs in the whole fit.
    loss : float
        Mean UMAP loss per positive edge over this epoch.
    elapsed : float
        Seconds since training started.
    """

    epoch: int
    n_epochs: int
    loss: float
    elapsed: float


Callback = Callable[[EpochProgress], None]


@dataclass(frozen=True)
class LossTerm:
    """A term added to the UMAP loss at every optimiser step (a decoder's reconstruction
    error, a landmark penalty, ...).

    Attributes
    ----------
    loss : callable
        Called with no argument once per step, after the UMAP loss of the batch; returns a
        scalar tensor on the training device, already weighted. Any randomness must come
        from a generator the term owns, seeded from the fit's seed, to keep fits
        deterministic.
    parameters : tuple of torch.nn.Parameter
        Parameters that only this term uses (a decoder's); Adam trains them with the
        encoder's. Empty when the term only involves the encoder.
    """

    loss: Callable[[], torch.Tensor]
    parameters: tuple[nn.Parameter, ...] = ()


class TrainingDiverged(FloatingPointError):  # noqa: N818 - public name
    """The loss became NaN or infinite; the message names the last good epoch."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C (or a `KeyboardInterrupt` raised in a callback).

    A subclass of `KeyboardInterrupt`, so scripts stop as they would on a bare Ctrl-C.

    Attributes
    ----------
    epoch : int
        Epochs finished before the interruption (the unfinished one is dropped).
    n_epochs : int or None
        Epochs the fit was to run; None if it was interrupted before pumap chose the count
        (``n_epochs=None``, during the k-NN search or the graph's construction).
    checkpoint_path : str or None
        The checkpoint file, if the fit was writing one.
    checkpoint_epoch : int or None
        The epoch of the last checkpoint written, if any.
    """

    def __init__(
        self,
        message: str,
        epoch: int = 0,
        n_epochs: int | None = 0,
        checkpoint_path: str | None = None,
        checkpoint_epoch: int | None = None,
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.n_epochs = n_epochs
        self.checkpoint_path = checkpoint_path
        self.checkpoint_epoch = checkpoint_epoch

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (str(self), self.epoch, self.n_epochs, self.checkpoint_path, self.checkpoint_epoch),
        )


def train_umap(
    encoder: nn.Module,
    x: torch.Tensor,
    graph: FuzzyGraph,
    *,
    a: float,
    b: float,
    n_epochs: int,
    batch_size: int,
    negative_sample_rate: int,
    learning_rate: float,
    generator: torch.Generator,
    callback: Callback | None = None,
    verbose: bool = False,
    initial_state: TrainingState | None = None,
    checkpointer: Checkpointer | None = None,
    mixed_precision: bool = False,
    compile_step: bool = False,
    input_dropout: float = 0.0,
    extra_terms: tuple[LossTerm, ...] = (),
    replica: Replica | None = None,
    optimizer_state: AdamCarry | None = None,
    repulsion_strength: float = 1.0,
) -> list[float]:
    """Train ``encoder`` on UMAP's clipped forces over ``graph``; return each epoch's mean loss.

    ``x`` (the encoder's input) and ``graph`` must be on the encoder's device. The learning
    rate decays linearly to zero over the fit, as UMAP's own step size does.

    Parameters
    ----------
    initial_state : TrainingState, optional
        A checkpoint's state to continue from: the encoder, Adam and ``generator`` are
        restored and training goes on at the next epoch, so that the result is bit for bit
        that of a fit that never stopped. The returned losses include the restored ones.
    checkpointer : Checkpointer, optional
        Writes the state after every epoch it says is due (after the epoch's NaN check,
        before ``callback``).
    mixed_precision, compile_step : bool
        bfloat16 autocast of the encoder's forward; ``torch.compile`` of forward and loss
        (`make_step_loss`).
    input_dropout : float
        Probability with which each step zeroes each input value (the others are scaled by
        ``1 / (1 - p)``), drawn from ``generator``: an augmentation that makes the encoder
        generalise to new points; ``transform`` never drops anything.
    extra_terms : tuple of LossTerm
        Added to every step's loss; their parameters are trained by the same Adam (and
        saved with it in checkpoints). The reported losses include them.
    replica : Replica, optional
        In a data-parallel fit (`pumap.training.distributed`), this rank: it trains the encoder
        in DDP on ``batch_size // world_size`` edges a step, with a one-process fit's step count.
    optimizer_state : AdamCarry, optional
        Adam starts from a copy of its ``state`` if set (moments and step count go on) and
        ends by storing its final state there.
    repulsion_strength : float
        Weight of the negative pairs' term of the loss.

    Raises
    ------
    TrainingDiverged
        If an epoch's loss is not finite.
    TrainingInterrupted
        On `KeyboardInterrupt` (Ctrl-C, or raised by ``callback``): the current step is
        dropped, the progress bar closed and a warning logged that names the last finished
        epoch and the last checkpoint.
    """
    batch_size = min(batch_size, graph.n_edges)  # a bigger batch only repeats edges
    per_epoch = steps_per_epoch(graph.n_edges, batch_size)
    batch_size = replica.local_batch(batch_size) if replica is not None else batch_size
    sampler = EdgeSampler(graph, batch_size, negative_sample_rate, generator)
    extra = tuple(p for term in extra_terms for p in term.parameters)
    optimizer = torch.optim.Adam([*encoder.parameters(), *extra], lr=learning_rate)
    if optimizer_state is not None and optimizer_state.state is not None:
        optimizer.load_state_dict(copy.deepcopy(optimizer_state.state))
    total = per_epoch * n_epochs
    embed_all = 2 * batch_size >= x.shape[0]
    model = encoder if replica is None else replica.wrap(encoder)
    step_loss = make_step_loss(
        model, x, a, b, batch_size, embed_all, mixed_precision, compile_step,
        input_dropout=input_dropout, generator=generator, repulsion_strength=repulsion_strength,
    )
    losses: list[float] = []
    step = 0
    if initial_state is not None:
        if initial_state.epoch > n_epochs:
            raise ValueError(
                f"the checkpoint is at epoch {initial_state.epoch}, past n_epochs={n_epochs}"
            )
        restore_state(initial_state, encoder, optimizer, generator, extra)
        losses = list(initial_state.losses)
        step = initial_state.step
    done = len(losses)  # epochs finished
    bar = progress_bar(n_epochs, verbose and (replica is None or replica.is_main), initial=done)
    start_time = time.perf_counter()
    try:
        for epoch in range(done + 1, n_epochs + 1):
            running = torch.zeros((), device=x.device)
            for _ in range(per_epoch):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate * (1.0 - step / total)
                batch = sampler.sample()
                loss = step_loss(batch.points, batch.negative_head, batch.negative_tail)
                for term in extra_terms:
                    loss = loss + term.loss()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if replica is not None and extra:
                    replica.average_gradients(list(extra))
                optimizer.step()
                running += loss.detach()
                step += 1
            running = replica.average(running) if replica is not None else running  # ranks' mean
            epoch_loss = float(running) / per_epoch  # the one sync of the epoch
            if not math.isfinite(epoch_loss):
                raise TrainingDiverged(_diverged_message(epoch_loss, epoch, checkpointer))
            losses.append(epoch_loss)
            done = epoch
            if checkpointer is not None and checkpointer.due(epoch, n_epochs):
                state = capture_state(epoch, step, losses, encoder, optimizer, generator, extra)
                checkpointer.save(state)
            if bar is not None:  # the postfix waits for update's redraw, which mininterval paces
                bar.set_postfix(loss=f"{epoch_loss:.4f}", refresh=False)
                bar.update(1)
            if callback is not None:
                elapsed = time.perf_counter() - start_time
                callback(EpochProgress(epoch, n_epochs, epoch_loss, elapsed))
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt as interrupt:
        if bar is not None:
            bar.close()
        stopped = _interrupted(done, n_epochs, checkpointer)
        log.warning("%s", stopped)
        raise stopped from interrupt
    finally:
        if bar is not None:
            bar.close()
    if optimizer_state is not None:
        optimizer_state.state = optimizer.state_dict()
    return losses


StepLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def make_step_loss(
    encoder: nn.Module,
    x: torch.Tensor,
    a: float,
    b: float,
    batch_size: int,
    embed_all: bool,
    mixed_precision: bool = False,
    compile_step: bool = False,
    *,
    input_dropout: float = 0.0,
    generator: torch.Generator | None = None,
    repulsion_strength: float = 1.0,
) -> StepLoss:
    """The objective of one step as a function of the sampled batch's index tensors.

    Its value is the batch's UMAP loss (`pumap.training.loss.umap_loss`); its gradient is
    that of UMAP's clipped forces (`pumap.training.forces.forces_and_loss`), which is what Adam
    descends.

    ``points`` holds the ``batch_size`` heads then the ``batch_size`` tails of the positive
    edges; the negatives index into those rows. With ``embed_all`` every row of ``x`` is
    embedded once and the batch's rows are gathered from that (cheaper than ``2 B`` rows with
    repeats when ``2 B >= n``). ``mixed_precision`` runs the encoder under bfloat16 autocast
    (the loss is computed in float32); ``compile_step`` wraps the function in
    ``torch.compile`` (the batch's shapes never change, so it compiles once).
    ``input_dropout`` zeroes each input value with that probability, a fresh mask from
    ``generator`` every step (drawn outside the compiled function).
    """

    def encode(rows: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=mixed_precision):
            return encoder(rows)

    def forward(
        points: torch.Tensor, negative_head: torch.Tensor, negative_tail: torch.Tensor
    ) -> torch.Tensor:
        emb = _rows(encode(x), points) if embed_all else encode(_rows(x, points))
        return _batch_loss(emb.float(), negative_head, negative_tail)

    def forward_dropped(
        points: torch.Tensor,
        negative_head: torch.Tensor,
        negative_tail: torch.Tensor,
        keep: torch.Tensor,
    ) -> torch.Tensor:
        rows = x if embed_all else _rows(x, points)
        emb = encode(rows * keep)
        emb = _rows(emb, points) if embed_all else emb
        return _batch_loss(emb.float(), negative_head, negative_tail)

    def _batch_loss(
        emb: torch.Tensor, negative_head: torch.Tensor, negative_tail: torch.Tensor
    ) -> torch.Tensor:
        forces, reported = forces_and_loss(
            emb, batch_size, negative_head, negative_tail, a, b, repulsion_strength
        )
        return force_objective(emb, forces, batch_size, reported)

    if input_dropout > 0.0:
        if generator is None:
            raise ValueError("input_dropout needs a generator for its masks")
        dropped = torch.compile(forward_dropped, dynamic=False) if compile_step else forward_dropped
        n_rows = x.shape[0] if embed_all else 2 * batch_size
        scale = 1.0 / (1.0 - input_dropout)

        def step_with_dropout(
            points: torch.Tensor, negative_head: torch.Tensor, negative_tail: torch.Tensor
        ) -> torch.Tensor:
            keep = torch.rand((n_rows, x.shape[1]), generator=generator, device=x.device)
            keep = (keep >= input_dropout).to(x.dtype) * scale
            return dropped(points, negative_head, negative_tail, keep)

        return step_with_dropout
    return torch.compile(forward, dynamic=False) if compile_step else forward


def _diverged_message(loss: float, epoch: int, checkpointer: Checkpointer | None) -> str:
    last = f"epoch {epoch - 1}" if epoch > 1 else "no epoch"
    message = (
        f"the UMAP loss became {loss} in epoch {epoch} ({last} finished cleanly); "
        "lower learning_rate or check the input's scale"
    )
    if checkpointer is not None and checkpointer.last_epoch is not None:
        message += f"; the checkpoint of epoch {checkpointer.last_epoch} is in {checkpointer.path}"
    return message


def _interrupted(
    done: int, n_epochs: int, checkpointer: Checkpointer | None
) -> TrainingInterrupted:
    """The exception (and warning text) for a fit stopped after ``done`` finished epochs."""
    where = (
        f"pumap: training interrupted after epoch {done} of {n_epochs}"
        if done > 0
        else f"pumap: training interrupted in its first epoch (of {n_epochs})"
    )
    if checkpointer is None:
        return TrainingInterrupted(
            f"{where}; no checkpoint was written (pass checkpoint_path= to fit to be able to "
            "resume)",
            done,
            n_epochs,
        )
    path = str(checkpointer.path)
    if checkpointer.last_epoch is None:
        return TrainingInterrupted(
            f"{where}; no checkpoint had been written yet to {path}", done, n_epochs, path
        )
    return TrainingInterrupted(
        f"{where}; the checkpoint of epoch {checkpointer.last_epoch} is in {path}: continue "
        f"with fit(X, resume_from={path!r})",
        done,
        n_epochs,
        path,
        checkpointer.last_epoch,
    )


def _rows(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``t[index]`` for a 1-D ``index``, with a deterministic backward pass.

    The backward of advanced indexing (``index_put_`` with accumulation) adds repeated rows
    with atomic float additions on several CPU threads, in an order that changes from run to
    run; ``index_select``'s backward (``index_add_``) adds them in index order.
    """
    return t.index_select(0, index)
