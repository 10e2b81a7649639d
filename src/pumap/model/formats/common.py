"""What every pumap file container shares: the error type, the first bytes and array helpers."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

GGUF_MAGIC = b"GGUF"
# The safetensors library refuses headers above 100 MB; so does the sniffing below.
MAX_SAFETENSORS_HEADER = 100_000_000


class ModelFormatError(ValueError):
    """A file cannot be read as a pumap model: missing, truncated, foreign, too new or corrupt.

    Parameters
    ----------
    path : str or os.PathLike
        The file that was being read.
    problem : str
        What is wrong with it.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.problem))


def read_head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of ``path``; a `ModelFormatError` if it is missing or empty."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(n)
    except FileNotFoundError:
        raise ModelFormatError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFormatError(path, "is a directory, not a model file") from None
    except OSError as err:
        raise ModelFormatError(path, f"cannot be read: {err.strerror or err}") from None
    if not head:
        raise ModelFormatError(path, "the file is empty")
    return head


def sniff(head: bytes) -> str | None:
    """``"gguf"``, ``"safetensors"`` or None, from a file's first (at least 9) bytes."""
    if head.startswith(GGUF_MAGIC):
        return "gguf"
    if len(head) >= 9 and head[8:9] == b"{":
        (size,) = struct.unpack("<Q", head[:8])
        if size <= MAX_SAFETENSORS_HEADER:
            return "safetensors"
    return None


def as_f32(value: torch.Tensor | np.ndarray) -> np.ndarray:
    """``value`` as a C-ordered little-endian float32 CPU array (0-d stays 0-d)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(value, dtype="<f4")  # not ascontiguousarray: it turns 0-d into 1-d
    return array if array.flags.c_contiguous else array.copy(order="C")


def json_text(value: Any) -> str:
    """Compact JSON with sorted keys (the same value always gives the same bytes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
