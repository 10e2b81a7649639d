"""Shared fixtures: small seeded data and the real data sets when present.

The MNIST tests read the test split (``t10k-*-idx?-ubyte.gz``) from the folder named by the
environment variable ``PUMAP_MNIST_DIR``, else from ``../shared/data/mnist`` beside the
repository; without it they are skipped. The Fashion-MNIST tests read both splits from
``$PUMAP_FMNIST_DIR``, else from where the Debian package ``dataset-fashion-mnist`` installs them.

``benchmarks/`` goes on ``sys.path`` so that tests import ``_metrics`` (the k-NN parity
measures) from there: the benchmarks report the very numbers the tests check, from one module
that is not part of the installed package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

MNIST_ENV = "PUMAP_MNIST_DIR"
DEFAULT_MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
FMNIST_ENV = "PUMAP_FMNIST_DIR"
DEFAULT_FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# Tolerances of float32 results that another code path computes (another batch size, a sparse
# product, onnxruntime, Dask blocks): BLAS and oneDNN pick kernels by shape and CPU (AVX2 on
# AMD, AVX-512 on Intel), so the sums run in another order and each output can move by a few
# float32 roundings of the magnitudes summed. An MLP of three layers of width <= 128 sums about
# sqrt(128) ~ 11 rounding errors of eps per layer, ~ 3 layers deep, and the sums can be a few
# times larger than the result (cancellation): 64 eps of the result's scale covers that with a
# margin of ~2 (observed: up to ~4 eps, 3e-8 at a scale of ~10, issue #22).
EPS32 = float(np.finfo(np.float32).eps)
FORWARD_EPS = 64


def forward_atol(reference: np.ndarray, factor: float = FORWARD_EPS) -> float:
    """Absolute tolerance of a float32 network output recomputed by another kernel: ``factor``
    float32 roundings of the largest magnitude in ``reference``."""
    return factor * EPS32 * max(float(np.abs(np.asarray(reference)).max()), 1.0)


# No test may fail for being slow: a loaded machine is not a bug (per-test settings add to this).
settings.register_profile("pumap", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pumap")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA (or ROCm) GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def blobs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """300 points in 8-D from 3 well-separated Gaussian clusters."""
    centres = rng.normal(scale=8.0, size=(3, 8))
    labels = np.repeat(np.arange(3), 100)
    x = centres[labels] + rng.normal(size=(300, 8))
    return x.astype(np.float32), labels


def find_mnist_dir() -> Path:
    """``$PUMAP_MNIST_DIR`` when set (and then only it), else ``../shared/data/mnist``."""
    named = os.environ.get(MNIST_ENV)
    return Path(named).expanduser() if named else DEFAULT_MNIST_DIR


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = find_mnist_dir()
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        how = f"(from ${MNIST_ENV})" if os.environ.get(MNIST_ENV) else f"(or set ${MNIST_ENV})"
        pytest.skip(f"MNIST test set not found in {folder} {how}")
    return folder


@pytest.fixture(scope="session")
def fmnist_dir() -> Path:
    named = os.environ.get(FMNIST_ENV)
    folder = Path(named).expanduser() if named else DEFAULT_FMNIST_DIR
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"Fashion-MNIST not found in {folder} (apt-get install dataset-fashion-mnist, "
            f"or set ${FMNIST_ENV})"
        )
    return folder
