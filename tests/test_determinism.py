"""Same seed, same input, same device: the same embedding and the same file, bit for bit.

The fits run with torch's default number of threads (2 or more on most machines), where
the backward pass of advanced indexing (``emb[idx]``) used to add repeated rows with atomic
float additions in a varying order; these tests caught that (see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from pumap import Umap

# Tiny, but with the default batch size: a step's 40,960 negative pairs make gradients large
# enough (> 32,768 elements) for torch's multi-threaded CPU kernels to kick in.
OPTIONS = dict(
    n_neighbors=5, n_epochs=3, negative_sample_rate=10, hidden_layers=(16,), seed=0, verbose=False
)


def _data() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(3, 6))
    return (centres[np.arange(150) % 3] + rng.normal(size=(150, 6))).astype(np.float32)


FIT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    from pumap import Umap
    x = np.load(sys.argv[1])
    fitted = Umap(**json.loads(sys.argv[2])).fit(x)
    np.save(sys.argv[3], fitted.embedding)
    fitted.save(sys.argv[4], include_embedding=True)
    print(json.dumps({"threads": torch.get_num_threads(),
                      "deterministic": torch.are_deterministic_algorithms_enabled()}))
    """
)


@pytest.fixture(scope="module")
def two_fits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, dict]:
    """Two fits in this process, their saved files, and the global state around them."""
    folder = tmp_path_factory.mktemp("determinism")
    x = _data()
    state_before = {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }
    fits = []
    for i in range(2):
        fitted = Umap(**OPTIONS).fit(x)
        fitted.save(folder / f"model{i}.safetensors", include_embedding=True)
        fits.append(fitted)
    state_after = {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }
    assert state_after == state_before, "a fit changed torch's global settings"
    return folder, fits, state_before


def test_two_fits_in_one_process_are_identical(two_fits):
    folder, (first, second), _ = two_fits
    assert first.embedding.tobytes() == second.embedding.tobytes()
    assert first.losses == second.losses
    for (name, a), (_, b) in zip(
        first.encoder.state_dict().items(), second.encoder.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    a = (folder / "model0.safetensors").read_bytes()
    b = (folder / "model1.safetensors").read_bytes()
    assert a == b  # the files hold no timestamp: every byte matches


def test_fit_in_a_fresh_process_is_identical(two_fits):
    folder, (first, _), state = two_fits
    np.save(folder / "x.npy", _data())
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            FIT_SCRIPT,
            str(folder / "x.npy"),
            json.dumps({**OPTIONS, "hidden_layers": list(OPTIONS["hidden_layers"])}),
            str(folder / "fresh.npy"),
            str(folder / "fresh.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # The child starts with this process's thread count (the fits' bits depend on it):
        # under OMP_NUM_THREADS=1 an earlier test of the session may have left torch at 2.
        env={**os.environ, "OMP_NUM_THREADS": str(state["threads"])},
    )
    assert proc.returncode == 0, proc.stderr
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    assert child == state  # torch's defaults there too: same threads, no deterministic mode
    fresh = np.load(folder / "fresh.npy")
    assert fresh.tobytes() == first.embedding.tobytes()
    assert (folder / "fresh.safetensors").read_bytes() == (
        folder / "model0.safetensors"
    ).read_bytes()


def test_input_layout_does_not_change_the_result(two_fits):
    """float64, Fortran order and an unaligned buffer give the float32 fit's bits."""
    _, (first, _), _ = two_fits
    x = _data()
    raw = bytearray(x.nbytes + 4)
    unaligned = np.frombuffer(raw, dtype=np.float32, count=x.size, offset=4).reshape(x.shape)
    unaligned[...] = x
    assert unaligned.ctypes.data % 8 != 0
    for variant in (unaligned, np.asfortranarray(x.astype(np.float64))):
        assert Umap(**OPTIONS).fit(variant).embedding.tobytes() == first.embedding.tobytes()


THREADS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    from pumap import Umap
    torch.set_num_threads(int(sys.argv[3]))
    x = np.load(sys.argv[1])
    fitted = Umap(**json.loads(sys.argv[2])).fit(x)
    np.save(sys.argv[4], fitted.embedding)
    print(json.dumps(fitted.losses))
    """
)


def _fit_with_threads(folder: Path, threads: int, tag: str) -> tuple[bytes, list[float]]:
    out = folder / f"threads{threads}-{tag}.npy"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            THREADS_SCRIPT,
            str(folder / "x.npy"),
            json.dumps({**OPTIONS, "hidden_layers": list(OPTIONS["hidden_layers"])}),
            str(threads),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return np.load(out).tobytes(), json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("threads", [1, 2])
def test_same_thread_count_in_fresh_processes_is_identical(tmp_path: Path, threads: int):
    """What docs/reliability.md promises: same seed, input, machine, torch and number of torch
    threads give the same bits, in separate processes. (Another thread count may not: matrix
    products split their sums by thread, e.g. 1 and 2 threads differ by about 3e-3 on digits.)"""
    np.save(tmp_path / "x.npy", _data())
    first = _fit_with_threads(tmp_path, threads, "a")
    second = _fit_with_threads(tmp_path, threads, "b")
    assert first[0] == second[0]
    assert first[1] == second[1]
