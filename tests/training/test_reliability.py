"""Interruptions and faults: Ctrl-C, checkpoints and resume, diverging training."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import pumap.graph.neighbours
import pumap.training.checkpoint_file as checkpoint_module
import pumap.umap as umap_module
from pumap import TrainingDiverged, Umap
from pumap.training.checkpoint import CheckpointError, read_checkpoint
from pumap.training.trainer import EpochProgress, TrainingInterrupted

OPTIONS = dict(n_neighbors=5, n_epochs=4, hidden_layers=(16,), seed=0, verbose=False)


def _data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, 6))
    return (centres[np.arange(150) % 3] + rng.normal(size=(150, 6))).astype(np.float32)


def _stop_after(epoch: int):
    def callback(progress: EpochProgress) -> None:
        if progress.epoch == epoch:
            raise KeyboardInterrupt

    return callback


def _leftovers(folder: Path) -> list[str]:
    """Temporary files of interrupted writes (the atomic writer's ``.name.hex.tmp``)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted fit, and the same fit stopped after epoch 2 with a checkpoint."""
    folder = tmp_path_factory.mktemp("resume")
    x = _data()
    full = Umap(**OPTIONS).fit(x)
    full.save(folder / "full.safetensors")
    path = folder / "ckpt.safetensors"
    with pytest.raises(TrainingInterrupted) as info:
        Umap(**OPTIONS).fit(x, callback=_stop_after(2), checkpoint_path=path, checkpoint_every=1)
    return {"x": x, "full": full, "folder": folder, "path": path, "error": info.value}


# --------------------------------------------------------------------------------- resume


def test_interrupt_names_the_epoch_and_the_checkpoint(runs):
    error, path = runs["error"], runs["path"]
    assert isinstance(error, KeyboardInterrupt)  # scripts stop as on a bare Ctrl-C
    assert (error.epoch, error.n_epochs, error.checkpoint_epoch) == (2, 4, 2)
    assert error.checkpoint_path == str(path)
    assert "after epoch 2 of 4" in str(error) and "resume_from=" in str(error)
    assert read_checkpoint(path).state.epoch == 2
    assert _leftovers(runs["folder"]) == []


def test_resume_reproduces_the_uninterrupted_fit_bit_for_bit(runs):
    resumed = Umap(**OPTIONS).fit(runs["x"], resume_from=runs["path"])
    full = runs["full"]
    assert resumed.embedding.tobytes() == full.embedding.tobytes()
    assert resumed.losses == full.losses
    resumed.save(runs["folder"] / "resumed.safetensors")
    assert (runs["folder"] / "resumed.safetensors").read_bytes() == (
        runs["folder"] / "full.safetensors"
    ).read_bytes()


def test_resume_with_seed_none_takes_the_checkpoints_seed(runs, tmp_path):
    # Resume into a new checkpoint too: the interrupted run's file must not change.
    before = runs["path"].read_bytes()
    options = {**OPTIONS, "seed": None, "verbose": True}  # verbose may differ
    resumed = Umap(**options).fit(
        runs["x"], resume_from=runs["path"], checkpoint_path=tmp_path / "next.safetensors"
    )
    assert resumed.embedding.tobytes() == runs["full"].embedding.tobytes()
    assert runs["path"].read_bytes() == before
    assert read_checkpoint(tmp_path / "next.safetensors").state.epoch == 4


def test_resume_refuses_other_data_options_or_files(runs, tmp_path):
    x, path = runs["x"], runs["path"]
    other = x.copy()
    other[7, 3] += 1.0
    with pytest.raises(CheckpointError, match="other data of the same shape"):
        Umap(**OPTIONS).fit(other, resume_from=path)
    with pytest.raises(CheckpointError, match=r"shape \(150, 6\).*shape \(149, 6\)"):
        Umap(**OPTIONS).fit(x[:-1], resume_from=path)
    with pytest.raises(CheckpointError, match="n_epochs=4 in the checkpoint, 6 now"):
        Umap(**{**OPTIONS, "n_epochs": 6}).fit(x, resume_from=path)
    with pytest.raises(CheckpointError, match="no such file"):
        Umap(**OPTIONS).fit(x, resume_from=tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match="not a pumap training checkpoint"):
        Umap(**OPTIONS).fit(x, resume_from=runs["folder"] / "full.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        Umap(**OPTIONS).fit(x, resume_from=truncated)
    assert issubclass(CheckpointError, ValueError)


def test_checkpoint_arguments_are_checked(tmp_path):
    x = _data()
    with pytest.raises(ValueError, match="checkpoint_every is set but checkpoint_path is not"):
        Umap(**OPTIONS).fit(x, checkpoint_every=2)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        Umap(**OPTIONS).fit(x, checkpoint_path=tmp_path / "c", checkpoint_every=0)
    with pytest.raises(ValueError, match=r"checkpoint_path .* is a directory"):
        Umap(**OPTIONS).fit(x, checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        Umap(**OPTIONS).fit(x, checkpoint_path=tmp_path / "no" / "c.safetensors")


def test_interrupted_checkpoint_write_leaves_the_previous_one(tmp_path, monkeypatch):
    """Ctrl-C while the epoch-2 checkpoint is being written: epoch 1's file stays whole."""
    path = tmp_path / "ckpt.safetensors"
    real_write = checkpoint_module.write_safetensors
    calls = []

    def write_then_interrupt(target, metadata, tensors):
        calls.append(target)
        if len(calls) == 2:
            target.write_bytes(b"half a file")
            raise KeyboardInterrupt
        real_write(target, metadata, tensors)

    monkeypatch.setattr(checkpoint_module, "write_safetensors", write_then_interrupt)
    with pytest.raises(TrainingInterrupted) as info:
        Umap(**OPTIONS).fit(_data(), checkpoint_path=path)
    assert (info.value.epoch, info.value.checkpoint_epoch) == (2, 1)
    assert read_checkpoint(path).state.epoch == 1
    assert _leftovers(tmp_path) == [] and calls[1].parent == tmp_path


def test_interrupt_outside_training_is_reported(monkeypatch, caplog):
    def interrupted_search(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pumap.graph.neighbours, "build_knn", interrupted_search)
    with (
        caplog.at_level(logging.WARNING, logger="pumap"),
        pytest.raises(TrainingInterrupted, match="during the k-NN search"),
    ):
        Umap(**OPTIONS).fit(_data())
    assert "interrupted during the k-NN search" in caplog.text


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import signal
    import sys
    import numpy as np
    # A test runner started as a background job hands its children SIGINT ignored, and Python
    # then installs no handler: put Python's own back (SIG_DFL would kill the process before
    # pumap could stop cleanly), as a terminal's Ctrl-C would find it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from pumap import Umap
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 6)).astype(np.float32)
    def report(progress):
        print("epoch", progress.epoch, flush=True)
    Umap(n_neighbors=5, n_epochs=100000, hidden_layers=(16,), seed=0, verbose=True).fit(
        x, callback=report, checkpoint_path=sys.argv[1], checkpoint_every=1)
    """
)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background job's children inherit


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
@pytest.mark.parametrize("inherited", ["as the runner has it", "ignored"])
def test_ctrl_c_stops_a_fit_cleanly(tmp_path, inherited):
    """A real SIGINT: the fit stops within a step, says where, and leaves a whole checkpoint,
    also when the runner was started with SIGINT ignored (a background job)."""
    path = tmp_path / "ckpt.safetensors"
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if inherited == "ignored" else None,
    )
    try:
        for line in proc.stdout:  # wait until training is under way
            if line.strip() == "epoch 3":
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=300)  # a guard against a hang, not a measurement
    finally:
        proc.kill()
    assert proc.returncode != 0
    # It stopped long before its 100,000 epochs, and says where (no wall-clock bound: a busy
    # machine may take its time, the test only asks that the interrupt was honoured).
    stopped = re.search(r"training interrupted after epoch (\d+) of 100000; the checkpoint of "
                        r"epoch (\d+) is in", stderr)
    assert stopped, stderr
    finished, saved = int(stopped.group(1)), int(stopped.group(2))
    assert 3 <= saved <= finished < 100000
    assert "resume_from=" in stderr
    assert "KeyboardInterrupt" in stderr or "TrainingInterrupted" in stderr
    assert read_checkpoint(path).state.epoch == saved
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ divergence


class NanAfter(nn.Module):
    """A linear encoder whose output turns to NaN from its ``calls``-th forward pass on."""

    def __init__(self, n_features: int, calls: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 2)
        self.calls = calls
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += 1
        out = self.linear(x)
        return out * float("nan") if self.seen > self.calls else out


def test_nan_loss_stops_the_fit_with_the_last_good_epoch(tmp_path):
    # 150 points make one step per epoch (one forward pass): NaN from epoch 3 on.
    encoder = NanAfter(6, calls=2)
    path = tmp_path / "ckpt.safetensors"
    options = {**OPTIONS, "pca_init": False}
    with pytest.raises(TrainingDiverged, match=r"epoch 3 \(epoch 2 finished cleanly\)") as info:
        Umap(**options, encoder=encoder).fit(_data(), checkpoint_path=path)
    assert "lower learning_rate" in str(info.value)
    assert f"checkpoint of epoch 2 is in {path}" in str(info.value)
    assert read_checkpoint(path).state.epoch == 2  # the NaN epoch was not saved


def test_the_largest_learning_rate_taken_ends_well_or_with_a_clear_error():
    """At the largest rate pumap takes a fit either ends with a spread embedding or raises
    `TrainingDiverged` saying to lower learning_rate; it never returns a ruined one."""
    for pca_init in (True, False):
        try:
            fitted = Umap(**{**OPTIONS, "learning_rate": 0.25, "pca_init": pca_init}).fit(_data())
        except TrainingDiverged as err:
            assert "lower learning_rate" in str(err)
        else:
            assert np.isfinite(fitted.embedding).all() and fitted.embedding.std() > 1e-3


def test_interrupt_reports_the_real_epoch_count_when_it_is_automatic(monkeypatch):
    """With n_epochs=None: before the count is chosen the error says so (not "0 of 0"); after,
    it reports the count pumap chose."""
    auto = {**OPTIONS, "n_epochs": None}

    def interrupted_search(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(pumap.graph.neighbours, "build_knn", interrupted_search)
        with pytest.raises(TrainingInterrupted, match="n_epochs automatic, not chosen yet") as info:
            Umap(**auto).fit(_data())
    assert (info.value.epoch, info.value.n_epochs) == (0, None)

    def interrupted_embedding(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(umap_module.FittedUmap, "_embed", interrupted_embedding)
    with pytest.raises(TrainingInterrupted, match=r"during the final embedding") as info:
        Umap(**auto).fit(_data())
    chosen = info.value.n_epochs
    assert isinstance(chosen, int) and chosen >= 10 and info.value.epoch == chosen
    assert f"{chosen} of {chosen} epochs done" in str(info.value)


def test_resume_with_another_thread_count_is_allowed(runs):
    """threads changes rounding only: a checkpoint resumes with another count (not bit for
    bit), and the model records the new one."""
    resumed = Umap(**{**OPTIONS, "threads": 1}).fit(runs["x"], resume_from=runs["path"])
    assert resumed.config.threads == 1
    assert len(resumed.losses) == OPTIONS["n_epochs"]
