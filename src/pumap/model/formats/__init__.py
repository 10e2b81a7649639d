"""The file containers pumap writes and reads: metadata and tensors in, a safetensors or GGUF
file out (written atomically), and back.

`pumap.model.io` (model and weights files) and `pumap.training.checkpoint` (training
checkpoints) build their files from these pieces; nothing here knows about models. Every
problem with a file being read raises `ModelFormatError`.
"""

from .atomic import atomic_write
from .common import (
    GGUF_MAGIC,
    MAX_SAFETENSORS_HEADER,
    ModelFormatError,
    as_f32,
    json_text,
    read_head,
    sniff,
)
from .gguf_file import GGUF_ARCHITECTURE, check_gguf_tensors, read_gguf, write_gguf
from .safetensors_file import (
    ALL_DTYPES,
    DTYPE_CODES,
    SafetensorsFile,
    as_stored,
    decode_metadata,
    write_safetensors,
)

__all__ = [
    "ALL_DTYPES",
    "DTYPE_CODES",
    "GGUF_ARCHITECTURE",
    "GGUF_MAGIC",
    "MAX_SAFETENSORS_HEADER",
    "ModelFormatError",
    "SafetensorsFile",
    "as_f32",
    "as_stored",
    "atomic_write",
    "check_gguf_tensors",
    "decode_metadata",
    "json_text",
    "read_gguf",
    "read_head",
    "sniff",
    "write_gguf",
    "write_safetensors",
]
