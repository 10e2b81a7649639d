"""Data sets for examples, tests and benchmarks: synthetic clusters, digits, MNIST."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a NumPy array.

    Raises `ValueError` for a file whose header or size does not match the IDX format.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = raw[2], raw[3]
    if code not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    dtype = np.dtype(dtypes[code])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(data_dir: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images as ``(n, 784)`` float32 in ``[0, 1]`` and labels as int64, from IDX gz files."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_name, labels_name = MNIST_FILES[split]
    data_dir = Path(data_dir)
    for name in (images_name, labels_name):
        if not (data_dir / name).is_file():
            raise FileNotFoundError(f"{data_dir / name} not found; pass the folder holding the MNIST files")
    images = read_idx(data_dir / images_name)
    labels = read_idx(data_dir / labels_name)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{data_dir}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images.reshape(images.shape[0], -1).astype(np.float32) / 255.0, labels.astype(np.int64)
