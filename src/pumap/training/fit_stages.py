"""Bookkeeping of `Umap.fit`'s stages: where an interrupt happened, how long each stage took,
and the checkpoint arguments checked before any work."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import torch


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


def _lap(start: float, device: torch.device) -> float:
    """Seconds since ``start``, read once the device's queued work is done (CUDA, MPS)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
    return time.perf_counter() - start
