"""Save and load fitted models as safetensors (the default) or GGUF files.

Both layouts hold the same things: float32 tensors (a custom encoder's keep their own dtypes in
safetensors) with stable names and typed metadata under ``pumap.*`` keys; docs/file-format.md
specifies them key by key, and `pumap.model.model_file` holds those keys and the checks of what a
file holds. The containers themselves (reading, deterministic writing, atomic writes) are in
`pumap.model.formats`, shared with training checkpoints. Reading never unpickles and
never runs code from the file: tensors are read with `safetensors.safe_open` or with
`gguf.GGUFReader`. Writes are atomic: the file is written to a temporary file in the same
folder, flushed to disk and renamed over the target, so a failed save leaves an existing file
untouched. Every problem with a file being read raises `ModelFormatError`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..config import UmapConfig
from ..data.preprocess import Standardizer
from ..device import resolve_device
from .formats import (
    ALL_DTYPES,
    ModelFormatError,
    SafetensorsFile,
    atomic_write,
    check_gguf_tensors,
    decode_metadata,
    read_gguf,
    read_head,
    sniff,
    write_gguf,
    write_safetensors,
)
from .model_file import (
    FORMAT_VERSION,
    KEY_KINDS,
    WEIGHTS_FORMAT,
    WEIGHTS_VERSION,
    ModelParts,
    check_format,
    check_model_metadata,
    config_as_today,
    fill_module,
    model_payload,
    read_decoder,
    read_training_index,
    rebuild_encoder,
    state_tensors,
)

__all__ = [
    "FORMAT_VERSION",
    "ModelFormatError",
    "ModelParts",
    "detect_format",
    "load_weights",
    "read_metadata",
    "read_model",
    "save_model",
    "save_weights",
]

# --------------------------------------------------------------------------------------------
# Public API


def save_model(
    fitted: ModelParts, path: str | os.PathLike[str], *, include_embedding: bool = False
) -> Path:
    """Write a fitted model to ``path``, atomically.

    Parameters
    ----------
    fitted : FittedUmap or ModelParts
        The model to save: a `FittedUmap`, or its parts (``fitted.save`` passes those).
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
    metadata, tensors = model_payload(fitted, include_embedding)
    if _is_gguf_name(path):
        check_gguf_tensors(tensors)
        atomic_write(path, lambda tmp: write_gguf(tmp, metadata, tensors, KEY_KINDS))
    else:
        atomic_write(path, lambda tmp: write_safetensors(tmp, metadata, tensors))
    return path


def save_weights(model: ModelParts | nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write only the encoder's tensors (their own dtypes, named by ``state_dict`` key) to
    safetensors.

    The file loads into the same architecture with `load_weights`, or with plain
    ``module.load_state_dict(safetensors.torch.load_file(path))``.

    Parameters
    ----------
    model : FittedUmap, ModelParts or torch.nn.Module
        A fitted model or its parts (the encoder is saved), or an encoder.
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
    tensors = state_tensors(encoder, prefix="")
    metadata = {
        "pumap.format": WEIGHTS_FORMAT,
        "pumap.format_version": WEIGHTS_VERSION,
        "pumap.library_version": __version__,
    }
    atomic_write(path, lambda tmp: write_safetensors(tmp, metadata, tensors))
    return path


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return ``"gguf"`` or ``"safetensors"`` from the file's first bytes (not its name).

    Raises
    ------
    ModelFormatError
        If the file is missing, empty, or neither GGUF nor safetensors.
    """
    path = Path(path)
    head = read_head(path, 16)
    fmt = sniff(head)
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


def read_model(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    encoder: nn.Module | None = None,
    decoder: nn.Module | None = None,
) -> ModelParts:
    """Read a model written by `save_model`, in either format (detected from its bytes).

    ``FittedUmap.load(path)`` is ``FittedUmap(*read_model(path))``: this module builds the
    parts and never imports `pumap.model.fitted` (which imports this module), not even for
    type hints.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    device : str or torch.device
        Where to put the encoder: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"auto"``.
    encoder : torch.nn.Module, optional
        A module of the saved architecture to fill with the saved weights. Required when the
        model was fitted with a custom encoder; by default an `MLP` is rebuilt from the file.
    decoder : torch.nn.Module, optional
        The same for the model's decoder, if it has one (``decoder.*`` tensors).

    Returns
    -------
    ModelParts

    Raises
    ------
    ModelFormatError
        If the file is missing or not a valid pumap model, or its tensors do not fit the
        architecture (or ``encoder``), or a custom-encoder model is loaded without ``encoder``.
    """
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
    meta = check_model_metadata(path, metadata)
    n_features, n_components = meta["pumap.n_features"], meta["pumap.n_components"]

    try:
        config = UmapConfig.from_dict(config_as_today(meta))
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
    if "pumap.decoder" in meta:
        owned |= {k for k in tensors if k.startswith("decoder.")}
    extra = sorted(set(tensors) - set(expected) - owned)
    if extra:
        raise ModelFormatError(path, f"unexpected tensor(s): {', '.join(extra[:5])}")

    module = encoder if encoder is not None else rebuild_encoder(path, meta["pumap.encoder"])
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
    fill_module(path, module, encoder_tensors, prefix="encoder.")
    module.to(target)

    standardizer = Standardizer(
        torch.from_numpy(tensors["standardizer.mean"]),
        torch.from_numpy(tensors["standardizer.std"]),
    )
    embedding = tensors.get("embedding") if meta["pumap.has_embedding"] else None
    losses = [math.nan if v is None else float(v) for v in meta["pumap.losses"]]
    index = None
    if index_meta is not None:
        index = read_training_index(path, index_meta, tensors, n_features, n_components).to(target)
    decoded = None
    if decoder is not None and "pumap.decoder" not in meta:
        raise ModelFormatError(path, "decoder= was given but this model has no decoder")
    if "pumap.decoder" in meta:
        decoded = read_decoder(
            path, meta["pumap.decoder"], tensors, decoder, n_features, n_components
        ).to(target)
    return ModelParts(
        module, standardizer, config, meta["pumap.a"], meta["pumap.b"], embedding, losses, index,
        meta.get("pumap.knn"),
        meta.get("pumap.world_size", 1),
        decoded,
    )


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
    fill_module(path, encoder, tensors, prefix="")
    return encoder


def _is_gguf_name(path: Path) -> bool:
    return path.suffix.lower() == ".gguf"


# --------------------------------------------------------------------------------------------
# Reading and checking


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Detect the format, read metadata and tensors, check the format name and version."""
    if detect_format(path) == "gguf":
        metadata, tensors = read_gguf(path, KEY_KINDS)
        check_format(path, metadata)
        return metadata, tensors
    with SafetensorsFile(path) as file:
        if "pumap.format" not in file.metadata:
            raise ModelFormatError(
                path, "a safetensors file without pumap metadata (not written by pumap)"
            )
        metadata = decode_metadata(path, file.metadata)
        check_format(path, metadata)  # before the tensors: a newer version may lay them out anew
        return metadata, file.tensors(ALL_DTYPES)

