"""GGUF files through the `gguf` library: typed ``pumap.*`` keys and F32 tensors."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .common import ModelFormatError, json_text

GGUF_ARCHITECTURE = "pumap"
GGUF_MAX_NAME = 63  # GGML_MAX_NAME (64) less the terminating NUL


def check_gguf_tensors(tensors: Mapping[str, np.ndarray]) -> None:
    """Refuse, by name, tensors a pumap GGUF file cannot hold (long names, not float32).

    Raises
    ------
    ValueError
        Naming the tensor and saying to save as safetensors instead.
    """
    for name in tensors:
        if len(name.encode("utf-8")) > GGUF_MAX_NAME:
            raise ValueError(
                f"tensor name {name!r} is longer than GGUF's {GGUF_MAX_NAME} bytes; "
                "save to .safetensors instead"
            )
    other = [f"{name} is {a.dtype}" for name, a in tensors.items() if a.dtype != np.float32]
    if other:
        raise ValueError(
            f"cannot save as GGUF: {', '.join(other[:5])}, and pumap's GGUF files hold float32 "
            "only; save to a .safetensors name, which keeps each tensor's dtype"
        )


def write_gguf(
    path: Path,
    metadata: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
) -> None:
    """Write GGUF: ``general.architecture = "pumap"``, typed ``pumap.*`` keys, F32 tensors.

    ``kinds`` maps a key to ``"str"`` (STRING), ``"uint"`` (UINT32 for the format version,
    else UINT64), ``"float"`` (FLOAT64), ``"bool"`` (BOOL) or ``"json"`` (a STRING of JSON
    text, also for keys not listed).
    """
    import gguf

    writer = gguf.GGUFWriter(path, GGUF_ARCHITECTURE)
    for key, value in metadata.items():
        kind = kinds.get(key, "json")
        if kind == "str":
            writer.add_string(key, value)
        elif kind == "uint":
            if key == "pumap.format_version":
                writer.add_uint32(key, value)
            else:
                writer.add_uint64(key, value)
        elif kind == "float":
            writer.add_float64(key, value)
        elif kind == "bool":
            writer.add_bool(key, value)
        else:
            writer.add_string(key, json_text(value))
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name])
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def read_gguf(
    path: Path, kinds: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The decoded ``pumap.*`` metadata (``"json"`` kinds parsed) and the F32 tensors."""
    import gguf

    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as err:  # the reader raises IndexError, ValueError, struct errors...
        raise ModelFormatError(
            path, f"truncated or corrupt GGUF file ({type(err).__name__}: {err})"
        ) from None
    try:
        fields = {name: field for name, field in reader.fields.items()}
        arch = _gguf_value(path, fields, "general.architecture")
        if arch != GGUF_ARCHITECTURE:
            raise ModelFormatError(
                path, f"a GGUF file of architecture {arch!r}, not 'pumap'"
            )
        metadata: dict[str, Any] = {}
        for key in fields:
            if key.startswith("pumap."):
                value = _gguf_value(path, fields, key)
                if kinds.get(key) == "json":
                    if not isinstance(value, str):
                        raise ModelFormatError(path, f"metadata {key} is not a string")
                    try:
                        value = json.loads(value)
                    except ValueError as err:
                        raise ModelFormatError(
                            path, f"metadata {key} is not valid JSON: {err}"
                        ) from None
                metadata[key] = value
        tensors: dict[str, np.ndarray] = {}
        for tensor in reader.tensors:
            name = str(tensor.name)
            if tensor.tensor_type != gguf.GGMLQuantizationType.F32:
                raise ModelFormatError(
                    path, f"tensor {name!r} has type {tensor.tensor_type.name}; pumap stores F32"
                )
            # GGUF lists dimensions fastest-varying first: the reverse of NumPy's shape.
            shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
            flat = np.asarray(tensor.data).reshape(-1)
            if flat.size != math.prod(shape):
                raise ModelFormatError(path, f"truncated GGUF file: tensor {name!r} is incomplete")
            tensors[name] = flat.astype(np.float32, copy=True).reshape(shape)
    except ModelFormatError:
        raise
    except Exception as err:
        raise ModelFormatError(path, f"corrupt GGUF file ({type(err).__name__}: {err})") from None
    finally:
        del reader  # drop the memory map; every tensor above is a copy
    return metadata, tensors


def _gguf_value(path: Path, fields: dict[str, Any], key: str) -> Any:
    if key not in fields:
        raise ModelFormatError(path, f"GGUF file has no {key} key")
    try:
        return fields[key].contents()
    except Exception as err:
        raise ModelFormatError(path, f"GGUF key {key} does not decode: {err}") from None
