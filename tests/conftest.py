"""Shared fixtures: small seeded data and the real data sets when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


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


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test set not found in {MNIST_DIR}")
    return MNIST_DIR
