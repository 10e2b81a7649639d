"""What a pumap model file holds, whatever its container: keys, tensors and their checks.

`pumap.model.io` reads and writes model files through `pumap.model.formats`; this module knows their
contents (docs/file-format.md): the ``pumap.*`` metadata keys and their kinds, the tensors
a fitted model becomes (`model_payload`), and the checks that turn a file's metadata and
tensors back into an encoder, a standardizer and a training index, each problem a
`ModelFormatError` naming the key or tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..config import UmapConfig
from ..data.preprocess import Standardizer
from ..metric_names import EXACT_METRICS as METRICS
from ..training.decoder import module_spec
from ..training.encoder import MLP
from .formats import ModelFormatError, as_f32, as_stored
from .refine import TrainingIndex

MODEL_FORMAT = "pumap-model"
WEIGHTS_FORMAT = "pumap-weights"
# The newest version this pumap reads, and the one every model file is written as. Version 1
# is pumap 0.1's; 2 added the training index (``refine.*`` tensors, ``pumap.training_index``);
# 3 is umap-learn's n_neighbors convention (the point itself counted) and 0.2's config fields,
# so that a reader of versions 1-2 (pumap 0.1) refuses the file instead of taking n_neighbors
# one too high. Files before 3 are converted on load (`config_as_today`).
FORMAT_VERSION = 3
COUNTS_SELF_VERSION = 3
# A weights file (encoder tensors only, no config) is laid out as in pumap 0.1, which reads it.
WEIGHTS_VERSION = 1
# Metadata key -> kind. Safetensors stores every value JSON-encoded; GGUF stores "str" as
# STRING, "uint" as UINT32/UINT64, "float" as FLOAT64, "bool" as BOOL and "json" as a STRING
# holding JSON text.
MODEL_KEYS: dict[str, str] = {
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
OPTIONAL_MODEL_KEYS: dict[str, str] = {
    "pumap.training_index": "json",
    "pumap.knn": "json",
    "pumap.world_size": "uint",
    "pumap.decoder": "json",
    "pumap.n_neighbors_counts_self": "bool",
}
# Written (true) by every model file since pumap's n_neighbors counts the point itself, as
# umap-learn's does (files of versions 1-2 written before it store 0.1's n_neighbors, one
# less; from version 3 the version says it).
COUNTS_SELF_KEY = "pumap.n_neighbors_counts_self"
KEY_KINDS = {**MODEL_KEYS, **OPTIONAL_MODEL_KEYS}


class ModelParts(NamedTuple):
    """What a model file holds: `FittedUmap`'s constructor arguments, in order.

    The model files (and the ONNX export) work on these parts, never on `FittedUmap`:
    ``FittedUmap.load(path)`` is ``FittedUmap(*read_model(path))``, and ``fitted.save(path)``
    hands its parts to `save_model`. A `FittedUmap` has the same attributes, so it may be
    passed where parts are asked for.
    """

    encoder: nn.Module
    standardizer: Standardizer
    config: UmapConfig
    a: float
    b: float
    embedding: np.ndarray | None
    losses: list[float]
    training_index: TrainingIndex | None
    knn_info: dict[str, Any] | None = None
    world_size: int = 1  # files without pumap.world_size: an ordinary fit's
    decoder: nn.Module | None = None


def read_training_index(
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


def model_payload(
    model: ModelParts, include_embedding: bool
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Metadata (decoded values) and tensors of a model file (the encoder's in their dtypes)."""
    encoder = model.encoder
    if type(encoder) is MLP:
        spec = encoder.spec()
    else:
        cls = type(encoder)
        spec = {"type": "custom", "class": f"{cls.__module__}.{cls.__qualname__}"}
    tensors = state_tensors(encoder, prefix="encoder.")
    tensors["standardizer.mean"] = as_f32(model.standardizer.mean)
    tensors["standardizer.std"] = as_f32(model.standardizer.std)
    if include_embedding:
        if model.embedding is None:
            raise ValueError("include_embedding=True but this model has no training embedding")
        tensors["embedding"] = as_f32(model.embedding)
    index = model.training_index
    if index is not None:
        tensors.update({name: as_f32(t) for name, t in index.tensors().items()})
    metadata = {
        "pumap.format": MODEL_FORMAT,
        "pumap.format_version": FORMAT_VERSION,
        "pumap.library_version": __version__,
        "pumap.config": _config_for_file(model.config),
        "pumap.encoder": spec,
        "pumap.n_features": int(model.standardizer.n_features),
        "pumap.n_components": int(model.config.n_components),
        "pumap.a": float(model.a),
        "pumap.b": float(model.b),
        "pumap.has_embedding": bool(include_embedding),
        "pumap.losses": [float(v) if math.isfinite(v) else None for v in model.losses],
        "pumap.world_size": int(model.world_size),  # older readers ignore it
        COUNTS_SELF_KEY: True,
    }
    if model.decoder is not None:
        metadata["pumap.decoder"] = module_spec(model.decoder)
        tensors.update(state_tensors(model.decoder, prefix="decoder."))
    if index is not None:
        metadata["pumap.training_index"] = {
            "metric": index.metric,
            "n_samples": index.n_samples,
            "dims": int(index.points.shape[1]),
            "sketch": index.axes is not None,
        }
    if getattr(model, "knn_info", None) is not None:
        metadata["pumap.knn"] = dict(model.knn_info)
    return metadata, tensors


def read_decoder(
    path: Path,
    spec: Any,
    tensors: dict[str, np.ndarray],
    decoder: nn.Module | None,
    n_features: int,
    n_components: int,
) -> nn.Module:
    """The ``decoder.*`` tensors in ``decoder`` (a custom module) or in the MLP ``spec``
    describes, checked against the model's dimensions."""
    if not isinstance(spec, dict):
        raise ModelFormatError(path, f"metadata pumap.decoder has an invalid value: {spec!r}")
    if decoder is None:
        if spec.get("type") == "custom":
            raise ModelFormatError(
                path,
                f"the decoder is a custom module ({spec.get('class', '?')}) that a file cannot "
                "rebuild; pass one to fill: FittedUmap.load(path, decoder=MyModule(...))",
            )
        try:
            decoder = MLP.from_spec(spec)
        except (ValueError, KeyError, TypeError) as err:
            raise ModelFormatError(
                path, f"metadata pumap.decoder does not describe an MLP: {err}"
            ) from None
        if decoder.n_features != n_components or decoder.n_components != n_features:
            raise ModelFormatError(
                path,
                f"pumap.decoder describes {decoder.n_features} -> {decoder.n_components} but "
                f"the model's decoder maps {n_components} -> {n_features}",
            )
    own = {k[len("decoder.") :]: v for k, v in tensors.items() if k.startswith("decoder.")}
    fill_module(path, decoder, own, prefix="decoder.", what="decoder")
    return decoder


def state_tensors(module: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    state = module.state_dict().items()
    return {prefix + name: as_stored(prefix + name, value) for name, value in state}


def check_format(path: Path, metadata: dict[str, Any]) -> None:
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


def check_model_metadata(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "uint": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "float": lambda v: (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ),
        "bool": lambda v: isinstance(v, bool),
    }
    for key, kind in MODEL_KEYS.items():
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
    knn_meta = metadata.get("pumap.knn")
    if knn_meta is not None and not isinstance(knn_meta, dict):
        raise ModelFormatError(path, f"metadata pumap.knn has an invalid value: {knn_meta!r}")
    world_size = metadata.get("pumap.world_size", 1)
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ModelFormatError(path, f"metadata pumap.world_size must be >= 1, got {world_size!r}")
    if not isinstance(metadata.get(COUNTS_SELF_KEY, False), bool):
        raise ModelFormatError(
            path, f"metadata {COUNTS_SELF_KEY} has an invalid value: {metadata[COUNTS_SELF_KEY]!r}"
        )
    if not all(v is None or isinstance(v, (int, float)) for v in metadata["pumap.losses"]):
        raise ModelFormatError(path, "metadata pumap.losses must be a list of numbers")
    return metadata


def rebuild_encoder(path: Path, spec: dict[str, Any]) -> nn.Module:
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


def fill_module(
    path: Path,
    module: nn.Module,
    tensors: dict[str, np.ndarray],
    prefix: str,
    what: str = "encoder",
) -> None:
    """Copy ``tensors`` into ``module`` after checking names and shapes against its state."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"{what} must be a torch.nn.Module, got {type(module).__name__}")
    state = module.state_dict()
    missing = sorted(set(state) - set(tensors))
    unexpected = sorted(set(tensors) - set(state))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing from the file: " + ", ".join(prefix + k for k in missing[:5]))
        if unexpected:
            parts.append(f"not in the {what}: " + ", ".join(prefix + k for k in unexpected[:5]))
        raise ModelFormatError(
            path, f"the file's tensors do not match the {what} ({'; '.join(parts)})"
        )
    for name, value in state.items():
        if tuple(value.shape) != tensors[name].shape:
            raise ModelFormatError(
                path,
                f"tensor {prefix}{name} has shape {tensors[name].shape} in the file but "
                f"{tuple(value.shape)} in the {what}",
            )
    try:
        module.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    except RuntimeError as err:
        raise ModelFormatError(path, f"cannot load the tensors into the {what}: {err}") from None


# Options added after 0.2.0, and batch_size and mixed_precision (whose automatic None 0.2.0
# refuses), are written only when set: a model fitted without them stays readable by 0.2.0,
# which refuses config keys it does not know. A missing key reads as its default (0.2.0's:
# batch_size 65536, mixed_precision False).
_WRITTEN_ONLY_WHEN_SET = ("input_pca", "batch_size", "mixed_precision")


def _config_for_file(config: UmapConfig) -> dict[str, Any]:
    stored = config.to_dict()
    defaults = UmapConfig().to_dict()
    for key in _WRITTEN_ONLY_WHEN_SET:
        if stored[key] == defaults[key]:
            del stored[key]
    return stored


def config_as_today(meta: dict[str, Any]) -> dict[str, Any]:
    """The stored config with today's ``n_neighbors``: a file of a version before
    `COUNTS_SELF_VERSION` without `COUNTS_SELF_KEY` was written when it did not count the
    point itself (pumap 0.1), so its value is one less."""
    config = dict(meta["pumap.config"])
    counts_self = meta.get("pumap.format_version", 1) >= COUNTS_SELF_VERSION or meta.get(
        COUNTS_SELF_KEY, False
    )
    if not counts_self and isinstance(config.get("n_neighbors"), int):
        config["n_neighbors"] += 1
    return config
