"""The training loop stays on the device: no host synchronisation per step (issue #7).

A GPU runs ahead of Python only while nothing asks for a value back. Reading a tensor on the
host (``item``, ``float``, ``bool``, ``int``, ``tolist``, ``cpu``, ``numpy``) or running an op
whose output size depends on the data (``nonzero``, boolean indexing, ``unique``...) makes the
host wait for the device. These tests prove on the CPU that `pumap.training.trainer.train_umap` does
that a small constant number of times per epoch, never per step, in two ways:

* Python level: the Tensor methods above are wrapped while ``train_umap`` runs, and every call
  made directly from a pumap source file is recorded with its file, line and function.
* Dispatcher level: a `TorchDispatchMode` sees every aten op (autograd's backward and Adam's
  update included) and records those that synchronise on CUDA, with the pumap frame that
  caused them.

The same fits are then checked to keep every tensor on the chosen device; on CUDA, a marked
test runs the step loop under ``torch.cuda.set_sync_debug_mode("warn")``.
"""

from __future__ import annotations

import functools
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import pumap
import pumap.training.trainer
import pumap.umap
from pumap import Umap
from pumap.device import resolve_device

PUMAP_DIR = Path(pumap.__file__).resolve().parent
MAX_READS_PER_EPOCH = 2  # the epoch's loss (and the NaN check on it); a constant, not per step
TINY = dict(n_neighbors=5, n_epochs=3, hidden_layers=(16,), seed=0, verbose=False)

# Host reads that Python code can make of a tensor.
HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__bool__", "__int__", "__index__")

aten = torch.ops.aten
# aten ops that wait for the device on CUDA: a scalar read, or an output whose size depends on
# the values (the host must learn it to allocate the result).
SYNCING_OPS = {
    aten._local_scalar_dense.default,
    aten.nonzero.default,
    aten.masked_select.default,
    aten.equal.default,
    aten.is_nonzero.default,
    aten.unique_consecutive.default,
    aten._unique.default,
    aten._unique2.default,
    aten.unique_dim.default,
}


def _data(n: int = 150) -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(3, 6))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, 6))).astype(np.float32)


def _in_pumap(filename: str) -> bool:
    return _is_under(filename, PUMAP_DIR)


@functools.lru_cache(maxsize=4096)
def _is_under(filename: str, root: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _pumap_frame(stack: list[traceback.FrameSummary]) -> str | None:
    """``file:line (function)`` of the innermost pumap frame of ``stack``, if any."""
    for frame in reversed(stack):
        if _in_pumap(frame.filename):
            return f"{Path(frame.filename).name}:{frame.lineno} ({frame.name})"
    return None


@dataclass
class TrainingRecord:
    """What one `train_umap` call did, as seen by the instruments."""

    n_epochs: int = 0
    steps: int = 0
    host_reads: list[str] = field(default_factory=list)  # pumap -> Tensor.<read>
    syncing_ops: list[str] = field(default_factory=list)  # syncing aten op -> pumap frame
    optimizer_scalar_reads: int = 0  # Adam's step counter: a CPU scalar, no device sync
    devices: dict[str, torch.device] = field(default_factory=dict)
    foreign_outputs: list[str] = field(default_factory=list)  # op outputs off the device


@contextmanager
def _count_host_reads(record: TrainingRecord) -> Iterator[None]:
    """Wrap the Tensor read-back methods; record calls made directly from pumap code."""
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1)
            if _in_pumap(caller.f_code.co_filename):
                where = f"{Path(caller.f_code.co_filename).name}:{caller.f_lineno}"
                record.host_reads.append(f"{where} ({caller.f_code.co_name}) Tensor.{name}")
            return original(self, *args, **kwargs)

        return counted

    try:
        for name, original in originals.items():
            setattr(torch.Tensor, name, wrap(name, original))
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


class _SyncWatch(TorchDispatchMode):
    """Record syncing aten ops, and op outputs that are not on ``device``."""

    def __init__(self, record: TrainingRecord, device: torch.device) -> None:
        super().__init__()
        self.record = record
        self.device = device

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        syncs = func in SYNCING_OPS
        if func in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default):
            indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
            syncs = any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)
        if func == aten.repeat_interleave.Tensor and kwargs.get("output_size") is None:
            syncs = True
        if syncs:
            stack = traceback.extract_stack()
            in_optimizer = any("torch/optim/" in f.filename.replace("\\", "/") for f in stack)
            if func == aten._local_scalar_dense.default and in_optimizer and args[0].ndim == 0:
                # torch.optim.Adam (not capturable, not fused) keeps its step count in a CPU
                # scalar and reads it with .item() every step: host memory, no device sync.
                self.record.optimizer_scalar_reads += 1
            else:
                self.record.syncing_ops.append(f"{func} <- {_pumap_frame(stack)}")
        for t in out if isinstance(out, (tuple, list)) else (out,):
            # 0-dim CPU tensors are host scalars (Adam's step counter), allowed on any device.
            if isinstance(t, torch.Tensor) and t.device.type != self.device.type and t.ndim > 0:
                self.record.foreign_outputs.append(f"{func} on {t.device}")
        return out


@contextmanager
def _instrumented_training(
    monkeypatch: pytest.MonkeyPatch, device: torch.device
) -> Iterator[list[TrainingRecord]]:
    """Instrument every `train_umap` call made by `Umap.fit` while the block runs."""
    records: list[TrainingRecord] = []
    train_umap = pumap.training.trainer.train_umap
    step_terms = pumap.training.trainer.forces_and_loss

    def instrumented(encoder: torch.nn.Module, x: torch.Tensor, graph: Any, **kw: Any) -> Any:
        record = TrainingRecord(n_epochs=kw["n_epochs"])
        records.append(record)
        record.devices = {
            "x": x.device,
            "graph.head": graph.head.device,
            "graph.tail": graph.tail.device,
            "graph.weight": graph.weight.device,
            "generator": kw["generator"].device,
            **{f"encoder.{n}": p.device for n, p in encoder.named_parameters()},
            **{f"encoder.{n}": b.device for n, b in encoder.named_buffers()},
        }

        def counted_terms(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            record.steps += 1
            return step_terms(*args, **kwargs)

        monkeypatch.setattr(pumap.training.trainer, "forces_and_loss", counted_terms)
        try:
            with _count_host_reads(record), _SyncWatch(record, device):
                return train_umap(encoder, x, graph, **kw)
        finally:
            monkeypatch.setattr(pumap.training.trainer, "forces_and_loss", step_terms)

    monkeypatch.setattr(pumap.umap, "train_umap", instrumented)
    yield records


def _instrumented_fit(
    monkeypatch: pytest.MonkeyPatch, device: str, **options: Any
) -> tuple[pumap.FittedUmap, TrainingRecord]:
    with _instrumented_training(monkeypatch, resolve_device(device)) as records:
        fitted = Umap(**{**TINY, "device": device, **options}).fit(_data())
    assert len(records) == 1, "Umap.fit should call train_umap once"
    return fitted, records[0]


# batch_size=8: ~60 steps per epoch, a step embeds only its batch's 16 points;
# batch_size=80: 2 * 80 >= 150 points, so each step embeds every point (the other branch).
@pytest.mark.parametrize("batch_size", [8, 80])
def test_step_loop_reads_nothing_back_per_step(monkeypatch, batch_size: int) -> None:
    _, record = _instrumented_fit(monkeypatch, "cpu", batch_size=batch_size)
    per_epoch = record.steps / record.n_epochs
    assert record.steps > 0 and per_epoch == int(per_epoch)
    if batch_size == 8:
        assert per_epoch >= 20, "the graph is too small to tell per-step from per-epoch reads"
    allowed = MAX_READS_PER_EPOCH * record.n_epochs
    assert len(record.host_reads) <= allowed, (
        f"{len(record.host_reads)} host reads from pumap in {record.n_epochs} epochs of "
        f"{per_epoch:.0f} steps: {record.host_reads}"
    )
    assert len(record.syncing_ops) <= allowed, (
        f"{len(record.syncing_ops)} syncing ops in {record.n_epochs} epochs of "
        f"{per_epoch:.0f} steps: {record.syncing_ops}"
    )
    # Every read that remains is the trainer's own, once per epoch.
    assert all(r.startswith("trainer.py") for r in record.host_reads), record.host_reads


def test_reads_do_not_grow_with_steps_per_epoch(monkeypatch) -> None:
    """Eight times the steps per epoch, the same number of reads: they are per epoch."""
    _, many = _instrumented_fit(monkeypatch, "cpu", batch_size=8)
    _, few = _instrumented_fit(monkeypatch, "cpu", batch_size=64)
    assert many.steps >= 4 * few.steps
    assert len(many.host_reads) == len(few.host_reads)
    assert len(many.syncing_ops) == len(few.syncing_ops)


def test_reads_grow_with_epochs_only(monkeypatch) -> None:
    _, short = _instrumented_fit(monkeypatch, "cpu", batch_size=8, n_epochs=2)
    _, long = _instrumented_fit(monkeypatch, "cpu", batch_size=8, n_epochs=4)
    extra = len(long.host_reads) - len(short.host_reads)
    assert 0 <= extra <= MAX_READS_PER_EPOCH * 2, (short.host_reads, long.host_reads)


def test_instruments_see_a_per_step_read(monkeypatch) -> None:
    """The counters are not blind: a `.item()` added to every step is caught by both."""
    step_terms = pumap.training.trainer.forces_and_loss

    def loss_read_each_step(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        forces, loss = step_terms(*args, **kwargs)
        loss.detach().item()  # what the trainer must not do (called from this test file)
        return forces, loss

    # The read is made here, not in pumap: the Python counter ignores it, the dispatch
    # watcher (which sees every aten op) records it. Pretend this file is pumap's to check
    # the Python counter too.
    monkeypatch.setattr(pumap.training.trainer, "forces_and_loss", loss_read_each_step)
    monkeypatch.setattr(sys.modules[__name__], "PUMAP_DIR", Path(__file__).resolve().parent)
    _, record = _instrumented_fit(monkeypatch, "cpu", batch_size=8)
    assert len(record.syncing_ops) >= record.steps
    assert len(record.host_reads) >= record.steps


def test_auto_device_is_cpu_here() -> None:
    if torch.cuda.is_available() or pumap.device._mps_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == torch.device("cpu")


def test_missing_cuda_is_a_value_error_naming_what_there_is() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    for name in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match="not available") as info:
            resolve_device(name)
        message = str(info.value)
        assert "cuda" in message and "there is:" in message and "cpu" in message, message
    with pytest.raises(ValueError, match=r"there is: .*cpu"):
        Umap(**TINY, device="cuda").fit(_data())


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def test_every_tensor_of_a_fit_lives_on_the_chosen_device(monkeypatch, device: str) -> None:
    fitted, record = _instrumented_fit(monkeypatch, device, batch_size=8)
    want = resolve_device(device)
    wrong = {k: v for k, v in record.devices.items() if v.type != want.type}
    assert not wrong, f"train_umap got tensors off {want}: {wrong}"
    assert not record.foreign_outputs, sorted(set(record.foreign_outputs))[:10]
    assert fitted.device.type == want.type
    for name, t in [*fitted.encoder.named_parameters(), *fitted.encoder.named_buffers()]:
        assert t.device.type == want.type, f"encoder.{name} is on {t.device}"
    x = torch.from_numpy(_data()[:20]).to(want)
    out = fitted.transform(x)
    assert isinstance(out, torch.Tensor) and out.device.type == want.type
    assert out.shape == (20, 2)
    assert isinstance(fitted.embedding, np.ndarray)  # the embedding comes back to the host


@pytest.mark.cuda
def test_cuda_step_loop_makes_no_synchronising_call_per_step(monkeypatch) -> None:
    """On CUDA itself: PyTorch's sync debug mode warns on every synchronising CUDA call."""
    records: list[int] = []
    train_umap = pumap.training.trainer.train_umap

    def watched(*args: Any, **kwargs: Any) -> Any:
        previous = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                return train_umap(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode(previous)
                records.append(sum("synchroniz" in str(w.message) for w in caught))

    monkeypatch.setattr(pumap.umap, "train_umap", watched)
    n_epochs = 3
    Umap(**{**TINY, "device": "cuda", "batch_size": 8, "n_epochs": n_epochs}).fit(_data())
    assert records and records[0] <= MAX_READS_PER_EPOCH * n_epochs, records
