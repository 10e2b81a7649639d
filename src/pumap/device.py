"""Turn a device name into a `torch.device` that exists on this machine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def available_devices() -> list[str]:
    """Names of the devices PyTorch can use here, CPU last."""
    names = (
        [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(name: str | torch.device) -> torch.device:
    """Resolve ``"auto"`` (CUDA/ROCm, then MPS, then CPU) or check that a named device exists.

    Raises
    ------
    ValueError
        If the name is unknown or the device is absent, saying which devices there are.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {name!r} is not a device name: {err}") from None
    there = ", ".join(available_devices())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} was asked for but CUDA is not available; there is: {there}"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} does not exist; there is: {there}")
    elif device.type == "mps":
        if not _mps_available():
            raise ValueError(
                f"device {name!r} was asked for but MPS is not available; there is: {there}"
            )
    elif device.type != "cpu":
        raise ValueError(f"device {name!r} is not supported; use one of: auto, {there}")
    return device


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op (CPU) threads, then restore the count.

    ``None`` leaves torch's setting alone. The count is the process's (PyTorch has no
    per-thread one): other threads of the process running torch CPU work meanwhile share it.
    """
    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
