"""Save and load fitted models: the public names of `pumap.model.io`, where they are defined
(the file layout is in docs/file-format.md)."""

from .model.io import (
    FORMAT_VERSION,
    ModelFormatError,
    ModelParts,
    detect_format,
    load_weights,
    read_metadata,
    read_model,
    save_model,
    save_weights,
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
