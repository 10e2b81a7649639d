"""Safetensors files: pumap's deterministic writer, and reading through the safetensors library.

Reading parses the header and tensors with `safetensors.safe_open` (no hand-written parser),
and maps the library's errors to `ModelFormatError`.

Writing stays in pumap's hands because the library's output is not reproducible: its
``save_file`` serialises ``__metadata__`` from a Rust ``HashMap`` whose order is randomised per
process (checked with safetensors 0.8: three runs, three byte strings), and pumap promises that
saving the same model twice gives the same bytes. The file written here is a plain
safetensors file (sorted JSON header, 8-byte aligned data) that the library and any other
reader load.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from .common import ModelFormatError, json_text

# Safetensors dtype code of each NumPy dtype (by ``dtype.str``) an encoder's tensors keep in a
# file. bfloat16 has no NumPy type and is refused by name.
DTYPE_CODES = {
    "<f8": "F64", "<f4": "F32", "<f2": "F16", "<i8": "I64", "<i4": "I32", "<i2": "I16",
    "|i1": "I8", "|u1": "U8", "|b1": "BOOL",
}
ALL_DTYPES = tuple(DTYPE_CODES.values())


def as_stored(name: str, value: torch.Tensor) -> np.ndarray:
    """``value`` as a C-ordered little-endian CPU array of its own dtype, or a ValueError
    naming it if the files cannot hold that dtype (never a silent cast)."""
    fix = "convert the encoder (e.g. encoder.float()) before saving"
    if value.dtype == torch.bfloat16:
        raise ValueError(
            f"cannot save tensor {name}: it is bfloat16, which pumap's files do not hold; {fix} "
            "(float32 holds every bfloat16 value exactly)"
        )
    array = np.asarray(value.detach().cpu().numpy())
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    if array.dtype.str not in DTYPE_CODES:
        raise ValueError(
            f"cannot save tensor {name}: pumap's files do not hold {value.dtype}; {fix}"
        )
    return array if array.flags.c_contiguous else array.copy(order="C")


def write_safetensors(
    path: Path, metadata: Mapping[str, Any], tensors: Mapping[str, np.ndarray]
) -> None:
    """Write a safetensors file with deterministic bytes.

    Every metadata value is JSON-encoded; the header is JSON with sorted keys and no spaces,
    padded with spaces so that the tensor data starts at an 8-byte boundary; the tensors are
    laid out one after the other in name order. Each array must be little-endian, C-ordered
    and of a dtype in `DTYPE_CODES` (see `as_stored`, `as_f32`).
    """
    header: dict[str, Any] = {"__metadata__": {k: json_text(v) for k, v in metadata.items()}}
    offset = 0
    names = sorted(tensors)
    for name in names:
        array = tensors[name]
        header[name] = {
            "dtype": DTYPE_CODES[array.dtype.str],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for name in names:
            fh.write(tensors[name].tobytes())


class SafetensorsFile:
    """A safetensors file opened with the safetensors library, for `ModelFormatError`-clean reads.

    Use as a context manager: ``with SafetensorsFile(path) as f: f.metadata, f.tensors()``.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Raises
    ------
    ModelFormatError
        If the file is truncated or its header does not parse.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        _check_header_length(path)
        try:
            self._file = safe_open(str(path), framework="numpy")
        except SafetensorError as err:
            raise ModelFormatError(path, f"truncated or corrupt safetensors file ({err})") from None
        except OSError as err:
            raise ModelFormatError(path, f"cannot be read: {err.strerror or err}") from None
        self.metadata: dict[str, str] = dict(self._file.metadata() or {})

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        del self._file  # drop the memory map; every array handed out is a copy

    def tensors(self, dtypes: tuple[str, ...] = ("F32",)) -> dict[str, np.ndarray]:
        """Every tensor, each of one of the safetensors ``dtypes`` (anything else is refused)."""
        out: dict[str, np.ndarray] = {}
        for name in self._file.keys():  # noqa: SIM118 (a safe_open handle is not a mapping)
            dtype = self._file.get_slice(name).get_dtype()
            if dtype not in dtypes:
                stored = ", ".join(dtypes)
                raise ModelFormatError(
                    self.path, f"tensor {name!r} has dtype {dtype}; pumap stores {stored}"
                )
            try:
                array = self._file.get_tensor(name)
            except (SafetensorError, ValueError, TypeError) as err:
                raise ModelFormatError(self.path, f"tensor {name!r} does not read: {err}") from None
            out[name] = array if array.flags.writeable else array.copy()
        return out


def _check_header_length(path: Path) -> None:
    """Name a cut file as truncated (the library only says "invalid header length")."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(0, 2)
            size = fh.tell()
    except OSError as err:
        raise ModelFormatError(path, f"cannot be read: {err.strerror or err}") from None
    if len(head) < 8:
        raise ModelFormatError(path, f"truncated safetensors file ({len(head)} bytes)")
    (header,) = struct.unpack("<Q", head)
    if 8 + header > size:
        raise ModelFormatError(
            path, f"truncated safetensors file: the header needs {header} bytes, {size - 8} left"
        )


def decode_metadata(path: Path, raw: Mapping[str, str]) -> dict[str, Any]:
    """The ``pumap.*`` entries of ``raw``, each JSON-decoded."""
    metadata: dict[str, Any] = {}
    for key, text in raw.items():
        if not key.startswith("pumap."):
            continue
        try:
            metadata[key] = json.loads(text)
        except ValueError as err:
            raise ModelFormatError(path, f"metadata {key} is not valid JSON: {err}") from None
    return metadata
