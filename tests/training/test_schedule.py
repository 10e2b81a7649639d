"""The automatic batch size and epoch count (`pumap.training.schedule`), and a fit that uses
them: the trainer gets the resolved batch, model files stay readable by pumap 0.2.0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pumap.umap
from pumap import FittedUmap, Umap, UmapConfig
from pumap.training.schedule import (
    LARGE_BATCH,
    LARGE_BATCH_STEPS,
    SMALL_BATCH,
    SMALL_BATCH_MIN_POINTS,
    SMALL_BATCH_STEPS,
    auto_batch_size,
    auto_n_epochs,
    cpu_has_native_bfloat16,
    resolve_mixed_precision,
    resolve_schedule,
    steps_per_epoch,
)


@pytest.mark.parametrize(
    ("n", "device", "want"),
    [
        (SMALL_BATCH_MIN_POINTS, "cpu", LARGE_BATCH),  # every point is embedded each step
        (SMALL_BATCH_MIN_POINTS + 1, "cpu", SMALL_BATCH),
        (60_000, torch.device("cpu"), SMALL_BATCH),
        (60_000, "cuda", LARGE_BATCH),  # a GPU step's cost is its overhead, not its rows
        (60_000, "mps", LARGE_BATCH),
        (500, "cpu", LARGE_BATCH),
    ],
)
def test_auto_batch_size(n: int, device, want: int) -> None:
    assert auto_batch_size(n, device) == want


@pytest.mark.parametrize("n_edges", [680_000, 223_000, 80_000, 13_500])
def test_auto_epochs_aim_at_the_batch_sizes_step_count(n_edges: int) -> None:
    for batch, small, steps, low in (
        (LARGE_BATCH, False, LARGE_BATCH_STEPS, 10),
        (SMALL_BATCH, True, SMALL_BATCH_STEPS, 2),
    ):
        epochs = auto_n_epochs(n_edges, batch, small=small)
        per_epoch = steps_per_epoch(n_edges, batch)
        if epochs > low:  # above the floor: the fewest epochs that reach the step count
            assert epochs * per_epoch >= steps > (epochs - 1) * per_epoch
        else:
            assert epochs == low and epochs * per_epoch >= steps


def test_fashion_mnist_sized_graph_gets_about_2000_small_steps() -> None:
    """60,000 points and 680,166 edges (Fashion-MNIST's graph at n_neighbors=15)."""
    plan = resolve_schedule(60_000, 680_166, None, None, "cpu")
    assert plan.batch_size == SMALL_BATCH
    assert plan.n_epochs == 7  # 333 steps an epoch: 2,331 steps
    big = resolve_schedule(60_000, 680_166, None, None, "cuda")
    assert (big.batch_size, big.n_epochs) == (LARGE_BATCH, 28)  # 11 steps an epoch: 308


def test_given_values_are_kept_and_a_given_batch_keeps_300_steps() -> None:
    assert resolve_schedule(60_000, 680_166, 4096, 5, "cpu").n_epochs == 5
    given = resolve_schedule(60_000, 680_166, SMALL_BATCH, None, "cpu")
    assert given.batch_size == SMALL_BATCH
    assert given.n_epochs == auto_n_epochs(680_166, SMALL_BATCH) == 10  # the floor of 10
    assert resolve_schedule(2_000, 30_000, 100_000, None, "cpu").n_epochs == LARGE_BATCH_STEPS


class _StopError(Exception):
    pass


@pytest.mark.parametrize(
    ("n", "batch_size", "want"),
    [(SMALL_BATCH_MIN_POINTS + 50, None, SMALL_BATCH), (2000, None, LARGE_BATCH), (2000, 64, 64)],
)
def test_a_fit_trains_with_the_resolved_batch(monkeypatch, n: int, batch_size, want: int) -> None:
    seen: dict = {}

    def fake_train(*args, **kwargs):
        seen.update(kwargs)
        raise _StopError

    monkeypatch.setattr(pumap.umap, "train_umap", fake_train)
    x = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    with pytest.raises(_StopError):
        Umap(seed=0, verbose=False, batch_size=batch_size, pca_init=False).fit(x)
    assert seen["batch_size"] == want
    assert seen["n_epochs"] >= 2


@pytest.mark.parametrize("suffix", [".safetensors", ".gguf"])
def test_files_name_batch_size_only_when_it_was_given(tmp_path, suffix: str) -> None:
    """pumap 0.2.0 refuses a batch_size of None: a fit with the automatic batch must not write
    the key (0.2.0 then reads its own default); a given batch size is recorded."""
    from pumap.model.io import read_metadata

    x = np.random.default_rng(1).normal(size=(150, 5)).astype(np.float32)
    for batch_size in (None, 512):
        fitted = Umap(seed=0, verbose=False, n_epochs=2, batch_size=batch_size).fit(x)
        path = tmp_path / f"m{batch_size}{suffix}"
        fitted.save(path)
        stored = read_metadata(path)["pumap.config"]
        assert stored.get("batch_size") == batch_size
        assert ("batch_size" in stored) == (batch_size is not None)
        assert FittedUmap.load(path).config == fitted.config


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "2048"])
def test_bad_batch_size_is_refused_by_name(bad) -> None:
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        UmapConfig(batch_size=bad)


@pytest.mark.parametrize(
    ("flags", "want"),
    [
        ("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 fma\n", True),
        ("flags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n", True),
        ("flags\t\t: fpu sse2 avx2 avx512f avx512bw fma\n", False),  # AVX-512 without BF16
        ("processor\t: 0\nFeatures\t: fp asimd\n", False),  # no x86 flags line
    ],
)
def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path, flags: str, want: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(flags)
    assert cpu_has_native_bfloat16(cpuinfo) is want
    assert cpu_has_native_bfloat16(tmp_path / "absent") is False


def test_mixed_precision_is_automatic_on_the_cpu_only(monkeypatch) -> None:
    from pumap.training import schedule

    monkeypatch.setattr(schedule, "cpu_has_native_bfloat16", lambda: True)
    assert resolve_mixed_precision(None, "cpu") is True
    assert resolve_mixed_precision(None, "cuda") is False  # not measured on GPUs
    assert resolve_mixed_precision(False, "cpu") is False  # a given value is kept
    monkeypatch.setattr(schedule, "cpu_has_native_bfloat16", lambda: False)
    assert resolve_mixed_precision(None, "cpu") is False
    assert resolve_mixed_precision(True, "cpu") is True


@pytest.mark.parametrize(("native", "sparse"), [(True, False), (False, False), (True, True)])
def test_a_fit_trains_with_the_resolved_precision(monkeypatch, native: bool, sparse: bool) -> None:
    from pumap.training import schedule

    seen: dict = {}

    def fake_train(*args, **kwargs):
        seen.update(kwargs)
        raise _StopError

    monkeypatch.setattr(schedule, "cpu_has_native_bfloat16", lambda: native)
    monkeypatch.setattr(pumap.umap, "train_umap", fake_train)
    x = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    if sparse:
        import scipy.sparse

        x = scipy.sparse.csr_matrix(x)
    with pytest.raises(_StopError):
        Umap(seed=0, verbose=False, device="cpu").fit(x)
    assert seen["mixed_precision"] is (native and not sparse)


@pytest.mark.parametrize("suffix", [".safetensors", ".gguf"])
def test_files_name_mixed_precision_only_when_it_was_given(tmp_path, suffix: str) -> None:
    from pumap.model.io import read_metadata

    x = np.random.default_rng(2).normal(size=(150, 5)).astype(np.float32)
    for setting in (None, False):
        fitted = Umap(seed=0, verbose=False, n_epochs=2, mixed_precision=setting).fit(x)
        path = tmp_path / f"m{setting}{suffix}"
        fitted.save(path)
        stored = read_metadata(path)["pumap.config"]
        assert ("mixed_precision" in stored) == (setting is not None)
        assert FittedUmap.load(path).config == fitted.config


def test_sparse_input_keeps_float32_unless_asked(monkeypatch) -> None:
    from pumap.training import schedule

    monkeypatch.setattr(schedule, "cpu_has_native_bfloat16", lambda: True)
    assert resolve_mixed_precision(None, "cpu", dense=False) is False
    assert resolve_mixed_precision(True, "cpu", dense=False) is True
