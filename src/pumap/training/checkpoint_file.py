"""Training checkpoints as files: the state of a fit at the end of an epoch, in safetensors.

A checkpoint holds everything the training loop needs to continue as if it had never
stopped: the encoder's tensors, Adam's per-parameter state, the random generator's state,
the epoch and step counters and the loss history. It also records the options of the fit
and fingerprints of the input and of the fuzzy graph (`pumap.training.checkpoint` plans a fit's
checkpoints and matches them to it).

The file is written with the same atomic writer and the same deterministic safetensors
layout as model files (`pumap.model.formats`): a temporary file beside the target, flushed and
renamed, so an interrupted or failed write leaves the previous checkpoint as it was. Every
tensor is stored as float32 (the generator's state bytes, 0-255, are exact in float32);
scalars go in the JSON metadata. Nothing is ever unpickled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..model.formats import (
    ModelFormatError,
    SafetensorsFile,
    as_f32,
    atomic_write,
    decode_metadata,
    read_head,
    write_safetensors,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "TrainingState",
    "capture_state",
    "read_checkpoint",
    "restore_state",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "pumap-checkpoint"
# 2: n_neighbors counts the point itself (umap-learn's meaning); 1 (pumap 0.1) did not. A
# data-parallel fit's checkpoint also holds every rank's generator (``pumap.world_size``).
CHECKPOINT_VERSION = 2


class CheckpointError(ModelFormatError):
    """A checkpoint cannot be read, or belongs to another fit (other data, other options).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    problem : str
        What is wrong with it, and what to do.
    """


@dataclass
class TrainingState:
    """The training loop's state at the end of an epoch.

    Attributes
    ----------
    epoch : int
        Epochs finished.
    step : int
        Optimisation steps taken (it sets the learning rate's linear decay).
    losses : list of float
        Mean loss of each finished epoch.
    encoder : dict of str to torch.Tensor
        The encoder's ``state_dict``, on the CPU.
    optimizer : list of dict
        Adam's state per parameter, in ``encoder.parameters()`` order: ``step``, ``exp_avg``
        and ``exp_avg_sq`` tensors on the CPU (empty dicts before the first step).
    generator : torch.Tensor
        ``torch.Generator.get_state()`` of the fit's generator (uint8).
    generator_device : str
        Device type of that generator (``"cpu"``, ``"cuda"``, ``"mps"``).
    world_size : int
        Processes of the fit (`pumap.training.distributed`); above 1, ``generator`` holds every
        rank's state one after the other, in rank order.
    extra : list of torch.Tensor
        The values of the extra loss terms' parameters (a jointly trained decoder's), in
        order, on the CPU; their Adam state follows the encoder's in ``optimizer``.
    """

    epoch: int
    step: int
    losses: list[float]
    encoder: dict[str, torch.Tensor]
    optimizer: list[dict[str, torch.Tensor]]
    generator: torch.Tensor
    generator_device: str = "cpu"
    world_size: int = 1
    extra: list[torch.Tensor] = field(default_factory=list)


@dataclass
class Checkpoint:
    """A checkpoint file as read: the training state and what it must match to be resumed.

    Attributes
    ----------
    state : TrainingState
    config : dict
        ``UmapConfig.to_dict()`` of the fit, ``seed`` being the seed actually used.
    data : dict
        Fingerprint of the input (`data_fingerprint`).
    graph : dict
        Fingerprint of the fuzzy graph (`graph_fingerprint`).
    library_version : str
        The pumap version that wrote it.
    """

    state: TrainingState
    config: dict[str, Any]
    data: dict[str, Any]
    graph: dict[str, Any]
    library_version: str = __version__


# --------------------------------------------------------------------------------------------
# Capturing and restoring the training state


def capture_state(
    epoch: int,
    step: int,
    losses: list[float],
    encoder: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    extra: tuple[nn.Parameter, ...] = (),
) -> TrainingState:
    """Copy the training loop's state to the CPU (the live objects are not changed);
    ``extra``: the extra loss terms' parameters, trained by the same ``optimizer``."""
    params = [*encoder.parameters(), *extra]
    per_param: list[dict[str, torch.Tensor]] = []
    for param in params:
        state = optimizer.state.get(param, {})
        entry = {}
        for key, value in state.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(float(value))
            entry[key] = value.detach().to("cpu", copy=True)
        per_param.append(entry)
    return TrainingState(
        epoch=int(epoch),
        step=int(step),
        losses=[float(v) for v in losses],
        encoder={k: v.detach().to("cpu", copy=True) for k, v in encoder.state_dict().items()},
        optimizer=per_param,
        generator=generator.get_state().clone(),
        generator_device=generator.device.type,
        extra=[p.detach().to("cpu", copy=True) for p in extra],
    )


def restore_state(
    state: TrainingState,
    encoder: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    extra: tuple[nn.Parameter, ...] = (),
) -> None:
    """Load ``state`` into the encoder, the extra parameters, the (fresh) optimizer and the
    generator, in place.

    Raises
    ------
    ValueError
        If the state does not fit the encoder, or the generator is on another kind of device.
    """
    if generator.device.type != state.generator_device:
        raise ValueError(
            f"the checkpoint's random generator is a {state.generator_device} generator but "
            f"this fit runs on {generator.device.type}; resume on the device it was written on"
        )
    try:
        encoder.load_state_dict(state.encoder, strict=True)
    except RuntimeError as err:
        raise ValueError(f"the checkpoint's encoder does not fit this encoder: {err}") from None
    if len(state.extra) != len(extra) or any(
        tuple(v.shape) != tuple(p.shape) for v, p in zip(state.extra, extra, strict=False)
    ):
        raise ValueError(
            f"the checkpoint holds {len(state.extra)} extra trained tensors (a joint "
            f"decoder's) of shapes {[tuple(v.shape) for v in state.extra][:4]}, this fit "
            f"trains {len(extra)} of shapes {[tuple(p.shape) for p in extra][:4]}; resume "
            "with the same decoder and reconstruction_weight"
        )
    params = [*encoder.parameters(), *extra]
    if len(state.optimizer) != len(params):
        raise ValueError(
            f"the checkpoint has optimiser state for {len(state.optimizer)} parameters, "
            f"the encoder has {len(params) - len(extra)} (and {len(extra)} extra)"
        )
    with torch.no_grad():
        for param, value in zip(extra, state.extra, strict=True):
            param.copy_(value)
    saved = optimizer.state_dict()
    saved["state"] = {
        i: {key: value.clone() for key, value in entry.items()}
        for i, entry in enumerate(state.optimizer)
        if entry
    }
    optimizer.load_state_dict(saved)
    generator.set_state(state.generator.clone())


# --------------------------------------------------------------------------------------------
# The file


def write_checkpoint(
    path: str | Path,
    state: TrainingState,
    *,
    config: dict[str, Any],
    data: dict[str, Any],
    graph: dict[str, Any],
) -> Path:
    """Write ``state`` and what it must match to ``path``, atomically (safetensors layout).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    for name, value in state.encoder.items():
        tensors[f"encoder.{name}"] = as_f32(value)
    layout: list[list[str]] = []
    for i, entry in enumerate(state.optimizer):
        layout.append(sorted(entry))
        for key, value in entry.items():
            tensors[f"optimizer.{i}.{key}"] = as_f32(value)
    for i, value in enumerate(state.extra):
        tensors[f"extra.{i}"] = as_f32(value)
    tensors["generator"] = state.generator.to(torch.uint8).numpy().astype("<f4")
    losses = [float(v) for v in state.losses]
    if not all(math.isfinite(v) for v in losses):
        raise ValueError("a checkpoint's loss history must be finite")
    metadata = {
        "pumap.format": CHECKPOINT_FORMAT,
        "pumap.format_version": CHECKPOINT_VERSION,
        "pumap.library_version": __version__,
        "pumap.config": config,
        "pumap.data": data,
        "pumap.graph": graph,
        "pumap.epoch": int(state.epoch),
        "pumap.step": int(state.step),
        "pumap.losses": losses,
        "pumap.optimizer": layout,
        "pumap.encoder_keys": list(state.encoder),
        "pumap.generator_device": state.generator_device,
    }
    if state.world_size > 1:
        metadata["pumap.world_size"] = int(state.world_size)
    if state.extra:  # older checkpoints have none: the key is left out, so they read as before
        metadata["pumap.n_extra"] = len(state.extra)
    atomic_write(path, lambda tmp: write_safetensors(tmp, metadata, tensors))
    return path


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a file written by `write_checkpoint`.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, not a pumap checkpoint or of a newer version.
    """
    path = Path(path)
    try:
        read_head(path, 16)
        with SafetensorsFile(path) as file:
            metadata = _metadata(path, file)
            tensors = file.tensors()
    except CheckpointError:
        raise
    except ModelFormatError as err:
        raise CheckpointError(path, err.problem) from None
    try:
        return _parse(metadata, tensors, path)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(path, f"malformed checkpoint: {err!r}") from None


def _metadata(path: Path, file: SafetensorsFile) -> dict[str, Any]:
    """The decoded metadata, checked to be a checkpoint's of a version this pumap reads."""
    metadata = decode_metadata(path, file.metadata)
    fmt = metadata.get("pumap.format")
    if fmt != CHECKPOINT_FORMAT:
        what = f"a {fmt} file" if isinstance(fmt, str) else "not a pumap file"
        raise CheckpointError(path, f"not a pumap training checkpoint ({what})")
    version = metadata.get("pumap.format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(path, f"invalid pumap.format_version {version!r}")
    if version < CHECKPOINT_VERSION:
        raise CheckpointError(
            path,
            f"checkpoint version {version} was written by an older pumap, whose n_neighbors "
            "did not count the point itself; it cannot be resumed: start the fit again "
            "(with n_neighbors one more than that fit's for the same graph)",
        )
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            path,
            f"checkpoint version {version} is newer than this pumap ({__version__}) reads "
            f"(up to {CHECKPOINT_VERSION}); upgrade pumap",
        )
    return metadata


def _parse(metadata: dict[str, Any], tensors: dict[str, np.ndarray], path: Path) -> Checkpoint:
    keys = metadata["pumap.encoder_keys"]
    encoder = {name: torch.from_numpy(tensors[f"encoder.{name}"]) for name in keys}
    optimizer = []
    for i, keys in enumerate(metadata["pumap.optimizer"]):
        optimizer.append({key: torch.from_numpy(tensors[f"optimizer.{i}.{key}"]) for key in keys})
    gen = tensors["generator"]
    if gen.ndim != 1 or not np.array_equal(gen, np.clip(np.round(gen), 0, 255)):
        raise CheckpointError(path, "the generator state is not a byte string")
    state = TrainingState(
        epoch=int(metadata["pumap.epoch"]),
        step=int(metadata["pumap.step"]),
        losses=[float(v) for v in metadata["pumap.losses"]],
        encoder=encoder,
        optimizer=optimizer,
        generator=torch.from_numpy(gen.astype(np.uint8)),
        generator_device=str(metadata["pumap.generator_device"]),
        world_size=int(metadata.get("pumap.world_size", 1)),
        extra=[
            torch.from_numpy(tensors[f"extra.{i}"])
            for i in range(int(metadata.get("pumap.n_extra", 0)))
        ],
    )
    if state.world_size < 1 or state.generator.numel() % state.world_size:
        raise CheckpointError(
            path, f"pumap.world_size {state.world_size} does not divide the generator state"
        )
    if state.epoch < 0 or state.step < 0 or len(state.losses) != state.epoch:
        raise CheckpointError(
            path, f"inconsistent counters: epoch {state.epoch}, {len(state.losses)} losses"
        )
    config = metadata["pumap.config"]
    if not isinstance(config, dict):
        raise CheckpointError(path, "pumap.config is not a dictionary")
    return Checkpoint(
        state=state,
        config=config,
        data=dict(metadata["pumap.data"]),
        graph=dict(metadata["pumap.graph"]),
        library_version=str(metadata.get("pumap.library_version", "?")),
    )
