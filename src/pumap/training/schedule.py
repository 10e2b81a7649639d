"""How many positive edges a training step takes, how many epochs a fit runs and in which
precision the encoder trains, when the user leaves them to pumap (``batch_size=None``,
``n_epochs=None``, ``mixed_precision=None``).

A step's cost is the encoder's pass over the rows it embeds: every point when ``2 B`` reaches
``n``, else the ``2 B`` ends of its edges. On the CPU, where that pass is most of a step, many
small steps beat few large ones once the data is large: on Fashion-MNIST (60,000 rows) about
2,000 steps of 2,048 edges reach the quality of 300 steps of 65,536 in half the time, while
at 8,000 rows (MNIST), where a step embeds every point anyway, small batches cost training
trust (docs/benchmarks.md, "Many small steps on the CPU"). GPUs keep the large batch: their
step times were not measured against the batch size, and there a step's fixed cost weighs
more.

bfloat16 autocast halves the cost of the encoder's products where the CPU multiplies
bfloat16 natively (AVX-512 BF16 or AMX): Fashion-MNIST's training 1.5x faster at the same
quality on the project's AMD EPYC VM. Elsewhere the products would be emulated, so it stays
off there, and on GPUs, where it was not measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

LARGE_BATCH = 65536  # edges a step on a GPU, or on a CPU while a step embeds every point
LARGE_BATCH_STEPS = 300  # optimiser steps that n_epochs=None aims for with it
LARGE_BATCH_EPOCHS = (10, 500)
SMALL_BATCH = 2048  # edges a step on a CPU above SMALL_BATCH_MIN_POINTS points
SMALL_BATCH_STEPS = 2000
SMALL_BATCH_EPOCHS = (2, 500)
SMALL_BATCH_MIN_POINTS = 25_000  # about where 2,000 small steps cost 300 full passes


@dataclass(frozen=True)
class Schedule:
    """A fit's batch size and epoch count, resolved.

    Attributes
    ----------
    batch_size : int
        Positive edges per optimiser step (before the cap at the graph's edge count).
    n_epochs : int
        Epochs of training; one epoch samples as many positive edges as the graph has.
    """

    batch_size: int
    n_epochs: int


def auto_batch_size(n_points: int, device: torch.device | str) -> int:
    """`SMALL_BATCH` on the CPU above `SMALL_BATCH_MIN_POINTS` points, else `LARGE_BATCH`."""
    on_cpu = torch.device(device).type == "cpu"
    return SMALL_BATCH if on_cpu and n_points > SMALL_BATCH_MIN_POINTS else LARGE_BATCH


def auto_n_epochs(n_edges: int, batch_size: int, *, small: bool = False) -> int:
    """Epochs for about `LARGE_BATCH_STEPS` steps of ``batch_size`` edges (between 10 and
    500 epochs), or with ``small`` (pumap's own choice of `SMALL_BATCH`) about
    `SMALL_BATCH_STEPS` (between 2 and 500)."""
    steps = SMALL_BATCH_STEPS if small else LARGE_BATCH_STEPS
    low, high = SMALL_BATCH_EPOCHS if small else LARGE_BATCH_EPOCHS
    return int(min(high, max(low, math.ceil(steps / steps_per_epoch(n_edges, batch_size)))))


def steps_per_epoch(n_edges: int, batch_size: int) -> int:
    """Steps that sample as many positive edges as the graph has (one epoch)."""
    return max(1, math.ceil(n_edges / batch_size))


def resolve_schedule(
    n_points: int,
    n_edges: int,
    batch_size: int | None,
    n_epochs: int | None,
    device: torch.device | str,
) -> Schedule:
    """The batch size and epoch count of a fit: the given ones, or the automatic ones
    (`auto_batch_size`, then `auto_n_epochs`; a given ``batch_size`` keeps the large batch's
    step count, whatever its size)."""
    batch = auto_batch_size(n_points, device) if batch_size is None else batch_size
    small = batch_size is None and batch == SMALL_BATCH
    epochs = auto_n_epochs(n_edges, batch, small=small) if n_epochs is None else n_epochs
    return Schedule(batch, epochs)


NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's names


def cpu_has_native_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU's flags (Linux's ``cpuinfo``) name bfloat16 products; False where the
    file is absent or unreadable (other systems)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in NATIVE_BFLOAT16_FLAGS)
    return False


def resolve_mixed_precision(
    setting: bool | None, device: torch.device | str, *, dense: bool = True
) -> bool:
    """``setting``, or for None: on for dense input on a CPU with native bfloat16 products,
    else off (sparse input's first layer multiplies sparse batches in float32)."""
    if setting is not None:
        return setting
    return dense and torch.device(device).type == "cpu" and cpu_has_native_bfloat16()
