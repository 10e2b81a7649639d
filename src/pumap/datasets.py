"""Data sets for examples, tests and benchmarks: synthetic clusters, digits, MNIST.

`make_clusters` needs nothing but NumPy; `load_digits` needs scikit-learn (``pumap[sklearn]``);
`load_mnist` reads MNIST's IDX files from a folder and `fetch_mnist` downloads them first
(once, into a cache folder) and checks their MD5 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# MD5 sums of the original gzip files (the same files on every mirror).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
# A mirror of the original files (the one torchvision downloads from).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# Environment variable naming pumap's data folder; MNIST is cached in its ``mnist`` subfolder.
DATA_ENV = "PUMAP_DATA"
DOWNLOAD_TIMEOUT = 60.0  # seconds without data before a download is abandoned
_CHUNK = 1 << 20


def make_clusters(
    n_samples: int,
    n_features: int = 10,
    n_clusters: int = 5,
    seed: int = 0,
    *,
    cluster_std: float = 1.0,
    center_box: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs around random centres, the same for the same arguments.

    Parameters
    ----------
    n_samples : int
        Number of points; the clusters' sizes differ by at most one.
    n_features : int
        Dimension of the points.
    n_clusters : int
        Number of clusters, at most ``n_samples``.
    seed : int
        Seed of every random draw.
    cluster_std : float
        Standard deviation of each cluster along every axis.
    center_box : float
        Centres are drawn uniformly from ``[-center_box, center_box]`` in every axis.

    Returns
    -------
    X : numpy.ndarray
        ``(n_samples, n_features)`` float32.
    labels : numpy.ndarray
        ``(n_samples,)`` int64 cluster index of each point, in ``range(n_clusters)``, shuffled.
    """
    for name, value in (("n_samples", n_samples), ("n_features", n_features),
                        ("n_clusters", n_clusters)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_clusters > n_samples:
        raise ValueError(f"n_clusters ({n_clusters}) must be at most n_samples ({n_samples})")
    if not np.isfinite(cluster_std) or cluster_std < 0:
        raise ValueError(f"cluster_std must be finite and >= 0, got {cluster_std!r}")
    if not np.isfinite(center_box) or center_box < 0:
        raise ValueError(f"center_box must be finite and >= 0, got {center_box!r}")
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-center_box, center_box, size=(n_clusters, n_features))
    labels = rng.permutation(np.arange(n_samples) % n_clusters).astype(np.int64)
    x = centres[labels] + rng.normal(scale=cluster_std, size=(n_samples, n_features))
    return x.astype(np.float32), labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (a copy of UCI's test set, shipped with it).

    Returns
    -------
    X : numpy.ndarray
        ``(1797, 64)`` float32 pixel intensities in ``[0, 16]``.
    y : numpy.ndarray
        ``(1797,)`` int64 digit labels 0-9.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (``pip install 'pumap[sklearn]'``).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as err:
        raise ImportError(
            "load_digits needs scikit-learn; install it with: pip install 'pumap[sklearn]'"
        ) from err
    digits = sklearn_load_digits()
    return np.asarray(digits.data, dtype=np.float32), np.asarray(digits.target, dtype=np.int64)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a NumPy array.

    Raises `ValueError` for a file whose header or size does not match the IDX format,
    or a ``.gz`` file that is not valid gzip.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a valid gzip file ({err})") from err
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
    if any(s < 0 for s in shape):
        raise ValueError(f"{path}: negative dimension in IDX shape {shape}")
    dtype = np.dtype(dtypes[code])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: {len(raw)} bytes, expected {expected} for shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_mnist(data_dir: str | Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """MNIST images as ``(n, 784)`` float32 in ``[0, 1]`` and labels as int64, from IDX gz files.

    Parameters
    ----------
    data_dir : str or Path
        Folder holding the original gzip files (e.g. ``t10k-images-idx3-ubyte.gz``).
    split : {"test", "train"}
        The 10,000-image test split or the 60,000-image training split.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images_name, labels_name = MNIST_FILES[split]
    data_dir = Path(data_dir)
    for name in (images_name, labels_name):
        if not (data_dir / name).is_file():
            raise FileNotFoundError(
                f"{data_dir / name} not found; pass the folder holding the MNIST files, "
                "or download them with pumap.datasets.fetch_mnist"
            )
    images = read_idx(data_dir / images_name)
    labels = read_idx(data_dir / labels_name)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{data_dir}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images.reshape(images.shape[0], -1).astype(np.float32) / 255.0, labels.astype(np.int64)


def default_cache_dir() -> Path:
    """Where `fetch_mnist` keeps MNIST: ``$PUMAP_DATA/mnist``, else ``~/.cache/pumap/mnist``."""
    root = os.environ.get(DATA_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "pumap"
    return base / "mnist"


def fetch_mnist(
    cache_dir: str | Path | None = None,
    split: str = "test",
    url: str = MNIST_URL,
    *,
    checksums: Mapping[str, str | None] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST, downloading the split's two files into ``cache_dir`` the first time.

    A cached file whose MD5 sum matches is used as is; a missing or damaged one is downloaded
    again. Each download goes to a temporary file in ``cache_dir`` that is checked and then
    renamed into place, so an interrupted download never leaves a partial file behind.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Folder for the files; by default ``$PUMAP_DATA/mnist`` or ``~/.cache/pumap/mnist``.
        A folder already holding the files (downloaded by hand) works too.
    split : {"test", "train"}
        Which split to load.
    url : str
        Base URL of a mirror holding the original file names (``https://``, ``http://`` or
        ``file://``); defaults to `MNIST_URL`.
    checksums : mapping of str to str or None, optional
        Expected MD5 sum (hex) per file name; defaults to `MNIST_MD5`. A file missing from
        the mapping, or mapped to ``None``, is not checked.
    timeout : float
        Seconds to wait for the server before giving up.

    Returns
    -------
    X : numpy.ndarray
        ``(n, 784)`` float32 in ``[0, 1]``.
    y : numpy.ndarray
        ``(n,)`` int64 labels.

    Raises
    ------
    ConnectionError
        If a file cannot be downloaded; the message says how to download it by hand.
    ValueError
        If a downloaded file's MD5 sum differs from the expected one, or it is not valid IDX.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    expected = MNIST_MD5 if checksums is None else checksums
    base = url if url.endswith("/") else url + "/"
    cache.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES[split]:
        target = cache / name
        md5 = expected.get(name)
        if target.is_file():
            if md5 is None or _md5(target) == md5.lower():
                log.debug("using cached %s", target)
                continue
            log.warning("%s is damaged (MD5 differs from %s); downloading it again", target, md5)
        _download(base + name, target, md5, timeout, cache)
    return load_mnist(cache, split)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(source: str, target: Path, md5: str | None, timeout: float, cache: Path) -> None:
    """Copy ``source`` to ``target`` through a checked temporary file in the same folder."""
    log.info("downloading %s to %s", source, target)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(source, timeout=timeout) as resp,
            ):
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    digest.update(block)
                    out.write(block)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            reason = getattr(err, "reason", err)
            raise ConnectionError(
                f"could not download {source}: {reason}. Download {target.name} by hand "
                f"(from {source.rsplit('/', 1)[0]}/ or another MNIST mirror) into a folder "
                f"and pass it as data_dir to load_mnist, or as cache_dir to fetch_mnist "
                f"(currently {cache})."
            ) from err
        got = digest.hexdigest()
        if md5 is not None and got != md5.lower():
            raise ValueError(
                f"checksum mismatch for {source}: MD5 {got}, expected {md5}; "
                "the mirror may be serving a different or damaged file"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
