"""Save and load fitted models as safetensors (the default) or GGUF files.

Both layouts hold the same things: float32 tensors (a custom encoder's keep their own dtypes in
safetensors) with stable names and typed metadata under ``pumap.*`` keys; docs/file-format.md
specifies them key by key. Reading never unpickles and never runs code from the file: tensors
are parsed from raw bytes (safetensors) or with `gguf.GGUFReader`. Writes are atomic: the file
is written to a temporary file in the same folder, flushed to disk and renamed over the target,
so a failed save leaves an existing file untouched. Every problem with a file being read raises
`ModelFormatError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ._version import __version__
from .config import METRICS, UmapConfig
from .device import resolve_device
from .encoder import MLP
from .preprocess import Standardizer
from .refine import TrainingIndex

if TYPE_CHECKING:
    from .fitted import FittedUmap

__all__ = [
    "FORMAT_VERSION",
    "ModelFormatError",
    "detect_format",
    "load_model",
    "load_weights",
    "read_metadata",
    "save_model",
    "save_weights",
]

MODEL_FORMAT = "pumap-model"
WEIGHTS_FORMAT = "pumap-weights"
FORMAT_VERSION = 2  # the newest this pumap reads and writes
# A model without a training index is written as version 1, which pumap 0.1 reads too; the
# training index (``refine.*`` tensors, ``pumap.training_index``) came with version 2.
_PLAIN_MODEL_VERSION = 1
GGUF_ARCHITECTURE = "pumap"
GGUF_MAGIC = b"GGUF"
# The safetensors library refuses headers above 100 MB; so do we (and it bounds what we parse).
_MAX_SAFETENSORS_HEADER = 100_000_000
_GGUF_MAX_NAME = 63  # GGML_MAX_NAME (64) less the terminating NUL
# Safetensors dtype code of each NumPy dtype (by ``dtype.str``) an encoder's tensors keep in a
# file. bfloat16 has no NumPy type and is refused by name; GGUF files hold F32 only.
_SAFETENSORS_DTYPES = {
    "<f8": "F64", "<f4": "F32", "<f2": "F16", "<i8": "I64", "<i4": "I32", "<i2": "I16",
    "|i1": "I8", "|u1": "U8", "|b1": "BOOL",
}
_SAFETENSORS_CODES = {code: np.dtype(key) for key, code in _SAFETENSORS_DTYPES.items()}

# Metadata key -> kind. Safetensors stores every value JSON-encoded; GGUF stores "str" as
# STRING, "uint" as UINT32/UINT64, "float" as FLOAT64, "bool" as BOOL and "json" as a STRING
# holding JSON text.
_MODEL_KEYS: dict[str, str] = {
    "pumap.format": "str",
    "pumap.format_version": "uint",
    "pumap.library_version": "str",
    "pumap.config": "json",
    "pumap.encoder": "json",
    "pumap.n_features": "uint",
    "pumap.n_components": "uint",
    "pumap.a": "float",
    "pumap.b": "float",
    "pumap.has_embedding": "bool",
    "pumap.losses": "json",
}
# Keys a model file may lack (older files do).
_OPTIONAL_MODEL_KEYS: dict[str, str] = {"pumap.training_index": "json"}
_KEY_KINDS = {**_MODEL_KEYS, **_OPTIONAL_MODEL_KEYS}


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


# --------------------------------------------------------------------------------------------
# Public API


def save_model(
    fitted: FittedUmap, path: str | os.PathLike[str], *, include_embedding: bool = False
) -> Path:
    """Write a fitted model to ``path``, atomically.

    Parameters
    ----------
    fitted : FittedUmap
        The model to save.
    path : str or os.PathLike
        Destination. A ``.gguf`` suffix (any case) writes GGUF, anything else safetensors.
    include_embedding : bool
        Also store the training embedding (``fitted.embedding``) as the ``embedding`` tensor.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If ``include_embedding`` is set but the model has no embedding, or (GGUF only) a
        tensor name is longer than GGUF allows.
    """
    path = Path(path)
    metadata, tensors = _model_payload(fitted, include_embedding)
    if _is_gguf_name(path):
        _check_gguf_names(tensors)
        _check_gguf_dtypes(tensors)
        _atomic_write(path, lambda tmp: _write_gguf(tmp, metadata, tensors))
    else:
        _atomic_write(path, lambda tmp: _write_safetensors(tmp, metadata, tensors))
    return path


def save_weights(model: FittedUmap | nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write only the encoder's tensors (their own dtypes, named by ``state_dict`` key) to
    safetensors.

    The file loads into the same architecture with `load_weights`, or with plain
    ``module.load_state_dict(safetensors.torch.load_file(path))``.

    Parameters
    ----------
    model : FittedUmap or torch.nn.Module
        A fitted model (its encoder is saved) or an encoder.
    path : str or os.PathLike
        Destination; always safetensors, so a ``.gguf`` suffix is refused.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    if _is_gguf_name(path):
        raise ValueError(f"{path}: save_weights writes safetensors only; use a .safetensors name")
    encoder = model if isinstance(model, nn.Module) else model.encoder
    tensors = _state_tensors(encoder, prefix="")
    metadata = {
        "pumap.format": WEIGHTS_FORMAT,
        "pumap.format_version": FORMAT_VERSION,
        "pumap.library_version": __version__,
    }
    _atomic_write(path, lambda tmp: _write_safetensors(tmp, metadata, tensors))
    return path


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return ``"gguf"`` or ``"safetensors"`` from the file's first bytes (not its name).

    Raises
    ------
    ModelFormatError
        If the file is missing, empty, or neither GGUF nor safetensors.
    """
    path = Path(path)
    head = _read_head(path, 16)
    fmt = _sniff(head)
    if fmt is None and len(head) < 10:  # the smallest safetensors file is 10 bytes
        raise ModelFormatError(
            path, f"truncated or not a model file: only {len(head)} bytes ({head!r})"
        )
    if fmt is None:
        raise ModelFormatError(
            path, f"neither GGUF nor safetensors (starts with {head[:8]!r})"
        )
    return fmt


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and decode the ``pumap.*`` metadata of a model or weights file.

    Returns
    -------
    dict
        Key -> decoded value (``pumap.config`` and ``pumap.encoder`` as dictionaries).
    """
    metadata, _ = _read_file(Path(path))
    return metadata


def load_model(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    encoder: nn.Module | None = None,
) -> FittedUmap:
    """Read a model written by `save_model`, in either format (detected from its bytes).

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    device : str or torch.device
        Where to put the encoder: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``.
    encoder : torch.nn.Module, optional
        A module of the saved architecture to fill with the saved weights. Required when the
        model was fitted with a custom encoder; by default an `MLP` is rebuilt from the file.

    Returns
    -------
    FittedUmap

    Raises
    ------
    ModelFormatError
        If the file is missing or not a valid pumap model, or its tensors do not fit the
        architecture (or ``encoder``), or a custom-encoder model is loaded without ``encoder``.
    """
    from .fitted import FittedUmap

    path = Path(path)
    target = resolve_device(device)
    metadata, tensors = _read_file(path)
    fmt = metadata["pumap.format"]
    if fmt == WEIGHTS_FORMAT:
        raise ModelFormatError(
            path,
            "this is a weights-only file (written by save_weights): it has no config or "
            "standardizer; load it into an encoder with pumap.io.load_weights(path, encoder)",
        )
    meta = _check_model_metadata(path, metadata)
    n_features, n_components = meta["pumap.n_features"], meta["pumap.n_components"]

    try:
        config = UmapConfig.from_dict(meta["pumap.config"])
    except (ValueError, TypeError) as err:
        raise ModelFormatError(
            path, f"metadata pumap.config is not a valid UmapConfig: {err}"
        ) from None
    if config.n_components != n_components:
        raise ModelFormatError(
            path,
            f"pumap.config has n_components={config.n_components} but pumap.n_components is "
            f"{n_components}",
        )

    expected = {"standardizer.mean": (n_features,), "standardizer.std": (n_features,)}
    if meta["pumap.has_embedding"]:
        if "embedding" not in tensors or tensors["embedding"].ndim != 2:
            raise ModelFormatError(
                path, "pumap.has_embedding is true but there is no 2-D embedding"
            )
        expected["embedding"] = (tensors["embedding"].shape[0], n_components)
    for name, shape in expected.items():
        if name not in tensors:
            raise ModelFormatError(path, f"tensor {name!r} is missing")
        if tensors[name].dtype != np.float32:
            raise ModelFormatError(path, f"tensor {name!r} is {tensors[name].dtype}, not float32")
        if tensors[name].shape != shape:
            raise ModelFormatError(
                path,
                f"tensor {name!r} has shape {tensors[name].shape}, expected {shape} "
                f"(n_features={n_features}, n_components={n_components})",
            )
    index_meta = meta.get("pumap.training_index")
    owned = {k for k in tensors if k.startswith("encoder.")}
    if index_meta is not None:
        owned |= {k for k in tensors if k.startswith("refine.")}
    extra = sorted(set(tensors) - set(expected) - owned)
    if extra:
        raise ModelFormatError(path, f"unexpected tensor(s): {', '.join(extra[:5])}")

    module = encoder if encoder is not None else _rebuild_encoder(path, meta["pumap.encoder"])
    spec = meta["pumap.encoder"]
    if encoder is None and (
        spec.get("n_features") != n_features or spec.get("n_components") != n_components
    ):
        raise ModelFormatError(
            path,
            f"pumap.encoder describes {spec.get('n_features')} -> {spec.get('n_components')} "
            f"but the model maps {n_features} -> {n_components}",
        )
    encoder_tensors = {
        name[len("encoder.") :]: array
        for name, array in tensors.items()
        if name.startswith("encoder.")
    }
    _fill_module(path, module, encoder_tensors, prefix="encoder.")
    module.to(target)

    standardizer = Standardizer(
        torch.from_numpy(tensors["standardizer.mean"]),
        torch.from_numpy(tensors["standardizer.std"]),
    )
    embedding = tensors.get("embedding") if meta["pumap.has_embedding"] else None
    losses = [math.nan if v is None else float(v) for v in meta["pumap.losses"]]
    index = None
    if index_meta is not None:
        index = _training_index(path, index_meta, tensors, n_features, n_components).to(target)
    return FittedUmap(
        module, standardizer, config, meta["pumap.a"], meta["pumap.b"], embedding, losses, index
    )


def _training_index(
    path: Path,
    index_meta: dict[str, Any],
    tensors: dict[str, np.ndarray],
    n_features: int,
    n_components: int,
) -> TrainingIndex:
    """The ``refine.*`` tensors as a `TrainingIndex`, checked against their metadata."""
    metric = index_meta.get("metric")
    if metric not in METRICS:
        raise ModelFormatError(path, f"pumap.training_index has an invalid metric {metric!r}")
    own = {k: v for k, v in tensors.items() if k.startswith("refine.")}
    try:
        index = TrainingIndex.from_tensors(own, metric, n_features, n_components)
    except ValueError as err:
        raise ModelFormatError(path, f"training index: {err}") from None
    if index.n_samples != index_meta.get("n_samples"):
        raise ModelFormatError(
            path,
            f"pumap.training_index says n_samples={index_meta.get('n_samples')!r} but its "
            f"tensors hold {index.n_samples} rows",
        )
    return index


def load_weights(path: str | os.PathLike[str], encoder: nn.Module) -> nn.Module:
    """Fill ``encoder`` with the tensors of a `save_weights` file and return it.

    Raises
    ------
    ModelFormatError
        If the file is not a pumap weights file or its tensors do not match ``encoder``.
    """
    path = Path(path)
    metadata, tensors = _read_file(path)
    if metadata["pumap.format"] != WEIGHTS_FORMAT:
        raise ModelFormatError(
            path, "this is a full model file, not a weights file; use FittedUmap.load(path)"
        )
    _fill_module(path, encoder, tensors, prefix="")
    return encoder


# --------------------------------------------------------------------------------------------
# Building the payload


def _model_payload(
    fitted: FittedUmap, include_embedding: bool
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata (decoded values) and tensors of a model file (the encoder's in their dtypes)."""
    encoder = fitted.encoder
    if type(encoder) is MLP:
        spec = encoder.spec()
    else:
        cls = type(encoder)
        spec = {"type": "custom", "class": f"{cls.__module__}.{cls.__qualname__}"}
    tensors = _state_tensors(encoder, prefix="encoder.")
    tensors["standardizer.mean"] = _as_f32(fitted.standardizer.mean)
    tensors["standardizer.std"] = _as_f32(fitted.standardizer.std)
    if include_embedding:
        if fitted.embedding is None:
            raise ValueError("include_embedding=True but this model has no training embedding")
        tensors["embedding"] = _as_f32(fitted.embedding)
    index = fitted.training_index
    if index is not None:
        tensors.update({name: _as_f32(t) for name, t in index.tensors().items()})
    metadata = {
        "pumap.format": MODEL_FORMAT,
        "pumap.format_version": FORMAT_VERSION if index is not None else _PLAIN_MODEL_VERSION,
        "pumap.library_version": __version__,
        "pumap.config": fitted.config.to_dict(),
        "pumap.encoder": spec,
        "pumap.n_features": int(fitted.n_features),
        "pumap.n_components": int(fitted.n_components),
        "pumap.a": float(fitted.a),
        "pumap.b": float(fitted.b),
        "pumap.has_embedding": bool(include_embedding),
        "pumap.losses": [float(v) if math.isfinite(v) else None for v in fitted.losses],
    }
    if index is not None:
        metadata["pumap.training_index"] = {
            "metric": index.metric,
            "n_samples": index.n_samples,
            "dims": int(index.points.shape[1]),
            "sketch": index.axes is not None,
        }
    return metadata, tensors


def _state_tensors(module: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    state = module.state_dict().items()
    return {prefix + name: _as_stored(prefix + name, value) for name, value in state}


def _as_stored(name: str, value: torch.Tensor) -> np.ndarray:
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
    if array.dtype.str not in _SAFETENSORS_DTYPES:
        raise ValueError(
            f"cannot save tensor {name}: pumap's files do not hold {value.dtype}; {fix}"
        )
    return array if array.flags.c_contiguous else array.copy(order="C")


def _as_f32(value: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(value, dtype="<f4")  # not ascontiguousarray: it turns 0-d into 1-d
    return array if array.flags.c_contiguous else array.copy(order="C")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------------------------
# Atomic writes


def _is_gguf_name(path: Path) -> bool:
    return path.suffix.lower() == ".gguf"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a fresh file beside ``path``, fsync it, then rename it to ``path``.

    On any failure (an exception or an interrupt) the temporary file is removed and an
    existing file at ``path`` is left as it was.
    """
    directory = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    if not directory.is_dir():  # name the folder, not the temporary file that cannot be made
        missing = not directory.exists()
        what = f"folder {directory} does not exist" if missing else f"{directory} is not a folder"
        kind = FileNotFoundError if missing else NotADirectoryError
        raise kind(errno.ENOENT if missing else errno.ENOTDIR, what, str(path))
    tmp = directory / f".{path.name[:200]}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, as open() does.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    os.close(os.open(tmp, flags, 0o666))
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows opening a directory (POSIX)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# safetensors


def _write_safetensors(
    path: Path, metadata: Mapping[str, Any], tensors: Mapping[str, np.ndarray]
) -> None:
    """Write a safetensors file with deterministic bytes.

    Every metadata value is JSON-encoded; the header is JSON with sorted keys and no spaces,
    padded with spaces so that the tensor data starts at an 8-byte boundary; the tensors are
    laid out one after the other in name order.
    """
    header: dict[str, Any] = {"__metadata__": {k: _json(v) for k, v in metadata.items()}}
    offset = 0
    names = sorted(tensors)
    for name in names:
        array = tensors[name]
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[array.dtype.str],
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


def _read_safetensors(path: Path, blob: bytes) -> tuple[dict[str, str], dict[str, Any], bytes]:
    """Parse the header: raw string metadata, tensor entries and the data buffer."""
    if len(blob) < 8:
        raise ModelFormatError(path, f"truncated safetensors file ({len(blob)} bytes)")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > _MAX_SAFETENSORS_HEADER:
        raise ModelFormatError(path, f"safetensors header size {size} is implausibly large")
    if 8 + size > len(blob):
        raise ModelFormatError(
            path, f"truncated safetensors file: the header needs {size} bytes, {len(blob) - 8} left"
        )
    try:
        header = json.loads(blob[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ModelFormatError(path, f"safetensors header does not parse: {err}") from None
    if not isinstance(header, dict):
        raise ModelFormatError(path, "safetensors header is not a JSON object")
    raw_meta = header.pop("__metadata__", None) or {}
    if not isinstance(raw_meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_meta.items()
    ):
        raise ModelFormatError(path, "safetensors __metadata__ is not a string-to-string map")
    return raw_meta, header, blob[8 + size :]


def _safetensors_arrays(
    path: Path, entries: dict[str, Any], data: bytes, dtypes: tuple[str, ...] = ("F32",)
) -> dict[str, np.ndarray]:
    """The tensors, each of one of the safetensors ``dtypes`` (anything else is refused)."""
    tensors: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            shape = tuple(shape)
            valid = all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            valid = valid and all(isinstance(v, int) and v >= 0 for v in (begin, end))
        except (TypeError, KeyError, ValueError):
            valid = False
        if not valid:
            raise ModelFormatError(path, f"tensor {name!r} has a malformed header entry: {entry!r}")
        if dtype not in dtypes:
            raise ModelFormatError(
                path, f"tensor {name!r} has dtype {dtype}; pumap stores {', '.join(dtypes)}"
            )
        np_dtype = _SAFETENSORS_CODES[dtype]
        n_bytes = np_dtype.itemsize * math.prod(shape)
        if end - begin != n_bytes:
            raise ModelFormatError(
                path,
                f"tensor {name!r}: shape {shape} needs {n_bytes} bytes, offsets give {end - begin}",
            )
        if end > len(data):
            raise ModelFormatError(
                path,
                f"truncated safetensors file: tensor {name!r} ends at byte {end} of the data "
                f"but only {len(data)} are there",
            )
        tensors[name] = (
            np.frombuffer(data, dtype=np_dtype, count=math.prod(shape), offset=begin)
            .reshape(shape)
            .astype(np_dtype.newbyteorder("="), copy=True)
        )
    return tensors


def _decode_safetensors_metadata(path: Path, raw: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for key, text in raw.items():
        if not key.startswith("pumap."):
            continue
        try:
            metadata[key] = json.loads(text)
        except ValueError as err:
            raise ModelFormatError(path, f"metadata {key} is not valid JSON: {err}") from None
    return metadata


# --------------------------------------------------------------------------------------------
# GGUF


def _check_gguf_dtypes(tensors: Mapping[str, np.ndarray]) -> None:
    other = [f"{name} is {a.dtype}" for name, a in tensors.items() if a.dtype != np.float32]
    if other:
        raise ValueError(
            f"cannot save as GGUF: {', '.join(other[:5])}, and pumap's GGUF files hold float32 "
            "only; save to a .safetensors name, which keeps each tensor's dtype"
        )


def _check_gguf_names(tensors: Mapping[str, np.ndarray]) -> None:
    for name in tensors:
        if len(name.encode("utf-8")) > _GGUF_MAX_NAME:
            raise ValueError(
                f"tensor name {name!r} is longer than GGUF's {_GGUF_MAX_NAME} bytes; "
                "save to .safetensors instead"
            )


def _write_gguf(path: Path, metadata: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
    """Write GGUF: ``general.architecture = "pumap"``, typed ``pumap.*`` keys, F32 tensors."""
    import gguf

    writer = gguf.GGUFWriter(path, GGUF_ARCHITECTURE)
    for key, value in metadata.items():
        kind = _KEY_KINDS.get(key, "json")
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
            writer.add_string(key, _json(value))
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name])
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _read_gguf(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
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
                if _KEY_KINDS.get(key) == "json":
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


# --------------------------------------------------------------------------------------------
# Reading and checking


def _read_head(path: Path, n: int) -> bytes:
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


def _sniff(head: bytes) -> str | None:
    if head.startswith(GGUF_MAGIC):
        return "gguf"
    if len(head) >= 9 and head[8:9] == b"{":
        (size,) = struct.unpack("<Q", head[:8])
        if size <= _MAX_SAFETENSORS_HEADER:
            return "safetensors"
    return None


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Detect the format, read metadata and tensors, check the format name and version."""
    fmt = detect_format(path)
    if fmt == "gguf":
        metadata, tensors = _read_gguf(path)
    else:
        try:
            blob = path.read_bytes()
        except OSError as err:
            raise ModelFormatError(path, f"cannot be read: {err.strerror or err}") from None
        raw, entries, data = _read_safetensors(path, blob)
        if "pumap.format" not in raw:
            raise ModelFormatError(
                path, "a safetensors file without pumap metadata (not written by pumap)"
            )
        metadata = _decode_safetensors_metadata(path, raw)
        _check_format(path, metadata)  # before the tensors: a newer version may lay them out anew
        tensors = _safetensors_arrays(path, entries, data, tuple(_SAFETENSORS_CODES))
        return metadata, tensors
    _check_format(path, metadata)
    return metadata, tensors


def _check_format(path: Path, metadata: dict[str, Any]) -> None:
    if "pumap.format" not in metadata:
        raise ModelFormatError(path, "no pumap.format metadata: not a pumap file")
    fmt, version = metadata.get("pumap.format"), metadata.get("pumap.format_version")
    if fmt not in (MODEL_FORMAT, WEIGHTS_FORMAT):
        raise ModelFormatError(path, f"unknown pumap.format {fmt!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFormatError(
            path, f"pumap.format_version must be a positive integer, got {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            path,
            f"format version {version} is newer than this pumap ({__version__}) reads "
            f"(up to {FORMAT_VERSION}); upgrade pumap",
        )


def _check_model_metadata(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "uint": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "float": lambda v: (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ),
        "bool": lambda v: isinstance(v, bool),
    }
    for key, kind in _MODEL_KEYS.items():
        if key not in metadata:
            raise ModelFormatError(path, f"metadata {key} is missing")
        value = metadata[key]
        if kind == "json":
            wanted = list if key == "pumap.losses" else dict
            ok = isinstance(value, wanted)
        else:
            ok = checks[kind](value)
        if not ok:
            raise ModelFormatError(path, f"metadata {key} has an invalid value: {value!r}")
    index_meta = metadata.get("pumap.training_index")
    if index_meta is not None and not isinstance(index_meta, dict):
        raise ModelFormatError(
            path, f"metadata pumap.training_index has an invalid value: {index_meta!r}"
        )
    if not all(v is None or isinstance(v, (int, float)) for v in metadata["pumap.losses"]):
        raise ModelFormatError(path, "metadata pumap.losses must be a list of numbers")
    return metadata


def _rebuild_encoder(path: Path, spec: dict[str, Any]) -> nn.Module:
    if spec.get("type") == "custom":
        raise ModelFormatError(
            path,
            f"the encoder is a custom module ({spec.get('class', '?')}) that a file cannot "
            "rebuild; pass one to fill: FittedUmap.load(path, encoder=MyModule(...))",
        )
    try:
        return MLP.from_spec(spec)
    except (ValueError, KeyError, TypeError) as err:
        raise ModelFormatError(
            path, f"metadata pumap.encoder does not describe an MLP: {err}"
        ) from None


def _fill_module(
    path: Path, module: nn.Module, tensors: dict[str, np.ndarray], prefix: str
) -> None:
    """Copy ``tensors`` into ``module`` after checking names and shapes against its state."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"encoder must be a torch.nn.Module, got {type(module).__name__}")
    state = module.state_dict()
    missing = sorted(set(state) - set(tensors))
    unexpected = sorted(set(tensors) - set(state))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing from the file: " + ", ".join(prefix + k for k in missing[:5]))
        if unexpected:
            parts.append("not in the encoder: " + ", ".join(prefix + k for k in unexpected[:5]))
        raise ModelFormatError(
            path, f"the file's tensors do not match the encoder ({'; '.join(parts)})"
        )
    for name, value in state.items():
        if tuple(value.shape) != tensors[name].shape:
            raise ModelFormatError(
                path,
                f"tensor {prefix}{name} has shape {tensors[name].shape} in the file but "
                f"{tuple(value.shape)} in the encoder",
            )
    try:
        module.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    except RuntimeError as err:
        raise ModelFormatError(path, f"cannot load the tensors into the encoder: {err}") from None
