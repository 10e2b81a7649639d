"""pumap.datasets: clusters, digits, IDX reading and the MNIST download (tested offline)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pumap import datasets
from pumap.datasets import fetch_mnist, load_digits, load_mnist, make_clusters, read_idx

TEST_FILES = datasets.MNIST_FILES["test"]


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, dict[str, str], np.ndarray, np.ndarray]:
    """A folder holding a tiny fake MNIST test split, and the files' MD5 sums."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7, dtype=np.uint8)
    sums = {}
    for name, array in zip(TEST_FILES, (images, labels), strict=True):
        data = gzip.compress(_idx_bytes(array))
        (folder / name).write_bytes(data)
        sums[name] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return folder, sums, images, labels


@pytest.fixture
def server(mirror: tuple[Path, dict, np.ndarray, np.ndarray]) -> Iterator[tuple[str, list]]:
    """An HTTP server on 127.0.0.1 serving the mirror folder; yields its URL and request log."""
    folder = mirror[0]
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_make_clusters_shapes_and_determinism() -> None:
    x, y = make_clusters(101, n_features=3, n_clusters=4, seed=5)
    assert x.shape == (101, 3) and x.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    assert set(np.bincount(y)) <= {25, 26}
    x2, y2 = make_clusters(101, n_features=3, n_clusters=4, seed=5)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, make_clusters(101, n_features=3, n_clusters=4, seed=6)[0])


def test_make_clusters_are_separated() -> None:
    x, y = make_clusters(400, n_features=8, n_clusters=3, seed=0, cluster_std=0.5, center_box=20)
    centres = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).mean() > 0.99


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_samples": 3, "n_clusters": 4},
        {"n_samples": 5, "n_features": 0},
        {"n_samples": 5, "cluster_std": -1.0},
    ],
)
def test_make_clusters_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_clusters(**kwargs)


def test_load_digits() -> None:
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name: str, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(ImportError, match=r"pumap\[sklearn\]"):
        load_digits()


def test_read_idx_roundtrip(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(array))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(_idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx.gz"), array)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02\x08\x01", "magic"),
        (bytes([0, 0, 0x42, 1]) + struct.pack(">i", 1) + b"\x00", "element type"),
        (bytes([0, 0, 0x08, 3]) + b"\x00\x00", "truncated"),
        (bytes([0, 0, 0x08, 1]) + struct.pack(">i", 5) + b"\x00\x00", "expected"),
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_read_idx_rejects_bad_gzip(tmp_path: Path) -> None:
    whole = gzip.compress(_idx_bytes(np.zeros((50, 50), np.uint8)))
    (tmp_path / "not.gz").write_bytes(b"plain text, not gzip")
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    for name in ("not.gz", "cut.gz"):
        with pytest.raises(ValueError, match="gzip"):
            read_idx(tmp_path / name)


def test_load_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match="fetch_mnist"):
        load_mnist(tmp_path)


def test_fetch_mnist_downloads_then_uses_cache(server, mirror, tmp_path: Path) -> None:
    url, requests = server
    _, sums, images, labels = mirror
    cache = tmp_path / "cache"
    x, y = fetch_mnist(cache, url=url, checksums=sums)
    assert x.shape == (7, 784) and x.dtype == np.float32
    np.testing.assert_allclose(x, images.reshape(7, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert len(requests) == 2
    assert sorted(p.name for p in cache.iterdir()) == sorted(TEST_FILES)  # no temporary left
    x2, _ = fetch_mnist(cache, url=url, checksums=sums)
    assert len(requests) == 2  # the second call read the cache
    np.testing.assert_array_equal(x, x2)


def test_fetch_mnist_redownloads_a_damaged_file(server, mirror, tmp_path: Path) -> None:
    url, requests = server
    cache = tmp_path / "cache"
    fetch_mnist(cache, url=url, checksums=mirror[1])
    (cache / TEST_FILES[1]).write_bytes(b"damaged")
    _, y = fetch_mnist(cache, url=url, checksums=mirror[1])
    assert requests[-1].endswith(TEST_FILES[1]) and len(requests) == 3
    np.testing.assert_array_equal(y, mirror[3])


def test_fetch_mnist_checksum_mismatch(server, tmp_path: Path) -> None:
    url, _ = server
    cache = tmp_path / "cache"
    wrong = dict.fromkeys(TEST_FILES, "0" * 32)
    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch_mnist(cache, url=url, checksums=wrong)
    assert list(cache.iterdir()) == []  # the bad download was not kept


def test_fetch_mnist_file_url_and_env_cache(mirror, tmp_path, monkeypatch) -> None:
    folder, sums, _, labels = mirror
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path / "data"))
    assert datasets.default_cache_dir() == tmp_path / "data" / "mnist"
    _, y = fetch_mnist(url=folder.as_uri(), checksums=sums)
    np.testing.assert_array_equal(y, labels)
    assert (tmp_path / "data" / "mnist" / TEST_FILES[0]).is_file()


def test_fetch_mnist_network_failure(server, tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(ConnectionError, match=r"by hand.*data_dir"):
        fetch_mnist(tmp_path / "cache", url=url + "missing/", checksums={})
    with pytest.raises(ConnectionError, match="could not download"):
        fetch_mnist(tmp_path / "cache", url=(tmp_path / "nowhere").as_uri())
    assert list((tmp_path / "cache").iterdir()) == []


def test_fetch_mnist_corrupt_file_without_checksum(tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in TEST_FILES:
        (folder / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01garbage"))
    with pytest.raises(ValueError, match="expected"):
        fetch_mnist(tmp_path / "cache", url=folder.as_uri(), checksums={})


def test_official_checksums_match_the_shared_test_split(mnist_dir: Path) -> None:
    for name in TEST_FILES:
        assert datasets._md5(mnist_dir / name) == datasets.MNIST_MD5[name]
    x, y = fetch_mnist(mnist_dir, url="http://127.0.0.1:9/")  # valid cache: no download
    assert x.shape == (10_000, 784) and np.bincount(y).min() > 800


def test_the_mnist_tests_find_their_data_through_the_environment(monkeypatch, tmp_path) -> None:
    from conftest import MNIST_ENV, find_mnist_dir

    monkeypatch.delenv(MNIST_ENV, raising=False)
    repository = Path(__file__).resolve().parents[1]
    assert find_mnist_dir() == repository.parent / "shared" / "data" / "mnist"
    monkeypatch.setenv(MNIST_ENV, str(tmp_path))
    assert find_mnist_dir() == tmp_path
