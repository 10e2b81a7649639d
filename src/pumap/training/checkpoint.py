"""Planning a fit's checkpoints and matching a checkpoint to the fit that resumes it.

`plan_checkpoints` does a fit's checkpoint bookkeeping before any work: it reads the
checkpoint to resume from, settles the seed, fingerprints the input and refuses a checkpoint
written for other data or options; the `CheckpointPlan` it returns then makes the
`Checkpointer` that writes the states once the fuzzy graph is known. The file itself (the
training state, writing and reading) is `pumap.training.checkpoint_file`, whose names are
re-exported here.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import UmapConfig
from ..graph.fuzzy import FuzzyGraph
from .checkpoint_file import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    Checkpoint,
    CheckpointError,
    TrainingState,
    capture_state,
    read_checkpoint,
    restore_state,
    write_checkpoint,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "CheckpointPlan",
    "Checkpointer",
    "TrainingState",
    "capture_state",
    "check_resumable",
    "check_state_fits",
    "data_fingerprint",
    "graph_fingerprint",
    "plan_checkpoints",
    "read_checkpoint",
    "restore_state",
    "write_checkpoint",
]

log = logging.getLogger(__name__)

# Rows hashed for the input's fingerprint: all of them up to this many, else an even sample.
FINGERPRINT_ROWS = 65_536
# Options that may differ between the interrupted fit and the one that resumes it (the
# device's kind is checked separately: the generator's state is device-specific). Another
# thread count resumes too, but not bit for bit (matrix products sum by thread).
RESUMABLE_CHANGES = frozenset({"verbose", "device", "threads"})


# --------------------------------------------------------------------------------------------
# Fingerprints


def data_fingerprint(x: torch.Tensor) -> dict[str, Any]:
    """Shape and BLAKE2b hash of the float32 input (all rows up to 65,536, else a sample).

    Cheap on any ``n``: at most ``FINGERPRINT_ROWS`` evenly spaced rows (first and last
    included) are hashed, so two inputs that differ only in unsampled rows are not told apart.
    """
    n = int(x.shape[0])
    rows = x.detach()
    if n > FINGERPRINT_ROWS:
        index = torch.from_numpy(np.linspace(0, n - 1, FINGERPRINT_ROWS).round().astype(np.int64))
        rows = rows.index_select(0, index.to(rows.device))
    digest = hashlib.blake2b(digest_size=16)
    digest.update(rows.to("cpu", torch.float32).contiguous().numpy())  # no copy of the bytes
    return {"shape": [int(s) for s in x.shape], "blake2b": digest.hexdigest()}


def graph_fingerprint(graph: FuzzyGraph) -> dict[str, Any]:
    """Edge count and BLAKE2b hash of the fuzzy graph's edges and weights."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in (graph.head, graph.tail, graph.weight):
        digest.update(tensor.detach().cpu().contiguous().numpy())
    return {"n_edges": graph.n_edges, "blake2b": digest.hexdigest()}


# --------------------------------------------------------------------------------------------
# Matching a checkpoint to a fit


def check_resumable(
    checkpoint: Checkpoint, path: str | Path, config: dict[str, Any], data: dict[str, Any]
) -> None:
    """Refuse a checkpoint written for other input or other options.

    Parameters
    ----------
    checkpoint : Checkpoint
        As read by `read_checkpoint`.
    path : str or os.PathLike
        Its file, for the messages.
    config : dict
        ``UmapConfig.to_dict()`` of the fit that resumes, ``seed`` already resolved.
    data : dict
        `data_fingerprint` of its input.

    Raises
    ------
    CheckpointError
        Naming what differs.
    """
    old_shape, new_shape = checkpoint.data.get("shape"), data["shape"]
    if old_shape != new_shape:
        raise CheckpointError(
            path,
            f"this checkpoint was written for X of shape {tuple(old_shape or ())}, but this X "
            f"has shape {tuple(new_shape)}; resume with the same data",
        )
    if checkpoint.data.get("blake2b") != data["blake2b"]:
        raise CheckpointError(
            path,
            f"this checkpoint was written for other data of the same shape {tuple(new_shape)} "
            "(the fingerprints differ); resume with the same data, in the same order",
        )
    if checkpoint.data.get("y") != data.get("y"):
        written = "without y" if checkpoint.data.get("y") is None else "with other y"
        given = "this fit has none" if data.get("y") is None else "this fit's y differs"
        raise CheckpointError(
            path,
            f"this checkpoint was written by a fit {written} ({given}); resume with the y "
            "of the interrupted fit",
        )
    keys = sorted((set(checkpoint.config) | set(config)) - RESUMABLE_CHANGES)
    # An option newer than the checkpoint had its default then.
    old = {**UmapConfig().to_dict(), **checkpoint.config}
    changed = [
        f"{k}={old.get(k)!r} in the checkpoint, {config.get(k)!r} now"
        for k in keys
        if _normal(old.get(k)) != _normal(config.get(k))
    ]
    if changed:
        raise CheckpointError(
            path,
            "this checkpoint was written with other options (" + "; ".join(changed) + "); "
            "resume with the options of the interrupted fit",
        )


def check_state_fits(
    state: TrainingState, path: str | Path, encoder: nn.Module, device: torch.device
) -> None:
    """Refuse a state that does not fit ``encoder``, or was written on another kind of device
    or by a data-parallel fit (whose ranks resume their own states, `pumap.training.distributed`).

    Raises
    ------
    CheckpointError
        Naming the first difference.
    """
    if state.world_size != 1:
        raise CheckpointError(
            path,
            f"this checkpoint was written by a data-parallel fit on {state.world_size} "
            f"processes; resume it under torchrun with {state.world_size} processes in all",
        )
    if state.generator_device != device.type:
        raise CheckpointError(
            path,
            f"this checkpoint was written by a fit on {state.generator_device}, this fit runs "
            f"on {device.type}; resume on a {state.generator_device} device (the random "
            "generator's state is device-specific)",
        )
    own = encoder.state_dict()
    if list(own) != list(state.encoder):
        raise CheckpointError(
            path,
            "the checkpoint's encoder tensors "
            f"({', '.join(list(state.encoder)[:4])}...) do not match this encoder's "
            f"({', '.join(list(own)[:4])}...); resume with the same encoder",
        )
    for name, value in own.items():
        if tuple(value.shape) != tuple(state.encoder[name].shape):
            raise CheckpointError(
                path,
                f"encoder tensor {name} has shape {tuple(state.encoder[name].shape)} in the "
                f"checkpoint but {tuple(value.shape)} in this encoder",
            )
    n_params = len(list(encoder.parameters()))
    if len(state.optimizer) - len(state.extra) != n_params:
        raise CheckpointError(
            path,
            f"the checkpoint has optimiser state for {len(state.optimizer) - len(state.extra)} "
            f"encoder parameters, this encoder has {n_params}",
        )


def _normal(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass
class Checkpointer:
    """Writes the training state to one file every ``every`` epochs (and after the last).

    Parameters
    ----------
    path : pathlib.Path
        The checkpoint file; each write replaces it atomically.
    every : int
        Epochs between writes.
    config, data, graph : dict
        Stored with every state, to be matched on resume.
    """

    path: Path
    every: int
    config: dict[str, Any]
    data: dict[str, Any]
    graph: dict[str, Any]
    last_epoch: int | None = field(default=None, init=False)

    def due(self, epoch: int, n_epochs: int) -> bool:
        """Whether a checkpoint is to be written after ``epoch``."""
        return epoch % self.every == 0 or epoch == n_epochs

    def save(self, state: TrainingState) -> None:
        """Write ``state`` atomically and remember its epoch."""
        write_checkpoint(self.path, state, config=self.config, data=self.data, graph=self.graph)
        self.last_epoch = state.epoch


# --------------------------------------------------------------------------------------------
# Planning a fit's checkpoints


@dataclass
class CheckpointPlan:
    """A fit's checkpoint bookkeeping, settled before the k-NN search.

    Attributes
    ----------
    seed : int
        The seed the fit uses: ``config.seed``, else the resumed checkpoint's, else fresh.
    config : dict
        ``UmapConfig.to_dict()`` of the fit with that seed (what a checkpoint records).
    resumed : Checkpoint or None
        The checkpoint the fit continues from.
    resume_from : pathlib.Path or None
        Its file.
    checkpoint_path : pathlib.Path or None
        Where the fit writes its own checkpoints.
    every : int
        Epochs between them.
    data : dict or None
        `data_fingerprint` of the input, when a checkpoint is read or written.
    """

    seed: int
    config: dict[str, Any]
    resumed: Checkpoint | None = None
    resume_from: Path | None = None
    checkpoint_path: Path | None = None
    every: int = 1
    data: dict[str, Any] | None = None

    @property
    def initial_state(self) -> TrainingState | None:
        """The training state to continue from, if the fit resumes."""
        return self.resumed.state if self.resumed is not None else None

    def checkpointer(self, graph: FuzzyGraph) -> Checkpointer | None:
        """The `Checkpointer` for the fit's fuzzy ``graph`` (None if the fit writes none).

        A resumed fit whose rebuilt graph differs from the checkpoint's is warned about (it
        continues, but not bit for bit).
        """
        if self.data is None:
            return None
        graph_print = graph_fingerprint(graph)
        if self.resumed is not None and self.resumed.graph != graph_print:
            log.warning(
                "the fuzzy graph rebuilt from %s differs from the one it was written with "
                "(NN-Descent on another number of threads?); training continues, but will "
                "not reproduce the uninterrupted fit bit for bit",
                self.resume_from,
            )
        if self.checkpoint_path is None:
            return None
        return Checkpointer(self.checkpoint_path, self.every, self.config, self.data, graph_print)

    def check_encoder(self, encoder: nn.Module, device: torch.device) -> None:
        """Refuse a resumed state that does not fit ``encoder`` on ``device``."""
        if self.resumed is not None:
            check_state_fits(self.resumed.state, self.resume_from, encoder, device)


def plan_checkpoints(
    config: UmapConfig,
    x: torch.Tensor,
    *,
    checkpoint_path: str | os.PathLike[str] | None = None,
    every: int = 1,
    resume_from: str | os.PathLike[str] | None = None,
    target: dict[str, Any] | None = None,
) -> CheckpointPlan:
    """Read the checkpoint to resume from, settle the seed and check the checkpoint fits.

    Parameters
    ----------
    config : UmapConfig
        The fit's options (``seed=None``: the checkpoint's seed, or a fresh one).
    x : torch.Tensor
        The fit's validated input.
    checkpoint_path, every, resume_from
        As `Umap.fit` takes them (already checked).
    target : dict, optional
        The fingerprint of a supervised fit's ``y`` (`pumap.graph.supervised.Target.fingerprint`),
        kept with the data's under ``"y"``.

    Returns
    -------
    CheckpointPlan

    Raises
    ------
    CheckpointError
        If ``resume_from`` cannot be read, holds an invalid seed, or was written for other
        data or options.
    """
    resumed = read_checkpoint(resume_from) if resume_from is not None else None
    if resumed is not None and config.seed is None:
        seed = resumed.config.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise CheckpointError(resume_from, f"the checkpoint's seed {seed!r} is invalid")
    elif config.seed is not None:
        seed = config.seed
    else:
        # 32 bits: what numpy's RandomState (and so pynndescent, scikit-learn) takes, and what
        # a person can read back from `pumap info`.
        seed = int(np.random.SeedSequence().entropy % 2**32)
    run_config = config.replace(seed=seed).to_dict()
    keeps_state = resumed is not None or checkpoint_path is not None
    fingerprint = data_fingerprint(x) if keeps_state else None
    if fingerprint is not None and target is not None:
        fingerprint["y"] = target
    if resumed is not None:
        check_resumable(resumed, resume_from, run_config, fingerprint)
    return CheckpointPlan(
        seed=seed,
        config=run_config,
        resumed=resumed,
        resume_from=Path(resume_from) if resume_from is not None else None,
        checkpoint_path=Path(checkpoint_path) if checkpoint_path is not None else None,
        every=every,
        data=fingerprint,
    )
