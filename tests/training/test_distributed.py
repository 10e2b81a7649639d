"""Data-parallel training (pumap.training.distributed): two CPU processes with Gloo, under torchrun.

The fits run in `_ddp_worker.py`, launched once for the module by ``python -m
torch.distributed.run --standalone`` (which picks a free port); the tests compare what it
wrote with one-process fits run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pumap import Umap
from pumap.training.checkpoint import CheckpointError, read_checkpoint

pytest.importorskip("sklearn")
if not torch.distributed.is_available():
    pytest.skip("this torch has no torch.distributed", allow_module_level=True)

from _ddp_worker import N_EPOCHS, STOP_AT, digits_split

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
QUALITY_SEEDS = (0, 1, 2)
# Mean over QUALITY_SEEDS of each measure, 2 ranks against 1 process (same total batch).
# Measured on this split, seeds 0-7, default options: one process, trustworthiness
# 0.9799 (sd 0.0031 over seeds), held-out 10-NN accuracy 0.9069 (sd 0.0114); two ranks
# 0.9805 (sd 0.0017) and 0.9024 (sd 0.0123). A 2-rank fit draws other batches than one
# process, so a mean of 3 seeds differs by noise of sd sqrt(0.0031**2 / 3 + 0.0017**2 / 3)
# = 0.002 in trustworthiness and sqrt(0.0114**2 / 3 + 0.0123**2 / 3) = 0.010 in accuracy:
# the tolerances are 5 and 3 of those. (The fits are seeded: the test does not flake.)
QUALITY_TOLERANCE = {"trustworthiness": 0.01, "heldout_knn_accuracy": 0.03}


# How a rank process aborts, now and then, as it exits after its work is done and written:
# a Gloo teardown race in torch, not in pumap. On the project's 2-core VM, 2 of 80 runs of
# _ddp_worker.py ended so (2026-12-04, both with the other core kept busy), and one CI run:
# both ranks had written every result.
GLOO_TEARDOWN_ABORT = "terminate called without an active exception"


def _torchrun(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Two ranks of ``python args`` under torchrun; run once more if a rank died of
    `GLOO_TEARDOWN_ABORT` (a second such death fails the test)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", *args]
    for _ in range(2):
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode == 0 or GLOO_TEARDOWN_ABORT not in done.stderr:
            break
    return done


def _run_worker(out: Path, seeds: str) -> dict[object, object]:
    """What each of the two ranks wrote: ``{"out": folder, 0: npz, 1: npz}``."""
    done = _torchrun([str(HERE / "_ddp_worker.py"), str(out), seeds], cwd=out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"out": out, **{r: dict(np.load(out / f"rank{r}.npz")) for r in (0, 1)}}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> dict[object, object]:
    """The short fits of `_ddp_worker.checks`, on two ranks."""
    return _run_worker(tmp_path_factory.mktemp("ddp"), "")


def test_ranks_train_on_rank_0s_graph_without_their_own_knn(ranks) -> None:
    graphs = [list(ranks[r]["graphs"]) for r in (0, 1)]
    assert graphs[0] == graphs[1] and len(graphs[0]) == 4  # fits a, b, stopped, resumed
    assert int(ranks[0]["knn_calls"]) == 4
    assert int(ranks[1]["knn_calls"]) == 0  # its graphs came from rank 0


def test_shutdown_waits_for_every_rank(ranks) -> None:
    # rank 0 sleeps, then writes a file, before its shutdown; rank 1's returns after that
    assert (ranks["out"] / "rank1_after_shutdown.txt").read_text() == "True"


def test_same_seed_gives_the_same_embedding_on_every_rank_and_run(ranks) -> None:
    assert np.array_equal(ranks[0]["a"], ranks[0]["b"])
    assert np.array_equal(ranks[0]["a"], ranks[1]["a"])  # one model, replicated


def test_every_rank_refuses_a_rank_with_other_data(ranks) -> None:
    for r in (0, 1):
        assert "1 rank(s) hold other data than rank 0" in str(ranks[r]["mismatch"])
    assert int(ranks[0]["knn_calls"]) == 4  # the refused fit did not reach the k-NN search


def test_two_rank_fit_is_not_a_one_process_fit(ranks) -> None:
    x_train = digits_split()[0]
    one = Umap(seed=3, n_epochs=N_EPOCHS, verbose=False).fit(x_train)
    assert one.world_size == 1 and int(ranks[0]["world_size"]) == 2
    assert not np.array_equal(one.embedding, ranks[0]["a"])  # each rank drew its own batches


def test_resumed_two_rank_fit_equals_the_uninterrupted_one(ranks) -> None:
    assert int(ranks[0]["stopped_at"]) == STOP_AT
    for r in (0, 1):
        assert np.array_equal(ranks[r]["resumed"], ranks[r]["a"])


def _checkpoint_version(path: Path) -> int:
    from pumap.model.formats import SafetensorsFile, decode_metadata

    with SafetensorsFile(path) as file:
        return decode_metadata(path, file.metadata)["pumap.format_version"]


def test_checkpoint_holds_every_ranks_generator(ranks, tmp_path) -> None:
    path = ranks["out"] / "checkpoint.safetensors"
    checkpoint = read_checkpoint(path)
    assert checkpoint.state.world_size == 2
    assert _checkpoint_version(path) == 2  # a pumap that reads version 1 says "upgrade"
    one = tmp_path / "one.ckpt"
    x = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    Umap(seed=0, n_epochs=2, n_neighbors=5, verbose=False).fit(x, checkpoint_path=one)
    assert read_checkpoint(one).state.world_size == 1 and _checkpoint_version(one) == 2
    half = checkpoint.state.generator.numel() // 2
    assert half == torch.Generator().get_state().numel()
    assert not torch.equal(checkpoint.state.generator[:half], checkpoint.state.generator[half:])
    with pytest.raises(CheckpointError, match="data-parallel fit on 2 processes"):
        Umap(seed=3, n_epochs=N_EPOCHS, verbose=False).fit(digits_split()[0], resume_from=path)


def test_model_records_world_size(ranks, capsys) -> None:
    from pumap import FittedUmap
    from pumap.cli import main

    path = ranks["out"] / "model.safetensors"
    assert FittedUmap.load(path).world_size == 2
    assert main(["info", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["world_size"] == 2


def _quality(embedding: np.ndarray, test_embedding: np.ndarray) -> dict[str, float]:
    from sklearn.manifold import trustworthiness
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train, _, y_test = digits_split()
    knn = KNeighborsClassifier(n_neighbors=10).fit(embedding, y_train)
    return {
        "trustworthiness": float(trustworthiness(x_train, embedding, n_neighbors=15)),
        "heldout_knn_accuracy": float(knn.score(test_embedding, y_test)),
    }


@pytest.mark.slow
def test_two_rank_fit_matches_one_process_quality(tmp_path) -> None:
    """Mean quality over `QUALITY_SEEDS`, default options (the batch: every edge, one step
    an epoch), 2 ranks of half the batch each against one process."""
    ranks = _run_worker(tmp_path, ",".join(str(s) for s in QUALITY_SEEDS))
    x_train, _, x_test, _ = digits_split()
    one, two = [], []
    for seed in QUALITY_SEEDS:
        fitted = Umap(seed=seed, verbose=False).fit(x_train)
        one.append(_quality(fitted.embedding, fitted.transform(x_test)))
        two.append(_quality(ranks[0][f"q{seed}"], ranks[0][f"q{seed}_test"]))
    for name, tolerance in QUALITY_TOLERANCE.items():
        mean_one = float(np.mean([q[name] for q in one]))
        mean_two = float(np.mean([q[name] for q in two]))
        assert abs(mean_two - mean_one) <= tolerance, (name, one, two)
    assert np.mean([q["trustworthiness"] for q in two]) > 0.97, two
    assert np.mean([q["heldout_knn_accuracy"] for q in two]) > 0.85, two


def test_cli_fit_under_torchrun_saves_on_rank_0(tmp_path) -> None:
    save = tmp_path / "model.safetensors"
    args = ["-m", "pumap", "fit", "--synthetic", "500", "--epochs", "3", "--seed", "0"]
    done = _torchrun([*args, "--save", str(save), "--embedding", "emb.npy"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("saved model to") == 1  # rank 0 only
    assert np.load(tmp_path / "emb.npy").shape == (500, 2)
    info = subprocess.run(
        [sys.executable, "-m", "pumap", "info", "--json", str(save)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)},
        check=True,
    )
    assert json.loads(info.stdout)["world_size"] == 2


def test_one_process_fit_does_not_join_a_group(monkeypatch, tmp_path) -> None:
    from pumap.training.distributed import join

    assert join("cpu") is None
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc-per-node 1: an ordinary fit
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert join("cpu") is None and not torch.distributed.is_initialized()


def test_world_size_is_1_for_ordinary_and_older_model_files(tmp_path, capsys) -> None:
    from pumap import FittedUmap
    from pumap.cli import main
    from pumap.model.formats import write_safetensors
    from pumap.model.model_file import model_payload

    x = np.random.default_rng(0).normal(size=(60, 4)).astype("float32")
    fitted = Umap(seed=0, n_epochs=2, n_neighbors=5, verbose=False, pca_init=False).fit(x)
    metadata, tensors = model_payload(fitted, include_embedding=False)
    assert metadata["pumap.world_size"] == 1
    del metadata["pumap.world_size"]  # as pumap wrote models before data-parallel fits
    old = tmp_path / "old.safetensors"
    write_safetensors(old, metadata, tensors)
    assert FittedUmap.load(old).world_size == 1
    assert main(["info", "--json", str(old)]) == 0
    assert json.loads(capsys.readouterr().out)["world_size"] == 1
